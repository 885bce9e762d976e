/**
 * A local stand-in for the parts of BigQuery's REST API (v2) the pipeline
 * uses, so the real `@google-cloud/bigquery` client can be exercised without
 * Google Cloud: it listens on 127.0.0.1, keeps tables in memory, validates
 * requests and rows the way BigQuery does, records every request, and can be
 * scripted to fail (per-row `insertErrors`, 5xx, slow replies, dropped
 * connections).
 *
 * Endpoints live in a route table; a new REST method (e.g. `jobs.query` for
 * reads) is one more entry plus its handler.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BigQueryField } from '../../lambda-src/record';

export interface TableRef {
  projectId: string;
  datasetId: string;
  tableId: string;
}

/** One element of an insertAll request's `rows`. */
export interface InsertAllRow {
  insertId?: string;
  json: Record<string, unknown>;
}

/** A well-formed `tabledata.insertAll` request, as received. */
export interface InsertAllRequest {
  route: 'tabledata.insertAll';
  table: TableRef;
  rows: InsertAllRow[];
  skipInvalidRows: boolean | undefined;
  ignoreUnknownValues: boolean | undefined;
  /** The `Authorization` header, if the client sent one. */
  authorization: string | undefined;
}

/** Every route's recorded request; later routes add their own member. */
export type RecordedRequest = InsertAllRequest;
export type RouteName = RecordedRequest['route'];

/** A row as the table holds it. */
export interface StoredRow {
  insertId: string | undefined;
  json: Record<string, unknown>;
}

/** How a scripted request is answered instead of (or after) normal handling. */
export type ScriptedOutcome =
  /** An error reply in Google's JSON error format; nothing is stored. */
  | { kind: 'httpError'; status: number; reason?: string; message?: string }
  /**
   * The connection is dropped without a reply. With `afterStoring`, the rows
   * are stored first: the client cannot know its insert succeeded.
   */
  | { kind: 'destroySocket'; afterStoring?: boolean }
  /** insertAll only: these row indices are reported `invalid`, as if they broke the schema. */
  | { kind: 'rejectRows'; indices: readonly number[]; message?: string };

export interface ScriptedReply {
  /** Wait this long before handling the request (a slow BigQuery). */
  delayMs?: number;
  /** Default: handle the request normally. */
  outcome?: ScriptedOutcome;
}

export interface StandInOptions {
  /** Added before every reply, to model the network round trip. @default 0 */
  latencyMs?: number;
}

interface JsonReply {
  status: number;
  body: unknown;
}

interface AcceptedRequest {
  recorded: RecordedRequest;
  /** Does the work and builds the reply; `rejectRows` is the only outcome a route sees. */
  execute(rejected?: Extract<ScriptedOutcome, { kind: 'rejectRows' }>): JsonReply;
}

interface Route {
  name: RouteName;
  method: string;
  /** Matched against the URL path; named groups become path parameters. */
  path: RegExp;
  /** Validates the request; answers an error reply or the accepted request. */
  accept(params: Record<string, string>, body: unknown, request: IncomingMessage): JsonReply | AcceptedRequest;
}

interface Table {
  fields: readonly BigQueryField[];
  rows: StoredRow[];
  /** insertAll deduplicates on insert id (BigQuery does it best-effort for about a minute; we keep them all). */
  insertIds: Set<string>;
}

const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

const DEFAULT_ERROR_REASONS: Record<number, string> = {
  400: 'invalid',
  404: 'notFound',
  429: 'rateLimitExceeded',
  500: 'backendError',
  503: 'backendError',
};

/** Google's JSON error body (what `@google-cloud/common` turns into an `ApiError`). */
function googleError(status: number, reason: string, message: string): JsonReply {
  return {
    status,
    body: { error: { code: status, message, errors: [{ message, domain: 'global', reason }], status: STATUS_NAMES[status] ?? 'UNKNOWN' } },
  };
}

const INSERT_ALL_KEYS = new Set(['kind', 'skipInvalidRows', 'ignoreUnknownValues', 'templateSuffix', 'rows', 'traceId']);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function tableKey(ref: TableRef): string {
  return `${ref.projectId}:${ref.datasetId}.${ref.tableId}`;
}

/** BigQuery's canonical timestamp forms: RFC 3339 / `YYYY-MM-DD[ T]HH:MM:SS[.ffffff][Z| UTC|±HH:MM]`, or epoch seconds. */
const TIMESTAMP_PATTERN = /^\d{4}-\d{1,2}-\d{1,2}[ T]\d{1,2}:\d{2}:\d{2}(\.\d{1,12})?(Z| UTC|[+-]\d{2}:\d{2})?$/;

