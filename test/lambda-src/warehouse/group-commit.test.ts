import fc from 'fast-check';
import { GROUP_COMMIT_DEFAULTS, GroupCommitWarehouse } from '../../../lambda-src/warehouse/group-commit';
import { RowsRejectedError, WarehouseError, WarehouseTimeoutError, type WarehouseRow } from '../../../lambda-src/warehouse/warehouse';
import {
  BLOCK,
  COMMIT,
  ScriptedWarehouse,
  bigQueryRejection,
  fail,
  rejectRows,
  requestRows,
} from '../../support/scripted-warehouse';
import { propertyRuns } from '../../support/property-runs';

/** Lets every pending promise callback run, and fake time pass by `ms`. */
const advance = (ms = 0) => jest.advanceTimersByTimeAsync(ms);

interface Tracked {
  status: 'pending' | 'fulfilled' | 'rejected';
  error?: unknown;
}

function track(promise: Promise<void>): Tracked {
  const tracked: Tracked = { status: 'pending' };
  promise.then(
    () => {
      tracked.status = 'fulfilled';
    },
    (error: unknown) => {
      tracked.status = 'rejected';
      tracked.error = error;
    },
  );
  return tracked;
}

const insertIds = (rows: readonly WarehouseRow[]) => rows.map((row) => row.insertId);

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

