import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import fc from 'fast-check';
import { DUCKDB_SCHEMA, DUCKDB_TABLE, DuckDbWarehouse } from '../../../lambda-src/warehouse/duckdb';
import { STOPPED_REASON } from '../../../lambda-src/warehouse/group-commit';
import { RowsRejectedError, WarehouseError, type WarehouseRow } from '../../../lambda-src/warehouse/warehouse';
import { scratchDirectory } from '../../support/scratch-directory';
import { asStored, byInsertId, describeWarehouseContract, row, rows, type StoredRow } from './contract';

const scratch = scratchDirectory('duckdb-warehouse-');
const freshPath = () => scratch.fresh('warehouse.duckdb');

/** Reads the file with a DuckDB instance of its own, as a later process would; the adapter must have released it. */
async function readFile(path: string): Promise<StoredRow[]> {
  const instance = await DuckDBInstance.create(path);
  try {
    const connection = await instance.connect();
    const reader = await connection.runAndReadAll(
      `SELECT id, name, value, insert_id, ingested_at FROM ${DUCKDB_SCHEMA}.${DUCKDB_TABLE}`,
    );
    connection.closeSync();
    return reader.getRowObjectsJS().map((stored) => ({
      id: stored.id as string,
      name: stored.name as string,
      value: stored.value as number,
      insertId: stored.insert_id as string,
      ingestedAt: stored.ingested_at as Date,
    }));
  } finally {
    instance.closeSync();
  }
}

describeWarehouseContract('DuckDbWarehouse', async () => {
  const path = freshPath();
  const warehouse = await DuckDbWarehouse.open(path);
  return {
    warehouse,
    storedRows: async () => {
      await warehouse.close();
      return readFile(path);
    },
  };
});

