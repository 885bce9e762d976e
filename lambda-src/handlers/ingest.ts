/**
 * `POST /` on the API function: the seed's contract. 200 only after the
 * warehouse committed every row; nothing is written unless every record is
 * valid.
 *
 * Insert ids: without an `Idempotency-Key` header each record's derives from
 * the request id, unique per request. With the header they derive from the
 * key and the request it names, so a client that retries a request whose
 * answer it never saw, with the same key, cannot store its records twice;
 * `idempotency.ts` says what else the key means and how long it is
 * remembered.
 */
import { invalidInput } from '../http/answer';
import { readJsonBody } from '../http/json-body';
import type { RouteHandler } from '../http/router';
import { idempotencyKeyOf, type IdempotencyKeys } from './idempotency';
import { parseIngestPayload } from './payload';
import { storeRecords, type HandlerDependencies } from './store';

export function createIngestHandler(deps: HandlerDependencies, keys: IdempotencyKeys): RouteHandler {
  // Not `async`: a refused request is answered without a promise (see `createRoutedFunction`).
  return (req, scope) => {
    const idempotency = idempotencyKeyOf(req);
    if (!idempotency.ok) return idempotency.answer;
    const body = readJsonBody(req, deps.maxBodyBytes);
    if (!body.ok) return body.answer;
    const payload = parseIngestPayload(body.value);
    if (!payload.ok) return invalidInput(payload.errors, undefined, payload.rows);
    return keys.answer(idempotency.key, req, body.raw, scope, (insertIdOf) => storeRecords(payload.records, insertIdOf, deps, scope));
  };
}
