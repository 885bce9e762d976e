/**
 * Structured request logs in Cloud Logging's JSON format: one line on stdout
 * per request, which the Cloud Functions / Cloud Run agent turns into a
 * LogEntry (`severity`, `message`, `httpRequest` and the
 * `logging.googleapis.com/*` keys become entry fields; everything else lands
 * in `jsonPayload`). Log-based metrics and alerts are built on the field names
 * and values written here, so the values come from `log-events.ts`.
 */
import { writeSync } from 'node:fs';
import { INSERT_FAILED_EVENT, OUTCOMES, type FunctionName, type Outcome, type RequestEvent } from './log-events';
import type { WarehouseErrorClass } from './warehouse/warehouse';

/** `jsonPayload.errorClass` of a request line the caller's input caused (4xx) or we failed outside the warehouse (5xx). */
export const REQUEST_ERROR_CLASSES = {
  /** The body (or a push message's data) is not UTF-8 JSON. */
  invalidJson: 'invalid_json',
  /** JSON nested deeper, or with more array elements or object keys, or longer strings, than `rules/limits.ts` allows. */
  jsonTooComplex: 'json_too_complex',
  /** Valid JSON that is not a valid payload: bad records, forbidden keys, batch size, bad Idempotency-Key. */
  invalidInput: 'invalid_input',
  /** A push delivery whose envelope is malformed: no message, no messageId, data not base64. */
  invalidMessage: 'invalid_message',
  /** An `Idempotency-Key` sent again with another request (method, URL or body) than the one it was first used for. */
  idempotencyKeyReused: 'idempotency_key_reused',
  /** The functions framework could not read the body (e.g. corrupt gzip). */
  unreadableBody: 'unreadable_body',
  payloadTooLarge: 'payload_too_large',
  unsupportedMediaType: 'unsupported_media_type',
  methodNotAllowed: 'method_not_allowed',
  notFound: 'not_found',
  /** A poison push message could not be published to the dead-letter topic, so it was nacked (503) to come back. */
  deadLetterUnavailable: 'dead_letter_unavailable',
  /** A bug on our side outside the warehouse. */
  internalError: 'internal_error',
} as const;

export type RequestErrorClass = (typeof REQUEST_ERROR_CLASSES)[keyof typeof REQUEST_ERROR_CLASSES];
export type ErrorClass = RequestErrorClass | WarehouseErrorClass;

/**
 * 5xx we failed; 4xx the caller's input was refused, and so was a 2xx that
 * carries an error class (a poison push message, acknowledged so that it is
 * not redelivered); any other 2xx/3xx succeeded.
 */
export function outcomeOf(status: number, errorClass?: ErrorClass): Outcome {
  if (status >= 500) return OUTCOMES.failed;
  if (status >= 400 || errorClass !== undefined) return OUTCOMES.rejected;
  return OUTCOMES.success;
}

export interface RequestLogEntry {
  function: FunctionName;
  event: RequestEvent;
  requestId: string;
  method: string;
  /** Absolute URL as requested (`httpRequest.requestUrl`). */
  url: string;
  status: number;
  latencyMs: number;
  userAgent?: string;
  /** The raw `X-Cloud-Trace-Context` header, when present. */
  traceContext?: string;
  /** Rows committed (success) or carried by the refused/failed request (0 when the body was unusable). */
  rows: number;
  /** Set on every 4xx/5xx line, and on a 2xx that acknowledged what it refused (see `outcomeOf`). */
  errorClass?: ErrorClass;
  /** Why the request was refused or failed, for a human reading the log. */
  reason?: string;
  /** Fields one event adds, e.g. a push delivery's `messageId`, `subscription`, `deliveryAttempt`. */
  context?: Readonly<Record<string, string | number>>;
}

export interface InsertFailedEntry {
  function: FunctionName;
  /** Rows of the failed insert call (a batch may carry several requests). */
  rows: number;
  errorClass: WarehouseErrorClass;
  retryable: boolean;
  /** The adapter's message (logs only; never sent to clients). */
  error: string;
}

/** A request the functions framework failed before any of our functions could answer it. */
export interface FrameworkFailureEntry {
  requestId: string;
  method: string;
  url: string;
  status: number;
  reason: string;
}

export interface Logger {
  request(entry: RequestLogEntry): void;
  /** One line per failed warehouse insert call; the "insert errors" alert counts these. */
  insertFailed(entry: InsertFailedEntry): void;
  frameworkFailure(entry: FrameworkFailureEntry): void;
}

export interface LoggerOptions {
  /** Project that owns the traces; qualifies `logging.googleapis.com/trace`. */
  projectId?: string;
  /** Where each line goes. Default: stdout (`writeStdoutLine`). */
  write?: (line: string) => void;
}

const SEVERITY_BY_OUTCOME: Record<Outcome, string> = {
  [OUTCOMES.success]: 'INFO',
  [OUTCOMES.rejected]: 'WARNING',
  [OUTCOMES.failed]: 'ERROR',
};

