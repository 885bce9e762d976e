/**
 * Writing validated records, shared by the API and the push subscriber: the
 * rows carry their insert ids, and a failure becomes 503 (a retry may help)
 * or 500 (it will not without a fix on our side).
 */
import type { Clock } from '../clock';
import { inserted, serverError, type Answer } from '../http/answer';
import type { RequestScope } from '../http/router';
import type { Logger } from '../logging';
import type { IngestRecord } from '../record';
import type { Warehouse, WarehouseRow } from '../warehouse/warehouse';
import { asWarehouseError } from '../rules/warehouse-errors';
import { describeWarehouseFailure } from './insert-failure-log';

/** What the handlers need from the outside world; tests pass doubles. */
export interface HandlerDependencies {
  /** The warehouse, opened on first call (see `lazyWarehouse`). */
  warehouse: () => Promise<Warehouse>;
  /** Largest accepted request body (`MAX_BODY_BYTES`); a push message's decoded data has the same limit. */
  maxBodyBytes: number;
  /**
   * How far back a read looks when the client names no `since`
   * (`READ_WINDOW_HOURS`).
   * @default `READ_WINDOW_HOURS.default` (rules/limits.ts)
   */
  readWindowHours?: number;
  logger: Logger;
  clock: Clock;
}

/**
 * Insert ids, the warehouse's idempotency keys, by the path a row came in
 * on. Each path has its own prefix, so no value one path derives ids from (a
 * Pub/Sub messageId, an `Idempotency-Key`, a request id) can produce an id of
 * another path and make the warehouse skip that path's row as a repeat. The
 * record's index in its request comes last, after the last colon, so an id
 * reads one way only even when the value before it holds colons.
 */
export const INSERT_IDS = {
  /** A record of a Pub/Sub message: redelivery of the message repeats its ids. */
  pushMessage: (messageId: string) => (index: number) => `pubsub:${messageId}:${index}`,
  /** A record of an HTTP request without `Idempotency-Key`: unique to the request. */
  httpRequest: (requestId: string) => (index: number) => `http:${requestId}:${index}`,
  /** A record of an HTTP request with an `Idempotency-Key`: `binding` hashes the key with the request it names. */
  httpKeyed: (binding: string) => (index: number) => `http-key:${binding}:${index}`,
} as const;

/** Seconds a client is told to wait after a 503; short, since warehouse blips are. Clients should still back off. */
export const RETRY_AFTER_SECONDS = 1;

// Not `async`, and `then` rather than `await`: each promise on a request's path costs CPU that the ingest benchmark
// shows (docs/performance.md, "Choices kept"), and this path needs only the warehouse's.
export function storeRecords(
  records: readonly IngestRecord[],
  insertIdOf: (index: number) => string,
  deps: HandlerDependencies,
  scope: RequestScope,
): Promise<Answer> {
  const ingestedAt = deps.clock.now();
  const rows: WarehouseRow[] = records.map((record, index) => ({ ...record, insertId: insertIdOf(index), ingestedAt }));
  return storeRows(rows, deps, scope, inserted);
}

/** Inserts rows that already carry their insert ids and ingestion time; `committed` builds the 200 answer. */
export function storeRows(
  rows: readonly WarehouseRow[],
  deps: HandlerDependencies,
  scope: RequestScope,
  committed: (rows: number) => Answer,
): Promise<Answer> {
  return deps
    .warehouse()
    .then((warehouse) => warehouse.insert(rows))
    .then(
      () => committed(rows.length),
      (error: unknown) => warehouseFailure(error, scope, rows.length),
    );
}

/** A failed warehouse call (or open) as the answer: 503 when a retry may succeed, else 500. */
export function warehouseFailure(error: unknown, scope: RequestScope, rows: number): Answer {
  const failure = asWarehouseError(error);
  const detail = describeWarehouseFailure(failure);
  return failure.retryable
    ? serverError(503, failure.errorClass, scope.requestId, detail, rows, { 'Retry-After': String(RETRY_AFTER_SECONDS) })
    : serverError(500, failure.errorClass, scope.requestId, detail, rows);
}

/**
 * Opens the warehouse on first use and shares it. A failed open is not
 * remembered: the next request tries again, so a warehouse that was briefly
 * unreachable at cold start does not poison the instance.
 */
export function lazyWarehouse(open: () => Promise<Warehouse>): () => Promise<Warehouse> {
  let opening: Promise<Warehouse> | undefined;
  return () => {
    opening ??= open().catch((error: unknown) => {
      opening = undefined;
      throw error;
    });
    return opening;
  };
}
