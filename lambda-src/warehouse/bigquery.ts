/**
 * The production warehouse: BigQuery streaming inserts (`tabledata.insertAll`,
 * posted by `../google-rest.ts`), each row with its insert id so a re-sent
 * batch is stored once, `skipInvalidRows: false` so a batch is all or
 * nothing, `ignoreUnknownValues: false` so a schema mismatch is an error
 * rather than silently dropped data.
 *
 * Retrying is left to the caller (the group-commit batcher, which owns every
 * re-send and its backoff; then the HTTP client on a 503, Pub/Sub on a
 * nack): an insert is one POST, never re-sent here, and reads turn the
 * client library's `autoRetry` off, so a failure surfaces once, with its
 * class. What the adapter decides is how long to wait for each call: a
 * query up to `requestTimeoutMs`, an insertAll up to an adaptive deadline
 * (`round-trip-timeout.ts`) a few round trips long, past which the call is
 * presumed hung, abandoned (its connection closed) and reported retryable,
 * so the batcher re-sends its rows, with the same insert ids, in about a
 * round trip rather than after a fixed worst case.
 *
 * Reads are `jobs.query` calls, through `@google-cloud/bigquery`, against
 * the table itself (never the latest-version view, which scans every
 * partition), bounded by a read window on the partitioning column, with
 * named query parameters (no value is ever part of the SQL text) and
 * `maximumBytesBilled`, so no single request can bill more than that: a
 * query that would is refused by BigQuery before it runs, and surfaces as a
 * `ReadTooLargeError`.
 */
import type { BigQuery, BigQueryTimestamp, Query } from '@google-cloud/bigquery';
import type { GoogleAuth } from 'google-auth-library';
import { WAREHOUSE_BIGQUERY_FIELDS, type BigQueryField } from '../record';
import { integerProblem, READ_MAX_BYTES_BILLED } from '../rules/limits';
import { asWarehouseError } from '../rules/warehouse-errors';
import { GoogleHttpError, createRestClient, type RestClient } from '../google-rest';
import { columnValue, type ColumnValue } from './columns';
import { RoundTripTimeout } from './round-trip-timeout';
import { READ_PARAMETERS, latestByIdQuery, latestPageQuery, storedRecordOf, UPDATED_AT_COLUMN } from './latest-view';
import {
  ReadTooLargeError,
  RowsRejectedError,
  WarehouseError,
  WarehouseTimeoutError,
  type ListLatestOptions,
  type ReadWindow,
  type RowError,
  type StoredRecord,
  type Warehouse,
  type WarehouseRow,
} from './warehouse';

export const GOOGLE_BIGQUERY_ENDPOINT = 'https://bigquery.googleapis.com';
/** The scope `@google-cloud/bigquery` asks for, and all the adapter needs. */
const BIGQUERY_SCOPE = 'https://www.googleapis.com/auth/bigquery';
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/**
 * A few times BigQuery's usual insertAll round trip within a region (tens of
 * milliseconds), so that steady calls are never abandoned for ordinary
 * jitter (the deviation term covers jitter that is not ordinary), yet a hung
 * call costs its requests a fraction of a second rather than seconds.
 * (RFC 6298's 1 s floor is for whole-path retransmission; a call abandoned
 * early here costs one duplicate insertAll, which the insert ids dedup.)
 */
