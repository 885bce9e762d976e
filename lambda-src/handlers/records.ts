/**
 * Reading and updating records on the API function, with the same JSON
 * conventions as `POST /`:
 *
 * - `GET /records/{id}?since=T`: the latest version of one record, or 404.
 * - `GET /records?limit=N&pageToken=T&since=T`: latest versions in id
 *   order, `limit` (1-1000, default 100) per page; `nextPageToken` while
 *   more follow.
 * - `PUT /records/{id}?since=T` with `{"data":{"name":...,"value":...}}`:
 *   appends a new version of a record `GET /records/{id}?since=T` finds
 *   (never creates one), validated by the record schema like `POST /`.
 *
 * Every read looks back only to `since` (RFC 3339; default now minus the
 * read window, `READ_WINDOW_HOURS`): a record whose latest version is older
 * is not found. That is what keeps a read's cost proportional to the window
 * rather than to the table (docs/reads.md). A listing keeps the `since` of
 * its first page, carried in its page tokens.
 *
 * The id in the path is percent-decoded by the router and then only ever
 * used as a value (a query parameter), never as SQL.
 *
 * Ordering of versions: an update is stored with an `ingested_at` later than
 * the version it found, even if this instance's clock is behind the one that
 * wrote that version, so a client's update always supersedes what it read.
 * Two updates of one id at once are both stored; the one with the later
 * `ingested_at` wins (ties: the greater insert id). Records are never
 * deleted, so "the record exists" cannot become false between the check and
 * the write.
 */
import type { Request } from '@google-cloud/functions-framework';
import * as v from 'valibot';
import { invalidInput, type Answer } from '../http/answer';
import { readJsonBody } from '../http/json-body';
import type { RequestScope, RouteHandler } from '../http/router';
import { REQUEST_ERROR_CLASSES } from '../logging';
import { RecordSchema, type FieldError, type IngestRecord } from '../record';
import { HOUR_MS } from '../rules/durations';
import { READ_WINDOW_HOURS } from '../rules/limits';
import { ReadTooLargeError, type ReadWindow, type StoredRecord, type WarehouseRow } from '../warehouse/warehouse';
import { idempotencyKeyOf, type IdempotencyKeys } from './idempotency';
import { decodePageToken, encodePageToken, type PageCursor } from './page-token';
import { parseIngestPayload } from './payload';
import { storeRows, warehouseFailure, type HandlerDependencies } from './store';

export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 1000;

/** The error of a read or update of an id with no version in the window; `details` says since when, and how to look further back. */
const RECORD_NOT_FOUND_ERROR = 'Record not found';

/** The 200 body of an update, worded like `POST /`'s. */
const UPDATED_BODY = { success: true, message: 'Data updated successfully!' } as const;

const LIST_QUERY_PARAMETERS = ['limit', 'pageToken', 'since'] as const;
const RECORD_QUERY_PARAMETERS = ['since'] as const;
const SINCE_FIELD = 'query.since';

type Checked<T> = { ok: true; value: T } | { ok: false; answer: Answer };

/** The path's `id`, checked against the record schema (the router guarantees it is non-empty). */
function recordIdOf(scope: RequestScope): Checked<string> {
  const id = scope.params.id!;
  const result = v.safeParse(RecordSchema.entries.id, id);
  if (result.success) return { ok: true, value: result.output };
  return { ok: false, answer: invalidInput(result.issues.map((issue) => ({ field: 'path.id', message: issue.message }))) };
}

/**
 * The query string's parameters; any name not in `allowed`, or given twice,
 * is refused rather than ignored, so a client never believes an option it
 * misspelled was honoured.
 */