describe('DuckDbWarehouse', () => {
  test('a file reopened after close still has its rows, and still ignores their insert ids', async () => {
    const path = freshPath();
    const first = rows(3);
    const warehouse = await DuckDbWarehouse.open(path);
    await warehouse.insert(first);
    await warehouse.close();

    const reopened = await DuckDbWarehouse.open(path);
    const second = rows(2);
    await reopened.insert([...first, ...second]);
    await reopened.close();

    expect(byInsertId(await readFile(path))).toEqual(byInsertId(asStored([...first, ...second])));
  });

  test('warehouses opened on one file share it: both write, closing one leaves the other working', async () => {
    const path = freshPath();
    const [a, b] = await Promise.all([DuckDbWarehouse.open(path), DuckDbWarehouse.open(path)]);
    const fromA = rows(20);
    const fromB = rows(20);
    await Promise.all([...fromA.map((one) => a.insert([one])), ...fromB.map((one) => b.insert([one]))]);
    await a.close();
    const late = rows(1);
    await b.insert(late);
    await b.close();
    expect(byInsertId(await readFile(path))).toEqual(byInsertId(asStored([...fromA, ...fromB, ...late])));
  });

  test('close waits for queued inserts', async () => {
    const path = freshPath();
    const warehouse = await DuckDbWarehouse.open(path);
    const batches = Array.from({ length: 10 }, () => rows(10));
    const inserts = batches.map((batch) => warehouse.insert(batch));
    await warehouse.close();
    await Promise.all(inserts);
    expect(await readFile(path)).toHaveLength(100);
  });

  test('any storable text, finite double and instant round-trips, in batches of any size', async () => {
    const path = freshPath();
    const warehouse = await DuckDbWarehouse.open(path);
    const sent: WarehouseRow[] = [];
    const fields = fc.record({
      id: fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }),
      name: fc.string({ unit: 'binary', maxLength: 40 }),
      value: fc.double({ noNaN: true, noDefaultInfinity: true }).filter((value) => !Object.is(value, -0)),
      ingestedAt: fc.date({ noInvalidDate: true, min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59.999Z') }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(fields, { minLength: 1, maxLength: 20 }), async (batchFields) => {
        const batch = batchFields.map((overrides) => row(overrides));
        await warehouse.insert(batch);
        sent.push(...batch);
      }),
      { numRuns: 60 },
    );
    await warehouse.close();
    expect(byInsertId(await readFile(path))).toEqual(byInsertId(asStored(sent)));
  });

  test('-0 is stored as 0, as BigQuery stores the JSON it is sent', async () => {
    const path = freshPath();
    const warehouse = await DuckDbWarehouse.open(path);
    const negativeZero = row({ value: -0 });
    await warehouse.insert([negativeZero]);
    await warehouse.close();
    expect(await readFile(path)).toEqual(asStored([{ ...negativeZero, value: 0 }]));
  });

  test('a row whose insert id is not storable text is refused as invalid, and the rest of its batch is "stopped"', async () => {
    const path = freshPath();
    const warehouse = await DuckDbWarehouse.open(path);
    const failure = await warehouse.insert([row(), row({ insertId: 'message-\ud800' })]).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(RowsRejectedError);
    expect((failure as RowsRejectedError).rowErrors).toEqual([
      { index: 0, reason: STOPPED_REASON, message: expect.any(String) },
      { index: 1, reason: 'invalid', message: 'rows[1].insertId: must be well-formed Unicode' },
    ]);
    await warehouse.close();
    expect(await readFile(path)).toEqual([]);
  });

  test('an insert resolves only once DuckDB has committed it: a process killed right after holds its rows, each once', async () => {
    const path = freshPath();
    const acknowledged = rows(3);
    // The process inserts (and the second insert repeats an insert id), then dies before closing the file.
    const script = `
      const { DuckDbWarehouse } = require(${JSON.stringify(require.resolve('../../../lambda-src/warehouse/duckdb'))});
      (async () => {
        const warehouse = await DuckDbWarehouse.open(${JSON.stringify(path)});
        const rows = ${JSON.stringify(acknowledged)}.map((row) => ({ ...row, ingestedAt: new Date(row.ingestedAt) }));
        await warehouse.insert(rows);
        await warehouse.insert([rows[0]]);
        process.kill(process.pid, 'SIGKILL');
      })();`;
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], { stdio: ['ignore', 'ignore', 'inherit'] });
    const [, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.once('exit', (code, exitSignal) => resolve([code, exitSignal])),
    );
    expect(signal).toBe('SIGKILL');
    expect(byInsertId(await readFile(path))).toEqual(byInsertId(asStored(acknowledged)));
  }, 30_000);

  test('a path that cannot hold a database fails to open with a WarehouseError', async () => {
    const blocker = join(scratch.path, 'a-file');
    writeFileSync(blocker, 'not a directory');
    const failure = await DuckDbWarehouse.open(join(blocker, 'warehouse.duckdb')).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(WarehouseError);
    expect((failure as Error).message).toContain(blocker);
  });

  describe('a file held by another process', () => {
    let holder: ChildProcess | undefined;

    afterEach(() => {
      holder?.kill();
    });

    test('fails to open as retryable warehouse_unavailable', async () => {
      const path = freshPath();
      await (await DuckDbWarehouse.open(path)).close();
      const script = `require('@duckdb/node-api').DuckDBInstance.create(${JSON.stringify(path)}).then((db) => { globalThis.db = db; console.log('ready'); setInterval(() => {}, 1000); })`;
      holder = spawn(process.execPath, ['-e', script], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve, reject) => {
        holder!.stdout!.on('data', (chunk: Buffer) => {
          if (chunk.toString().includes('ready')) resolve();
        });
        holder!.once('exit', (code) => reject(new Error(`holder exited with ${code}`)));
      });

      const failure = await DuckDbWarehouse.open(path).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(WarehouseError);
      expect(failure).toMatchObject({ errorClass: 'warehouse_unavailable', retryable: true });
    });
  });
});
