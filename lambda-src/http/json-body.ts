/**
 * Reads a request body as JSON ourselves, from the raw bytes the framework
 * keeps in `req.rawBody`: the framework's own parse is ignored, so content
 * type, size limit, shape, encoding and forbidden keys are decided here,
 * once, for every function. The framework may already have refused the
 * body as it read it (too large, or past a shape limit: `framework.ts`);
 * that refusal is answered here too, as the same 413 or 400. A body it read
 * whole was scanned on the way in: the shape is scanned again only if the
 * function's limits are stricter than the framework's.
 */
import type { Request } from '@google-cloud/functions-framework';
import { REQUEST_ERROR_CLASSES } from '../logging';
import { clientError, invalidInput, type Answer } from './answer';
import { isJsonContentType } from './content-type';
import { bodyReadFailureOf, jsonShapeScanOf } from './framework';
import { JSON_SHAPE_LIMITS, parseJsonBytes, type JsonShapeLimits, type SafeJsonResult } from './safe-json';

/** `raw`: the bytes the value was parsed from (what an `Idempotency-Key` is bound to). */
export type JsonBodyResult = { ok: true; value: unknown; raw: Uint8Array } | { ok: false; answer: Answer };

const ECHO_LIMIT = 100;
const EMPTY = new Uint8Array(0);

/** `shape`: how much structure the body may hold; a payload's limits unless the body is another kind of JSON. */
export function readJsonBody(req: Request, maxBodyBytes: number, shape: Readonly<JsonShapeLimits> = JSON_SHAPE_LIMITS): JsonBodyResult {
  const contentType = req.headers['content-type'];
  if (!isJsonContentType(contentType)) {
    const got = contentType === undefined ? 'none' : JSON.stringify(contentType.slice(0, ECHO_LIMIT));
    return refuse(clientError(415, `Content-Type must be application/json (optionally with charset=utf-8), got ${got}`));
  }
  const raw = req.rawBody;
  const failure = bodyReadFailureOf(req);
  if (raw === undefined && failure !== undefined) {
    if (failure.status === 413) return refuse(tooLarge(maxBodyBytes));
    if (failure.jsonShapeProblem !== undefined) return refuse(refusedJson({ ok: false, kind: 'too_complex', errors: [{ field: 'body', message: failure.jsonShapeProblem }] }));
    if (failure.status === 415) return refuse(clientError(415, failure.message));
    return refuse(invalidInput([{ field: 'body', message: 'could not be read' }], REQUEST_ERROR_CLASSES.unreadableBody));
  }
  const bytes = raw ?? EMPTY;
  if (bytes.length > maxBodyBytes) return refuse(tooLarge(maxBodyBytes));
  const scan = jsonShapeScanOf(req);
  const parsed = parseJsonBytes(bytes, 'body', shape, scan?.bytes === bytes ? scan.limits : undefined);
  if (parsed.ok) return { ok: true, value: parsed.value, raw: bytes };
  return refuse(refusedJson(parsed));
}

const ERROR_CLASS_OF_JSON_REFUSAL = {
  syntax: REQUEST_ERROR_CLASSES.invalidJson,
  forbidden_key: REQUEST_ERROR_CLASSES.invalidInput,
  too_complex: REQUEST_ERROR_CLASSES.jsonTooComplex,
} as const;

/** The 400 for JSON `parseJsonBytes` refused, whatever it held (a body, a push message's data). */
export function refusedJson(refusal: Extract<SafeJsonResult, { ok: false }>): Answer {
  return invalidInput(refusal.errors, ERROR_CLASS_OF_JSON_REFUSAL[refusal.kind]);
}

export function tooLarge(maxBytes: number, what = 'body'): Answer {
  return clientError(413, `${what} is larger than the limit of ${maxBytes} bytes`);
}

function refuse(answer: Answer): JsonBodyResult {
  return { ok: false, answer };
}