function queryParametersOf(req: Request, allowed: readonly string[]): Checked<Map<string, string>> {
  const url = req.originalUrl;
  const queryStart = url.indexOf('?');
  const parameters = new URLSearchParams(queryStart < 0 ? '' : url.slice(queryStart + 1));
  const values = new Map<string, string>();
  const errors: FieldError[] = [];
  for (const [name, value] of parameters) {
    const field = `query.${name}`;
    if (!allowed.includes(name)) errors.push({ field, message: `unknown parameter (allowed: ${allowed.join(', ')})` });
    else if (values.has(name)) errors.push({ field, message: 'must be given once' });
    else values.set(name, value);
  }
  return errors.length > 0 ? { ok: false, answer: invalidInput(errors) } : { ok: true, value: values };
}

/**
 * RFC 3339 (`2026-01-02T03:04:05Z`, `2026-01-02t03:04:05.678+01:00`): a
 * date, a time with seconds, an optional fraction, and `Z` or an offset.
 */
/** 0001-01-01T00:00:00Z, the earliest TIMESTAMP BigQuery holds. */
const EARLIEST_INSTANT = new Date('0001-01-01T00:00:00Z').getTime();

const RFC_3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/**
 * The instant an RFC 3339 timestamp names, or undefined when it is not one
 * (a field out of range included). Stored versions carry milliseconds, so
 * a finer fraction is rounded up: "at or after" then means the same.
 */
function parseRfc3339(text: string): Date | undefined {
  const match = RFC_3339.exec(text);
  if (!match) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const fraction = match[7] ?? '';
  const offsetSign = match[8] === '-' ? -1 : 1;
  const [offsetHours, offsetMinutes] = [Number(match[9] ?? 0), Number(match[10] ?? 0)];
  if (year < 1 || hour > 23 || minute > 59 || second > 59 || offsetHours > 23 || offsetMinutes > 59) return undefined;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  const fractionMs = Number(fraction.slice(0, 3).padEnd(3, '0')) + (/[1-9]/.test(fraction.slice(3)) ? 1 : 0);
  const offsetMs = offsetSign * (offsetHours * 60 + offsetMinutes) * 60_000;
  const instant = date.getTime() + ((hour * 60 + minute) * 60 + second) * 1000 + fractionMs - offsetMs;
  // Nothing is stored before the year 1 (BigQuery's first TIMESTAMP), so an offset reaching back past it means the same as its start.
  return new Date(Math.max(instant, EARLIEST_INSTANT));
}

const SINCE_RULE = 'must be an RFC 3339 timestamp such as 2026-01-02T03:04:05Z (send a + in an offset as %2B)';

/** The explicit `since`, if any: an RFC 3339 instant not after `now`. */
function explicitSinceOf(parameters: Map<string, string>, now: Date): { ok: true; value: Date | undefined } | { ok: false; error: FieldError } {
  const raw = parameters.get('since');
  if (raw === undefined) return { ok: true, value: undefined };
  const since = parseRfc3339(raw);
  if (since === undefined) return { ok: false, error: { field: SINCE_FIELD, message: SINCE_RULE } };
  if (since > now) return { ok: false, error: { field: SINCE_FIELD, message: `must not be in the future (it is ${now.toISOString()})` } };
  return { ok: true, value: since };
}

/** Where a read window starts when the client names none. */
function defaultSince(deps: HandlerDependencies, now: Date): Date {
  return new Date(now.getTime() - (deps.readWindowHours ?? READ_WINDOW_HOURS.default) * HOUR_MS);
}

/** The read window of `GET /records/{id}` and `PUT /records/{id}`: `since`, or the default window. */
function recordWindowOf(parameters: Map<string, string>, deps: HandlerDependencies): Checked<ReadWindow> {
  const now = deps.clock.now();
  const since = explicitSinceOf(parameters, now);
  if (!since.ok) return { ok: false, answer: invalidInput([since.error]) };
  return { ok: true, value: { since: since.value ?? defaultSince(deps, now) } };
}

/**
 * A listing's page: `limit`, and where it continues. The first page's
 * window is `since` or the default; later pages keep the one their token
 * carries, and a `since` beside a token must name the same instant.
 */
