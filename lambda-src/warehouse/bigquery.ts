/**
 * The production warehouse: BigQuery streaming inserts (`tabledata.insertAll`)
 * through `@google-cloud/bigquery`, each row with its insert id so a re-sent
 * batch is stored once, `skipInvalidRows: false` so a batch is all or
 * nothing, `ignoreUnknownValues: false` so a schema mismatch is an error
 * rather than silently dropped data.
 *
 * Retrying is left to the caller (the group-commit batcher, the HTTP client
 * on a 503, Pub/Sub on a nack): the client's own retries (HTTP `autoRetry`,
 * `partialRetries` of stopped rows) are off, so a failure surfaces once, with
 * its class, within `requestTimeoutMs`.
 */
import { BigQuery, type Table } from '@google-cloud/bigquery';
import { PassThroughClient } from 'google-auth-library';
import { WAREHOUSE_BIGQUERY_FIELDS, type BigQueryField } from '../record';
import { columnValue, type ColumnValue } from './columns';
import { RowsRejectedError, WarehouseError, type RowError, type Warehouse, type WarehouseRow } from './warehouse';

export const GOOGLE_BIGQUERY_ENDPOINT = 'https://bigquery.googleapis.com';
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const EMULATOR_HOST_VARIABLE = 'BIGQUERY_EMULATOR_HOST';

export interface BigQueryWarehouseOptions {
  /** Project that owns the dataset. */
  projectId: string;
  /** Dataset id. */
  dataset: string;
  /** Table id. */
  table: string;
  /**
   * Base URL of a BigQuery-compatible REST endpoint (an emulator or test
   * stand-in), without `/bigquery/v2`. When set, requests carry no
   * credentials and none are looked up.
   * @default the `BIGQUERY_EMULATOR_HOST` environment variable when set, else https://bigquery.googleapis.com with Application Default Credentials
   */
  apiEndpoint?: string;
  /**
   * Longest wait for one insertAll answer; past it the insert fails as
   * retryable `warehouse_unavailable` (the rows may still land: a retry with
   * the same insert ids does not duplicate them).
   * @default 10000
   */
  requestTimeoutMs?: number;
}

/**
 * Validates a REST endpoint and strips what the client adds itself
 * (`/bigquery/v2`, trailing slashes). `source` names where it came from, for
 * the error message.
 */
export function normalizeApiEndpoint(value: string, source: string): string {
  const url = URL.canParse(value) ? new URL(value) : undefined;
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.search !== '' || url.hash !== '') {
    throw new Error(`${source} must be an http(s) URL such as http://127.0.0.1:9050, got ${JSON.stringify(value)}`);
  }
  const path = url.pathname.replace(/\/+$/, '').replace(/\/bigquery\/v2$/, '');
  return `${url.origin}${path}`;
}

/** The emulator endpoint from `BIGQUERY_EMULATOR_HOST`, or undefined when it is unset or empty. */
export function emulatorEndpointFromEnv(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const value = env[EMULATOR_HOST_VARIABLE];
  return value ? normalizeApiEndpoint(value, EMULATOR_HOST_VARIABLE) : undefined;
}

/** insertAll `json` values: BigQuery TIMESTAMP as the client library writes it (RFC 3339, UTC); numbers and strings as they are. */
function jsonValue(field: BigQueryField, value: ColumnValue): unknown {
  return field.type === 'TIMESTAMP' ? BigQuery.timestamp(value).value : value;
}

function insertAllRow(row: WarehouseRow): { insertId: string; json: Record<string, unknown> } {
  return {
    insertId: row.insertId,
    json: Object.fromEntries(WAREHOUSE_BIGQUERY_FIELDS.map((field) => [field.name, jsonValue(field, columnValue(row, field))])),
  };
}

class DeadlineExceeded extends Error {}

function withDeadline<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded()), timeoutMs);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

interface InsertError {
  index?: number | null;
  errors?: { reason?: string | null; message?: string | null }[] | null;
}

/** What the client throws for per-row `insertErrors` (`@google-cloud/common`'s `PartialFailureError`). */
function insertErrorsOf(error: unknown): InsertError[] | undefined {
  if (!(error instanceof Error) || error.name !== 'PartialFailureError') return undefined;
  const response = (error as { response?: { insertErrors?: InsertError[] } }).response;
  return response?.insertErrors;
}

function rowErrors(insertErrors: readonly InsertError[]): RowError[] {
  return insertErrors
    .map((insertError) => {
      const errors = insertError.errors ?? [];
      return {
        index: insertError.index ?? -1,
        reason: errors[0]?.reason || 'unknown',
        message: errors.map((entry) => entry.message ?? '').filter((message) => message !== '').join('; '),
      };
    })
    .sort((a, b) => a.index - b.index);
}

