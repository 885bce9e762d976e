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
 * The `RowError` reason of a valid row not stored only because another row of
 * its insert was invalid (BigQuery's `insertErrors` word, which the DuckDB
 * adapter answers too): the batcher sends such rows again.
 */
export const STOPPED_REASON = 'stopped';

/** How the port fails: with the classes the handlers answer by and the alerts count. */
export {
  ReadTooLargeError,
  RowsRejectedError,
  WarehouseError,
  WarehouseTimeoutError,
  type RowError,
  type WarehouseErrorClass,
} from '../rules/warehouse-errors';
