/**
 * Group commit over the `Warehouse` port.
 *
 * A 2nd-gen function instance serves many requests at once, and each
 * warehouse insert costs a round trip (~50 ms to BigQuery) whatever its size.
 * Coalescing the concurrent requests of one process into one insert of up to
 * 500 rows turns N round trips into one, which is what makes the throughput
 * targets reachable. Each caller still sees the `Warehouse` contract for its
 * own rows only: its promise settles when its rows are committed, or with an
 * error about its rows (or about the whole batch, e.g. the warehouse is down).
 *
 * Retries of rows BigQuery reports as `stopped` (valid rows of a batch that
 * another request's invalid row made fail) are decided here and only here:
 * the inner adapter must not re-send on its own (the BigQuery adapter posts
 * each insertAll once), so a re-send is never hidden from the retry budget.
 */
import { MAX_INSERT_BYTES, MAX_RECORDS_PER_INSERT } from '../rules/limits';
import { jsonByteLength } from './json-size';
import { requirePositiveInteger } from './options';
import { RowsRejectedError, WarehouseError, type RowError, type Warehouse, type WarehouseRow } from './warehouse';
import { WarehouseDecorator } from './warehouse-decorator';

/** BigQuery's `insertErrors` reason for a valid row not inserted because another row of its insert was invalid. */
export const STOPPED_REASON = 'stopped';

export interface GroupCommitOptions {
  /**
   * Most rows sent in one inner insert. One request is never split across
   * inserts, so a request with more rows than this is refused; keep it at
   * least the largest request the handlers accept.
   * @default `MAX_RECORDS_PER_INSERT` (BigQuery's recommended insertAll size, and the API's per-request record limit)
   */
  maxBatchRows?: number;
  /**
   * Most bytes (UTF-8 length of the rows' JSON) sent in one inner insert.
   * A request larger than this is refused.
   * @default `MAX_INSERT_BYTES` (half of BigQuery's 10 MB insertAll request limit)
   */
  maxBatchBytes?: number;
  /**
   * How long the first queued row waits for company before its batch is sent,
   * unless the batch fills up first. 0 sends at the end of the current
   * event-loop turn, with no timer: the requests whose bodies arrived
   * together still share a batch (a 0 ms Node timer would wait 1 ms).
   * @default 2 (small against a 50 ms round trip; long enough to gather a burst of concurrent requests)
   */
  lingerMs?: number;
  /**
   * Most inner inserts outstanding at once. More than one lets a new batch
   * leave while earlier ones are still travelling, so under load a request
   * waits about a linger, not a whole round trip, before its rows are sent.
   * @default 4 (at a 50 ms round trip a batch can leave every ~12 ms, and 4 × 500 rows per 50 ms is far more than one
   * instance can parse, while the concurrent insertAll calls per instance stay few)
   */
  maxInFlightBatches?: number;
  /**
   * Most rows waiting to be sent (not counting rows in flight). An insert that
   * would exceed it is refused at once with a retryable `warehouse_overloaded`
   * error (503 / nack), so a slow warehouse makes clients back off and the
   * platform add instances instead of this process buffering without limit.
   * Must be at least `maxBatchRows`.
   * @default 5000 (ten full batches: with the default in-flight limit a full queue drains in under three 50 ms round
   * trips, so an accepted request still tends to finish under the 200 ms latency alert; and a few MB of memory at most)
   */
  maxQueuedRows?: number;
  /**
   * How many times a request whose rows were all reported `stopped` is sent
   * again before it fails with a retryable error.
   * @default 2 (a stopped request is only unlucky in its company; two re-sends with fresh company almost always suffice,
   * and the bound keeps a poisoned stream from looping)
   */
  maxStoppedRetries?: number;
}

export const GROUP_COMMIT_DEFAULTS: Readonly<Required<GroupCommitOptions>> = {
  maxBatchRows: MAX_RECORDS_PER_INSERT,
  maxBatchBytes: MAX_INSERT_BYTES,
  lingerMs: 2,
  maxInFlightBatches: 4,
  maxQueuedRows: 5000,
  maxStoppedRetries: 2,
};

/** Counters for benchmarks, tests and logs. */
export interface GroupCommitStats {
  /** Inner `insert` calls made, re-sends included. */
  batchesSent: number;
  /** Rows passed to inner `insert` calls, re-sends included. */
  rowsSent: number;
  /** Requests waiting to be sent. */
  queuedRequests: number;
  /** Rows waiting to be sent. */
  queuedRows: number;
  /** Inner `insert` calls not yet settled. */
  inFlightBatches: number;
}