function pageOf(parameters: Map<string, string>, deps: HandlerDependencies): Checked<PageCursor & { limit: number }> {
  const now = deps.clock.now();
  const errors: FieldError[] = [];
  const rawLimit = parameters.get('limit');
  const limit = rawLimit === undefined ? DEFAULT_PAGE_LIMIT : Number(rawLimit);
  if (rawLimit !== undefined && (!/^\d{1,4}$/.test(rawLimit) || limit < 1 || limit > MAX_PAGE_LIMIT)) {
    errors.push({ field: 'query.limit', message: `must be an integer from 1 to ${MAX_PAGE_LIMIT}` });
  }
  const token = parameters.get('pageToken');
  const cursor = token === undefined ? undefined : decodePageToken(token);
  if (token !== undefined && (cursor === undefined || cursor.since > now)) {
    errors.push({ field: 'query.pageToken', message: 'is not a page token this API issued (pass nextPageToken unchanged)' });
  }
  const since = explicitSinceOf(parameters, now);
  if (!since.ok) errors.push(since.error);
  else if (cursor !== undefined && since.value !== undefined && since.value.getTime() !== cursor.since.getTime()) {
    errors.push({
      field: SINCE_FIELD,
      message: `must be left out, or name the instant the page token carries (${cursor.since.toISOString()}): a listing keeps the window of its first page`,
    });
  }
  if (errors.length > 0) return { ok: false, answer: invalidInput(errors) };
  const explicit = since.ok ? since.value : undefined;
  return { ok: true, value: { limit, afterId: cursor?.afterId ?? '', since: cursor?.since ?? explicit ?? defaultSince(deps, now) } };
}

function recordJson({ updatedAt, ...record }: StoredRecord): Record<string, unknown> {
  return { ...record, updatedAt: updatedAt.toISOString() };
}

function recordNotFound(id: string, { since }: ReadWindow): Answer {
  const message =
    `no version of this record was stored since ${since.toISOString()}; ` +
    'to look further back, pass an earlier since (an RFC 3339 timestamp)';
  return {
    status: 404,
    body: { success: false, error: RECORD_NOT_FOUND_ERROR, details: [{ field: SINCE_FIELD, message }] },
    rows: 0,
    errorClass: REQUEST_ERROR_CLASSES.notFound,
    reason: `no record with id ${JSON.stringify(id.slice(0, 100))} since ${since.toISOString()}`,
  };
}

/**
 * A failed read: a window holding more than one read may scan is the
 * caller's to narrow (400 naming `since`); anything else is ours (503/500).
 */
function readFailure(error: unknown, { since }: ReadWindow, scope: RequestScope, rows: number): Answer {
  if (!(error instanceof ReadTooLargeError)) return warehouseFailure(error, scope, rows);
  const message = `the window from ${since.toISOString()} holds more data than one read may scan; pass a later since to narrow it`;
  return invalidInput([{ field: SINCE_FIELD, message }], REQUEST_ERROR_CLASSES.invalidInput, rows);
}

/** `GET /records/{id}`. */
export function createGetRecordHandler(deps: HandlerDependencies): RouteHandler {
  return async (req, scope) => {
    const id = recordIdOf(scope);
    if (!id.ok) return id.answer;
    const parameters = queryParametersOf(req, RECORD_QUERY_PARAMETERS);
    if (!parameters.ok) return parameters.answer;
    const window = recordWindowOf(parameters.value, deps);
    if (!window.ok) return window.answer;
    let record: StoredRecord | undefined;
    try {
      record = await (await deps.warehouse()).getLatest(id.value, window.value);
    } catch (error) {
      return readFailure(error, window.value, scope, 0);
    }
    if (record === undefined) return recordNotFound(id.value, window.value);
    return { status: 200, body: { success: true, data: recordJson(record) }, rows: 1 };
  };
}

