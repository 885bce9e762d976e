/**
 * Group commit over the `Warehouse` port, and every retry of an insert.
 *
 * A 2nd-gen function instance serves many requests at once, and each
 * warehouse insert costs a round trip (~50 ms to BigQuery) whatever its size.
 * Coalescing the concurrent requests of one process into one insert of up to
 * 500 rows turns N round trips into one, which is what makes the throughput
 * targets reachable. Each caller still sees the `Warehouse` contract for its
 * own rows only: its promise settles when its rows are committed, or with an
 * error about its rows (or about the whole batch, e.g. the warehouse is down).
 *
 * Who decides what, once each:
 * - This batcher owns every re-send. Rows BigQuery reports `stopped` (valid
 *   rows of a batch that another request's invalid row made fail) go again
 *   at once, alone. A batch that failed with a retryable error goes again,
 *   with the same insert ids, after a jittered exponential backoff
 *   (`backoff.ts`), or at once after a call abandoned at its deadline (that
 *   deadline was the wait, as a TCP retransmission timer is), for as long as
 *   its requests' deadlines allow. It also owns each request's deadline,
 *   answering a request still unsettled when it passes, and how many inserts
 *   are in flight (an AIMD window, `aimd-window.ts`, halved by retryable
 *   failures).
 * - The inner adapter sends each `insert` once, bounded by its own deadline
 *   per call (a hung call is abandoned and fails retryable), and says which
 *   failures are retryable. It never re-sends on its own, so no retry is
 *   hidden from the deadline or the window.
 */
import { MAX_INSERT_BYTES, MAX_RECORDS_PER_INSERT } from '../rules/limits';
import { AimdWindow } from './aimd-window';
import { backoffDelayMs } from './backoff';
import { jsonByteLength } from './json-size';
import { requirePositiveInteger } from './options';
import {
  RowsRejectedError,
  STOPPED_REASON,
  WarehouseError,
  WarehouseTimeoutError,
  type RowError,
  type Warehouse,
  type WarehouseRow,
} from './warehouse';
import { WarehouseDecorator } from './warehouse-decorator';

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
   * Most inner inserts outstanding at once: the widest the in-flight window
   * gets, and where it starts. More than one lets a new batch leave while
   * earlier ones are still travelling, so under load a request waits about a
   * linger, not a whole round trip, before its rows are sent. The window
   * halves when an insert fails retryable (the warehouse is overloaded,
   * rate-limited or did not answer) and widens again by one per window's
   * worth of answered inserts.
   * @default 4 (at a 50 ms round trip a batch can leave every ~12 ms, and 4 × 500 rows per 50 ms is far more than one
   * instance can parse, while the concurrent insertAll calls per instance stay few)
   */
  maxInFlightBatches?: number;
  /**
   * Most rows waiting to be sent, whether queued or waiting to be retried
   * (not counting rows in flight). An insert that would exceed it is refused
   * at once with a retryable `warehouse_overloaded` error (503 / nack), so a
   * slow or failing warehouse makes clients back off and the platform add
   * instances instead of this process buffering without limit. Must be at
   * least `maxBatchRows`.
   * @default 5000 (ten full batches: with the default in-flight limit a full queue drains in under three 50 ms round
   * trips, so an accepted request still tends to finish under the 200 ms latency alert; and a few MB of memory at most)
   */
  maxQueuedRows?: number;
  /**
   * How many times a request whose rows were all reported `stopped` is sent
   * again before it fails with a retryable error. Each re-send goes alone,
   * so an innocent request needs one; the bound keeps a warehouse that keeps
   * answering `stopped` from looping.
   * @default 2
   */
  maxStoppedRetries?: number;
  /**
   * How long a request's rows may take to commit, counted from its `insert`
   * call, retries included. A request still unsettled then fails with a
   * retryable `warehouse_unavailable` error (503 with `Retry-After`, or a
   * nack), whatever is still in flight for it: its rows may land later, and
   * the client's retry, with the same insert ids, does not store them twice.
   * @default 10_000 (a sixth of the functions' 60 s timeout and of Pub/Sub's push acknowledgement deadline, and room
   * for several retries of a call abandoned after its own 1-5 s deadline)
   */
  deadlineMs?: number;
  /**
   * Most times the rows of one request are re-sent after retryable failures
   * (`stopped` re-sends not counted); 0 leaves every retry to the client or
   * Pub/Sub.
   * @default Infinity (the deadline is what bounds retries)
   */
  maxRetries?: number;
  /**
   * Bound of the first retry's jittered wait after a retryable failure; the
   * bound doubles with each further retry of the same rows.
   * @default 100 (a blip is retried within a round trip or two)
   */
  retryInitialDelayMs?: number;
  /**
   * Most a retry's wait is bounded by.
   * @default 2000 (a warehouse that keeps failing is asked about every second on average, a few times within a deadline)
   */
  retryMaxDelayMs?: number;
}