/** One caller's `insert`, waiting to be committed. */
interface PendingInsert {
  readonly rows: readonly WarehouseRow[];
  readonly bytes: number;
  /** Times this request was re-sent because all its rows were `stopped`. */
  stoppedResends: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

function resolveOptions(options: GroupCommitOptions): Readonly<Required<GroupCommitOptions>> {
  const resolved = { ...GROUP_COMMIT_DEFAULTS, ...options };
  requirePositiveInteger('GroupCommitWarehouse', 'maxBatchRows', resolved.maxBatchRows);
  requirePositiveInteger('GroupCommitWarehouse', 'maxBatchBytes', resolved.maxBatchBytes);
  requirePositiveInteger('GroupCommitWarehouse', 'maxInFlightBatches', resolved.maxInFlightBatches);
  requirePositiveInteger('GroupCommitWarehouse', 'maxQueuedRows', resolved.maxQueuedRows);
  if (!Number.isFinite(resolved.lingerMs) || resolved.lingerMs < 0) {
    throw new RangeError(`GroupCommitWarehouse: lingerMs must be a finite number >= 0, got ${resolved.lingerMs}`);
  }
  if (!Number.isSafeInteger(resolved.maxStoppedRetries) || resolved.maxStoppedRetries < 0) {
    throw new RangeError(
      `GroupCommitWarehouse: maxStoppedRetries must be an integer >= 0, got ${resolved.maxStoppedRetries}`,
    );
  }
  if (resolved.maxQueuedRows < resolved.maxBatchRows) {
    throw new RangeError(
      `GroupCommitWarehouse: maxQueuedRows (${resolved.maxQueuedRows}) must be at least maxBatchRows (${resolved.maxBatchRows}), or a full-size request could never be queued`,
    );
  }
  return resolved;
}

/**
 * Calls `fire` once `lingerMs` have passed, or for 0 at the end of this
 * event-loop turn; returns what cancels it.
 */
function armLinger(lingerMs: number, fire: () => void): () => void {
  if (lingerMs === 0) {
    const immediate = setImmediate(fire);
    return () => clearImmediate(immediate);
  }
  const timer = setTimeout(fire, lingerMs);
  return () => clearTimeout(timer);
}

/**
 * A `Warehouse` that coalesces concurrent inserts into batches for the inner
 * warehouse. Requests are sent in arrival order and never split; a batch
 * leaves when it is full (rows or bytes), when its first row has waited
 * `lingerMs`, or on `close()`, as long as fewer than `maxInFlightBatches` are
 * outstanding. Reads are not batched: they go straight to the inner warehouse.
 */
export class GroupCommitWarehouse extends WarehouseDecorator {
  readonly options: Readonly<Required<GroupCommitOptions>>;
  private readonly queue: PendingInsert[] = [];
  private queuedRows = 0;
  private queuedBytes = 0;
  private inFlightBatches = 0;
  private batchesSent = 0;
  private rowsSent = 0;
  private cancelLinger: (() => void) | undefined;
  /** The queue's oldest row has waited `lingerMs`; stays set until the queue empties. */
  private lingerElapsed = false;
  private closed = false;
  private closing: Promise<void> | undefined;
  private onDrained: (() => void) | undefined;

  constructor(inner: Warehouse, options: GroupCommitOptions = {}) {
    super(inner);
    this.options = resolveOptions(options);
  }

  get stats(): GroupCommitStats {
    return {
      batchesSent: this.batchesSent,
      rowsSent: this.rowsSent,
      queuedRequests: this.queue.length,
      queuedRows: this.queuedRows,
      inFlightBatches: this.inFlightBatches,
    };
  }

  /**
   * Not `async`: the functions framework runs each request in a `domain`,
   * whose async hooks make every promise and await on this per-request path
   * cost about 5 µs of CPU, so refusals are returned as rejected promises and
   * the wait is the one promise it needs.
   */
  override insert(rows: readonly WarehouseRow[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    if (this.closed) {
      return Promise.reject(
        new WarehouseError('warehouse is shutting down; retry on another instance', 'warehouse_unavailable', true),
      );
    }
    const { maxBatchRows, maxBatchBytes, maxQueuedRows } = this.options;
    const bytes = jsonByteLength(rows);
    if (rows.length > maxBatchRows || bytes > maxBatchBytes) {
      return Promise.reject(
        new WarehouseError(
          `insert of ${rows.length} rows (${bytes} bytes) exceeds the group-commit batch limit of ${maxBatchRows} rows / ${maxBatchBytes} bytes; send fewer rows per insert`,
          'warehouse_error',
          false,
        ),
      );
    }
    if (this.queuedRows + rows.length > maxQueuedRows) {
      return Promise.reject(
        new WarehouseError(
          `warehouse insert queue is full (${this.queuedRows} of ${maxQueuedRows} rows waiting); retry later`,
          'warehouse_overloaded',
          true,
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      this.enqueue('back', [{ rows, bytes, stoppedResends: 0, resolve, reject }]);
      this.pump();
    });
  }

  /**
   * Refuses new inserts (retryable), sends everything queued without waiting
   * for the linger, waits for every batch in flight (re-sends included), then
   * closes the inner warehouse. Call it on SIGTERM before exiting. Safe to
   * call twice: both calls get the same promise.
   */
  override close(): Promise<void> {
    if (!this.closing) {
      this.closed = true;
      this.closing = this.drainThenCloseInner();
    }
    return this.closing;
  }

  private async drainThenCloseInner(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.onDrained = resolve;
      this.pump();
    });
    await this.inner.close();
  }

