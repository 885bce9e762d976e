/**
 * A local stand-in for the parts of BigQuery's REST API (v2) the pipeline
 * uses, so the real `@google-cloud/bigquery` client can be exercised without
 * Google Cloud: it listens on 127.0.0.1, keeps tables in memory, validates
 * requests and rows the way BigQuery does, records every request, and can be
 * scripted to fail (per-row `insertErrors`, 5xx, slow replies, dropped
 * connections, calls that never answer): one reply at a time (`script`), or
 * by a rule that sees each request (`respond`), for faults that strike a
 * share of a load (every seventh call, every row with a poisoned id).
 *
 * Endpoints live in a route table; a new REST method is one more entry plus
 * its handler. `jobs.query` runs only the two read shapes the adapter sends
 * (recognised by pattern, evaluated against the stored rows with the
 * request's parameters), not arbitrary SQL: anything else is refused, so a
 * query the adapter should not send fails loudly. It bills as BigQuery's
 * on-demand pricing does: the logical bytes of the columns a query reads,
 * in the partitions its filter on a day-partitioned table's partitioning
 * column leaves, and at least 10 MiB.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text } from 'node:stream/consumers';
import type { BigQueryField } from '../lambda-src/record';
import { compareUtf8, latestVersions } from './latest-versions';

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

/** One element of a `jobs.query` request's `queryParameters`, as sent. */
export interface QueryParameter {
  name?: string;
  parameterType?: { type?: string };
  parameterValue?: { value?: unknown };
}

/** A well-formed `jobs.query` request, as received. */
export interface QueryRequest {
  route: 'jobs.query';
  projectId: string;
  /** The SQL text, exactly as sent. */
  query: string;
  queryParameters: QueryParameter[];
  parameterMode: string | undefined;
  useLegacySql: boolean | undefined;
  /** As sent: an int64 in a string, or absent (no cap). */
  maximumBytesBilled: string | undefined;
  timeoutMs: number | undefined;
  jobCreationMode: string | undefined;
  authorization: string | undefined;
  /** Set once the query has run: what it read and what it would bill. */
  statistics?: QueryStatistics;
}

/** What a query read, as BigQuery counts it. */
export interface QueryStatistics {
  /** Logical bytes of the columns read, in the partitions not pruned. */
  bytesProcessed: number;
  /** `bytesProcessed`, but at least 10 MiB. */
  bytesBilled: number;
}

/** Every route's recorded request. */
export type RecordedRequest = InsertAllRequest | QueryRequest;
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
  /**
   * No reply ever: the connection stays open until the client gives up (or
   * the stand-in stops). With `afterStoring`, the rows are stored first, as
   * when BigQuery committed an insert whose answer was lost.
   */
  | { kind: 'hang'; afterStoring?: boolean }
  /** insertAll only: these row indices are reported `invalid`, as if they broke the schema. */
  | { kind: 'rejectRows'; indices: readonly number[]; message?: string }
  /** jobs.query only: the query has not finished within the request's `timeoutMs` (`jobComplete: false`). */
  | { kind: 'incomplete' };

/** The outcomes a route itself handles (the others are the same for every route). */
type RouteOutcome = Extract<ScriptedOutcome, { kind: 'rejectRows' | 'incomplete' }>;

export interface ScriptedReply {
  /** Wait this long before handling the request (a slow BigQuery). */
  delayMs?: number;
  /** Default: handle the request normally. */
  outcome?: ScriptedOutcome;
}

/**
 * Decides how a request the script does not cover is answered, from the
 * request and its number among the requests to its route (0 for the first);
 * undefined answers normally.
 */
export type ReplyRule<R extends RouteName = RouteName> = (
  request: Extract<RecordedRequest, { route: R }>,
  index: number,
) => ScriptedReply | undefined;

