/**
 * An in-memory `Warehouse` for handler tests: keeps rows by insert id (a
 * repeated insert id stores nothing new, as the port requires), answers reads
 * with the port's latest-version semantics, records every call, and can be
 * told to fail or to hold inserts until released.
 */
import {
  WarehouseError,
  type ListLatestOptions,
  type ReadWindow,
  type StoredRecord,
  type Warehouse,
  type WarehouseRow,
} from '../../lambda-src/warehouse/warehouse';
import { latestOf, latestPage } from '../../tools/latest-versions';

export class MemoryWarehouse implements Warehouse {
  /** Committed rows by insert id. */
  readonly rows = new Map<string, WarehouseRow>();
  /** Every `insert` call's rows, in arrival order, whatever its outcome. */
  readonly insertCalls: (readonly WarehouseRow[])[] = [];
  /** Every read call's arguments, in arrival order. */
  readonly readCalls: Array<{ getLatest: string; since: Date } | { listLatest: ListLatestOptions }> = [];
  closeCalls = 0;
  private failure: unknown;
  private held: Promise<void> | undefined;
  private callWaiters: Array<{ count: number; resolve: () => void }> = [];

  /** Every later insert and read throws `error` (until `failWith(undefined)`). */
  failWith(error: unknown): void {
    this.failure = error;
  }

  /** Later inserts wait, uncommitted, until the returned function is called. */
  hold(): () => void {
    let release!: () => void;
    this.held = new Promise<void>((resolve) => (release = resolve));
    return () => {
      this.held = undefined;
      release();
    };
  }

  /** Resolves once `count` insert calls have arrived. */
  insertCallsReached(count: number): Promise<void> {
    if (this.insertCalls.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.callWaiters.push({ count, resolve }));
  }

  get committedRows(): WarehouseRow[] {
    return [...this.rows.values()];
  }

  async insert(rows: readonly WarehouseRow[]): Promise<void> {
    this.insertCalls.push(rows);
    this.callWaiters = this.callWaiters.filter((waiter) => (this.insertCalls.length >= waiter.count ? (waiter.resolve(), false) : true));
    if (this.held) await this.held;
    if (this.closeCalls > 0) throw new WarehouseError('memory warehouse is closed', 'warehouse_unavailable', true);
    if (this.failure !== undefined) throw this.failure;
    for (const row of rows) if (!this.rows.has(row.insertId)) this.rows.set(row.insertId, row);
  }

  async getLatest(id: string, window: ReadWindow): Promise<StoredRecord | undefined> {
    this.readCalls.push({ getLatest: id, since: window.since });
    this.refuseRead();
    return latestOf(this.rows.values(), id, window);
  }

  async listLatest(options: ListLatestOptions): Promise<StoredRecord[]> {
    this.readCalls.push({ listLatest: options });
    this.refuseRead();
    return latestPage(this.rows.values(), options);
  }

  private refuseRead(): void {
    if (this.closeCalls > 0) throw new WarehouseError('memory warehouse is closed', 'warehouse_error', false);
    if (this.failure !== undefined) throw this.failure;
  }

  async close(): Promise<void> {
    this.closeCalls += 1;
  }
}