export const GROUP_COMMIT_DEFAULTS: Readonly<Required<GroupCommitOptions>> = {
  maxBatchRows: MAX_RECORDS_PER_INSERT,
  maxBatchBytes: MAX_INSERT_BYTES,
  lingerMs: 2,
  maxInFlightBatches: 4,
  maxQueuedRows: 5000,
  maxStoppedRetries: 2,
  deadlineMs: 10_000,
  maxRetries: Number.POSITIVE_INFINITY,
  retryInitialDelayMs: 100,
  retryMaxDelayMs: 2000,
};

/** Counters of what the batcher did and holds, for tests to assert on and for debugging. */
export interface GroupCommitStats {
  /** Inner `insert` calls made, re-sends included. */
  batchesSent: number;
  /** Rows passed to inner `insert` calls, re-sends included. */
  rowsSent: number;
  /** Requests waiting to be sent (not counting those waiting to be retried). */
  queuedRequests: number;
  /** Rows waiting to be sent (not counting those waiting to be retried). */
  queuedRows: number;
  /** Inner `insert` calls not yet settled. */
  inFlightBatches: number;
  /** How many inner inserts may be in flight now (the AIMD window). */
  inFlightLimit: number;
  /** Inner `insert` calls that re-sent rows after a retryable failure. */
  retriedBatches: number;
  /** Inner `insert` calls that re-sent the `stopped` rows of a refused batch. */
  stoppedResends: number;
  /** Requests failed because their deadline passed. */
  expiredRequests: number;
}

/** Where a request is: what would have to undo if its deadline passes. */
type PendingState = 'queued' | 'inFlight' | 'retrying';

