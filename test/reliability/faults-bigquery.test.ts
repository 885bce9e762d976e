/**
 * Injected BigQuery faults at both entry points served as `npm start` serves
 * them, over the real `BigQueryWarehouse` talking to the REST stand-in
 * through a gate that can refuse connections: 5xx, 429 and 403 quota and
 * rate-limit replies, per-row `insertErrors`, dropped connections (before
 * and after the rows were stored), replies slower than the adapter's
 * insertAll deadline, calls that never answer, and no listener at all. A
 * transient fault is absorbed by the batcher's retries (200 on the first
 * send); one that lasts past the request's deadline answers 503 with
 * `Retry-After`; a permanent one 500. Never a 200 for a row BigQuery does
 * not hold, and after the client's retry (same `Idempotency-Key`) or
 * Pub/Sub's redelivery (same `messageId`) exactly one stored row.
 */
import { WAREHOUSE_BIGQUERY_FIELDS } from '../../lambda-src/record';
import { BigQueryWarehouse } from '../../lambda-src/warehouse/bigquery';
import { BigQueryStandIn } from '../../tools/bigquery-standin';
import { ENTRY_POINTS, expectFailure, expectStored, recordOf, retryUntilStored, sendRecord } from './fault-drill';
import {
  BIGQUERY_FAULTS,
  BIGQUERY_LOAD_FAULTS,
  BIGQUERY_LOAD_REPLIES,
  COMMIT_DEADLINE_MS,
  INSERT_TIMEOUT_MS,
  LOAD_RECORDS,
  SLOW_REPLY_MS,
} from './fault-tables';
import { startFunctions, type RunningFunctions } from './functions';
import { TcpGate } from './tcp-gate';

const TABLE = { projectId: 'demo-project', datasetId: 'ingest', tableId: 'records' };

let standIn: BigQueryStandIn;
let gate: TcpGate;
let functions: RunningFunctions;
let faultsInjected = 0;

const copiesOf = (id: string) => standIn.rows(TABLE).filter((row) => row.json.id === id).length;
const isStored = async (id: string) => copiesOf(id) > 0;

beforeAll(async () => {
  standIn = await BigQueryStandIn.start();
  standIn.createTable(TABLE, WAREHOUSE_BIGQUERY_FIELDS);
  gate = await TcpGate.open(Number(new URL(standIn.url).port));
  const warehouse = new BigQueryWarehouse({
    projectId: TABLE.projectId,
    dataset: TABLE.datasetId,
    table: TABLE.tableId,
    apiEndpoint: gate.url,
    minInsertTimeoutMs: INSERT_TIMEOUT_MS,
    maxInsertTimeoutMs: INSERT_TIMEOUT_MS,
  });
  functions = await startFunctions(warehouse, { groupCommitDeadlineMs: COMMIT_DEADLINE_MS });
});

afterAll(async () => {
  await functions.stop();
  await gate.shut();
  await standIn.stop();
});

describe.each(ENTRY_POINTS)('%s', (entryPoint) => {
  it.each(BIGQUERY_FAULTS)('$name: answers $status, and after any retry exactly one row is stored', async (fault) => {
    const id = `${entryPoint}-${fault.name}`;
    if (fault.persistent) standIn.respond('tabledata.insertAll', () => fault.reply);
    else standIn.script('tabledata.insertAll', fault.reply);
    faultsInjected += 1;

    let first;
    try {
      first = await sendRecord(functions, entryPoint, id);
    } finally {
      standIn.respond('tabledata.insertAll', undefined);
    }
    if (fault.status === 200) {
      expectStored(first);
    } else {
      expectFailure(first, fault.status, fault.errorClass!, 'secret');
      expect(copiesOf(id)).toBe(0);
      // Retried like a client would: a spurious timeout on a busy machine must not fail the test, a duplicate must.
      await retryUntilStored(functions, entryPoint, id, isStored);
    }
    // A slow reply lands after its call was abandoned and re-sent: it must not make a second copy.
    if (fault.reply.delayMs !== undefined) await new Promise((wake) => setTimeout(wake, fault.reply.delayMs));
    expect(standIn.rows(TABLE).filter((row) => row.json.id === id).map((row) => row.json)).toEqual([
      expect.objectContaining(recordOf(id)),
    ]);
  });

  it('connection refused until the deadline: answers 503, then once BigQuery is back a retry leaves exactly one row', async () => {
    const id = `${entryPoint}-refused`;
    await gate.shut();
    faultsInjected += 1;
    try {
      expectFailure(await sendRecord(functions, entryPoint, id), 503, 'warehouse_unavailable');
      expect(copiesOf(id)).toBe(0);
    } finally {
      await gate.reopen();
    }
    await retryUntilStored(functions, entryPoint, id, isStored);
    expect(copiesOf(id)).toBe(1);
  });

  it('under concurrent load with faults striking batches, acknowledges only stored records and stores each once after retries', async () => {
    const ids = Array.from({ length: LOAD_RECORDS }, (_, index) => `${entryPoint}-load-${index}`);
    standIn.script('tabledata.insertAll', ...BIGQUERY_LOAD_REPLIES);
    faultsInjected += BIGQUERY_LOAD_FAULTS;
    const startedAt = performance.now();

    const outcomes = await Promise.all(ids.map((id) => retryUntilStored(functions, entryPoint, id, isStored)));

    // The batcher absorbs every transient fault; only the request whose row BigQuery rejected saw a failure.
    expect(outcomes.flatMap((outcome) => outcome.failures)).toEqual([500]);
    // The slow reply (one of the first batches') may still land after its call was abandoned and re-sent: wait it
    // out, then count.
    await new Promise((wake) => setTimeout(wake, startedAt + SLOW_REPLY_MS + COMMIT_DEADLINE_MS - performance.now()));
    expect(ids.map(copiesOf)).toEqual(ids.map(() => 1));
  });
});

it('never stored a record twice', () => {
  expect(faultsInjected).toBe(ENTRY_POINTS.length * (BIGQUERY_FAULTS.length + 1 + BIGQUERY_LOAD_FAULTS));
  const ids = standIn.rows(TABLE).map((row) => row.json.id);
  expect(ids.length).toBe(ENTRY_POINTS.length * (BIGQUERY_FAULTS.length + 1 + LOAD_RECORDS));
  expect(new Set(ids).size).toBe(ids.length);
});