function valueProblem(field: BigQueryField, value: unknown): string | undefined {
  switch (field.type) {
    case 'STRING': {
      if (typeof value !== 'string') return `Cannot convert value to string for field ${field.name}.`;
      const length = [...value].length;
      if (field.maxLength !== undefined && length > Number(field.maxLength)) {
        return `Field ${field.name}: STRING(${field.maxLength}) has maximum length ${field.maxLength} but got a value with length ${length}`;
      }
      return undefined;
    }
    case 'FLOAT':
      if (typeof value === 'number') return undefined;
      if (typeof value === 'string' && (/^(NaN|[+-]?Infinity)$/.test(value) || Number.isFinite(Number(value)))) return undefined;
      return `Cannot convert value to floating point for field ${field.name}.`;
    case 'TIMESTAMP':
      if (typeof value === 'number' && Number.isFinite(value)) return undefined;
      if (typeof value === 'string' && TIMESTAMP_PATTERN.test(value) && !Number.isNaN(Date.parse(value.replace(' UTC', 'Z')))) {
        return undefined;
      }
      return `Couldn't convert value to timestamp for field ${field.name}.`;
  }
}

/** Why BigQuery would refuse this row, or undefined when it fits the schema. */
function rowProblem(json: Record<string, unknown>, fields: readonly BigQueryField[], ignoreUnknownValues: boolean): string | undefined {
  if (!ignoreUnknownValues) {
    const unknown = Object.keys(json).find((name) => !fields.some((field) => field.name === name));
    if (unknown !== undefined) return `no such field: ${unknown}.`;
  }
  for (const field of fields) {
    const value = json[field.name];
    if (value === undefined || value === null) {
      if (field.mode === 'REQUIRED') return `Missing required field: ${field.name}.`;
      continue;
    }
    const problem = valueProblem(field, value);
    if (problem) return problem;
  }
  return undefined;
}

