/**
 * Fault injection around a real adapter (DuckDB in the reliability tests):
 * the next inserts fail with errors the test chooses, either before the
 * inner insert (nothing stored) or after it (stored, yet the caller is told
 * it failed, as when a commit's acknowledgement is lost on the way back).
 * Inserts without a queued fault, and every read, go to the adapter as is.
 */
import type { Warehouse, WarehouseRow } from '../../lambda-src/warehouse/warehouse';
import { WarehouseDecorator } from '../../lambda-src/warehouse/warehouse-decorator';

/** When a fault strikes relative to the adapter's own insert. */
export type FaultMoment = 'beforeCommit' | 'afterCommit';

interface Fault {
  error: unknown;
  moment: FaultMoment;
}

export class FaultyWarehouse extends WarehouseDecorator {
  /** Faults that have struck so far. */
  injected = 0;
  private readonly faults: Fault[] = [];

  constructor(inner: Warehouse) {
    super(inner);
  }

  /** The next `count` inserts throw `error`, at `moment`. Queued after faults already waiting. */
  failNext(count: number, error: unknown, moment: FaultMoment = 'beforeCommit'): this {
    for (let index = 0; index < count; index += 1) this.faults.push({ error, moment });
    return this;
  }

  /** Drops the faults no insert has met yet. */
  clearFaults(): void {
    this.faults.length = 0;
  }

  /** Faults queued that no insert has met yet. */
  get pendingFaults(): number {
    return this.faults.length;
  }

  override async insert(rows: readonly WarehouseRow[]): Promise<void> {
    const fault = this.faults.shift();
    if (fault?.moment === 'beforeCommit') this.strike(fault);
    await this.inner.insert(rows);
    if (fault) this.strike(fault);
  }

  private strike(fault: Fault): never {
    this.injected += 1;
    throw fault.error;
  }
}