/** Connection-level failures worth retrying (DNS hiccup, refused, reset, dropped mid-reply). */
const TRANSIENT_NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** Google error reasons that mean "later", whatever the status code. */
const TRANSIENT_REASONS = new Set(['backendError', 'internalError', 'rateLimitExceeded', 'userRateLimitExceeded']);

const MAX_DETAIL_LENGTH = 300;

function shorten(text: string): string {
  const line = text.split('\n', 1)[0]!;
  return line.length > MAX_DETAIL_LENGTH ? `${line.slice(0, MAX_DETAIL_LENGTH)}…` : line;
}

/**
 * Classifies a client failure. The client's error objects carry the HTTP
 * exchange, request headers (a bearer token) included, so they are never
 * attached as `cause`: only status, reason and message are kept.
 */
function classify(error: unknown, timeoutMs: number): WarehouseError {
  if (error instanceof WarehouseError) return error;
  if (error instanceof DeadlineExceeded) {
    return new WarehouseError(`BigQuery insertAll did not answer within ${timeoutMs} ms`, 'warehouse_unavailable', true);
  }
  const insertErrors = insertErrorsOf(error);
  if (insertErrors) return new RowsRejectedError(rowErrors(insertErrors));
  const details = (error ?? {}) as { code?: unknown; message?: unknown; errors?: { reason?: unknown }[] };
  const message = shorten(typeof details.message === 'string' ? details.message : String(error));
  if (typeof details.code === 'number') {
    const status = details.code;
    const reasons = (details.errors ?? []).map((entry) => entry.reason).filter((reason): reason is string => typeof reason === 'string');
    const retryable = status >= 500 || status === 429 || status === 408 || reasons.some((reason) => TRANSIENT_REASONS.has(reason));
    const reasonText = reasons.length > 0 ? ` ${reasons[0]}` : '';
    return new WarehouseError(
      `BigQuery insertAll failed: HTTP ${status}${reasonText}: ${message}`,
      retryable ? 'warehouse_unavailable' : 'warehouse_error',
      retryable,
    );
  }
  if (typeof details.code === 'string' && TRANSIENT_NETWORK_CODES.has(details.code)) {
    return new WarehouseError(`BigQuery insertAll failed: ${details.code}`, 'warehouse_unavailable', true);
  }
  const name = error instanceof Error ? error.name : 'Error';
  return new WarehouseError(`BigQuery insertAll failed: ${name}: ${message}`, 'warehouse_error', false);
}

export class BigQueryWarehouse implements Warehouse {
  private readonly apiEndpoint: string | undefined;
  private readonly requestTimeoutMs: number;
  private tableClient?: Table;
  private closed = false;

  constructor(private readonly options: BigQueryWarehouseOptions) {
    this.apiEndpoint =
      options.apiEndpoint !== undefined ? normalizeApiEndpoint(options.apiEndpoint, 'apiEndpoint') : emulatorEndpointFromEnv(process.env);
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    if (!Number.isFinite(this.requestTimeoutMs) || this.requestTimeoutMs <= 0) {
      throw new Error(`requestTimeoutMs must be a positive number, got ${options.requestTimeoutMs}`);
    }
  }

  /** Created on first use (no network or credential lookup before the first insert), then reused. */
  private table(): Table {
    if (!this.tableClient) {
      const client = new BigQuery({
        projectId: this.options.projectId,
        apiEndpoint: this.apiEndpoint ?? GOOGLE_BIGQUERY_ENDPOINT,
        retryOptions: { autoRetry: false },
        // The client authenticates even against a custom endpoint (it never sets
        // `customEndpoint`), which would look up Application Default Credentials.
        ...(this.apiEndpoint !== undefined ? { authClient: new PassThroughClient() } : {}),
      });
      // With BIGQUERY_EMULATOR_HOST set, the client uses the variable verbatim as
      // its base URL (no `/bigquery/v2`) and ignores `apiEndpoint`; pin the
      // REST path so both ways reach the same URLs as production.
      client.baseUrl = `${client.apiEndpoint}/bigquery/v2`;
      this.tableClient = client.dataset(this.options.dataset).table(this.options.table);
    }
    return this.tableClient;
  }

  async insert(rows: readonly WarehouseRow[]): Promise<void> {
    if (this.closed) throw new WarehouseError('BigQuery warehouse is closed', 'warehouse_error', false);
    if (rows.length === 0) return;
    try {
      const sent = this.table().insert(rows.map(insertAllRow), {
        raw: true,
        skipInvalidRows: false,
        ignoreUnknownValues: false,
        partialRetries: 0,
      });
      await withDeadline(sent, this.requestTimeoutMs);
    } catch (error) {
      throw classify(error, this.requestTimeoutMs);
    }
  }

  /** Nothing is held open between inserts (the HTTP agent is shared); later inserts are refused. */
  async close(): Promise<void> {
    this.closed = true;
  }
}