export const DEFAULT_MIN_INSERT_TIMEOUT_MS = 250;
/** Half the batcher's 10 s request deadline, so the first call of an instance, before any round trip was measured, leaves time for a retry. */
export const DEFAULT_MAX_INSERT_TIMEOUT_MS = 5000;
export const EMULATOR_HOST_VARIABLE = 'BIGQUERY_EMULATOR_HOST';
export interface BigQueryWarehouseOptions {
  /** Project that owns the dataset. */
  projectId: string;
  /** Dataset id. */
  dataset: string;
  /** Table id. */
  table: string;
  /**
   * Most bytes one read query may bill. BigQuery refuses a query that would
   * bill more before running it; the read then fails with a
   * `ReadTooLargeError` (a narrower window fits). At least 10 MiB (BigQuery's
   * per-table minimum).
   * @default 1 GiB
   */
  maxBytesBilled?: number;
  /**
   * Base URL of a BigQuery-compatible REST endpoint (an emulator or test
   * stand-in), without `/bigquery/v2`. When set, requests carry no
   * credentials and none are looked up.
   * @default the `BIGQUERY_EMULATOR_HOST` environment variable when set, else https://bigquery.googleapis.com with Application Default Credentials
   */
  apiEndpoint?: string;
  /**
   * Longest wait for one query answer; past it the read fails as retryable
   * `warehouse_unavailable`.
   * @default 10000
   */
  requestTimeoutMs?: number;
  /**
   * Shortest deadline of one insertAll call. Each call's deadline is the
   * smoothed round trip of the calls before it plus four times their
   * deviation (RFC 6298), within `[minInsertTimeoutMs, maxInsertTimeoutMs]`;
   * past it the call is abandoned and fails as retryable
   * `warehouse_unavailable` (its rows may still land: a retry with the same
   * insert ids does not store them twice).
   * @default 250 (`DEFAULT_MIN_INSERT_TIMEOUT_MS`)
   */
  minInsertTimeoutMs?: number;
  /**
   * Longest deadline of one insertAll call, and the first call's.
   * @default 5000 (`DEFAULT_MAX_INSERT_TIMEOUT_MS`)
   */
  maxInsertTimeoutMs?: number;
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

/** insertAll `json` values: BigQuery TIMESTAMP as the client library writes a Date (RFC 3339, UTC); numbers and strings as they are. */
function jsonValue(field: BigQueryField, value: ColumnValue): unknown {
  return field.type === 'TIMESTAMP' && value instanceof Date ? value.toISOString() : value;
}

function insertAllRow(row: WarehouseRow): { insertId: string; json: Record<string, unknown> } {
  return {
    insertId: row.insertId,
    json: Object.fromEntries(WAREHOUSE_BIGQUERY_FIELDS.map((field) => [field.name, jsonValue(field, columnValue(row, field))])),
  };
}

/** Our deadline passed; `classify` names it, with the deadline it is given. */
class DeadlineExceeded extends Error {}

/** Runs `work`, failing with `DeadlineExceeded` after `timeoutMs` and then aborting it through the signal. */
function withDeadline<T>(work: (signal: AbortSignal) => Promise<T>, timeoutMs: number): Promise<T> {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new DeadlineExceeded());
      abort.abort();
    }, timeoutMs);
  });
  return Promise.race([work(abort.signal), deadline]).finally(() => clearTimeout(timer));
}

interface InsertError {
  index?: number | null;
  errors?: { reason?: string | null; message?: string | null }[] | null;
}

