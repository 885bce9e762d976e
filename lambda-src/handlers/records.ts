/**
 * Reading and updating records on the API function, with the same JSON
 * conventions as `POST /`:
 *
 * - `GET /records/{id}`: the latest version of one record, or 404.
 * - `GET /records?limit=N&pageToken=T`: latest versions in id order, `limit`
 *   (1-1000, default 100) per page; `nextPageToken` while more follow.
 * - `PUT /records/{id}` with `{"data":{"name":...,"value":...}}`: appends a
 *   new version of an existing record (never creates one), validated by the
 *   record schema like `POST /`.
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
import { RecordSchema, type FieldError } from '../record';
import type { StoredRecord, WarehouseRow } from '../warehouse/warehouse';
import { idempotencyKeyOf, insertIdPrefix } from './ingest';
import { decodePageToken, encodePageToken } from './page-token';
import { parseIngestPayload } from './payload';
import { storeRows, warehouseFailure, type HandlerDependencies } from './store';

export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 1000;

/** The 404 body of a read or update of an id no record has. */
export const RECORD_NOT_FOUND_BODY = { success: false, error: 'Record not found' } as const;

/** The 200 body of an update, worded like `POST /`'s. */
export const UPDATED_BODY = { success: true, message: 'Data updated successfully!' } as const;

const LIST_QUERY_PARAMETERS = ['limit', 'pageToken'] as const;

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
    if (!allowed.includes(name)) errors.push({ field, message: allowed.length > 0 ? `unknown parameter (allowed: ${allowed.join(', ')})` : 'unknown parameter (none are allowed)' });
    else if (values.has(name)) errors.push({ field, message: 'must be given once' });
    else values.set(name, value);
  }
  return errors.length > 0 ? { ok: false, answer: invalidInput(errors) } : { ok: true, value: values };
}

function pageOf(parameters: Map<string, string>): Checked<{ limit: number; afterId: string }> {
  const errors: FieldError[] = [];
  const rawLimit = parameters.get('limit');
  const limit = rawLimit === undefined ? DEFAULT_PAGE_LIMIT : Number(rawLimit);
  if (rawLimit !== undefined && (!/^\d{1,4}$/.test(rawLimit) || limit < 1 || limit > MAX_PAGE_LIMIT)) {
    errors.push({ field: 'query.limit', message: `must be an integer from 1 to ${MAX_PAGE_LIMIT}` });
  }
  const token = parameters.get('pageToken');
  const afterId = token === undefined ? '' : decodePageToken(token);
  if (afterId === undefined) errors.push({ field: 'query.pageToken', message: 'is not a page token this API issued (pass nextPageToken unchanged)' });
  if (errors.length > 0) return { ok: false, answer: invalidInput(errors) };
  return { ok: true, value: { limit, afterId: afterId! } };
}

function recordJson({ updatedAt, ...record }: StoredRecord): Record<string, unknown> {
  return { ...record, updatedAt: updatedAt.toISOString() };
}

function recordNotFound(id: string): Answer {
  return {
    status: 404,
    body: RECORD_NOT_FOUND_BODY,
    rows: 0,
    errorClass: REQUEST_ERROR_CLASSES.notFound,
    reason: `no record with id ${JSON.stringify(id.slice(0, 100))}`,
  };
}

/** `GET /records/{id}`. */
export function createGetRecordHandler(deps: HandlerDependencies): RouteHandler {
  return async (req, scope) => {
    const id = recordIdOf(scope);
    if (!id.ok) return id.answer;
    const parameters = queryParametersOf(req, []);
    if (!parameters.ok) return parameters.answer;
    let record: StoredRecord | undefined;
    try {
      record = await (await deps.warehouse()).getLatest(id.value);
    } catch (error) {
      return warehouseFailure(error, scope, 0);
    }
    if (record === undefined) return recordNotFound(id.value);
    return { status: 200, body: { success: true, data: recordJson(record) }, rows: 1 };
  };
}

/** `GET /records`. One more record than the page holds is asked for, to know whether another page follows. */
export function createListRecordsHandler(deps: HandlerDependencies): RouteHandler {
  return async (req, scope) => {
    const parameters = queryParametersOf(req, LIST_QUERY_PARAMETERS);
    if (!parameters.ok) return parameters.answer;
    const page = pageOf(parameters.value);
    if (!page.ok) return page.answer;
    const { limit, afterId } = page.value;
    let found: StoredRecord[];
    try {
      found = await (await deps.warehouse()).listLatest({ afterId, limit: limit + 1 });
    } catch (error) {
      return warehouseFailure(error, scope, 0);
    }
    const records = found.slice(0, limit);
    const body: Record<string, unknown> = { success: true, data: records.map(recordJson) };
    if (found.length > limit) body.nextPageToken = encodePageToken(records.at(-1)!.id);
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

/** `PUT /records/{id}`. Insert ids are derived like `POST /`'s, so an `Idempotency-Key` makes a retried update store once. */
export function createUpdateRecordHandler(deps: HandlerDependencies): RouteHandler {
  return async (req, scope) => {
    const idempotency = idempotencyKeyOf(req);
    if (!idempotency.ok) return idempotency.answer;
    const id = recordIdOf(scope);
    if (!id.ok) return id.answer;
    const parameters = queryParametersOf(req, []);
    if (!parameters.ok) return parameters.answer;
    const body = readJsonBody(req, deps.maxBodyBytes);
    if (!body.ok) return body.answer;
    const candidate = withPathId(body.value, id.value);
    if (!candidate.ok) return candidate.answer;
    const payload = parseIngestPayload(candidate.value);
    if (!payload.ok) return invalidInput(payload.errors, undefined, payload.rows);
    const [record] = payload.records;

    let current: StoredRecord | undefined;
    try {
      current = await (await deps.warehouse()).getLatest(id.value);
    } catch (error) {
      return warehouseFailure(error, scope, 1);
    }
    if (current === undefined) return recordNotFound(id.value);
    const row: WarehouseRow = {
      ...record!,
      insertId: `${insertIdPrefix(idempotency.key, scope.requestId)}:0`,
      ingestedAt: versionTime(deps.clock.now(), current),
    };
    return storeRows([row], deps, scope, (rows) => ({ status: 200, body: UPDATED_BODY, rows }));
  };
}
