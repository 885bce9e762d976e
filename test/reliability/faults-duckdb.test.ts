/**
 * Injected DuckDB faults at both entry points served as `npm start` serves
 * them (batcher over insert-failure log over the adapter), the adapter being
 * the real `DuckDbWarehouse` wrapped by `FaultyWarehouse`. Each fault must
 * give the right status (200 when the batcher's retry absorbs it, 503 when it
 * lasts past the request's deadline, 500 when no retry can help), never a
 * 200 for a row that is not committed, and after the client's retry (same
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
import { COMMIT_DEADLINE_MS, DUCKDB_FAULTS, DUCKDB_LOAD_FAULTS, LOAD_RECORDS } from './fault-tables';
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
  functions = await startFunctions(faulty, { groupCommitDeadlineMs: COMMIT_DEADLINE_MS });
});

afterAll(async () => {
  await functions.stop();
  rmSync(directory, { recursive: true, force: true });
});

describe.each(ENTRY_POINTS)('%s', (entryPoint) => {
  it.each(DUCKDB_FAULTS)('$name: answers $status, and after any retry the record is stored exactly once', async (fault) => {
    const id = `${entryPoint}-${fault.name}`;
    idsSent.add(id);
    // Far more faults than attempts fit in the deadline, for one that lasts; cleared once the request is answered.
    faulty.failNext(fault.persistent ? 1000 : 1, fault.error, fault.moment);
    const injectedBefore = faulty.injected;

    const first = await sendRecord(functions, entryPoint, id);
    faulty.clearFaults();
    expect(faulty.injected - injectedBefore).toBeGreaterThanOrEqual(fault.persistent ? 2 : 1);
    if (fault.status === 200) {
      expectStored(first);
    } else {
      expectFailure(first, fault.status, fault.errorClass!, fault.internalDetail);
      expect(await isStored(id)).toBe(fault.moment === 'afterCommit');
      expectStored(await sendRecord(functions, entryPoint, id));
    }
    expect(await faulty.getLatest(id, { since: new Date(0) })).toMatchObject(recordOf(id));
  });

  it('under concurrent load with faults striking batches, acknowledges only stored records and stores each once after retries', async () => {
    const ids = Array.from({ length: LOAD_RECORDS }, (_, index) => `${entryPoint}-load-${index}`);
    ids.forEach((id) => idsSent.add(id));
    for (const fault of DUCKDB_LOAD_FAULTS) faulty.failNext(1, fault.error, fault.moment);
    const injectedBefore = faulty.injected;

    const outcomes = await Promise.all(ids.map((id) => retryUntilStored(functions, entryPoint, id, isStored)));

    expect(faulty.injected - injectedBefore).toBe(DUCKDB_LOAD_FAULTS.length);
    // The batcher absorbs the retryable faults; the refused row and the unclassified error reach their clients as 500s.
    const failures = outcomes.flatMap((outcome) => outcome.failures);
    expect(failures.length).toBeGreaterThanOrEqual(2);
    expect(new Set(failures)).toEqual(new Set([500]));
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
