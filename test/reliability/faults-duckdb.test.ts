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
import { RowsRejectedError, WarehouseError } from '../../lambda-src/warehouse/warehouse';
import { FaultyWarehouse, type FaultMoment } from '../support/faulty-warehouse';
import { ENTRY_POINTS, expectFailure, expectStored, recordOf, retryUntilStored, sendRecord } from './fault-drill';
import { startFunctions, type RunningFunctions } from './functions';

interface InjectedFault {
  name: string;
  error: unknown;
  moment: FaultMoment;
  status: 500 | 503;
  errorClass: string;
  /** Text of the error that must not reach the client. */
  internalDetail: string;
}

const FAULTS: InjectedFault[] = [
  {
    name: 'an I/O error before the commit',
    error: new WarehouseError('DuckDB insert failed: IO Error: No space left on device /srv/data', 'warehouse_unavailable', true),
    moment: 'beforeCommit',
    status: 503,
    errorClass: 'warehouse_unavailable',
    internalDetail: 'No space left',
  },
  {
    name: 'a commit whose acknowledgement is lost',
    error: new WarehouseError('DuckDB insert failed: IO Error: Could not fsync /srv/data', 'warehouse_unavailable', true),
    moment: 'afterCommit',
    status: 503,
    errorClass: 'warehouse_unavailable',
    internalDetail: 'fsync',
  },
  {
    name: 'a write conflict',
    error: new WarehouseError('DuckDB insert failed: TransactionContext Error: Catalog write-write conflict', 'warehouse_unavailable', true),
    moment: 'beforeCommit',
    status: 503,
    errorClass: 'warehouse_unavailable',
    internalDetail: 'write-write',
  },
  {
    name: 'a full insert queue',
    error: new WarehouseError('warehouse insert queue is full (5000 of 5000 rows waiting)', 'warehouse_overloaded', true),
    moment: 'beforeCommit',
    status: 503,
    errorClass: 'warehouse_overloaded',
    internalDetail: 'queue is full',
  },
  {
    name: 'an unclassified driver error',
    error: new Error('INTERNAL Error: Attempted to access index 7 within vector of size 3 at /srv/secret/path'),
    moment: 'beforeCommit',
    status: 500,
    errorClass: 'warehouse_error',
    internalDetail: '/srv/secret/path',
  },
  {
    name: 'rows the warehouse refuses',
    error: new RowsRejectedError([{ index: 0, reason: 'invalid', message: 'CHECK constraint failed: records' }]),
    moment: 'beforeCommit',
    status: 500,
    errorClass: 'warehouse_rejected_rows',
    internalDetail: 'CHECK constraint',
  },
];

const LOAD_RECORDS = 40;

let directory: string;
let databasePath: string;
let faulty: FaultyWarehouse;
let functions: RunningFunctions;
const idsSent = new Set<string>();

const isStored = async (id: string) => (await faulty.getLatest(id)) !== undefined;

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
  it.each(FAULTS)('$name: answers $status, then a retry stores the record exactly once', async (fault) => {
    const id = `${entryPoint}-${fault.name}`;
    idsSent.add(id);
    faulty.failNext(1, fault.error, fault.moment);

    const first = await sendRecord(functions, entryPoint, id);
    expectFailure(first, fault.status, fault.errorClass, fault.internalDetail);
    expect(faulty.pendingFaults).toBe(0);
    expect(await isStored(id)).toBe(fault.moment === 'afterCommit');

    const retry = await sendRecord(functions, entryPoint, id);
    expectStored(retry);
    expect(await faulty.getLatest(id)).toMatchObject(recordOf(id));
  });

  it('under concurrent load with faults striking batches, acknowledges only stored records and stores each once after retries', async () => {
    const ids = Array.from({ length: LOAD_RECORDS }, (_, index) => `${entryPoint}-load-${index}`);
    ids.forEach((id) => idsSent.add(id));
    const unavailable = new WarehouseError('DuckDB insert failed: IO Error: disk hiccup', 'warehouse_unavailable', true);
    faulty
      .failNext(2, unavailable, 'beforeCommit')
      .failNext(2, unavailable, 'afterCommit')
      .failNext(1, new RowsRejectedError([{ index: 0, reason: 'invalid', message: 'refused' }]))
      .failNext(1, new Error('unclassified'), 'afterCommit');
    const injectedBefore = faulty.injected;

    const outcomes = await Promise.all(ids.map((id) => retryUntilStored(functions, entryPoint, id, isStored)));

    expect(faulty.injected - injectedBefore).toBe(6);
    expect(outcomes.flatMap((outcome) => outcome.failures).length).toBeGreaterThanOrEqual(6);
  });
});

it('left each record exactly once in the database file', async () => {
  expect(idsSent.size).toBe(ENTRY_POINTS.length * (FAULTS.length + LOAD_RECORDS));
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