/** A 2xx insertAll answer: rows at fault (and, with `skipInvalidRows: false`, every other row as `stopped`), if any. */
interface InsertAllAnswer {
  insertErrors?: InsertError[];
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

/** BigQuery's reason for a query refused because it would bill more than `maximumBytesBilled`. */
const BYTES_BILLED_LIMIT_EXCEEDED = 'bytesBilledLimitExceeded';

/**
 * Google error reasons that mean "later", whatever the status code (a quota
 * or rate limit comes as a 403): BigQuery's guidance for each is to retry
 * with exponential backoff.
 */
const TRANSIENT_REASONS = new Set(['backendError', 'internalError', 'quotaExceeded', 'rateLimitExceeded', 'userRateLimitExceeded']);

type Operation = 'insertAll' | 'query';

/** What the client throws when `jobs.query` answers `jobComplete: false` and a `timeoutMs` was given. */
const QUERY_INCOMPLETE = /^The query did not complete before \d+ms$/;

/**
 * The failures of a call this adapter recognises (`message` is the error's
 * `failureText`): an HTTP status (ours or the client library's `code`), a
 * network error code, or our deadline. Only status, reason and message are
 * kept: the client's error objects carry the HTTP exchange, request headers
 * (a bearer token) included.
 */
function classify(error: unknown, message: string, timeoutMs: number, operation: Operation): WarehouseError | undefined {
  if (error instanceof DeadlineExceeded) return new WarehouseTimeoutError(`BigQuery ${operation} did not answer within ${timeoutMs} ms`);
  if (error instanceof Error && QUERY_INCOMPLETE.test(error.message)) {
    return new WarehouseError(`BigQuery query did not complete within ${timeoutMs} ms`, 'warehouse_unavailable', true);
  }
  const details = (error ?? {}) as { code?: unknown; errors?: { reason?: unknown }[] };
  if (typeof details.code === 'number') {
    const status = details.code;
    const reasons = (details.errors ?? []).map((entry) => entry.reason).filter((reason): reason is string => typeof reason === 'string');
    const retryable = status >= 500 || status === 429 || status === 408 || reasons.some((reason) => TRANSIENT_REASONS.has(reason));
    const reasonText = reasons.length > 0 ? ` ${reasons[0]}` : '';
    if (reasons.includes(BYTES_BILLED_LIMIT_EXCEEDED)) return new ReadTooLargeError(`BigQuery ${operation} refused: HTTP ${status}${reasonText}: ${message}`);
    return new WarehouseError(
      `BigQuery ${operation} failed: HTTP ${status}${reasonText}: ${message}`,
      retryable ? 'warehouse_unavailable' : 'warehouse_error',
      retryable,
    );
  }
  if (typeof details.code === 'string' && TRANSIENT_NETWORK_CODES.has(details.code)) {
    return new WarehouseError(`BigQuery ${operation} failed: ${details.code}`, 'warehouse_unavailable', true);
  }
  return undefined;
}

/** A failed call as the port's error. */
function failure(error: unknown, timeoutMs: number, operation: Operation): WarehouseError {
  return asWarehouseError(error, { operation: `BigQuery ${operation}`, classify: (cause, text) => classify(cause, text, timeoutMs, operation) });
}

/** Reads always send every parameter with its type, so nothing depends on the client inferring one. */
const READ_PARAMETER_TYPES: Readonly<Record<string, string>> = {
  [READ_PARAMETERS.id]: 'STRING',
  [READ_PARAMETERS.afterId]: 'STRING',
  [READ_PARAMETERS.limit]: 'INT64',
  [READ_PARAMETERS.since]: 'TIMESTAMP',
};

const namedParameter = (name: string) => `@${name}`;

/** `project.dataset.table`, backquoted. Config, not user input, but a backquote or backslash could still end the quoting. */
function quotedTableName(projectId: string, dataset: string, table: string): string {
  const name = `${projectId}.${dataset}.${table}`;
  if (/[`\\\n]/.test(name)) throw new Error(`BigQuery table name ${JSON.stringify(name)} must not contain a backquote, backslash or newline`);
  return `\`${name}\``;
}

function storedRecord(row: Record<string, unknown>): StoredRecord {
  return storedRecordOf(row, new Date((row[UPDATED_AT_COLUMN] as BigQueryTimestamp).value));
}

export class BigQueryWarehouse implements Warehouse {
  private readonly apiEndpoint: string | undefined;
  private readonly requestTimeoutMs: number;
  private readonly insertTimeout: RoundTripTimeout;
  private readonly maxBytesBilled: number;
  private readonly latestByIdSql: string;
  private readonly latestPageSql: string;
  private readonly insertAllUrl: string;
  private readonly rest: RestClient = createRestClient();
  private auth?: Promise<GoogleAuth>;
  private client?: Promise<BigQuery>;
  private closed = false;

  constructor(private readonly options: BigQueryWarehouseOptions) {
    this.apiEndpoint =
      options.apiEndpoint !== undefined ? normalizeApiEndpoint(options.apiEndpoint, 'apiEndpoint') : emulatorEndpointFromEnv(process.env);
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    if (!Number.isFinite(this.requestTimeoutMs) || this.requestTimeoutMs <= 0) {
      throw new Error(`requestTimeoutMs must be a positive number, got ${options.requestTimeoutMs}`);
    }
    const minInsertTimeoutMs = options.minInsertTimeoutMs ?? DEFAULT_MIN_INSERT_TIMEOUT_MS;
    const maxInsertTimeoutMs = options.maxInsertTimeoutMs ?? Math.max(DEFAULT_MAX_INSERT_TIMEOUT_MS, minInsertTimeoutMs);
    if (!Number.isFinite(minInsertTimeoutMs) || minInsertTimeoutMs <= 0 || !Number.isFinite(maxInsertTimeoutMs) || maxInsertTimeoutMs < minInsertTimeoutMs) {
      throw new Error(
        `minInsertTimeoutMs and maxInsertTimeoutMs must be positive numbers, the first at most the second, got ${options.minInsertTimeoutMs} and ${options.maxInsertTimeoutMs}`,
      );
    }
    this.insertTimeout = new RoundTripTimeout({ minMs: minInsertTimeoutMs, maxMs: maxInsertTimeoutMs });
    this.maxBytesBilled = options.maxBytesBilled ?? READ_MAX_BYTES_BILLED.default;
    const problem = integerProblem(this.maxBytesBilled, READ_MAX_BYTES_BILLED);
    if (problem !== undefined) {
      throw new Error(`maxBytesBilled ${problem}`);
    }
    const table = quotedTableName(options.projectId, options.dataset, options.table);
    this.latestByIdSql = latestByIdQuery(table, namedParameter);
    this.latestPageSql = latestPageQuery(table, namedParameter);
    const path = [options.projectId, 'datasets', options.dataset, 'tables', options.table].map(encodeURIComponent).join('/');
    this.insertAllUrl = `${this.apiEndpoint ?? GOOGLE_BIGQUERY_ENDPOINT}/bigquery/v2/projects/${path}/insertAll`;
  }

  /**
   * The client library, for reads only: loaded and created on the first read
   * (a function that only ingests never loads it), then reused.
   */
  private bigQuery(): Promise<BigQuery> {
    this.client ??= Promise.all([import('@google-cloud/bigquery'), import('google-auth-library')]).then(([{ BigQuery }, { PassThroughClient }]) => {
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
      return client;
    });
    return this.client;
  }

  /**
   * A bearer token from Application Default Credentials for the real endpoint,
   * looked up on the first insert (the library caches and refreshes it); an
   * emulator gets no credentials.
   */
  private async authorization(): Promise<Record<string, string>> {
    if (this.apiEndpoint !== undefined) return {};
    this.auth ??= import('google-auth-library').then(({ GoogleAuth }) => new GoogleAuth({ scopes: [BIGQUERY_SCOPE] }));
    return Object.fromEntries(await (await this.auth).getRequestHeaders());
  }

  async insert(rows: readonly WarehouseRow[]): Promise<void> {
    this.refuseIfClosed();
    if (rows.length === 0) return;
    const body = { kind: 'bigquery#tableDataInsertAllRequest', skipInvalidRows: false, ignoreUnknownValues: false, rows: rows.map(insertAllRow) };
    const timeoutMs = this.insertTimeout.timeoutMs;
    const sentAt = performance.now();
    let answer: InsertAllAnswer;
    try {
      answer = (await withDeadline(
        async (signal) => this.rest.postJson(this.insertAllUrl, body, await this.authorization(), signal),
        timeoutMs,
      )) as InsertAllAnswer;
      this.insertTimeout.answered(performance.now() - sentAt);
    } catch (error) {
      if (error instanceof DeadlineExceeded) this.insertTimeout.timedOut();
      else if (error instanceof GoogleHttpError) this.insertTimeout.answered(performance.now() - sentAt);
      throw failure(error, timeoutMs, 'insertAll');
    }
    if (answer.insertErrors !== undefined && answer.insertErrors.length > 0) throw new RowsRejectedError(rowErrors(answer.insertErrors));
  }

  async getLatest(id: string, { since }: ReadWindow): Promise<StoredRecord | undefined> {
    const [row] = await this.query(this.latestByIdSql, { [READ_PARAMETERS.id]: id, [READ_PARAMETERS.since]: since });
    return row === undefined ? undefined : storedRecord(row);
  }

  async listLatest({ afterId, limit, since }: ListLatestOptions): Promise<StoredRecord[]> {
    const rows = await this.query(this.latestPageSql, {
      [READ_PARAMETERS.since]: since,
      [READ_PARAMETERS.afterId]: afterId,
      [READ_PARAMETERS.limit]: limit,
    });
    return rows.map(storedRecord);
  }

  /**
   * One `jobs.query` call. `timeoutMs` makes BigQuery answer within the
   * deadline, so an unfinished query fails here instead of being polled.
   */
  private async query(sql: string, params: Record<string, string | number | Date>): Promise<Record<string, unknown>[]> {
    this.refuseIfClosed();
    const request: Query = {
      query: sql,
      params,
      types: Object.fromEntries(Object.keys(params).map((name) => [name, READ_PARAMETER_TYPES[name]!])),
      useLegacySql: false,
      maximumBytesBilled: String(this.maxBytesBilled),
      // Short queries may then run without a job resource: less latency, nothing to poll.
      jobCreationMode: 'JOB_CREATION_OPTIONAL',
    };
    try {
      const [rows] = await withDeadline(async () => (await this.bigQuery()).query(request, { timeoutMs: this.requestTimeoutMs }), this.requestTimeoutMs);
      return rows;
    } catch (error) {
      throw failure(error, this.requestTimeoutMs, 'query');
    }
  }

  /** Closes the insert connections kept alive between calls; later calls are refused. */
  async close(): Promise<void> {
    this.closed = true;
    this.rest.close();
  }

  private refuseIfClosed(): void {
    if (this.closed) throw new WarehouseError('BigQuery warehouse is closed', 'warehouse_error', false);
  }
}
