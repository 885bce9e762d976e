/**
 * `POST /` on the API function: the seed's contract. 200 only after the
 * warehouse committed every row; nothing is written unless every record is
 * valid.
 *
 * Insert ids: without an `Idempotency-Key` header each record gets
 * `<request id>:<index>`, unique per request. With the header they derive
 * from the key (`idempotency-key:<sha256 of key>:<index>`), so a client that
 * retries a request whose answer it never saw, with the same key, cannot
 * store its records twice. The key names the request, not its content: the
 * same key with a different body stores nothing new.
 */
import { createHash } from 'node:crypto';
import type { Request } from '@google-cloud/functions-framework';
import { invalidInput, type Answer } from '../http/answer';
import { readJsonBody } from '../http/json-body';
import type { RouteHandler } from '../http/router';
import { parseIngestPayload } from './payload';
import { storeRecords, type HandlerDependencies } from './store';

export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
const IDEMPOTENCY_KEY = /^[\x20-\x7E]{1,255}$/;

export function createIngestHandler(deps: HandlerDependencies): RouteHandler {
  // Not `async`: a refused request is answered without a promise (see `createRoutedFunction`).
  return (req, scope) => {
    const idempotency = idempotencyKeyOf(req);
    if (!idempotency.ok) return idempotency.answer;
    const { key } = idempotency;
    const body = readJsonBody(req, deps.maxBodyBytes);
    if (!body.ok) return body.answer;
    const payload = parseIngestPayload(body.value);
    if (!payload.ok) return invalidInput(payload.errors, undefined, payload.rows);
    const prefix = insertIdPrefix(key, scope.requestId);
    return storeRecords(payload.records, (index) => `${prefix}:${index}`, deps, scope);
  };
}

/** What a request's insert ids start with: derived from its `Idempotency-Key`, else its own request id. */
export function insertIdPrefix(key: string | undefined, requestId: string): string {
  return key === undefined ? requestId : `idempotency-key:${createHash('sha256').update(key).digest('hex')}`;
}

/** The request's `Idempotency-Key`, if it sent one, or the 400 for a malformed one. */
export function idempotencyKeyOf(req: Request): { ok: true; key?: string } | { ok: false; answer: Answer } {
  const key = req.get(IDEMPOTENCY_KEY_HEADER);
  if (key === undefined) return { ok: true };
  if (IDEMPOTENCY_KEY.test(key) && key.trim() !== '') return { ok: true, key };
  const detail = { field: IDEMPOTENCY_KEY_HEADER, message: 'must be 1 to 255 printable ASCII characters, not all spaces' };
  return { ok: false, answer: invalidInput([detail]) };
}