describe('triggers', () => {
  test('an empty insert resolves without touching the warehouse', async () => {
    const inner = new ScriptedWarehouse();
    const warehouse = new GroupCommitWarehouse(inner);
    await expect(warehouse.insert([])).resolves.toBeUndefined();
    await advance(GROUP_COMMIT_DEFAULTS.lingerMs);
    expect(inner.calls).toHaveLength(0);
  });

  test('linger: a lone row waits lingerMs, then is sent and its request answered', async () => {
    const inner = new ScriptedWarehouse();
    const warehouse = new GroupCommitWarehouse(inner, { lingerMs: 5 });
    const request = track(warehouse.insert(requestRows('a', 1)));
    await advance(4);
    expect(inner.calls).toHaveLength(0);
    expect(request.status).toBe('pending');
    expect(warehouse.stats.queuedRows).toBe(1);
    await advance(1);
    expect(inner.calls).toHaveLength(1);
    expect(request.status).toBe('fulfilled');
  });

  test('linger 0: requests made in one event-loop turn share a batch, sent at the end of that turn with no timer', async () => {
    jest.useRealTimers();
    const inner = new ScriptedWarehouse();
    const warehouse = new GroupCommitWarehouse(inner, { lingerMs: 0 });
    const sameTurn = [track(warehouse.insert(requestRows('a', 1))), track(warehouse.insert(requestRows('b', 2)))];
    await Promise.resolve();
    expect(inner.calls).toHaveLength(0);
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(inner.calls.map((call) => insertIds(call.rows))).toEqual([insertIds([...requestRows('a', 1), ...requestRows('b', 2)])]);
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(sameTurn.map((t) => t.status)).toEqual(['fulfilled', 'fulfilled']);

    const nextTurn = track(warehouse.insert(requestRows('c', 1)));
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(inner.calls).toHaveLength(2);
    expect(insertIds(inner.calls[1]!.rows)).toEqual(insertIds(requestRows('c', 1)));
    await warehouse.close();
    expect(nextTurn.status).toBe('fulfilled');
  });

  test('coalescing: concurrent requests go out as one insert with all rows in arrival order', async () => {
    const inner = new ScriptedWarehouse();
    const warehouse = new GroupCommitWarehouse(inner);
    const requests = [requestRows('a', 3), requestRows('b', 1), requestRows('c', 7), requestRows('d', 2)];
    const tracked = requests.map((rows) => track(warehouse.insert(rows)));
    await advance(GROUP_COMMIT_DEFAULTS.lingerMs);
    expect(inner.calls).toHaveLength(1);
    expect(insertIds(inner.calls[0]!.rows)).toEqual(insertIds(requests.flat()));
    expect(tracked.map((t) => t.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect(warehouse.stats).toMatchObject({ batchesSent: 1, rowsSent: 13, queuedRows: 0, inFlightBatches: 0 });
  });

  test('size: reaching maxBatchRows sends at once, without waiting for the linger', async () => {
    const inner = new ScriptedWarehouse();
    const warehouse = new GroupCommitWarehouse(inner, { lingerMs: 1000 });
    const first = track(warehouse.insert(requestRows('a', 499)));
    await advance();
    expect(inner.calls).toHaveLength(0);
    const second = track(warehouse.insert(requestRows('b', 1)));
    await advance();
    expect(inner.calls).toHaveLength(1);
    expect(inner.calls[0]!.rows).toHaveLength(500);
    expect([first.status, second.status]).toEqual(['fulfilled', 'fulfilled']);
  });

  test('size: a request that does not fit is never split; it waits for the next batch', async () => {
    const inner = new ScriptedWarehouse();
    const warehouse = new GroupCommitWarehouse(inner, { lingerMs: 10 });
    const a = track(warehouse.insert(requestRows('a', 300)));
    const b = track(warehouse.insert(requestRows('b', 300)));
    await advance();
    expect(inner.calls.map((call) => call.rows.length)).toEqual([300]);
    expect(insertIds(inner.calls[0]!.rows)).toEqual(insertIds(requestRows('a', 300)));
    expect([a.status, b.status]).toEqual(['fulfilled', 'pending']);
    await advance(10);
    expect(inner.calls.map((call) => call.rows.length)).toEqual([300, 300]);
    expect(b.status).toBe('fulfilled');
  });

  test('bytes: reaching maxBatchBytes sends at once, with as many whole requests as fit', async () => {
    const inner = new ScriptedWarehouse();
    const bigName = 'x'.repeat(1000);
    const requestBytes = Buffer.byteLength(JSON.stringify(requestRows('a', 1, bigName)));
    const warehouse = new GroupCommitWarehouse(inner, { lingerMs: 1000, maxBatchBytes: requestBytes * 3 + 10 });
    for (const request of ['a', 'b', 'c']) void warehouse.insert(requestRows(request, 1, bigName));
    await advance();
    expect(inner.calls).toHaveLength(0);
    void warehouse.insert(requestRows('d', 1, bigName));
    await advance();
    expect(inner.calls).toHaveLength(1);
    expect(insertIds(inner.calls[0]!.rows)).toEqual(['a-0', 'b-0', 'c-0']);
    expect(warehouse.stats.queuedRows).toBe(1);
  });

  test('a request larger than one batch is refused, not split, and never reaches the warehouse', async () => {
    const inner = new ScriptedWarehouse();
    const warehouse = new GroupCommitWarehouse(inner, { maxBatchRows: 10, maxQueuedRows: 100, maxBatchBytes: 5000 });
    const tooManyRows = warehouse.insert(requestRows('a', 11));
    await expect(tooManyRows).rejects.toThrow(/11 rows .* exceeds the group-commit batch limit of 10 rows/);
    await expect(tooManyRows).rejects.toMatchObject({ errorClass: 'warehouse_error', retryable: false });
    await expect(warehouse.insert(requestRows('b', 1, 'x'.repeat(6000)))).rejects.toThrow(/5000 bytes/);
    await advance(10);
    expect(inner.calls).toHaveLength(0);
    const fullSize = track(warehouse.insert(requestRows('c', 10)));
    await advance(GROUP_COMMIT_DEFAULTS.lingerMs);
    expect(fullSize.status).toBe('fulfilled');
  });
});

describe('per-request outcomes', () => {
  test('an invalid row fails only its own request; stopped requests are re-sent at once, alone, and succeed on that first re-send', async () => {
    const inner = new ScriptedWarehouse().next(BLOCK);
    const warehouse = new GroupCommitWarehouse(inner);
    const a = track(warehouse.insert(requestRows('a', 2)));
    const b = track(warehouse.insert(requestRows('b', 3)));
    const c = track(warehouse.insert(requestRows('c', 1)));
    await advance(GROUP_COMMIT_DEFAULTS.lingerMs);
    const d = track(warehouse.insert(requestRows('d', 1)));
    inner.release(0, bigQueryRejection(6, [3]));
    await advance();

    expect(b.status).toBe('rejected');
    expect(b.error).toBeInstanceOf(RowsRejectedError);
    expect((b.error as RowsRejectedError).rowErrors).toEqual([
      { index: 0, reason: 'stopped', message: '' },
      { index: 1, reason: 'invalid', message: 'row 3 is invalid' },
      { index: 2, reason: 'stopped', message: '' },
    ]);
    expect((b.error as RowsRejectedError).retryable).toBe(false);
    // The re-send leaves at once, without the newer request: new company might hold another invalid row.
    expect(insertIds(inner.calls[1]!.rows)).toEqual(['a-0', 'a-1', 'c-0']);
    expect([a.status, c.status]).toEqual(['fulfilled', 'fulfilled']);
    await advance(GROUP_COMMIT_DEFAULTS.lingerMs);
    expect(insertIds(inner.calls[2]!.rows)).toEqual(['d-0']);
    expect(d.status).toBe('fulfilled');
    expect(inner.committedInsertIds).toEqual(['a-0', 'a-1', 'c-0', 'd-0']);
    expect(warehouse.stats).toMatchObject({ stoppedResends: 1, retriedBatches: 0 });
  });

  test('a stopped re-send takes the slot its refused batch left, even while other batches fill the window', async () => {
    const inner = new ScriptedWarehouse().next(BLOCK, BLOCK);
    const warehouse = new GroupCommitWarehouse(inner, { maxBatchRows: 2, maxInFlightBatches: 2 });
    const requests = ['a', 'b', 'c'].map((name) => track(warehouse.insert(requestRows(name, 2))));
    await advance();
    expect(inner.calls).toHaveLength(2);
    inner.release(0, bigQueryRejection(2, []));
    await advance();
    // Before c, which waited for a slot all along.
    expect(inner.calls.map((call) => insertIds(call.rows))).toEqual([['a-0', 'a-1'], ['b-0', 'b-1'], ['a-0', 'a-1'], ['c-0', 'c-1']]);
    expect(requests.map((t) => t.status)).toEqual(['fulfilled', 'pending', 'fulfilled']);
    inner.release(1);
    await advance();
    expect(requests.map((t) => t.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
  });

  test('errors of several bad rows in several requests are each reindexed to their own request', async () => {
    const inner = new ScriptedWarehouse().next(bigQueryRejection(5, [0, 4]));
    const warehouse = new GroupCommitWarehouse(inner);
    const a = track(warehouse.insert(requestRows('a', 2)));
    const b = track(warehouse.insert(requestRows('b', 3)));
    await advance(GROUP_COMMIT_DEFAULTS.lingerMs);
    expect((a.error as RowsRejectedError).rowErrors.map((e) => [e.index, e.reason])).toEqual([
      [0, 'invalid'],
      [1, 'stopped'],
    ]);
    expect((b.error as RowsRejectedError).rowErrors.map((e) => [e.index, e.reason])).toEqual([
      [0, 'stopped'],
      [1, 'stopped'],
      [2, 'invalid'],
    ]);
    expect(inner.calls).toHaveLength(1);
  });

  test('a request stopped more often than maxStoppedRetries fails retryable, after exactly 1 + budget sends', async () => {
    const allStopped = bigQueryRejection(2, []);
    const inner = new ScriptedWarehouse().next(allStopped, allStopped, allStopped, allStopped);
    const warehouse = new GroupCommitWarehouse(inner, { maxStoppedRetries: 2 });
    const a = track(warehouse.insert(requestRows('a', 2)));
    await advance(GROUP_COMMIT_DEFAULTS.lingerMs);
    expect(inner.calls).toHaveLength(3);
    expect(a.status).toBe('rejected');
    expect(a.error).toBeInstanceOf(WarehouseError);
    expect(a.error).not.toBeInstanceOf(RowsRejectedError);
    expect(a.error).toMatchObject({ errorClass: 'warehouse_unavailable', retryable: true });
    expect((a.error as Error).cause).toBeInstanceOf(RowsRejectedError);
  });

  test('with maxStoppedRetries 0 a stopped request fails at once', async () => {
    const inner = new ScriptedWarehouse().next(bigQueryRejection(1, []));
    const warehouse = new GroupCommitWarehouse(inner, { maxStoppedRetries: 0 });
    const a = track(warehouse.insert(requestRows('a', 1)));
    await advance(GROUP_COMMIT_DEFAULTS.lingerMs);
    expect(a.status).toBe('rejected');
    expect(a.error).toMatchObject({ errorClass: 'warehouse_unavailable', retryable: true });
    expect(inner.calls).toHaveLength(1);
  });

  test('rows the warehouse did not mention in a refusal are treated as not stored and re-sent', async () => {
    const inner = new ScriptedWarehouse().next(rejectRows([{ index: 1, reason: 'invalid', message: 'bad value' }]));
    const warehouse = new GroupCommitWarehouse(inner);
    const a = track(warehouse.insert(requestRows('a', 1)));
    const b = track(warehouse.insert(requestRows('b', 1)));
    await advance(GROUP_COMMIT_DEFAULTS.lingerMs);
    expect(inner.calls.map((call) => insertIds(call.rows))).toEqual([['a-0', 'b-0'], ['a-0']]);
    expect([a.status, b.status]).toEqual(['fulfilled', 'rejected']);
    expect((b.error as RowsRejectedError).rowErrors).toEqual([{ index: 0, reason: 'invalid', message: 'bad value' }]);
  });

  test.each([
    ['not retryable', new WarehouseError('permission denied', 'warehouse_error', false)],
    ['not a WarehouseError', new TypeError('adapter bug')],
  ])('a whole-batch failure (%s) fails every request in the batch with that same error', async (_, error) => {
    const inner = new ScriptedWarehouse().next(fail(error));
    const warehouse = new GroupCommitWarehouse(inner);
    const requests = [track(warehouse.insert(requestRows('a', 1))), track(warehouse.insert(requestRows('b', 4)))];
    await advance(GROUP_COMMIT_DEFAULTS.lingerMs);
    for (const request of requests) {
      expect(request.status).toBe('rejected');
      expect(request.error).toBe(error);
    }
    expect(inner.calls).toHaveLength(1);
  });

  test('a committed row is never sent again, whatever happens to its batch-mates', async () => {
    const inner = new ScriptedWarehouse()
      .next(COMMIT, bigQueryRejection(3, [1]), fail(new WarehouseError('timeout', 'warehouse_unavailable', true)))
      .next(COMMIT);
    const warehouse = new GroupCommitWarehouse(inner, { maxInFlightBatches: 1 });
    const settled = [
      warehouse.insert(requestRows('a', 1)),
      warehouse.insert(requestRows('b', 1)),
    ].map(track);
    await advance(GROUP_COMMIT_DEFAULTS.lingerMs);
    settled.push(
      ...[requestRows('c', 1), requestRows('d', 1), requestRows('e', 1)].map((rows) => track(warehouse.insert(rows))),
    );
    // The stopped re-send of c and e times out; the batcher retries it after a backoff.
    await advance(GROUP_COMMIT_DEFAULTS.lingerMs + GROUP_COMMIT_DEFAULTS.retryInitialDelayMs);
    const sentAfter = (callIndex: number) => inner.calls.slice(callIndex + 1).flatMap((call) => insertIds(call.rows));
    inner.calls.forEach((call, index) => {
      if (call.outcome?.type === 'commit') {
        for (const id of insertIds(call.rows)) expect(sentAfter(index)).not.toContain(id);
      }
    });
    const committed = inner.committedInsertIds;
    expect(new Set(committed).size).toBe(committed.length);
    expect(committed.sort()).toEqual(['a-0', 'b-0', 'c-0', 'e-0']);
  });
});

describe('retries, deadlines and the in-flight window', () => {
  const unavailable = (message = 'BigQuery answered 503') => new WarehouseError(message, 'warehouse_unavailable', true);
  const OPTIONS = { deadlineMs: 1000, retryInitialDelayMs: 100, retryMaxDelayMs: 400, lingerMs: 0 };

  // Backoffs are drawn at random; a draw near zero would send a retry within a test's first advance(), before the
  // state it checks. Each test gets the midpoint unless it asks for another draw.
  beforeEach(() => jest.spyOn(Math, 'random').mockReturnValue(0.5));
  afterEach(() => jest.restoreAllMocks());

  test('a retryable failure is re-sent with the same insert ids after a jittered backoff whose bound doubles, until it commits', async () => {
    const inner = new ScriptedWarehouse().next(fail(unavailable()), fail(unavailable()));
    const warehouse = new GroupCommitWarehouse(inner, OPTIONS);
    const a = track(warehouse.insert(requestRows('a', 2)));
    await advance();
    expect(inner.calls).toHaveLength(1);
    // First retry: half of the 100 ms bound.
    await advance(49);
    expect(inner.calls).toHaveLength(1);
    await advance(1);
    expect(inner.calls).toHaveLength(2);
    // Second retry: half of 200 ms.
    await advance(99);
    expect(inner.calls).toHaveLength(2);
    await advance(1);
    expect(inner.calls.map((call) => insertIds(call.rows))).toEqual([['a-0', 'a-1'], ['a-0', 'a-1'], ['a-0', 'a-1']]);
    expect(a.status).toBe('fulfilled');
    expect(warehouse.stats).toMatchObject({ retriedBatches: 2, expiredRequests: 0 });
  });

  test('a call abandoned at its deadline is re-sent at once, without a backoff, and still halves the window', async () => {
    const inner = new ScriptedWarehouse().next(fail(new WarehouseTimeoutError('BigQuery insertAll did not answer within 250 ms')));
    const warehouse = new GroupCommitWarehouse(inner, { ...OPTIONS, retryInitialDelayMs: 60_000, retryMaxDelayMs: 60_000 });
    const a = track(warehouse.insert(requestRows('a', 2)));
    await advance();
    expect(inner.calls.map((call) => insertIds(call.rows))).toEqual([['a-0', 'a-1'], ['a-0', 'a-1']]);
    expect(a.status).toBe('fulfilled');
    expect(warehouse.stats).toMatchObject({ retriedBatches: 1, inFlightLimit: 2 });
  });

  test('a warehouse that keeps failing: the request fails retryable once another retry would leave after its deadline, naming the last failure', async () => {
    jest.spyOn(Math, 'random').mockReturnValue(0.999);
    const inner = new ScriptedWarehouse(() => fail(unavailable('HTTP 403 quotaExceeded')));
    const warehouse = new GroupCommitWarehouse(inner, OPTIONS);
    const a = track(warehouse.insert(requestRows('a', 1)));
    await advance(999);
    // Sent at 0, ~100, ~300, ~700: the next wait (~400 ms) would end past the 1000 ms deadline.
    expect(inner.calls).toHaveLength(4);
    expect(a.status).toBe('rejected');
    expect(a.error).toMatchObject({ errorClass: 'warehouse_unavailable', retryable: true, message: 'HTTP 403 quotaExceeded' });
    await advance(5000);
    expect(inner.calls).toHaveLength(4);
  });

  test('a call that does not answer: its request fails retryable at its deadline, and the late answer changes nothing', async () => {
    const inner = new ScriptedWarehouse().next(BLOCK);
    const warehouse = new GroupCommitWarehouse(inner, OPTIONS);
    const a = track(warehouse.insert(requestRows('a', 1)));
    await advance(999);
    expect(a.status).toBe('pending');
    await advance(1);
    expect(a.status).toBe('rejected');
    expect(a.error).toMatchObject({ errorClass: 'warehouse_unavailable', retryable: true });
    expect((a.error as Error).message).toMatch(/^rows not committed within the 1000 ms deadline; retry$/);
    expect(warehouse.stats.expiredRequests).toBe(1);
    inner.release(0);
    await advance();
    expect(a.status).toBe('rejected');
    await warehouse.close();
  });

  test('a request still queued at its deadline fails then and is never sent; the others are not held up', async () => {
    const inner = new ScriptedWarehouse().next(BLOCK);
    const warehouse = new GroupCommitWarehouse(inner, { ...OPTIONS, maxInFlightBatches: 1 });
    const hung = track(warehouse.insert(requestRows('hung', 1)));
    await advance();
    const queued = track(warehouse.insert(requestRows('queued', 2)));
    await advance(500);
    const later = track(warehouse.insert(requestRows('later', 1)));
    await advance(500);
    expect([hung.status, queued.status]).toEqual(['rejected', 'rejected']);
    expect(warehouse.stats).toMatchObject({ queuedRequests: 1, queuedRows: 1 });
    inner.release(0);
    await advance();
    expect(inner.calls.map((call) => insertIds(call.rows))).toEqual([['hung-0'], ['later-0']]);
    expect(later.status).toBe('fulfilled');
  });

  test('the deadline also covers a retry that is due but finds no free slot', async () => {
    const inner = new ScriptedWarehouse().next(BLOCK, BLOCK);
    const warehouse = new GroupCommitWarehouse(inner, { ...OPTIONS, maxInFlightBatches: 1 });
    const first = track(warehouse.insert(requestRows('first', 1)));
    await advance();
    const second = track(warehouse.insert(requestRows('second', 1)));
    inner.release(0, fail(unavailable('HTTP 503 backendError')));
    await advance(100);
    // first's retry came due after 50 ms, but second took the only slot meanwhile and hangs.
    expect(inner.calls.map((call) => insertIds(call.rows))).toEqual([['first-0'], ['second-0']]);
    await advance(900);
    expect([first.status, second.status]).toEqual(['rejected', 'rejected']);
    expect((first.error as Error).message).toBe('rows not committed within the 1000 ms deadline (last failure: HTTP 503 backendError); retry');
    inner.release(1);
    await advance(1000);
    expect(inner.calls).toHaveLength(2);
  });

  test('the window halves when calls fail retryable, once for calls in flight together, and widens again as calls answer', async () => {
    const inner = new ScriptedWarehouse().next(BLOCK, BLOCK, BLOCK, BLOCK);
    const warehouse = new GroupCommitWarehouse(inner, { ...OPTIONS, maxBatchRows: 1, maxInFlightBatches: 4 });
    for (const name of ['a', 'b', 'c', 'd', 'e', 'f']) void warehouse.insert(requestRows(name, 1));
    await advance();
    expect(warehouse.stats).toMatchObject({ inFlightBatches: 4, inFlightLimit: 4 });
    inner.release(0, fail(unavailable()));
    inner.release(1, fail(unavailable()));
    await advance();
    expect(warehouse.stats.inFlightLimit).toBe(2);
    // Two of the four still in flight: the window is full, nothing new leaves.
    expect(inner.calls).toHaveLength(4);
    // c and d answer, e and f leave and answer, a and b are retried and answer: six answers bring it back to four.
    inner.release(2);
    inner.release(3);
    await advance(1000);
    expect(warehouse.stats).toMatchObject({ inFlightLimit: 4, queuedRequests: 0, inFlightBatches: 0 });
  });

  test('a failure of a call sent after the window was halved halves it again', async () => {
    const inner = new ScriptedWarehouse().next(fail(unavailable()), fail(unavailable()), fail(unavailable()));
    const warehouse = new GroupCommitWarehouse(inner, { ...OPTIONS, maxInFlightBatches: 4 });
    const a = track(warehouse.insert(requestRows('a', 1)));
    await advance();
    expect(warehouse.stats.inFlightLimit).toBe(2);
    await advance(100);
    expect(warehouse.stats.inFlightLimit).toBe(1);
    await advance(1000);
    expect(a.status).toBe('fulfilled');
  });

  test('non-retryable failures and refused rows leave the window as it is', async () => {
    const inner = new ScriptedWarehouse().next(fail(new WarehouseError('denied', 'warehouse_error', false)), bigQueryRejection(1, [0]));
    const warehouse = new GroupCommitWarehouse(inner, OPTIONS);
    const denied = track(warehouse.insert(requestRows('a', 1)));
    await advance();
    const refused = track(warehouse.insert(requestRows('b', 1)));
    await advance();
    expect([denied.status, refused.status]).toEqual(['rejected', 'rejected']);
    expect(refused.error).toBeInstanceOf(RowsRejectedError);
    expect(warehouse.stats.inFlightLimit).toBe(GROUP_COMMIT_DEFAULTS.maxInFlightBatches);
  });

  test('rows waiting for a retry count against maxQueuedRows', async () => {
    const inner = new ScriptedWarehouse().next(fail(unavailable()));
    const warehouse = new GroupCommitWarehouse(inner, { ...OPTIONS, maxBatchRows: 5, maxQueuedRows: 5 });
    const retrying = track(warehouse.insert(requestRows('a', 5)));
    await advance();
    await expect(warehouse.insert(requestRows('b', 1))).rejects.toMatchObject({ errorClass: 'warehouse_overloaded' });
    await advance(200);
    expect(retrying.status).toBe('fulfilled');
    const accepted = track(warehouse.insert(requestRows('b', 1)));
    await advance();
    expect(accepted.status).toBe('fulfilled');
  });

  test('close sends a batch waiting out its backoff at once, and retries nothing after it', async () => {
    const inner = new ScriptedWarehouse().next(fail(unavailable()), fail(unavailable()));
    const warehouse = new GroupCommitWarehouse(inner, { ...OPTIONS, retryInitialDelayMs: 60_000, retryMaxDelayMs: 60_000, deadlineMs: 120_000 });
    const a = track(warehouse.insert(requestRows('a', 1)));
    await advance();
    const closed = track(warehouse.close());
    await advance();
    expect(inner.calls).toHaveLength(2);
    expect(a.status).toBe('rejected');
    expect(closed.status).toBe('fulfilled');
  });

  test('maxRetries bounds the re-sends after retryable failures; 0 fails at the first', async () => {
    const inner = new ScriptedWarehouse(() => fail(unavailable()));
    const once = new GroupCommitWarehouse(inner, { ...OPTIONS, maxRetries: 1 });
    const a = track(once.insert(requestRows('a', 1)));
    await advance(999);
    expect([a.status, inner.calls.length]).toEqual(['rejected', 2]);
    const never = new GroupCommitWarehouse(inner, { ...OPTIONS, maxRetries: 0 });
    const b = track(never.insert(requestRows('b', 1)));
    await advance(999);
    expect([b.status, inner.calls.length]).toEqual(['rejected', 3]);
  });

  test.each([
    ['maxRetries', { maxRetries: 1.5 }, /maxRetries must be an integer >= 0 or Infinity/],
    ['deadlineMs', { deadlineMs: 0 }, /deadlineMs must be a positive integer/],
    ['retryInitialDelayMs', { retryInitialDelayMs: -1 }, /retryInitialDelayMs must be a finite number >= 0/],
    ['retryMaxDelayMs', { retryMaxDelayMs: Number.POSITIVE_INFINITY }, /retryMaxDelayMs must be a finite number >= 0/],
  ])('refuses a bad %s', (_, options, message) => {
    expect(() => new GroupCommitWarehouse(new ScriptedWarehouse(), options)).toThrow(message);
  });
});

describe('backpressure and concurrency', () => {
  test('a full queue refuses at once with a retryable warehouse_overloaded error, and accepts again after draining', async () => {
    const inner = new ScriptedWarehouse().next(BLOCK, BLOCK);
    const warehouse = new GroupCommitWarehouse(inner, {
      maxBatchRows: 10,
      maxQueuedRows: 10,
      maxInFlightBatches: 1,
    });
    void warehouse.insert(requestRows('in-flight', 10));
    await advance();
    const queued = [track(warehouse.insert(requestRows('a', 6))), track(warehouse.insert(requestRows('b', 4)))];
    expect(warehouse.stats).toMatchObject({ queuedRows: 10, inFlightBatches: 1 });

    const refused = warehouse.insert(requestRows('c', 1));
    await expect(refused).rejects.toBeInstanceOf(WarehouseError);
    await expect(refused).rejects.toMatchObject({ errorClass: 'warehouse_overloaded', retryable: true });
    expect(warehouse.stats.queuedRows).toBe(10);

    inner.release(0);
    await advance();
    expect(warehouse.stats).toMatchObject({ queuedRows: 0, inFlightBatches: 1 });
    const accepted = track(warehouse.insert(requestRows('c', 1)));
    inner.release(1);
    await advance(GROUP_COMMIT_DEFAULTS.lingerMs);
    expect([...queued, accepted].map((t) => t.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
  });

  test('re-sent stopped rows are taken back even when the queue is full', async () => {
    const inner = new ScriptedWarehouse().next(BLOCK);
    const warehouse = new GroupCommitWarehouse(inner, { maxBatchRows: 4, maxQueuedRows: 4, maxInFlightBatches: 1 });
    const a = track(warehouse.insert(requestRows('a', 4)));
    await advance();
    const b = track(warehouse.insert(requestRows('b', 4)));
    inner.release(0, bigQueryRejection(4, []));
    await advance();
    expect(insertIds(inner.calls[1]!.rows)).toEqual(insertIds(requestRows('a', 4)));
    await advance(GROUP_COMMIT_DEFAULTS.lingerMs);
    expect([a.status, b.status]).toEqual(['fulfilled', 'fulfilled']);
  });

  test('never more than maxInFlightBatches inner inserts at once', async () => {
    const inner = new ScriptedWarehouse().next(BLOCK, BLOCK, BLOCK);
    const warehouse = new GroupCommitWarehouse(inner, { maxBatchRows: 5, maxInFlightBatches: 2 });
    const requests = ['a', 'b', 'c'].map((name) => track(warehouse.insert(requestRows(name, 5))));
    await advance(GROUP_COMMIT_DEFAULTS.lingerMs);
    expect(inner.calls).toHaveLength(2);
    expect(warehouse.stats).toMatchObject({ inFlightBatches: 2, queuedRows: 5 });
    inner.release(1);
    await advance();
    expect(inner.calls).toHaveLength(3);
    expect(inner.pendingCalls).toBe(2);
    expect(requests.map((t) => t.status)).toEqual(['pending', 'fulfilled', 'pending']);
    inner.release(0);
    inner.release(2);
    await advance();
    expect(requests.map((t) => t.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
  });

  test('rows queued while every slot is busy leave as soon as a slot frees, once their linger has passed', async () => {
    const inner = new ScriptedWarehouse().next(BLOCK);
    const warehouse = new GroupCommitWarehouse(inner, { maxInFlightBatches: 1, lingerMs: 2 });
    void warehouse.insert(requestRows('a', 1));
    await advance(2);
    const b = track(warehouse.insert(requestRows('b', 1)));
    await advance(50);
    expect(inner.calls).toHaveLength(1);
    inner.release(0);
    await advance();
    expect(inner.calls).toHaveLength(2);
    expect(b.status).toBe('fulfilled');
  });
});

describe('close', () => {
  test('sends queued rows without waiting for the linger, waits for in-flight batches, then closes the inner warehouse', async () => {
    const inner = new ScriptedWarehouse().next(BLOCK);
    const warehouse = new GroupCommitWarehouse(inner, { maxInFlightBatches: 1, lingerMs: 60_000 });
    const inFlight = track(warehouse.insert(requestRows('a', 500)));
    await advance();
    const queued = track(warehouse.insert(requestRows('b', 3)));
    const closed = track(warehouse.close());
    await advance();
    expect(inner.events).toEqual(['insert 0']);
    expect(closed.status).toBe('pending');

    inner.release(0);
    await advance();
    expect(inner.events).toEqual(['insert 0', 'settle 0', 'insert 1', 'settle 1', 'close']);
    expect([inFlight.status, queued.status, closed.status]).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
  });

  test('waits for stopped rows to be re-sent before closing the inner warehouse', async () => {
    const inner = new ScriptedWarehouse().next(bigQueryRejection(2, [1]));
    const warehouse = new GroupCommitWarehouse(inner);
    const good = track(warehouse.insert(requestRows('good', 1)));
    const bad = track(warehouse.insert(requestRows('bad', 1)));
    await warehouse.close();
    expect(inner.events).toEqual(['insert 0', 'settle 0', 'insert 1', 'settle 1', 'close']);
    expect([good.status, bad.status]).toEqual(['fulfilled', 'rejected']);
  });

  test('close waits for the inner close; inserts after it are refused as retryable; it is idempotent and closes the inner warehouse once', async () => {
    const inner = new ScriptedWarehouse();
    const releaseInnerClose = inner.holdClose();
    const warehouse = new GroupCommitWarehouse(inner);
    const first = warehouse.close();
    const second = warehouse.close();
    expect(second).toBe(first);
    const closed = track(first);
    await advance();
    expect(closed.status).toBe('pending');
    releaseInnerClose();
    await advance();
    expect(closed.status).toBe('fulfilled');
    await expect(warehouse.insert(requestRows('late', 1))).rejects.toMatchObject({
      errorClass: 'warehouse_unavailable',
      retryable: true,
    });
    await warehouse.close();
    expect(inner.closeCount).toBe(1);
    expect(inner.calls).toHaveLength(0);
  });
});

test.each([
  [{ maxBatchRows: 0 }, /maxBatchRows must be a positive integer/],
  [{ maxBatchBytes: 1.5 }, /maxBatchBytes must be a positive integer/],
  [{ maxInFlightBatches: -1 }, /maxInFlightBatches must be a positive integer/],
  [{ lingerMs: Number.NaN }, /lingerMs must be a finite number/],
  [{ maxStoppedRetries: -1 }, /maxStoppedRetries must be an integer >= 0/],
  [{ maxBatchRows: 600, maxQueuedRows: 500 }, /maxQueuedRows \(500\) must be at least maxBatchRows \(600\)/],
])('refuses bad options %j', (options, message) => {
  expect(() => new GroupCommitWarehouse(new ScriptedWarehouse(), options)).toThrow(message);
});

describe('property: every request settles once with the verdict on its own rows', () => {
  interface Scenario {
    requests: { rows: number; badRows: number[]; gapMs: number }[];
    /** Per inner call: 0 = answer as BigQuery would, n > 0 = fail the whole call as unavailable; cycled. */
    callFailures: number[];
    latenciesMs: number[];
    maxBatchRows: number;
    maxInFlightBatches: number;
    maxStoppedRetries: number;
  }

  const scenario: fc.Arbitrary<Scenario> = fc
    .integer({ min: 1, max: 12 })
    .chain((maxBatchRows) =>
      fc.record({
        requests: fc.array(
          fc.record({
            rows: fc.integer({ min: 1, max: maxBatchRows }),
            badRows: fc.array(fc.nat({ max: maxBatchRows * 4 }), { maxLength: 2 }),
            gapMs: fc.integer({ min: 0, max: 3 }),
          }),
          { minLength: 1, maxLength: 25 },
        ),
        callFailures: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 8 }),
        latenciesMs: fc.array(fc.integer({ min: 0, max: 10 }), { minLength: 1, maxLength: 8 }),
        maxBatchRows: fc.constant(maxBatchRows),
        maxInFlightBatches: fc.integer({ min: 1, max: 3 }),
        maxStoppedRetries: fc.integer({ min: 0, max: 3 }),
      }),
    );

  test('no request is lost, answered twice, split, or committed twice; failures name only their own rows', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const badInsertIds = new Set<string>();
        const requests = s.requests.map((request, r) => {
          const rows = requestRows(`r${r}`, request.rows);
          const bad = new Set(request.badRows.filter((index) => index < request.rows));
          for (const index of bad) badInsertIds.add(rows[index]!.insertId);
          return { rows, bad };
        });
        const inner = new ScriptedWarehouse(async (rows, callIndex) => {
          await new Promise((resolve) => setTimeout(resolve, s.latenciesMs[callIndex % s.latenciesMs.length]));
          if (s.callFailures[callIndex % s.callFailures.length]! > 2) {
            return fail(new WarehouseError('BigQuery answered 503', 'warehouse_unavailable', true));
          }
          const invalid = rows.flatMap((row, index) => (badInsertIds.has(row.insertId) ? [index] : []));
          return invalid.length > 0 ? bigQueryRejection(rows.length, invalid) : COMMIT;
        });
        const warehouse = new GroupCommitWarehouse(inner, {
          maxBatchRows: s.maxBatchRows,
          maxQueuedRows: 1000,
          maxInFlightBatches: s.maxInFlightBatches,
          maxStoppedRetries: s.maxStoppedRetries,
        });

        const settleCounts = requests.map(() => 0);
        const outcomes: Tracked[] = [];
        for (const [r, request] of requests.entries()) {
          await advance(s.requests[r]!.gapMs);
          const promise = warehouse.insert(request.rows);
          promise.then(
            () => (settleCounts[r]! += 1),
            () => (settleCounts[r]! += 1),
          );
          outcomes.push(track(promise));
        }
        const closed = track(warehouse.close());
        await jest.runAllTimersAsync();

        expect(closed.status).toBe('fulfilled');
        expect(inner.events.at(-1)).toBe('close');
        expect(inner.pendingCalls).toBe(0);
        expect(settleCounts.every((count) => count === 1)).toBe(true);

        const committed = inner.committedInsertIds;
        expect(new Set(committed).size).toBe(committed.length);
        for (const call of inner.calls) {
          expect(call.rows.length).toBeLessThanOrEqual(s.maxBatchRows);
          for (const request of requests) {
            const ids = insertIds(request.rows);
            const at = call.rows.findIndex((row) => row.insertId === ids[0]);
            if (at >= 0) expect(insertIds(call.rows.slice(at, at + ids.length))).toEqual(ids);
            else expect(call.rows.some((row) => ids.includes(row.insertId))).toBe(false);
          }
        }

        for (const [r, request] of requests.entries()) {
          const outcome = outcomes[r]!;
          const ids = insertIds(request.rows);
          const committedCount = ids.filter((id) => committed.includes(id)).length;
          if (outcome.status === 'fulfilled') {
            expect(request.bad.size).toBe(0);
            expect(committedCount).toBe(ids.length);
          } else {
            expect(committedCount).toBe(0);
            const error = outcome.error as WarehouseError;
            expect(error).toBeInstanceOf(WarehouseError);
            if (error instanceof RowsRejectedError) {
              const faulted = error.rowErrors.filter((e) => e.reason !== 'stopped').map((e) => e.index);
              expect(faulted.sort((x, y) => x - y)).toEqual([...request.bad].sort((x, y) => x - y));
            } else {
              expect(error.retryable).toBe(true);
            }
          }
        }
      }),
      { numRuns: propertyRuns(150) },
    );
  });
});

describe('GroupCommitWarehouse reads', () => {
  test('go straight to the inner warehouse, even while inserts wait in the queue or in flight', async () => {
    const inner = new ScriptedWarehouse().next(COMMIT, BLOCK);
    const warehouse = new GroupCommitWarehouse(inner);
    const first = track(warehouse.insert(requestRows('first', 2)));
    await advance(GROUP_COMMIT_DEFAULTS.lingerMs);
    expect(first.status).toBe('fulfilled');
    const blocked = track(warehouse.insert(requestRows('blocked', 1)));
    await advance(GROUP_COMMIT_DEFAULTS.lingerMs);
    const queued = track(warehouse.insert(requestRows('queued', 1)));

    expect(await warehouse.getLatest('first-1', { since: new Date(0) })).toEqual({ id: 'first-1', name: 'row', value: 1, updatedAt: new Date(0) });
    expect((await warehouse.listLatest({ afterId: '', limit: 10, since: new Date(0) })).map((record) => record.id)).toEqual(['first-0', 'first-1']);
    expect(inner.events.filter((event) => event === 'getLatest' || event === 'listLatest')).toEqual(['getLatest', 'listLatest']);
    expect([blocked.status, queued.status]).toEqual(['pending', 'pending']);

    inner.release(1);
    await advance(GROUP_COMMIT_DEFAULTS.lingerMs);
    expect([blocked.status, queued.status]).toEqual(['fulfilled', 'fulfilled']);
    await warehouse.close();
  });
});