  private enqueue(end: 'front' | 'back', requests: PendingInsert[]): void {
    if (end === 'front') this.queue.unshift(...requests);
    else this.queue.push(...requests);
    for (const request of requests) {
      this.queuedRows += request.rows.length;
      this.queuedBytes += request.bytes;
    }
  }

  private batchDue(): boolean {
    return (
      this.closed ||
      this.lingerElapsed ||
      this.queuedRows >= this.options.maxBatchRows ||
      this.queuedBytes >= this.options.maxBatchBytes ||
      // A re-send has already waited a whole round trip; it goes out with whatever is queued behind it.
      this.queue[0]!.stoppedResends > 0
    );
  }

  /** Sends every batch that is due and has a free slot, then arms or disarms the linger. */
  private pump(): void {
    while (this.queue.length > 0 && this.inFlightBatches < this.options.maxInFlightBatches && this.batchDue()) {
      void this.commit(this.takeBatch());
    }
    if (this.queue.length === 0) {
      this.cancelLinger?.();
      this.cancelLinger = undefined;
      this.lingerElapsed = false;
      if (this.inFlightBatches === 0) this.onDrained?.();
    } else if (!this.cancelLinger && !this.lingerElapsed) {
      this.cancelLinger = armLinger(this.options.lingerMs, () => {
        this.cancelLinger = undefined;
        this.lingerElapsed = true;
        this.pump();
      });
    }
  }

  /** Takes whole requests from the front of the queue while they fit in one batch. */
  private takeBatch(): PendingInsert[] {
    const { maxBatchRows, maxBatchBytes } = this.options;
    const batch: PendingInsert[] = [];
    let rows = 0;
    let bytes = 0;
    for (const request of this.queue) {
      if (batch.length > 0 && (rows + request.rows.length > maxBatchRows || bytes + request.bytes > maxBatchBytes)) {
        break;
      }
      batch.push(request);
      rows += request.rows.length;
      bytes += request.bytes;
    }
    this.queue.splice(0, batch.length);
    this.queuedRows -= rows;
    this.queuedBytes -= bytes;
    return batch;
  }

  private async commit(batch: PendingInsert[]): Promise<void> {
    const rows = batch.flatMap((request) => request.rows);
    this.inFlightBatches += 1;
    this.batchesSent += 1;
    this.rowsSent += rows.length;
    try {
      await this.inner.insert(rows);
      for (const request of batch) request.resolve();
    } catch (error) {
      if (error instanceof RowsRejectedError) this.settleRejectedRows(batch, error);
      else for (const request of batch) request.reject(error);
    } finally {
      this.inFlightBatches -= 1;
      this.pump();
    }
  }

  /**
   * Gives each request the verdict on its own rows: a request with a row at
   * fault fails with its own row errors (indices relative to its rows); a
   * request none of whose rows is at fault was not stored only because of its
   * company, so it is sent again, first in line, until its budget runs out.
   */
  private settleRejectedRows(batch: PendingInsert[], error: RowsRejectedError): void {
    const resend: PendingInsert[] = [];
    let offset = 0;
    for (const request of batch) {
      const start = offset;
      offset += request.rows.length;
      const ownErrors: RowError[] = error.rowErrors
        .filter((rowError) => rowError.index >= start && rowError.index < offset)
        .map((rowError) => ({ ...rowError, index: rowError.index - start }));
      if (ownErrors.some((rowError) => rowError.reason !== STOPPED_REASON)) {
        request.reject(new RowsRejectedError(ownErrors, { cause: error }));
      } else if (request.stoppedResends < this.options.maxStoppedRetries) {
        request.stoppedResends += 1;
        resend.push(request);
      } else {
        request.reject(
          new WarehouseError(
            `warehouse refused the batch carrying these rows ${request.stoppedResends + 1} times for other rows' errors; retry`,
            'warehouse_unavailable',
            true,
            { cause: error },
          ),
        );
      }
    }
    if (resend.length > 0) this.enqueue('front', resend);
  }
}