/** Cloud Logging's Duration JSON form: seconds with a fractional part and an `s` suffix, e.g. `0.012s`. */
export function formatLatency(latencyMs: number): string {
  return `${(latencyMs / 1000).toFixed(9).replace(/\.?0+$/, '')}s`;
}

const TRACE_CONTEXT = /^([0-9a-fA-F]{1,32})(?:\/(\d{1,20}))?(?:;o=([01]))?$/;

/**
 * The `logging.googleapis.com/*` keys for an `X-Cloud-Trace-Context` header
 * (`TRACE_ID/SPAN_ID;o=1`). The span id arrives in decimal; Cloud Logging
 * wants 16 hex digits.
 */
export function traceFields(header: string | undefined, projectId: string | undefined): Record<string, string | boolean> {
  const match = header === undefined ? null : TRACE_CONTEXT.exec(header.trim());
  if (!match) return {};
  const [, traceId, spanId, sampled] = match;
  const fields: Record<string, string | boolean> = {
    'logging.googleapis.com/trace': projectId ? `projects/${projectId}/traces/${traceId}` : traceId,
  };
  if (spanId !== undefined) fields['logging.googleapis.com/spanId'] = BigInt(spanId).toString(16).padStart(16, '0').slice(-16);
  if (sampled !== undefined) fields['logging.googleapis.com/trace_sampled'] = sampled === '1';
  return fields;
}

let pendingStdout = '';

function writePendingStdout(): void {
  process.off('exit', writePendingStdoutNow);
  const lines = pendingStdout;
  pendingStdout = '';
  process.stdout.write(lines);
}

function writePendingStdoutNow(): void {
  let unwritten = Buffer.from(pendingStdout);
  pendingStdout = '';
  try {
    while (unwritten.length > 0) unwritten = unwritten.subarray(writeSync(process.stdout.fd, unwritten));
  } catch {
    // The process is exiting and stdout is gone (e.g. the reader closed the pipe): there is nowhere left to write.
  }
}

/**
 * The default destination: stdout, written once per turn of the event loop.
 * stdout is a pipe, written synchronously, and under load one turn answers
 * many requests: a write (and a wake-up of the log reader) per line cost
 * about a tenth of the API function's CPU per request (`npm run bench`).
 * Lines still pending when the process exits (after SIGTERM's drain, or a
 * crash) are written synchronously then.
 */
export function writeStdoutLine(line: string): void {
  if (pendingStdout === '') {
    setImmediate(writePendingStdout);
    process.once('exit', writePendingStdoutNow);
  }
  pendingStdout += `${line}\n`;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const write = options.write ?? writeStdoutLine;
  return {
    request(entry) {
      const outcome = outcomeOf(entry.status, entry.errorClass);
      const latencyMs = Math.round(entry.latencyMs * 1000) / 1000;
      const summary = [`${entry.function} ${entry.event} ${entry.method} ${entry.url} -> ${entry.status} ${outcome}`];
      if (entry.errorClass) summary.push(entry.errorClass);
      summary.push(`rows=${entry.rows} ${latencyMs}ms`);
      const message = entry.reason ? `${summary.join(' ')}: ${entry.reason}` : summary.join(' ');
      write(
        JSON.stringify({
          severity: SEVERITY_BY_OUTCOME[outcome],
          message,
          httpRequest: {
            requestMethod: entry.method,
            requestUrl: entry.url,
            status: entry.status,
            latency: formatLatency(entry.latencyMs),
            userAgent: entry.userAgent,
          },
          ...traceFields(entry.traceContext, options.projectId),
          ...entry.context,
          event: entry.event,
          function: entry.function,
          requestId: entry.requestId,
          rows: entry.rows,
          latencyMs,
          outcome,
          errorClass: entry.errorClass,
          reason: entry.reason,
        }),
      );
    },
    insertFailed(entry) {
      write(
        JSON.stringify({
          severity: 'ERROR',
          message: `${entry.function} warehouse insert of ${entry.rows} row(s) failed: ${entry.errorClass}: ${entry.error}`,
          event: INSERT_FAILED_EVENT,
          function: entry.function,
          rows: entry.rows,
          errorClass: entry.errorClass,
          retryable: entry.retryable,
          error: entry.error,
        }),
      );
    },
    frameworkFailure(entry) {
      write(
        JSON.stringify({
          severity: 'ERROR',
          message: `functions framework failed ${entry.method} ${entry.url} -> ${entry.status}: ${entry.reason}`,
          httpRequest: { requestMethod: entry.method, requestUrl: entry.url, status: entry.status },
          requestId: entry.requestId,
          outcome: outcomeOf(entry.status),
          errorClass: REQUEST_ERROR_CLASSES.internalError,
          reason: entry.reason,
        }),
      );
    },
  };
}
