/**
 * What the HTTP contract (docs/http-api.md) says an input deserves, written
 * independently of the handlers: the fuzz tests hold each answer against it.
 * Only the record schema is shared: `parseRecord` is the definition of a
 * valid record.
 *
 * `mayAccept`: a 200 for this input is allowed (a 200 for anything else is a
 * bug). `mustAccept`: the input is plainly valid, so anything but 200 is a bug.
 * Between the two lie inputs whose fate depends on details (a media type
 * spelled oddly, a non-canonical base64 padding, an idempotency key an
 * earlier request may have used) that this oracle does not model; they may
 * go either way, but never to a 5xx. `mustAcknowledge`: the input is a push
 * delivery as Pub/Sub sends it, so anything but a 2xx (a nack, which would
 * bring it back) is a bug, however malformed the message.
 */
import { createHash } from 'node:crypto';
import { isStorableText, parseRecord, type IngestRecord } from '../../lambda-src/record';

export const MAX_BATCH = 500;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const PLAIN_JSON_TYPES = new Set(['application/json', 'application/json; charset=utf-8']);
const IDEMPOTENCY_KEY = /^[\x20-\x7E]{1,255}$/;
const MAX_MESSAGE_ID_LENGTH = 256;

export interface ExpectedRow {
  insertId: string;
  record: IngestRecord;
}

export interface Verdict {
  mayAccept: boolean;
  mustAccept: boolean;
  mustAcknowledge: boolean;
  /** Insert ids and records a 200 must have stored (computed when `mayAccept`). */
  rows(requestId: string): ExpectedRow[];
}

export interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Uint8Array;
}

const REFUSE: Verdict = { mayAccept: false, mustAccept: false, mustAcknowledge: false, rows: () => [] };
const decoder = new TextDecoder('utf-8', { fatal: true });

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function hasForbiddenKey(root: unknown): boolean {
  const pending = [root];
  while (pending.length > 0) {
    const value = pending.pop();
    if (value === null || typeof value !== 'object') continue;
    for (const [key, child] of Object.entries(value)) {
      if (FORBIDDEN_KEYS.has(key)) return true;
      pending.push(child);
    }
  }
  return false;
}

/** UTF-8 JSON without forbidden keys, or undefined. */
function parseJson(bytes: Uint8Array): { value: unknown } | undefined {
  try {
    const value: unknown = JSON.parse(decoder.decode(bytes));
    return hasForbiddenKey(value) ? undefined : { value };
  } catch {
    return undefined;
  }
}

/** `{"data": record}` or `{"data": [1..500 records]}`, every record valid; else undefined. */
export function validPayload(bytes: Uint8Array): { records: IngestRecord[]; batch: boolean } | undefined {
  const parsed = parseJson(bytes);
  if (!parsed || !isObject(parsed.value)) return undefined;
  const keys = Object.keys(parsed.value);
  if (keys.length !== 1 || keys[0] !== 'data') return undefined;
  const data = parsed.value.data;
  const batch = Array.isArray(data);
  const candidates: unknown[] = batch ? data : [data];
  if (candidates.length === 0 || candidates.length > MAX_BATCH) return undefined;
  const records: IngestRecord[] = [];
  for (const candidate of candidates) {
    const result = parseRecord(candidate);
    if (!result.ok) return undefined;
    records.push(result.record);
  }
  return { records, batch };
}

function header(request: FuzzRequest, name: string): string | undefined {
  const found = Object.entries(request.headers).find(([key]) => key.toLowerCase() === name.toLowerCase());
  // What the server sees: HTTP strips the value's surrounding whitespace.
  return found?.[1].replace(/^[ \t]+|[ \t]+$/g, '');
}

/** What any entry point requires before looking at the body. */
function transport(request: FuzzRequest, maxBodyBytes: number): { may: boolean; plain: boolean } {
  const contentType = header(request, 'content-type');
  const may =
    request.method === 'POST' &&
    request.path.split('?')[0] === '/' &&
    contentType !== undefined &&
    contentType.toLowerCase().startsWith('application/json') &&
    request.body.length <= maxBodyBytes;
  const plain = may && request.path === '/' && PLAIN_JSON_TYPES.has(contentType!) && header(request, 'content-encoding') === undefined;
  return { may, plain };
}

/**
 * `POST /` of the API function. Insert ids: `http:<request id>:<index>`, or
 * with an `Idempotency-Key`, `http-key:<SHA-256 of the key, method, URL and
 * body>:<index>`. A key may have been used by an earlier request of the run,
 * which makes this one a 422 unless it was the same request.
 */
export function apiVerdict(request: FuzzRequest, maxBodyBytes: number): Verdict {
  const { may, plain } = transport(request, maxBodyBytes);
  const key = header(request, 'idempotency-key');
  if (!may || (key !== undefined && !(IDEMPOTENCY_KEY.test(key) && key.trim() !== ''))) return REFUSE;
  const payload = validPayload(request.body);
  if (!payload) return REFUSE;
  const keyed =
    key === undefined
      ? undefined
      : `http-key:${createHash('sha256').update(`${key}\n${request.method}\n${request.path}\n`).update(request.body).digest('hex')}`;
  return {
    mayAccept: true,
    mustAccept: plain && key === undefined,
    mustAcknowledge: false,
    rows: (requestId) => payload.records.map((record, index) => ({ insertId: `${keyed ?? `http:${requestId}`}:${index}`, record })),
  };
}

/**
 * A Pub/Sub push delivery to the subscriber function: stored (200) when
 * valid, under insert ids `pubsub:<messageId>:<index>`; whatever it holds,
 * acknowledged with a 2xx when it is sent as Pub/Sub sends it.
 */
export function pushVerdict(request: FuzzRequest, maxBodyBytes: number): Verdict {
  // The envelope may be larger than the data it carries; the fuzz never comes near either limit.
  const { may, plain } = transport(request, 2 * maxBodyBytes);
  const refuse = { ...REFUSE, mustAcknowledge: plain };
  const envelope = parseJson(request.body);
  if (!may || !envelope || !isObject(envelope.value) || !isObject(envelope.value.message)) return refuse;
  const message = envelope.value.message;
  const messageId = message.messageId ?? message.message_id;
  if (typeof messageId !== 'string' || messageId === '' || messageId.length > MAX_MESSAGE_ID_LENGTH || !isStorableText(messageId)) return refuse;
  if (typeof message.data !== 'string') return refuse;
  const data = Buffer.from(message.data, 'base64');
  if (data.length > maxBodyBytes) return refuse;
  const payload = validPayload(data);
  if (!payload) return refuse;
  const canonicalBase64 = data.toString('base64') === message.data;
  return {
    mayAccept: true,
    mustAccept: plain && canonicalBase64,
    mustAcknowledge: plain,
    rows: () => payload.records.map((record, index) => ({ insertId: `pubsub:${messageId}:${index}`, record })),
  };
}
