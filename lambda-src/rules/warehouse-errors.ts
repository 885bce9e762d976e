/**
 * How a warehouse fails, once for the adapters, the handlers that answer with
 * it, and the alerts that count it: the failure classes, the errors that
 * carry them, and the one mapping of anything thrown onto them.
 */

/**
 * Failure classes, stable strings: they appear in logs as `errorClass` and
 * log-based metrics and alerts filter on them.
 */
export type WarehouseErrorClass =
  | 'warehouse_unavailable' // connection refused, 5xx, timeout: a retry may succeed
  | 'warehouse_rejected_rows' // per-row insertErrors: the data was refused
  | 'warehouse_overloaded' // the group-commit queue is full: shed load now, a retry may succeed
  | 'warehouse_error'; // anything else

export class WarehouseError extends Error {
  constructor(
    message: string,
    readonly errorClass: WarehouseErrorClass,
    /** True when the same insert may succeed later (answer 503 / nack). */
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'WarehouseError';
  }
}

/** One refused row of a batch, by its index in the `insert` call. */
export interface RowError {
  index: number;
  reason: string;
  message: string;
}

/**
 * A call to the warehouse got no answer within its deadline and was
 * abandoned. Its rows may have landed all the same; a re-send with the same
 * insert ids does not store them twice.
 */
export class WarehouseTimeoutError extends WarehouseError {
  constructor(message: string) {
    super(message, 'warehouse_unavailable', true);
    this.name = 'WarehouseTimeoutError';
  }
}

/** The warehouse refused some rows of a batch (BigQuery `insertErrors`). */
export class RowsRejectedError extends WarehouseError {
  constructor(readonly rowErrors: readonly RowError[], options?: { cause?: unknown }) {
    super(`warehouse rejected ${rowErrors.length} row(s)`, 'warehouse_rejected_rows', false, options);
    this.name = 'RowsRejectedError';
  }
}

/**
 * The warehouse refused a read because its window holds more data than one
 * read may scan (BigQuery's `maximumBytesBilled`): a later `since` makes it
 * fit, so it is the caller's to narrow, not a failure of ours.
 */
export class ReadTooLargeError extends WarehouseError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'warehouse_error', false, options);
    this.name = 'ReadTooLargeError';
  }
}

const MAX_FAILURE_TEXT_LENGTH = 300;

/**
 * What a failure says, for a log line or an answer: the first line of its
 * message (at most 300 characters), after its name unless that is plain
 * `Error`. Never a stack, nor the request a client library attaches.
 */
export function failureText(error: unknown): string {
  // Not `instanceof Error`: a native binding's errors may come from another realm (e.g. under jest).
  const { name, message } = (error ?? {}) as { name?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : String(error);
  const named = typeof name === 'string' && name !== 'Error' && typeof message === 'string' ? `${name}: ${text}` : text;
  const firstLine = named.split('\n', 1)[0]!;
  return firstLine.length > MAX_FAILURE_TEXT_LENGTH ? `${firstLine.slice(0, MAX_FAILURE_TEXT_LENGTH)}…` : firstLine;
}

/** What an adapter adds to the mapping: what it was doing, and the failures it knows. */
export interface FailureContext {
  /**
   * What failed, opening the message of an unclassified failure: `DuckDB insert`, `BigQuery query`.
   * @default the failure's text alone
   */
  readonly operation?: string;
  /**
   * The adapter's own classes (a transient code, a timeout, a refused row)
   * for a failure it recognises, given the failure and its {@link failureText};
   * undefined leaves it unclassified.
   * @default nothing is recognised
   */
  readonly classify?: (error: unknown, text: string) => WarehouseError | undefined;
}

/**
 * Anything a warehouse (or opening one) throws, as a `WarehouseError`: a
 * `WarehouseError` passes through, the adapter's `classify` may claim the rest,
 * and what it leaves is an unclassified `warehouse_error`, not retried
 * blindly. The original is not kept as `cause`: a client library's error
 * may carry the request, credentials included.
 */
export function asWarehouseError(error: unknown, context: FailureContext = {}): WarehouseError {
  if (error instanceof WarehouseError) return error;
  const text = failureText(error);
  const classified = context.classify?.(error, text);
  if (classified !== undefined) return classified;
  return new WarehouseError(context.operation === undefined ? text : `${context.operation} failed: ${text}`, 'warehouse_error', false);
}