function insertAllShapeProblem(body: unknown): string | undefined {
  if (!isObject(body)) return 'The request body must be a JSON object.';
  const unknownKey = Object.keys(body).find((key) => !INSERT_ALL_KEYS.has(key));
  if (unknownKey !== undefined) return `Invalid JSON payload received. Unknown name "${unknownKey}": Cannot find field.`;
  for (const flag of ['skipInvalidRows', 'ignoreUnknownValues'] as const) {
    if (body[flag] !== undefined && typeof body[flag] !== 'boolean') return `Invalid value for ${flag}: must be a boolean.`;
  }
  if (!Array.isArray(body.rows) || body.rows.length === 0) return 'No rows present in the request.';
  for (const [index, row] of body.rows.entries()) {
    if (!isObject(row) || !isObject(row.json)) return `rows[${index}].json must be a JSON object.`;
    const extra = Object.keys(row).find((key) => key !== 'json' && key !== 'insertId');
    if (extra !== undefined) return `Invalid JSON payload received. Unknown name "${extra}" at 'rows[${index}]': Cannot find field.`;
    if (row.insertId !== undefined && typeof row.insertId !== 'string') return `rows[${index}].insertId must be a string.`;
  }
  return undefined;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

export class BigQueryStandIn {
  /** Base URL to hand the client as `apiEndpoint` (it appends `/bigquery/v2`). */
  readonly url: string;
  private readonly recorded: RecordedRequest[] = [];
  private readonly tables = new Map<string, Table>();
  private readonly scripts = new Map<RouteName, ScriptedReply[]>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly routes: readonly Route[] = [
    {
      name: 'tabledata.insertAll',
      method: 'POST',
      path: /^\/bigquery\/v2\/projects\/(?<projectId>[^/]+)\/datasets\/(?<datasetId>[^/]+)\/tables\/(?<tableId>[^/]+)\/insertAll$/,
      accept: (params, body, request) => this.acceptInsertAll(params, body, request),
    },
  ];

  private constructor(
    private readonly server: Server,
    private readonly latencyMs: number,
  ) {
    const { port } = server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
  }

  static async start(options: StandInOptions = {}): Promise<BigQueryStandIn> {
    let standIn: BigQueryStandIn | undefined;
    const server = createServer((request, response) => {
      standIn!.handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) BigQueryStandIn.send(response, googleError(500, 'backendError', String(error)));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    standIn = new BigQueryStandIn(server, options.latencyMs ?? 0);
    return standIn;
  }

  /** Every well-formed request received so far, in arrival order (including ones answered with a scripted failure). */
  get requests(): readonly RecordedRequest[] {
    return this.recorded;
  }

  /** Creates an empty table; insertAll into a table that does not exist answers 404, as BigQuery does. */
  createTable(ref: TableRef, fields: readonly BigQueryField[]): void {
    this.tables.set(tableKey(ref), { fields, rows: [], insertIds: new Set() });
  }

  /** The rows stored in a table, in insertion order. */
  rows(ref: TableRef): StoredRow[] {
    const table = this.tables.get(tableKey(ref));
    if (!table) throw new Error(`stand-in has no table ${tableKey(ref)}`);
    return table.rows.map((row) => ({ insertId: row.insertId, json: { ...row.json } }));
  }

  /** Queues how the next requests to `route` are answered, one reply per request, in order. */
  script(route: RouteName, ...replies: ScriptedReply[]): void {
    this.scripts.set(route, [...(this.scripts.get(route) ?? []), ...replies]);
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  private static send(response: ServerResponse, reply: JsonReply): void {
    const body = JSON.stringify(reply.body);
    response.writeHead(reply.status, { 'Content-Type': 'application/json; charset=UTF-8', 'Content-Length': Buffer.byteLength(body) });
    response.end(body);
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? '/', this.url).pathname;
    const text = await readBody(request);
    const route = this.routes.find((candidate) => candidate.method === request.method && candidate.path.test(path));
    if (!route) {
      BigQueryStandIn.send(response, googleError(404, 'notFound', `Not found: ${request.method} ${path}`));
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      BigQueryStandIn.send(response, googleError(400, 'parseError', 'Parse Error'));
      return;
    }
    const params = Object.fromEntries(
      Object.entries(route.path.exec(path)!.groups ?? {}).map(([name, value]) => [name, decodeURIComponent(value)]),
    );
    const accepted = route.accept(params, body, request);
    if (!('recorded' in accepted)) {
      BigQueryStandIn.send(response, accepted);
      return;
    }
    this.recorded.push(accepted.recorded);
    const scripted = this.scripts.get(route.name)?.shift() ?? {};
    await this.sleep(this.latencyMs + (scripted.delayMs ?? 0));
    if (response.destroyed) return;
    const outcome = scripted.outcome;
    if (outcome?.kind === 'httpError') {
      const reason = outcome.reason ?? DEFAULT_ERROR_REASONS[outcome.status] ?? 'backendError';
      BigQueryStandIn.send(response, googleError(outcome.status, reason, outcome.message ?? `Scripted failure: HTTP ${outcome.status}`));
      return;
    }
    if (outcome?.kind === 'destroySocket') {
      if (outcome.afterStoring) accepted.execute();
      request.socket.destroy();
      return;
    }
    BigQueryStandIn.send(response, accepted.execute(outcome));
  }

  private acceptInsertAll(params: Record<string, string>, body: unknown, request: IncomingMessage): JsonReply | AcceptedRequest {
    const ref: TableRef = { projectId: params.projectId!, datasetId: params.datasetId!, tableId: params.tableId! };
    const problem = insertAllShapeProblem(body);
    if (problem) return googleError(400, 'invalid', problem);
    const table = this.tables.get(tableKey(ref));
    if (!table) return googleError(404, 'notFound', `Not found: Table ${tableKey(ref)}`);
    const insertAll = body as { rows: InsertAllRow[]; skipInvalidRows?: boolean; ignoreUnknownValues?: boolean };
    const recorded: InsertAllRequest = {
      route: 'tabledata.insertAll',
      table: ref,
      rows: insertAll.rows.map((row) => ({ insertId: row.insertId, json: row.json })),
      skipInvalidRows: insertAll.skipInvalidRows,
      ignoreUnknownValues: insertAll.ignoreUnknownValues,
      authorization: request.headers.authorization,
    };
    return { recorded, execute: (rejected) => this.insertAll(table, recorded, rejected?.indices ?? [], rejected?.message) };
  }

  private insertAll(table: Table, request: InsertAllRequest, scriptedInvalid: readonly number[], scriptedMessage?: string): JsonReply {
    const ignoreUnknownValues = request.ignoreUnknownValues ?? false;
    const problems = request.rows.map((row, index) =>
      scriptedInvalid.includes(index)
        ? (scriptedMessage ?? 'Scripted invalid row.')
        : rowProblem(row.json, table.fields, ignoreUnknownValues),
    );
    const anyInvalid = problems.some((problem) => problem !== undefined);
    const insertErrors: { index: number; errors: { reason: string; location: string; debugInfo: string; message: string }[] }[] = [];
    request.rows.forEach((row, index) => {
      const problem = problems[index];
      if (problem !== undefined) {
        insertErrors.push({ index, errors: [{ reason: 'invalid', location: '', debugInfo: '', message: problem }] });
      } else if (anyInvalid && !request.skipInvalidRows) {
        insertErrors.push({ index, errors: [{ reason: 'stopped', location: '', debugInfo: '', message: '' }] });
      } else {
        this.store(table, row, ignoreUnknownValues);
      }
    });
    return {
      status: 200,
      body: insertErrors.length > 0 ? { kind: 'bigquery#tableDataInsertAllResponse', insertErrors } : { kind: 'bigquery#tableDataInsertAllResponse' },
    };
  }

  private store(table: Table, row: InsertAllRow, ignoreUnknownValues: boolean): void {
    if (row.insertId !== undefined && row.insertId !== '') {
      if (table.insertIds.has(row.insertId)) return;
      table.insertIds.add(row.insertId);
    }
    const json = ignoreUnknownValues
      ? Object.fromEntries(Object.entries(row.json).filter(([name]) => table.fields.some((field) => field.name === name)))
      : { ...row.json };
    table.rows.push({ insertId: row.insertId, json });
  }
}
