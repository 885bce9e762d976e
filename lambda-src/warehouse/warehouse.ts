/**
 * The storage port. Handlers know only this interface; `DuckDbWarehouse`
 * (embedded, local) and `BigQueryWarehouse` (production) implement it.
 */
import type { IngestRecord } from '../record';

/** A record as handed to the warehouse, with its idempotency key. */
export interface WarehouseRow extends IngestRecord {
  /** Idempotency key. A row whose insert id was already stored is not stored again. */
  insertId: string;
  /** When the pipeline accepted the row. */
  ingestedAt: Date;
}

/** The latest version of a record, as reads return it. */
export interface StoredRecord extends IngestRecord {
  /** When that version was stored: its `ingestedAt`. */
  updatedAt: Date;
}

/**
 * How far back a read looks. Versions stored before `since` are not read at
 * all, so a read costs what the window holds, not what the table holds: a
 * record whose latest version is older than `since` is not found.
 */
export interface ReadWindow {
  /** The earliest `ingestedAt` read (inclusive). */
  since: Date;
}

/** One page of a listing, keyset-paginated on `id`, within a read window. */
export interface ListLatestOptions extends ReadWindow {
  /** Only ids greater than this one; `''` (every id is non-empty) starts from the first id. */
  afterId: string;
  /** Most records returned; a positive integer. */
  limit: number;
}

export interface Warehouse {
  /**
   * Durably stores `rows` as one unit: when the promise resolves every row is
   * committed (or was already present under its insert id); when it rejects,
   * with a `WarehouseError`, none of them may be assumed stored.
   */
  insert(rows: readonly WarehouseRow[]): Promise<void>;
  /**
   * The latest version of the record `id` (newest `ingestedAt`, ties broken
   * by the greater insert id) if it was stored at or after `since`, else
   * undefined. `id` is data, never SQL: any string is just an id that may
   * not exist. Fails with a `WarehouseError`, retryable when a retry may
   * succeed, or a `ReadTooLargeError` when the window holds more than one
   * read may scan.
   */
  getLatest(id: string, window: ReadWindow): Promise<StoredRecord | undefined>;
  /**
   * The latest version of each record whose id sorts after `afterId`
   * (by UTF-8 bytes, the same order in every adapter) and whose latest
   * version was stored at or after `since`, in id order, at most `limit` of
   * them. Paging with the last id of each page as the next `afterId`, and
   * the same `since`, visits every such id present throughout exactly once,
   * however many versions are written meanwhile. Fails like `getLatest`.
   */
  listLatest(options: ListLatestOptions): Promise<StoredRecord[]>;
  /** Releases connections and files. Safe to call twice. */
  close(): Promise<void>;
}

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

/** One refused row of a batch, by its index in the `insert` call. */
export interface RowError {
  index: number;
  reason: string;
  message: string;
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
