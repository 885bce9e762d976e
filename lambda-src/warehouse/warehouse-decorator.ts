import type { ListLatestOptions, ReadWindow, StoredRecord, Warehouse, WarehouseRow } from './warehouse';

/**
 * Base of a `Warehouse` that wraps another (batching, logging, fault
 * injection): every call passes through to `inner` unless a subclass
 * overrides it, so a decorator states only what it changes.
 */
export abstract class WarehouseDecorator implements Warehouse {
  constructor(protected readonly inner: Warehouse) {}

  insert(rows: readonly WarehouseRow[]): Promise<void> {
    return this.inner.insert(rows);
  }

  getLatest(id: string, window: ReadWindow): Promise<StoredRecord | undefined> {
    return this.inner.getLatest(id, window);
  }

  listLatest(options: ListLatestOptions): Promise<StoredRecord[]> {
    return this.inner.listLatest(options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
