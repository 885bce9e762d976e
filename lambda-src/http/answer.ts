/**
 * What a route hands back: the HTTP answer plus what its request log line
 * needs. Routes return an `Answer` instead of writing to the response, so
 * sending, headers and the one log line per request live in one place
 * (`router.ts`).
 */
import type { ServerResponse } from 'node:http';
import type { FieldError } from '../record';
import type { WarehouseErrorClass } from '../warehouse/warehouse';
import { REQUEST_ERROR_CLASSES, type ErrorClass, type RequestErrorClass } from '../logging';

export interface Answer {
  status: number;
  body: Readonly<Record<string, unknown>>;
  headers?: Readonly<Record<string, string>>;
  /** Rows committed, or carried by the refused/failed request. */
  rows: number;
  errorClass?: ErrorClass;
  /** Why, for the log line. */
  reason?: string;
  /** Extra log fields (push: messageId, subscription, deliveryAttempt). */
  logContext?: Readonly<Record<string, string | number>>;
}

/** The seed's success body, byte for byte. */
export const INSERTED_BODY = { success: true, message: 'Data inserted successfully!' } as const;

/** The seed's 400 error string; `details` says what exactly was wrong. */
export const INVALID_INPUT_ERROR = 'Invalid input data';

/** A body of 100k bad fields must not become a multi-megabyte answer or log line. */
export const MAX_DETAILS = 100;
const MAX_REASON_DETAILS = 5;
/**
 * Nor may one field: a detail names the field by the client's own key, and
 * a key can be a megabyte long (the log line would then exceed Cloud
 * Logging's 256 KB entry limit and be dropped). Longer texts are cut here.
 */
export const MAX_ECHOED_CHARACTERS = 200;

/** `text`, cut to `MAX_ECHOED_CHARACTERS` with an ellipsis when longer. */
export function bounded(text: string): string {
  return text.length > MAX_ECHOED_CHARACTERS ? `${text.slice(0, MAX_ECHOED_CHARACTERS)}…` : text;
}

function boundedDetail(detail: FieldError): FieldError {
  return { field: bounded(detail.field), message: bounded(detail.message) };
}

export function inserted(rows: number): Answer {
  return { status: 200, body: INSERTED_BODY, rows };
}

/**
 * 400 with the seed's error string and a `details` entry per bad field.
 * `errorClass` tells the log which kind of bad input it was.
 */
export function invalidInput(
  details: readonly FieldError[],
  errorClass: RequestErrorClass = REQUEST_ERROR_CLASSES.invalidInput,
  rows = 0,
): Answer {
  const shown = details.slice(0, MAX_DETAILS).map(boundedDetail);
  const reasonParts = shown.slice(0, MAX_REASON_DETAILS).map((detail) => `${detail.field}: ${detail.message}`);
  if (details.length > MAX_REASON_DETAILS) reasonParts.push(`and ${details.length - MAX_REASON_DETAILS} more`);
  return {
    status: 400,
    body: { success: false, error: INVALID_INPUT_ERROR, details: shown },
    rows,
    errorClass,
    reason: reasonParts.join('; '),
  };
}

/** The fixed `error` text of each refusal status; the reason goes in `details`. */
const REFUSAL_TEXT = {
  400: 'Bad request',
  404: 'Not found',
  405: 'Method not allowed',
  408: 'Request timeout',
  413: 'Payload too large',
  415: 'Unsupported media type',
  417: 'Expectation failed',
  422: 'Unprocessable content',
  431: 'Request header fields too large',
  501: 'Not implemented',
} as const;

const CLIENT_ERROR_CLASSES = {
  404: REQUEST_ERROR_CLASSES.notFound,
  405: REQUEST_ERROR_CLASSES.methodNotAllowed,
  413: REQUEST_ERROR_CLASSES.payloadTooLarge,
  415: REQUEST_ERROR_CLASSES.unsupportedMediaType,
  422: REQUEST_ERROR_CLASSES.idempotencyKeyReused,
} as const;

function refusalBody(status: keyof typeof REFUSAL_TEXT, shownReason: string, field = 'request'): Answer['body'] {
  return { success: false, error: REFUSAL_TEXT[status], details: [{ field, message: shownReason }] };
}

/**
 * 404, 405, 413, 415 or 422: a fixed error string, and the reason (which may
 * quote the request's path or headers) in `details` for the client too,
 * under `field` (default `request`).
 */
export function clientError(
  status: keyof typeof CLIENT_ERROR_CLASSES,
  reason: string,
  headers?: Readonly<Record<string, string>>,
  field?: string,
): Answer {
  const shownReason = bounded(reason);
  return { status, body: refusalBody(status, shownReason, field), headers, rows: 0, errorClass: CLIENT_ERROR_CLASSES[status], reason: shownReason };
}

/**
 * A request refused before any function saw it (Node's HTTP parser refused
 * it, or it has no `Host`): the same body as `clientError`'s. No function
 * logs it, so it has no error class.
 */
export function protocolError(status: keyof typeof REFUSAL_TEXT, reason: string): Answer {
  const shownReason = bounded(reason);
  return { status, body: refusalBody(status, shownReason), rows: 0, reason: shownReason };
}

type ServerErrorClass = WarehouseErrorClass | typeof REQUEST_ERROR_CLASSES.internalError | typeof REQUEST_ERROR_CLASSES.deadLetterUnavailable;

const SERVER_ERROR_TEXT: Record<ServerErrorClass, string> = {
  warehouse_unavailable: 'Warehouse unavailable, retry later',
  warehouse_rejected_rows: 'Warehouse refused the rows',
  warehouse_overloaded: 'Warehouse overloaded, retry later',
  warehouse_error: 'Warehouse error',
  internal_error: 'Internal error',
  dead_letter_unavailable: 'Dead-letter topic unavailable, retry later',
};

/**
 * 500/503. The client learns the failure class and the request id to quote
 * to an operator, never a driver message or stack trace; `reason` (logs only)
 * carries the detail.
 */
export function serverError(
  status: 500 | 503,
  errorClass: ServerErrorClass,
  requestId: string,
  reason: string,
  rows: number,
  headers?: Readonly<Record<string, string>>,
): Answer {
  const text = SERVER_ERROR_TEXT[errorClass];
  return {
    status,
    body: { success: false, error: `${text} (${errorClass}, request id ${requestId})`, requestId },
    headers,
    rows,
    errorClass,
    reason,
  };
}

/** Every response: JSON, never sniffed, never cached, tagged with the request id. */
export function encodeAnswer(answer: Answer, requestId: string): { json: string; headers: Record<string, string | number> } {
  const json = JSON.stringify(answer.body);
  return {
    json,
    headers: {
      ...answer.headers,
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(json),
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'no-store',
      'X-Request-Id': requestId,
    },
  };
}

export function sendAnswer(res: ServerResponse, answer: Answer, requestId: string): void {
  const { json, headers } = encodeAnswer(answer, requestId);
  res.writeHead(answer.status, headers);
  res.end(json);
}
