/**
 * `Idempotency-Key` on `POST /` and `PUT /records/{id}`: one key names one
 * request. A key is bound to the request it first came with: its method, URL
 * and the SHA-256 of its body bytes. Then:
 *
 * - the same key with the same request gets the first request's answer and
 *   stores nothing new: a repeat that arrives while the first is still
 *   running waits for it; a later one gets its success replayed, marked
 *   `Idempotent-Replayed: true`;
 * - the same key with another request gets 422 and stores nothing;
 * - more than one `Idempotency-Key` header is a 400 (Node would join them
 *   into one `a, b` value).
 *
 * Only a request that passed validation binds its key, and only a success
 * keeps it bound: a refused request can be corrected and sent again under
 * its key, and a request the warehouse failed runs again when retried (with
 * the same insert ids, so nothing it stored is stored twice).
 *
 * Where a key is remembered, and for how long: in the memory of the API
 * instance that answered it, for `IDEMPOTENCY_KEY_TTL_MS` (a day) or until
 * `MAX_REMEMBERED_IDEMPOTENCY_KEYS` newer keys push it out, or until the
 * instance stops, whichever comes first. Cloud Run spreads requests over
 * instances without regard to the key, so a retry may reach an instance that
 * never saw it. What still holds there comes from the insert ids, which
 * derive from the key AND the request's hash: the same request under the
 * same key writes the same insert ids, which the warehouse skips as repeats
 * (DuckDB always; BigQuery best effort, for about a minute), while another
 * request under a reused key is not recognized there and is stored. Keys are
 * shared by every client of the API: a client should send a fresh random key
 * (a UUID) per request.
 */
import { createHash } from 'node:crypto';
import type { Request } from '@google-cloud/functions-framework';
import type { Clock } from '../clock';
import { clientError, invalidInput, type Answer } from '../http/answer';
import type { RequestScope } from '../http/router';
import { IDEMPOTENCY_KEY_TTL_MS, MAX_REMEMBERED_IDEMPOTENCY_KEYS } from '../rules/limits';
import { INSERT_IDS } from './store';

export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
/** Set on an answer given again to a repeat of a request, rather than earned by storing it. */
export const IDEMPOTENT_REPLAY_HEADER = 'Idempotent-Replayed';
const IDEMPOTENCY_KEY = /^[\x20-\x7E]{1,255}$/;

export type IdempotencyKeyResult = { ok: true; key?: string } | { ok: false; answer: Answer };

/** The request's `Idempotency-Key`, if it sent one, or the 400 for a malformed or repeated header. */
export function idempotencyKeyOf(req: Request): IdempotencyKeyResult {
  // `req.headers` joins repeated headers with ", "; only the distinct view shows that there were several.
  const values = req.headersDistinct[IDEMPOTENCY_KEY_HEADER.toLowerCase()];
  if (values === undefined) return { ok: true };
  if (values.length > 1) {
    const detail = { field: IDEMPOTENCY_KEY_HEADER, message: `must be sent once, got ${values.length} headers` };
    return { ok: false, answer: invalidInput([detail]) };
  }
  const key = values[0]!;
  if (IDEMPOTENCY_KEY.test(key) && key.trim() !== '') return { ok: true, key };
  const detail = { field: IDEMPOTENCY_KEY_HEADER, message: 'must be 1 to 255 printable ASCII characters, not all spaces' };
  return { ok: false, answer: invalidInput([detail]) };
}

/**
 * SHA-256 of the key and the request it names (method, URL, body bytes).
 * Key, method and URL hold no line feed, so the fields cannot run into each
 * other.
 */
function keyBinding(key: string, method: string, url: string, body: Uint8Array): string {
  return createHash('sha256').update(`${key}\n${method}\n${url}\n`).update(body).digest('hex');
}

interface RememberedKey {
  binding: string;
  /** The first request's answer, settled or not. */
  answer: Promise<Answer>;
  expiresAtMs: number;
}

/** Sizes of the memory; tests shrink them. */
export interface IdempotencyKeyLimits {
  /** @default IDEMPOTENCY_KEY_TTL_MS */
  ttlMs: number;
  /** @default MAX_REMEMBERED_IDEMPOTENCY_KEYS */
  maxKeys: number;
}

/** The keys one API instance remembers, with the answers they earned; one per API function, shared by its routes. */
export class IdempotencyKeys {
  /** In the order keys were bound, which with one time-to-live is also the order they expire in. */
  private readonly remembered = new Map<string, RememberedKey>();
  private readonly limits: IdempotencyKeyLimits;

  constructor(
    private readonly clock: Clock,
    limits: Partial<IdempotencyKeyLimits> = {},
  ) {
    this.limits = { ttlMs: IDEMPOTENCY_KEY_TTL_MS, maxKeys: MAX_REMEMBERED_IDEMPOTENCY_KEYS, ...limits };
  }

  /** Keys remembered now. */
  get size(): number {
    return this.remembered.size;
  }

  /**
   * Answers a validated request: `store` runs with the insert ids it must
   * write, unless the request's key already names this request (its answer
   * is given again) or another one (422).
   */
  answer(
    key: string | undefined,
    req: Request,
    body: Uint8Array,
    scope: RequestScope,
    store: (insertIdOf: (index: number) => string) => Promise<Answer>,
  ): Answer | Promise<Answer> {
    if (key === undefined) return store(INSERT_IDS.httpRequest(scope.requestId));
    const binding = keyBinding(key, req.method, req.originalUrl, body);
    const nowMs = this.clock.monotonicMs();
    this.forgetExpired(nowMs);
    const known = this.remembered.get(key);
    if (known !== undefined) return known.binding === binding ? known.answer.then(replayed) : keyReused(key);

    const entry: RememberedKey = { binding, answer: store(INSERT_IDS.httpKeyed(binding)), expiresAtMs: nowMs + this.limits.ttlMs };
    this.remembered.set(key, entry);
    if (this.remembered.size > this.limits.maxKeys) this.remembered.delete(this.remembered.keys().next().value!);
    const forgetUnlessStored = () => {
      if (this.remembered.get(key) === entry) this.remembered.delete(key);
    };
    entry.answer.then((answer) => {
      if (answer.status < 200 || answer.status >= 300) forgetUnlessStored();
    }, forgetUnlessStored);
    return entry.answer;
  }

  private forgetExpired(nowMs: number): void {
    for (const [key, entry] of this.remembered) {
      if (entry.expiresAtMs > nowMs) return;
      this.remembered.delete(key);
    }
  }
}

/** The first request's answer, for a repeat: it stored nothing itself, which its log line says by `rows`. */
function replayed(answer: Answer): Answer {
  return {
    ...answer,
    rows: 0,
    headers: { ...answer.headers, [IDEMPOTENT_REPLAY_HEADER]: 'true' },
    logContext: { ...answer.logContext, idempotentReplay: 'true' },
  };
}

function keyReused(key: string): Answer {
  return clientError(
    422,
    `${JSON.stringify(key)} was first sent with another request (method, URL or body); send a new key with a new request`,
    undefined,
    IDEMPOTENCY_KEY_HEADER,
  );
}
