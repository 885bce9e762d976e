/**
 * Names that leave the process in structured logs. Log-based metrics and
 * alert policies (constructs/monitoring-alerts.ts) filter on these exact
 * strings, so they live in one place that both sides import.
 */

/** `jsonPayload.event` of the one line written per request. */
export const REQUEST_EVENTS = {
  /** `POST /` on the API function. */
  ingest: 'ingest',
  /** A push delivery to the subscriber function. */
  push: 'push',
  /** `GET /records…` on the API function. */
  read: 'read',
  /** `PUT /records/{id}` on the API function. */
  update: 'update',
} as const;

/** `jsonPayload.event` of the line written once per failed warehouse insert call (a batch may carry many requests). */
export const INSERT_FAILED_EVENT = 'warehouse_insert_failed';

/** `jsonPayload.outcome` of a request line. */
export const OUTCOMES = {
  /** Rows committed / data returned. */
  success: 'success',
  /** The caller's input was refused: a 4xx, or a poison push message acknowledged with a 2xx so it is not redelivered. */
  rejected: 'rejected',
  /** We failed (5xx). */
  failed: 'failed',
} as const;

/** `jsonPayload.function`: which deployed function wrote the line. */
export const FUNCTION_NAMES = { api: 'api', subscriber: 'subscriber' } as const;

export type RequestEvent = (typeof REQUEST_EVENTS)[keyof typeof REQUEST_EVENTS];
export type Outcome = (typeof OUTCOMES)[keyof typeof OUTCOMES];
export type FunctionName = (typeof FUNCTION_NAMES)[keyof typeof FUNCTION_NAMES];
