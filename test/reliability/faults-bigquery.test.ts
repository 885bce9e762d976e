/**
 * Injected BigQuery faults at both entry points served as `npm start` serves
 * them, over the real `BigQueryWarehouse` talking to the REST stand-in
 * through a gate that can refuse connections: 5xx and 429 replies, per-row
 * `insertErrors`, dropped connections (before and after the rows were
 * stored), replies slower than the adapter's deadline, and no listener at
 * all. Each must give the right status (503 when a retry may succeed, 500
 * otherwise), never a 200 for a row BigQuery does not hold, and after the
 * client's retry (same `Idempotency-Key`) or Pub/Sub's redelivery (same
 * `messageId`) exactly one stored row.
 */
import { WAREHOUSE_BIGQUERY_FIELDS } from '../../lambda-src/record';
import { BigQueryWarehouse } from '../../lambda-src/warehouse/bigquery';
import { BigQueryStandIn } from '../../tools/bigquery-standin';
import { ENTRY_POINTS, expectFailure, recordOf, retryUntilStored, sendRecord, until } from './fault-drill';
import { BIGQUERY_FAULTS, BIGQUERY_LOAD_FAULTS, BIGQUERY_LOAD_REPLIES, DEADLINE_MS, LOAD_RECORDS, SLOW_REPLY_MS } from './fault-tables';
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
    requestTimeoutMs: DEADLINE_MS,
  });
  functions = await startFunctions(warehouse);
});

afterAll(async () => {
  await functions.stop();
  await gate.shut();
  await standIn.stop();
});

describe.each(ENTRY_POINTS)('%s', (entryPoint) => {
  it.each(BIGQUERY_FAULTS)('$name: answers $status, then a retry leaves exactly one row', async (fault) => {
    const id = `${entryPoint}-${fault.name}`;
    standIn.script('tabledata.insertAll', fault.reply);
    faultsInjected += 1;

    const first = await sendRecord(functions, entryPoint, id);
    expectFailure(first, fault.status, fault.errorClass, 'secret');
    if (fault.storedAnyway) await until(() => copiesOf(id) === 1, `the row of ${id} to land`);
    else expect(copiesOf(id)).toBe(0);

    // Retried like a client would: a spurious timeout on a busy machine must not fail the test, a duplicate must.
    await retryUntilStored(functions, entryPoint, id, isStored);
    expect(standIn.rows(TABLE).filter((row) => row.json.id === id).map((row) => row.json)).toEqual([
      expect.objectContaining(recordOf(id)),
    ]);
  });

  it('connection refused: answers 503, then once BigQuery is back a retry leaves exactly one row', async () => {
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

    expect(outcomes.flatMap((outcome) => outcome.failures).length).toBeGreaterThan(0);
    // The slow reply (one of the first batches') may still land after its request was answered 503 and
    // retried: wait it out, then count.
    await new Promise((wake) => setTimeout(wake, startedAt + SLOW_REPLY_MS + DEADLINE_MS - performance.now()));
    expect(ids.map(copiesOf)).toEqual(ids.map(() => 1));
  });
});

it('never stored a record twice', () => {
  expect(faultsInjected).toBe(ENTRY_POINTS.length * (BIGQUERY_FAULTS.length + 1 + BIGQUERY_LOAD_FAULTS));
  const ids = standIn.rows(TABLE).map((row) => row.json.id);
  expect(ids.length).toBe(ENTRY_POINTS.length * (BIGQUERY_FAULTS.length + 1 + LOAD_RECORDS));
  expect(new Set(ids).size).toBe(ids.length);
});