/** `GET /records`. One more record than the page holds is asked for, to know whether another page follows. */
export function createListRecordsHandler(deps: HandlerDependencies): RouteHandler {
  return async (req, scope) => {
    const parameters = queryParametersOf(req, LIST_QUERY_PARAMETERS);
    if (!parameters.ok) return parameters.answer;
    const page = pageOf(parameters.value, deps);
    if (!page.ok) return page.answer;
    const { limit, afterId, since } = page.value;
    let found: StoredRecord[];
    try {
      found = await (await deps.warehouse()).listLatest({ afterId, limit: limit + 1, since });
    } catch (error) {
      return readFailure(error, { since }, scope, 0);
    }
    const records = found.slice(0, limit);
    const body: Record<string, unknown> = { success: true, data: records.map(recordJson) };
    if (found.length > limit) body.nextPageToken = encodePageToken({ afterId: records.at(-1)!.id, since });
    return { status: 200, body, rows: records.length };
  };
}

/**
 * The body with the path's id put into `data`, so the record schema checks
 * the whole record; an `id` in the body must be the path's.
 */
function withPathId(body: unknown, id: string): Checked<unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { ok: true, value: body };
  const data = (body as { data?: unknown }).data;
  if (Array.isArray(data)) {
    return { ok: false, answer: invalidInput([{ field: 'data', message: 'must be one record object (an update takes no batch)' }]) };
  }
  if (data === null || typeof data !== 'object') return { ok: true, value: body };
  if ('id' in data && data.id !== id) {
    return { ok: false, answer: invalidInput([{ field: 'data.id', message: 'must equal the id in the path, or be left out' }]) };
  }
  return { ok: true, value: { ...body, data: { id, ...data } } };
}

/** `ingested_at` of an update: now, or just after the version it supersedes if a clock elsewhere ran ahead of ours. */
function versionTime(now: Date, supersedes: StoredRecord): Date {
  return now > supersedes.updatedAt ? now : new Date(supersedes.updatedAt.getTime() + 1);
}

/**
 * `PUT /records/{id}`. It reads the record first, with the window
 * `GET /records/{id}` would use, to refuse an update of a record it cannot
 * find and to store the new version after the one it supersedes. An
 * `Idempotency-Key` means what it means on `POST /` (`idempotency.ts`), so a
 * retried update stores once.
 */
export function createUpdateRecordHandler(deps: HandlerDependencies, keys: IdempotencyKeys): RouteHandler {
  return (req, scope) => {
    const idempotency = idempotencyKeyOf(req);
    if (!idempotency.ok) return idempotency.answer;
    const id = recordIdOf(scope);
    if (!id.ok) return id.answer;
    const parameters = queryParametersOf(req, RECORD_QUERY_PARAMETERS);
    if (!parameters.ok) return parameters.answer;
    const window = recordWindowOf(parameters.value, deps);
    if (!window.ok) return window.answer;
    const body = readJsonBody(req, deps.maxBodyBytes);
    if (!body.ok) return body.answer;
    const candidate = withPathId(body.value, id.value);
    if (!candidate.ok) return candidate.answer;
    const payload = parseIngestPayload(candidate.value);
    if (!payload.ok) return invalidInput(payload.errors, undefined, payload.rows);
    const [record] = payload.records;
    return keys.answer(idempotency.key, req, body.raw, scope, (insertIdOf) =>
      storeNewVersion(record!, insertIdOf(0), window.value, deps, scope),
    );
  };
}

/** Stores `record` as the new version of a record found in `window`, or answers 404. */
async function storeNewVersion(
  record: IngestRecord,
  insertId: string,
  window: ReadWindow,
  deps: HandlerDependencies,
  scope: RequestScope,
): Promise<Answer> {
  let current: StoredRecord | undefined;
  try {
    current = await (await deps.warehouse()).getLatest(record.id, window);
  } catch (error) {
    return readFailure(error, window, scope, 1);
  }
  if (current === undefined) return recordNotFound(record.id, window);
  const row: WarehouseRow = { ...record, insertId, ingestedAt: versionTime(deps.clock.now(), current) };
  return storeRows([row], deps, scope, (rows) => ({ status: 200, body: UPDATED_BODY, rows }));
}
