/**
 * A `Warehouse` test double whose every `insert` call is recorded and answered
 * by script: commit, throw an error, refuse rows (BigQuery `insertErrors`), or
 * stay pending until the test releases it. Reads are recorded and answered
 * from the rows of committed calls. Nothing here depends on wall-clock time.
 */
import {
  RowsRejectedError,
  type ListLatestOptions,
  type ReadWindow,
  type RowError,
  type StoredRecord,
  type Warehouse,
  type WarehouseRow,
} from '../../lambda-src/warehouse/warehouse';
import { latestOf, latestPage } from '../../tools/latest-versions';

export type InsertOutcome =
  | { type: 'commit' }
  | { type: 'throw'; error: unknown }
  | { type: 'rejectRows'; rowErrors: readonly RowError[] };

/** What the next call does: an outcome now, or wait for `release(callIndex, outcome)`. */
export type ScriptStep = InsertOutcome | { type: 'block' };

/** Decides calls beyond the script; may be async (e.g. wait on fake timers). */
export type Responder = (rows: readonly WarehouseRow[], callIndex: number) => InsertOutcome | Promise<InsertOutcome>;

export const COMMIT: InsertOutcome = { type: 'commit' };
export const BLOCK: ScriptStep = { type: 'block' };

export function fail(error: unknown): InsertOutcome {
  return { type: 'throw', error };
}

export function rejectRows(rowErrors: readonly RowError[]): InsertOutcome {
  return { type: 'rejectRows', rowErrors };
}

/**
 * What BigQuery answers an insertAll with `skipInvalidRows: false` when some
 * rows are invalid: the invalid rows with reason `invalid`, every other row
 * with reason `stopped`.
 */
export function bigQueryRejection(rowCount: number, invalidIndices: readonly number[]): InsertOutcome {
  const invalid = new Set(invalidIndices);
  return rejectRows(
    Array.from({ length: rowCount }, (_, index) =>
      invalid.has(index)
        ? { index, reason: 'invalid', message: `row ${index} is invalid` }
        : { index, reason: 'stopped', message: '' },
    ),
  );
}

export interface RecordedInsert {
  readonly rows: readonly WarehouseRow[];
  /** Set once the call has answered. */
  outcome?: InsertOutcome;
}

export class ScriptedWarehouse implements Warehouse {
  readonly calls: RecordedInsert[] = [];
  /** `insert N`, `settle N`, `getLatest`, `listLatest` and `close`, in the order they happened. */
  readonly events: string[] = [];
  closeCount = 0;
  private readonly script: ScriptStep[] = [];
  private readonly releases = new Map<number, (outcome: InsertOutcome) => void>();
  private closeGate: Promise<void> | undefined;

  constructor(private readonly responder: Responder = () => COMMIT) {}

  /** Scripts the next calls, in order; calls beyond the script ask the responder. */
  next(...steps: ScriptStep[]): this {
    this.script.push(...steps);
    return this;
  }

  /** Answers a blocked call. */
  release(callIndex: number, outcome: InsertOutcome = COMMIT): void {
    const release = this.releases.get(callIndex);
    if (!release) throw new Error(`insert call ${callIndex} is not blocked`);
    this.releases.delete(callIndex);
    release(outcome);
  }

  /** Calls not answered yet. */
  get pendingCalls(): number {
    return this.calls.filter((call) => !call.outcome).length;
  }

  /** Insert ids of the rows of committed calls, in commit order, repeats kept. */
  get committedInsertIds(): string[] {
    return this.calls
      .filter((call) => call.outcome?.type === 'commit')
      .flatMap((call) => call.rows.map((row) => row.insertId));
  }

  async insert(rows: readonly WarehouseRow[]): Promise<void> {
    const callIndex = this.calls.length;
    const call: RecordedInsert = { rows: [...rows] };
    this.calls.push(call);
    this.events.push(`insert ${callIndex}`);
    const outcome = await this.outcomeOf(callIndex, rows);
    call.outcome = outcome;
    this.events.push(`settle ${callIndex}`);
    if (outcome.type === 'throw') throw outcome.error;
    if (outcome.type === 'rejectRows') throw new RowsRejectedError(outcome.rowErrors);
  }

  async getLatest(id: string, window: ReadWindow): Promise<StoredRecord | undefined> {
    this.events.push('getLatest');
    return latestOf(this.committedRows(), id, window);
  }

  async listLatest(options: ListLatestOptions): Promise<StoredRecord[]> {
    this.events.push('listLatest');
    return latestPage(this.committedRows(), options);
  }

  private committedRows(): WarehouseRow[] {
    return this.calls.filter((call) => call.outcome?.type === 'commit').flatMap((call) => call.rows);
  }

  /** Makes `close` stay pending until the returned function is called. */
  holdClose(): () => void {
    let release!: () => void;
    this.closeGate = new Promise((resolve) => (release = resolve));
    return release;
  }

  async close(): Promise<void> {
    this.closeCount += 1;
    this.events.push('close');
    await this.closeGate;
  }

  private outcomeOf(callIndex: number, rows: readonly WarehouseRow[]): InsertOutcome | Promise<InsertOutcome> {
    const step = this.script.shift();
    if (!step) return this.responder(rows, callIndex);
    if (step.type !== 'block') return step;
    return new Promise((resolve) => this.releases.set(callIndex, resolve));
  }
}

/** `count` distinct rows of one request; insert ids are `${request}-${i}`. */
export function requestRows(request: string, count: number, name = 'row'): WarehouseRow[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${request}-${i}`,
    name,
    value: i,
    insertId: `${request}-${i}`,
    ingestedAt: new Date(0),
  }));
}