/** One caller's `insert`, waiting to be committed. */
interface PendingInsert {
  readonly rows: readonly WarehouseRow[];
  readonly bytes: number;
  /** `performance.now()` past which the request fails. */
  readonly deadline: number;
  state: PendingState;
  /** Times this request was re-sent because all its rows were `stopped`. */
  stoppedResends: number;
  /** Times this request was re-sent after a retryable failure. */
  retries: number;
  /** The last retryable failure, to say why a request ran out of time. */
  lastFailure?: WarehouseError;
  settled: boolean;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

function resolveOptions(options: GroupCommitOptions): Readonly<Required<GroupCommitOptions>> {
  const resolved = { ...GROUP_COMMIT_DEFAULTS, ...options };
  requirePositiveInteger('GroupCommitWarehouse', 'maxBatchRows', resolved.maxBatchRows);
  requirePositiveInteger('GroupCommitWarehouse', 'maxBatchBytes', resolved.maxBatchBytes);
  requirePositiveInteger('GroupCommitWarehouse', 'maxInFlightBatches', resolved.maxInFlightBatches);
  requirePositiveInteger('GroupCommitWarehouse', 'maxQueuedRows', resolved.maxQueuedRows);
  requirePositiveInteger('GroupCommitWarehouse', 'deadlineMs', resolved.deadlineMs);
  for (const name of ['lingerMs', 'retryInitialDelayMs', 'retryMaxDelayMs'] as const) {
    if (!Number.isFinite(resolved[name]) || resolved[name] < 0) {
      throw new RangeError(`GroupCommitWarehouse: ${name} must be a finite number >= 0, got ${resolved[name]}`);
    }
  }
  if (!Number.isSafeInteger(resolved.maxStoppedRetries) || resolved.maxStoppedRetries < 0) {
    throw new RangeError(
      `GroupCommitWarehouse: maxStoppedRetries must be an integer >= 0, got ${resolved.maxStoppedRetries}`,
    );
  }
  if (resolved.maxRetries !== Number.POSITIVE_INFINITY && !(Number.isSafeInteger(resolved.maxRetries) && resolved.maxRetries >= 0)) {
    throw new RangeError(`GroupCommitWarehouse: maxRetries must be an integer >= 0 or Infinity, got ${resolved.maxRetries}`);
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

const rowCount = (requests: readonly PendingInsert[]) => requests.reduce((sum, request) => sum + request.rows.length, 0);

/**
 * A `Warehouse` that coalesces concurrent inserts into batches for the inner
 * warehouse. Requests are sent in arrival order and never split; a batch
 * leaves when it is full (rows or bytes), when its first row has waited
 * `lingerMs`, or on `close()`, as long as fewer inserts than the in-flight
 * window are outstanding; re-sends go before new batches. Reads are not
 * batched: they go straight to the inner warehouse.
 */
export class GroupCommitWarehouse extends WarehouseDecorator {
  readonly options: Readonly<Required<GroupCommitOptions>>;
  private readonly queue: PendingInsert[] = [];
  private queuedRows = 0;
  private queuedBytes = 0;
  /** Batches whose backoff has passed, to be sent before anything queued. */
  private readonly retriesDue: PendingInsert[][] = [];
  /** Batches waiting out their backoff, with the timer that makes them due. */
  private readonly backingOff = new Map<NodeJS.Timeout, PendingInsert[]>();
  /** Rows of `retriesDue` and `backingOff`. */
  private retryingRows = 0;
  private readonly window: AimdWindow;
  private inFlightBatches = 0;
  private batchesSent = 0;
  private rowsSent = 0;
  private retriedBatches = 0;
  private stoppedResends = 0;
  private expiredRequests = 0;
  /** Every unsettled request in arrival order (hence deadline order), from `firstUnsettled` on; settled ones are skipped. */
  private byArrival: PendingInsert[] = [];
  private firstUnsettled = 0;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private cancelLinger: (() => void) | undefined;
  /** The queue's oldest row has waited `lingerMs`; stays set until the queue empties. */
  private lingerElapsed = false;
  private closed = false;
  private closing: Promise<void> | undefined;
  private onDrained: (() => void) | undefined;

  constructor(inner: Warehouse, options: GroupCommitOptions = {}) {
    super(inner);
    this.options = resolveOptions(options);
    this.window = new AimdWindow(this.options.maxInFlightBatches);
  }

  get stats(): GroupCommitStats {
    return {
      batchesSent: this.batchesSent,
      rowsSent: this.rowsSent,
      queuedRequests: this.queue.length,
      queuedRows: this.queuedRows,
      inFlightBatches: this.inFlightBatches,
      inFlightLimit: this.window.limit,
      retriedBatches: this.retriedBatches,
      stoppedResends: this.stoppedResends,
      expiredRequests: this.expiredRequests,
    };
  }

  /**
   * Not `async`: every promise on this per-request path costs CPU the
   * ingest benchmark shows (docs/performance.md), so refusals are returned
   * as rejected promises and the wait is the one promise it needs.
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
    const waitingRows = this.queuedRows + this.retryingRows;
    if (waitingRows + rows.length > maxQueuedRows) {
      return Promise.reject(
        new WarehouseError(
          `warehouse insert queue is full (${waitingRows} of ${maxQueuedRows} rows waiting); retry later`,
          'warehouse_overloaded',
          true,
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const request: PendingInsert = {
        rows,
        bytes,
        deadline: performance.now() + this.options.deadlineMs,
        state: 'queued',
        stoppedResends: 0,
        retries: 0,
        settled: false,
        resolve,
        reject,
      };
      this.queue.push(request);
      this.queuedRows += rows.length;
      this.queuedBytes += bytes;
      this.byArrival.push(request);
      this.deadlineTimer ??= this.armDeadline();
      this.pump();
    });
  }

  /**
   * Refuses new inserts (retryable), sends everything queued without waiting
   * for the linger, sends every batch waiting out a backoff at once (and
   * retries nothing more after a backoff), waits for every batch in flight
   * (`stopped` re-sends included), then closes the inner warehouse. Call it
   * on SIGTERM before exiting. Safe to call twice: both calls get the same
   * promise.
   */
  override close(): Promise<void> {
    if (!this.closing) {
      this.closed = true;
      for (const [timer, batch] of this.backingOff) {
        clearTimeout(timer);
        this.retriesDue.push(batch);
      }
      this.backingOff.clear();
      this.closing = this.drainThenCloseInner();
    }
    return this.closing;
  }

  private async drainThenCloseInner(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.onDrained = resolve;
      this.pump();
    });
    clearTimeout(this.deadlineTimer);
    await this.inner.close();
  }

  private batchDue(): boolean {
    return (
      this.closed ||
      this.lingerElapsed ||
      this.queuedRows >= this.options.maxBatchRows ||
      this.queuedBytes >= this.options.maxBatchBytes
    );
  }

  /** Sends every re-send that is due, then every batch that is due, while the window has room; then arms or disarms the linger. */
  private pump(): void {
    while (this.retriesDue.length > 0 && this.inFlightBatches < this.window.limit) {
      // Requests that expired while waiting were already taken off the count, and are not sent.
      const batch = this.retriesDue.shift()!.filter((request) => !request.settled);
      if (batch.length === 0) continue;
      this.retryingRows -= rowCount(batch);
      this.retriedBatches += 1;
      this.send(batch);
    }
    while (
      this.retriesDue.length === 0 &&
      this.queue.length > 0 &&
      this.inFlightBatches < this.window.limit &&
      this.batchDue()
    ) {
      this.send(this.takeBatch());
    }
    if (this.queue.length === 0) {
      this.cancelLinger?.();
      this.cancelLinger = undefined;
      this.lingerElapsed = false;
      if (this.inFlightBatches === 0 && this.retryingRows === 0) this.onDrained?.();
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

  /**
   * One inner insert of `batch`, whatever the window says (callers check it).
   * Callers pass only unsettled requests: the queue never holds a settled one,
   * and re-sends are filtered as they are taken.
   */
  private send(batch: readonly PendingInsert[]): void {
    for (const request of batch) request.state = 'inFlight';
    const rows = batch.length === 1 ? batch[0]!.rows : batch.flatMap((request) => request.rows);
    const ticket = this.window.send();
    this.inFlightBatches += 1;
    this.batchesSent += 1;
    this.rowsSent += rows.length;
    this.inner.insert(rows).then(
      () => {
        this.window.succeeded();
        for (const request of batch) this.settle(request);
        this.sent();
      },
      (error: unknown) => {
        if (error instanceof RowsRejectedError) {
          this.window.succeeded();
          this.settleRejectedRows(batch, error);
        } else if (error instanceof WarehouseError && error.retryable) {
          this.window.congested(ticket);
          this.retryLater(batch, error);
        } else {
          for (const request of batch) this.settle(request, error);
        }
        this.sent();
      },
    );
  }

  /** An inner insert has settled: its slot is free. */
  private sent(): void {
    this.inFlightBatches -= 1;
    this.pump();
  }

  /**
   * Gives each request the verdict on its own rows: a request with a row at
   * fault fails with its own row errors (indices relative to its rows); the
   * requests none of whose rows is at fault were not stored only because of
   * their company, so they are sent again at once, together and with no new
   * company (which might hold another invalid row), until their budget runs
   * out. The re-send takes the slot the refused insert leaves.
   */
  private settleRejectedRows(batch: readonly PendingInsert[], error: RowsRejectedError): void {
    const resend: PendingInsert[] = [];
    let offset = 0;
    for (const request of batch) {
      const start = offset;
      offset += request.rows.length;
      if (request.settled) continue;
      const ownErrors: RowError[] = error.rowErrors
        .filter((rowError) => rowError.index >= start && rowError.index < offset)
        .map((rowError) => ({ ...rowError, index: rowError.index - start }));
      if (ownErrors.some((rowError) => rowError.reason !== STOPPED_REASON)) {
        this.settle(request, new RowsRejectedError(ownErrors, { cause: error }));
      } else if (request.stoppedResends < this.options.maxStoppedRetries) {
        request.stoppedResends += 1;
        resend.push(request);
      } else {
        this.settle(
          request,
          new WarehouseError(
            `warehouse refused the batch carrying these rows ${request.stoppedResends + 1} times for other rows' errors; retry`,
            'warehouse_unavailable',
            true,
            { cause: error },
          ),
        );
      }
    }
    if (resend.length > 0) {
      this.stoppedResends += 1;
      this.send(resend);
    }
  }

  /**
   * Sends the batch again after a jittered backoff (none after a call
   * abandoned at its deadline), with the same insert ids, without the
   * requests whose deadline would pass before it leaves: those fail now with
   * `error`, as do those out of retries. After `close()` nothing waits for a
   * backoff.
   */
  private retryLater(batch: readonly PendingInsert[], error: WarehouseError): void {
    const now = performance.now();
    const pending = batch.filter((request) => !request.settled);
    if (pending.length === 0) return;
    for (const request of pending) {
      request.lastFailure = error;
      request.retries += 1;
    }
    const retries = Math.max(...pending.map((request) => request.retries));
    const delay =
      error instanceof WarehouseTimeoutError
        ? 0
        : backoffDelayMs(retries, { initialDelayMs: this.options.retryInitialDelayMs, maxDelayMs: this.options.retryMaxDelayMs });
    const waiting: PendingInsert[] = [];
    for (const request of pending) {
      if (!this.closed && request.retries <= this.options.maxRetries && now + delay < request.deadline) waiting.push(request);
      else this.settle(request, error);
    }
    if (waiting.length === 0) return;
    for (const request of waiting) request.state = 'retrying';
    this.retryingRows += rowCount(waiting);
    if (delay === 0) {
      this.retriesDue.push(waiting);
      return;
    }
    const timer = setTimeout(() => {
      this.backingOff.delete(timer);
      this.retriesDue.push(waiting);
      this.pump();
    }, delay);
    this.backingOff.set(timer, waiting);
  }

  /** Resolves (no error) or rejects a request, once; later verdicts on it are ignored. */
  private settle(request: PendingInsert, error?: unknown): void {
    if (request.settled) return;
    request.settled = true;
    if (error === undefined) request.resolve();
    else request.reject(error);
    while (this.firstUnsettled < this.byArrival.length && this.byArrival[this.firstUnsettled]!.settled) this.firstUnsettled += 1;
    if (this.firstUnsettled === this.byArrival.length) {
      this.byArrival = [];
      this.firstUnsettled = 0;
    } else if (this.firstUnsettled > 1024 && this.firstUnsettled * 2 > this.byArrival.length) {
      this.byArrival = this.byArrival.slice(this.firstUnsettled);
      this.firstUnsettled = 0;
    }
  }

  /**
   * One timer for every deadline: requests arrive in deadline order, so it
   * is armed for the oldest unsettled one, and fails every request whose
   * deadline has passed when it fires.
   */
  private armDeadline(): NodeJS.Timeout | undefined {
    const oldest = this.byArrival[this.firstUnsettled];
    if (oldest === undefined) return undefined;
    const timer = setTimeout(() => {
      this.deadlineTimer = undefined;
      this.expireOverdue();
      this.deadlineTimer = this.armDeadline();
    }, Math.max(0, oldest.deadline - performance.now()));
    timer.unref();
    return timer;
  }

  private expireOverdue(): void {
    const now = performance.now();
    const { deadlineMs } = this.options;
    let queueChanged = false;
    for (let index = this.firstUnsettled; index < this.byArrival.length; index += 1) {
      const request = this.byArrival[index]!;
      if (request.deadline > now) break;
      if (request.settled) continue;
      if (request.state === 'queued') {
        this.queue.splice(this.queue.indexOf(request), 1);
        this.queuedRows -= request.rows.length;
        this.queuedBytes -= request.bytes;
        queueChanged = true;
      } else if (request.state === 'retrying') {
        this.retryingRows -= request.rows.length;
      }
      this.expiredRequests += 1;
      const last = request.lastFailure;
      this.settle(
        request,
        new WarehouseError(
          `rows not committed within the ${deadlineMs} ms deadline${last ? ` (last failure: ${last.message})` : ''}; retry`,
          'warehouse_unavailable',
          true,
          { cause: last },
        ),
      );
      index = this.firstUnsettled - 1;
    }
    if (queueChanged) this.pump();
  }
}
