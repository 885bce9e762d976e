/**
 * Injected DuckDB faults at both entry points served as `npm start` serves
 * them (batcher over insert-failure log over the adapter), the adapter being
 * the real `DuckDbWarehouse` wrapped by `FaultyWarehouse`. Each fault must
 * give the right status (503 when a retry may succeed, 500 otherwise), never
 * a 200 for a row that is not committed, and after the client's retry (same
 * `Idempotency-Key`) or Pub/Sub's redelivery (same `messageId`) exactly one
 * stored row: checked at the end in the database file itself.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { DuckDbWarehouse, DUCKDB_SCHEMA, DUCKDB_TABLE } from '../../lambda-src/warehouse/duckdb';
import { FaultyWarehouse } from '../support/faulty-warehouse';
import { ENTRY_POINTS, expectFailure, expectStored, recordOf, retryUntilStored, sendRecord } from './fault-drill';
import { DUCKDB_FAULTS, DUCKDB_LOAD_FAULTS, LOAD_RECORDS } from './fault-tables';
import { startFunctions, type RunningFunctions } from './functions';

let directory: string;
let databasePath: string;
let faulty: FaultyWarehouse;
let functions: RunningFunctions;
const idsSent = new Set<string>();

const isStored = async (id: string) => (await faulty.getLatest(id, { since: new Date(0) })) !== undefined;

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'ingest-faults-'));
  databasePath = join(directory, 'warehouse.duckdb');
  faulty = new FaultyWarehouse(await DuckDbWarehouse.open(databasePath));
  functions = await startFunctions(faulty);
});

afterAll(async () => {
  await functions.stop();
  rmSync(directory, { recursive: true, force: true });
});

describe.each(ENTRY_POINTS)('%s', (entryPoint) => {
  it.each(DUCKDB_FAULTS)('$name: answers $status, then a retry stores the record exactly once', async (fault) => {
    const id = `${entryPoint}-${fault.name}`;
    idsSent.add(id);
    faulty.failNext(1, fault.error, fault.moment);

    const first = await sendRecord(functions, entryPoint, id);
    expectFailure(first, fault.status, fault.errorClass, fault.internalDetail);
    expect(faulty.pendingFaults).toBe(0);
    expect(await isStored(id)).toBe(fault.moment === 'afterCommit');

    const retry = await sendRecord(functions, entryPoint, id);
    expectStored(retry);
    expect(await faulty.getLatest(id, { since: new Date(0) })).toMatchObject(recordOf(id));
  });

  it('under concurrent load with faults striking batches, acknowledges only stored records and stores each once after retries', async () => {
    const ids = Array.from({ length: LOAD_RECORDS }, (_, index) => `${entryPoint}-load-${index}`);
    ids.forEach((id) => idsSent.add(id));
    for (const fault of DUCKDB_LOAD_FAULTS) faulty.failNext(1, fault.error, fault.moment);
    const injectedBefore = faulty.injected;

    const outcomes = await Promise.all(ids.map((id) => retryUntilStored(functions, entryPoint, id, isStored)));

    expect(faulty.injected - injectedBefore).toBe(DUCKDB_LOAD_FAULTS.length);
    expect(outcomes.flatMap((outcome) => outcome.failures).length).toBeGreaterThanOrEqual(DUCKDB_LOAD_FAULTS.length);
  });
});

it('left each record exactly once in the database file', async () => {
  expect(idsSent.size).toBe(ENTRY_POINTS.length * (DUCKDB_FAULTS.length + LOAD_RECORDS));
  await functions.stop();
  const instance = await DuckDBInstance.create(databasePath);
  try {
    const connection = await instance.connect();
    const reader = await connection.runAndReadAll(
      `SELECT id, count(*)::INTEGER AS copies FROM "${DUCKDB_SCHEMA}"."${DUCKDB_TABLE}" GROUP BY id ORDER BY id`,
    );
    connection.closeSync();
    expect(reader.getRowObjectsJS()).toEqual([...idsSent].sort().map((id) => ({ id, copies: 1 })));
  } finally {
    instance.closeSync();
  }
});