export interface TableOptions {
  /** A TIMESTAMP column the table is partitioned by, per UTC day, as `WarehouseTable` does. @default not partitioned */
  dayPartitionedBy?: string;
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
  /** Does the work and builds the reply. */
  execute(outcome?: RouteOutcome): JsonReply;
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
  dayPartitionedBy: string | undefined;
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

/** BigQuery bills at least 10 MB for each table a query reads. */
const MIN_BYTES_BILLED = 10 * 1024 * 1024;

/** Logical bytes BigQuery bills for reading these columns of these rows: 2 + UTF-8 length per STRING, 8 per FLOAT or TIMESTAMP. */
function bytesOf(rows: readonly StoredRow[], fields: readonly BigQueryField[]): number {
  let bytes = 0;
  for (const row of rows) {
    for (const field of fields) {
      const value = row.json[field.name];
      if (value === undefined || value === null) continue;
      bytes += field.type === 'STRING' ? 2 + Buffer.byteLength(String(value)) : 8;
    }
  }
  return bytes;
}

const MICROS_PER_DAY = 86_400_000_000;
/** The UTC day a TIMESTAMP (in epoch microseconds) falls in, as `YYYY-MM-DD`. */
const dayOf = (micros: number) => new Date(Math.floor(micros / MICROS_PER_DAY) * 86_400_000).toISOString().slice(0, 10);

/** A stored TIMESTAMP (an insertAll value: RFC 3339-like text or epoch seconds) in epoch microseconds. */
function timestampMicros(value: unknown): number {
  if (typeof value === 'number') return Math.round(value * 1e6);
  const text = String(value).replace(' UTC', 'Z');
  const fraction = /\.(\d+)/.exec(text)?.[1] ?? '';
  return Date.parse(text) * 1000 + Number(fraction.slice(3, 6).padEnd(3, '0'));
}

/**
 * The read shapes `BigQueryWarehouse` sends (`lambda-src/warehouse/latest-view.ts`),
 * on one table (`project.dataset.table`): the latest version of one id at or after
 * `@since`, newest first, one row; and a page of latest versions at or after
 * `@since` with ids after `@afterId`, up to `@limit`. Both filter the
 * partitioning column by itself against a parameter, which is what lets
 * BigQuery prune partitions.
 */
const NAME = '[A-Za-z_][A-Za-z0-9_]*';
const COLUMNS = `${NAME}(?:, ${NAME})*`;
const LATEST_FIRST = 'ORDER BY ingested_at DESC, insert_id DESC';
const QUERY_SHAPES = {
  byId: new RegExp(
    `^SELECT (?<columns>${COLUMNS}) FROM \`(?<table>[^\`]+)\` ` +
      `WHERE id = @(?<id>${NAME}) AND ingested_at >= @(?<since>${NAME}) ${LATEST_FIRST} LIMIT 1$`,
  ),
  page: new RegExp(
    [
      `^SELECT (?<columns>${COLUMNS})`,
      'FROM \\(',
      `  SELECT \\k<columns>, ROW_NUMBER\\(\\) OVER \\(PARTITION BY id ${LATEST_FIRST}\\) AS version_rank`,
      '  FROM `(?<table>[^`]+)`',
      `  WHERE ingested_at >= @(?<since>${NAME}) AND id > @(?<afterId>${NAME})`,
      '\\)',
      `WHERE version_rank = 1 ORDER BY id LIMIT @(?<limit>${NAME})$`,
    ].join('\n'),
  ),
};
/** Columns both shapes read besides those they select: the filters' and the ordering's. */
const READ_BESIDES_SELECTED = ['id', 'ingested_at', 'insert_id'];

const QUERY_KEYS = new Set([
  'kind',
  'query',
  'queryParameters',
  'parameterMode',
  'useLegacySql',
  'maximumBytesBilled',
  'timeoutMs',
  'location',
  'formatOptions',
  'requestId',
  'jobCreationMode',
  'useQueryCache',
  'labels',
  'maxResults',
  'defaultDataset',
  'createSession',
  'dryRun',
]);

function queryShapeProblem(body: unknown): string | undefined {
  if (!isObject(body)) return 'The request body must be a JSON object.';
  const unknownKey = Object.keys(body).find((key) => !QUERY_KEYS.has(key));
  if (unknownKey !== undefined) return `Invalid JSON payload received. Unknown name "${unknownKey}": Cannot find field.`;
  if (typeof body.query !== 'string' || body.query === '') return 'Required parameter is missing: query';
  if (body.queryParameters !== undefined && !Array.isArray(body.queryParameters)) return 'queryParameters must be a list.';
  if (body.maximumBytesBilled !== undefined && !(typeof body.maximumBytesBilled === 'string' && /^\d+$/.test(body.maximumBytesBilled))) {
    return `Invalid value for maximumBytesBilled: ${JSON.stringify(body.maximumBytesBilled)}`;
  }
  return undefined;
}

/** A typed named parameter's value (a TIMESTAMP in epoch microseconds), or why it cannot be used. */
function parameterValue(
  parameters: readonly QueryParameter[],
  name: string,
  type: 'STRING' | 'INT64' | 'TIMESTAMP',
): { value: string | number } | { problem: string } {
  const parameter = parameters.find((candidate) => candidate.name === name);
  if (parameter === undefined) return { problem: `Query parameter '${name}' not found` };
  if (parameter.parameterType?.type !== type) {
    return { problem: `Query parameter '${name}' has type ${parameter.parameterType?.type ?? 'unknown'}, the query needs ${type}` };
  }
  const raw = parameter.parameterValue?.value;
  switch (type) {
    case 'STRING':
      return typeof raw === 'string' ? { value: raw } : { problem: `Query parameter '${name}' has no STRING value` };
    case 'INT64':
      return /^-?\d+$/.test(String(raw)) ? { value: Number(raw) } : { problem: `Query parameter '${name}' has no INT64 value` };
    case 'TIMESTAMP':
      return typeof raw === 'string' && TIMESTAMP_PATTERN.test(raw) && !Number.isNaN(Date.parse(raw.replace(' UTC', 'Z')))
        ? { value: timestampMicros(raw) }
        : { problem: `Query parameter '${name}' has no TIMESTAMP value: ${JSON.stringify(raw)}` };
  }
}

/** A `jobs.query` cell: every value is text, TIMESTAMP as int64 microseconds or float seconds per the request's format options. */
function cell(field: BigQueryField, value: unknown, int64Timestamps: boolean): { v: string | null } {
  if (value === undefined || value === null) return { v: null };
  if (field.type !== 'TIMESTAMP') return { v: String(value) };
  const micros = timestampMicros(value);
  return { v: int64Timestamps ? String(micros) : String(micros / 1e6) };
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

export class BigQueryStandIn {
  /** Base URL to hand the client as `apiEndpoint` (it appends `/bigquery/v2`). */
  readonly url: string;
  private readonly recorded: RecordedRequest[] = [];
  private readonly tables = new Map<string, Table>();
  private readonly scripts = new Map<RouteName, ScriptedReply[]>();
  private readonly rules = new Map<RouteName, (request: RecordedRequest, index: number) => ScriptedReply | undefined>();
  private readonly requestCounts = new Map<RouteName, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly routes: readonly Route[] = [
    {
      name: 'tabledata.insertAll',
      method: 'POST',
      path: /^\/bigquery\/v2\/projects\/(?<projectId>[^/]+)\/datasets\/(?<datasetId>[^/]+)\/tables\/(?<tableId>[^/]+)\/insertAll$/,
      accept: (params, body, request) => this.acceptInsertAll(params, body, request),
    },
    {
      name: 'jobs.query',
      method: 'POST',
      path: /^\/bigquery\/v2\/projects\/(?<projectId>[^/]+)\/queries$/,
      accept: (params, body, request) => this.acceptQuery(params, body, request),
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

  /** The recorded requests to one route. */
  requestsTo<R extends RouteName>(route: R): Extract<RecordedRequest, { route: R }>[] {
    return this.recorded.filter((request): request is Extract<RecordedRequest, { route: R }> => request.route === route);
  }

  /** Creates an empty table; insertAll into a table that does not exist answers 404, as BigQuery does. */
  createTable(ref: TableRef, fields: readonly BigQueryField[], options: TableOptions = {}): void {
    const partitioning = options.dayPartitionedBy;
    if (partitioning !== undefined && fields.find((field) => field.name === partitioning)?.type !== 'TIMESTAMP') {
      throw new Error(`stand-in can only partition by a TIMESTAMP column, not ${partitioning}`);
    }
    this.tables.set(tableKey(ref), { fields, rows: [], insertIds: new Set(), dayPartitionedBy: partitioning });
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

  /**
   * Answers the requests to `route` that no scripted reply is left for by
   * `rule`, from now on (or normally again, with `undefined`).
   */
  respond<R extends RouteName>(route: R, rule: ReplyRule<R> | undefined): void {
    if (rule) this.rules.set(route, rule as (request: RecordedRequest, index: number) => ScriptedReply | undefined);
    else this.rules.delete(route);
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
    const requestText = await text(request);
    const route = this.routes.find((candidate) => candidate.method === request.method && candidate.path.test(path));
    if (!route) {
      BigQueryStandIn.send(response, googleError(404, 'notFound', `Not found: ${request.method} ${path}`));
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(requestText);
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
    const index = this.requestCounts.get(route.name) ?? 0;
    this.requestCounts.set(route.name, index + 1);
    this.recorded.push(accepted.recorded);
    const scripted = this.scripts.get(route.name)?.shift() ?? this.rules.get(route.name)?.(accepted.recorded, index) ?? {};
    await this.sleep(this.latencyMs + (scripted.delayMs ?? 0));
    const outcome = scripted.outcome;
    if (outcome?.kind === 'destroySocket' || outcome?.kind === 'hang') {
      if (outcome.afterStoring) accepted.execute();
      if (outcome.kind === 'destroySocket') request.socket.destroy();
      return;
    }
    // Like BigQuery, a request once received is carried out whether or not its caller still waits for the answer:
    // the rows of an insert whose caller gave up at its deadline can land all the same.
    let reply: JsonReply;
    if (outcome?.kind === 'httpError') {
      const reason = outcome.reason ?? DEFAULT_ERROR_REASONS[outcome.status] ?? 'backendError';
      reply = googleError(outcome.status, reason, outcome.message ?? `Scripted failure: HTTP ${outcome.status}`);
    } else {
      reply = accepted.execute(outcome);
    }
    if (!response.destroyed) BigQueryStandIn.send(response, reply);
  }

  /** `project.dataset.table` (the project may itself hold dots, e.g. `example.com:p`). */
  private table(reference: string): Table | undefined {
    const parts = reference.split('.');
    if (parts.length < 3) return undefined;
    return this.tables.get(tableKey({ tableId: parts.pop()!, datasetId: parts.pop()!, projectId: parts.join('.') }));
  }

  private acceptQuery(params: Record<string, string>, body: unknown, request: IncomingMessage): JsonReply | AcceptedRequest {
    const problem = queryShapeProblem(body);
    if (problem) return googleError(400, 'invalid', problem);
    const query = body as Record<string, unknown> & { query: string };
    const recorded: QueryRequest = {
      route: 'jobs.query',
      projectId: params.projectId!,
      query: query.query,
      queryParameters: (query.queryParameters as QueryParameter[] | undefined) ?? [],
      parameterMode: query.parameterMode as string | undefined,
      useLegacySql: query.useLegacySql as boolean | undefined,
      maximumBytesBilled: query.maximumBytesBilled as string | undefined,
      timeoutMs: query.timeoutMs as number | undefined,
      jobCreationMode: query.jobCreationMode as string | undefined,
      authorization: request.headers.authorization,
    };
    const int64Timestamps = (query.formatOptions as { useInt64Timestamp?: boolean } | undefined)?.useInt64Timestamp === true;
    return { recorded, execute: (outcome) => this.runQuery(recorded, int64Timestamps, outcome?.kind === 'incomplete') };
  }

  private runQuery(request: QueryRequest, int64Timestamps: boolean, incomplete: boolean): JsonReply {
    // BigQuery's jobs.query defaults to legacy SQL, which has no named parameters.
    if (request.useLegacySql !== false) return googleError(400, 'invalidQuery', 'Query parameters cannot be used in legacy SQL queries.');
    const byId = QUERY_SHAPES.byId.exec(request.query)?.groups;
    const page = QUERY_SHAPES.page.exec(request.query)?.groups;
    const shape = byId ?? page;
    if (!shape) return googleError(400, 'invalidQuery', `The BigQuery stand-in does not run this query: ${request.query}`);
    const table = this.table(shape.table!);
    if (!table) return googleError(404, 'notFound', `Not found: Table ${shape.table} was not found in location US`);
    const columns = shape.columns!.split(', ');
    const unknownColumn = [...columns, ...READ_BESIDES_SELECTED].find((name) => !table.fields.some((field) => field.name === name));
    if (unknownColumn !== undefined) return googleError(400, 'invalidQuery', `Unrecognized name: ${unknownColumn}`);
    const parameter = (name: string, type: 'STRING' | 'INT64' | 'TIMESTAMP') => parameterValue(request.queryParameters, name, type);

    const since = parameter(shape.since!, 'TIMESTAMP');
    if ('problem' in since) return googleError(400, 'invalidQuery', since.problem);
    const sinceMicros = Number(since.value);
    // Pruning: only partitions whose day can hold a row at or after `since` are read, and billed.
    const partitioning = table.dayPartitionedBy;
    const scanned = partitioning === undefined ? table.rows : table.rows.filter((row) => dayOf(timestampMicros(row.json[partitioning])) >= dayOf(sinceMicros));
    const read = table.fields.filter((field) => columns.includes(field.name) || READ_BESIDES_SELECTED.includes(field.name));
    const bytesProcessed = bytesOf(scanned, read);
    const bytesBilled = Math.max(MIN_BYTES_BILLED, bytesProcessed);
    if (request.maximumBytesBilled !== undefined && bytesBilled > Number(request.maximumBytesBilled)) {
      return googleError(400, 'bytesBilledLimitExceeded', `Query exceeded limit for bytes billed: ${request.maximumBytesBilled}. ${bytesBilled} or higher required.`);
    }

    const versions = scanned
      .map((row) => ({ id: String(row.json.id), insertId: String(row.json.insert_id), micros: timestampMicros(row.json.ingested_at), row }))
      .filter((version) => version.micros >= sinceMicros)
      .map((version) => ({ ...version, ingestedAt: new Date(version.micros / 1000) }));
    let rows: StoredRow[];
    if (byId) {
      const id = parameter(byId.id!, 'STRING');
      if ('problem' in id) return googleError(400, 'invalidQuery', id.problem);
      rows = latestVersions(versions.filter((version) => version.id === id.value)).map((version) => version.row);
    } else {
      const afterId = parameter(page!.afterId!, 'STRING');
      if ('problem' in afterId) return googleError(400, 'invalidQuery', afterId.problem);
      const limit = parameter(page!.limit!, 'INT64');
      if ('problem' in limit) return googleError(400, 'invalidQuery', limit.problem);
      if (Number(limit.value) < 0) return googleError(400, 'invalidQuery', 'LIMIT must be non-negative');
      rows = latestVersions(versions)
        .filter((version) => compareUtf8(version.id, String(afterId.value)) > 0)
        .slice(0, Number(limit.value))
        .map((version) => version.row);
    }
    request.statistics = { bytesProcessed, bytesBilled };

    const reference =
      request.jobCreationMode === 'JOB_CREATION_OPTIONAL'
        ? { queryId: randomUUID() }
        : { jobReference: { projectId: request.projectId, jobId: `job_${randomUUID()}`, location: 'US' } };
    if (incomplete) return { status: 200, body: { kind: 'bigquery#queryResponse', ...reference, jobComplete: false } };
    const fields = columns.map((name) => table.fields.find((field) => field.name === name)!);
    const body: Record<string, unknown> = {
      kind: 'bigquery#queryResponse',
      schema: { fields: fields.map(({ name, type, mode }) => ({ name, type, mode })) },
      ...reference,
      totalRows: String(rows.length),
      totalBytesProcessed: String(bytesProcessed),
      jobComplete: true,
      cacheHit: false,
    };
    // BigQuery leaves `rows` out of an empty result.
    if (rows.length > 0) body.rows = rows.map((row) => ({ f: fields.map((field) => cell(field, row.json[field.name], int64Timestamps)) }));
    return { status: 200, body };
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
    return {
      recorded,
      execute: (outcome) => {
        if (outcome?.kind === 'incomplete') throw new Error('insertAll cannot be scripted as incomplete');
        return this.insertAll(table, recorded, outcome?.indices ?? [], outcome?.message);
      },
    };
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
