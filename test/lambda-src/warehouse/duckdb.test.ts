import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import fc from 'fast-check';
import { DUCKDB_SCHEMA, DUCKDB_TABLE, DuckDbWarehouse } from '../../../lambda-src/warehouse/duckdb';
import { RowsRejectedError, STOPPED_REASON, WarehouseError, type WarehouseRow } from '../../../lambda-src/warehouse/warehouse';
import { latestOf, latestPage } from '../../../tools/latest-versions';
import { propertyRuns } from '../../support/property-runs';
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

describe('DuckDbWarehouse reads by id key', () => {
  /**
   * Ids drawn to stress the key (the first 16 UTF-8 bytes): many share it, some are shorter than it or end
   * inside it, some hold characters of 2-4 bytes that straddle its end, or a NUL, so that ranking by key alone
   * would misorder them.
   */
  const idArbitrary = fc.oneof(
    fc.constantFrom('customer-account', 'customer-account-0', 'customer-account-1', 'customer-accoun', 'customer-acc\u00e9', 'a', 'a\u0000', 'b'),
    fc
      .tuple(
        fc.constantFrom('', 'cust', 'customer-account', 'x'.repeat(15), '\u00e9'.repeat(7), '\u{1F600}'.repeat(3)),
        fc.string({ unit: fc.constantFrom('0', '1', 'z', '\u00ff', '\u4e00', '\u{10000}'), maxLength: 4 }),
      )
      .map(([prefix, rest]) => `${prefix}${rest}`)
      .filter((id) => id !== ''),
  );
  const scenario = fc.record({
    versions: fc.array(fc.record({ id: idArbitrary, minute: fc.integer({ min: 0, max: 9 }) }), { minLength: 1, maxLength: 120 }),
    limit: fc.integer({ min: 1, max: 7 }),
    sinceMinute: fc.integer({ min: 0, max: 9 }),
  });

  test('property: every page and every get is what the port\'s semantics give, whatever the ids share', async () => {
    const warehouse = await DuckDbWarehouse.open(freshPath());
    let run = 0;
    try {
      await fc.assert(
        fc.asyncProperty(scenario, async ({ versions, limit, sinceMinute }) => {
          run += 1;
          // Each run writes a later day than the runs before it and reads from within that day, so one file serves
          // every run: earlier runs' versions are outside the window.
          const at = (minute: number) => new Date(Date.UTC(2024, 0, 1 + run, 0, minute));
          const stored = versions.map(({ id, minute }, index) => row({ id, insertId: `${run}:${index}`, ingestedAt: at(minute) }));
          await warehouse.insert(stored);
          const since = at(sinceMinute);
          let afterId = '';
          for (;;) {
            const page = await warehouse.listLatest({ afterId, limit, since });
            expect(page).toEqual(latestPage(stored, { afterId, limit, since }));
            if (page.length < limit) break;
            afterId = page.at(-1)!.id;
          }
          for (const { id } of stored) expect(await warehouse.getLatest(id, { since })).toEqual(latestOf(stored, id, { since }));
        }),
        { numRuns: propertyRuns(60) },
      );
    } finally {
      await warehouse.close();
    }
  });

  test('ids with more versions than a first look at the keys reads are still paged in order, each once', async () => {
    const warehouse = await DuckDbWarehouse.open(freshPath());
    // 3 ids × 100 versions fill the first look (at least 64 keys) several times over before a page of 3 is complete.
    const stored = ['x-1', 'x-2', 'x-3', 'x-4'].flatMap((id, idIndex) =>
      Array.from({ length: 100 }, (_, version) => row({ id, insertId: `${id}:${version}`, ingestedAt: new Date(Date.UTC(2024, 0, 1, 0, 0, version, idIndex)) })),
    );
    await warehouse.insert(stored.slice(0, 200));
    await warehouse.insert(stored.slice(200));
    const since = new Date(0);
    expect(await warehouse.listLatest({ afterId: '', limit: 3, since })).toEqual(latestPage(stored, { afterId: '', limit: 3, since }));
    expect(await warehouse.listLatest({ afterId: 'x-3', limit: 3, since })).toEqual(latestPage(stored, { afterId: 'x-3', limit: 3, since }));
    await warehouse.close();
  });

  test('a file written before the key existed gets it on open, and reads it back', async () => {
    const path = freshPath();
    mkdirSync(dirname(path), { recursive: true });
    const instance = await DuckDBInstance.create(path);
    const connection = await instance.connect();
    await connection.run(`CREATE SCHEMA ${DUCKDB_SCHEMA}`);
    await connection.run(
      `CREATE TABLE ${DUCKDB_SCHEMA}.${DUCKDB_TABLE} (id VARCHAR NOT NULL, name VARCHAR NOT NULL, value DOUBLE NOT NULL, insert_id VARCHAR NOT NULL UNIQUE, ingested_at TIMESTAMPTZ NOT NULL)`,
    );
    const old = [row({ id: 'old-b' }), row({ id: 'old-a' })];
    for (const one of old) {
      await connection.run(`INSERT INTO ${DUCKDB_SCHEMA}.${DUCKDB_TABLE} VALUES ($1, $2, $3, $4, make_timestamptz($5::BIGINT * 1000))`, [
        one.id,
        one.name,
        one.value,
        one.insertId,
        one.ingestedAt.getTime(),
      ]);
    }
    connection.closeSync();
    instance.closeSync();

    const warehouse = await DuckDbWarehouse.open(path);
    const since = new Date(0);
    expect(await warehouse.listLatest({ afterId: '', limit: 10, since })).toEqual(latestPage(old, { afterId: '', limit: 10, since }));
    expect(await warehouse.getLatest('old-a', { since })).toEqual(latestOf(old, 'old-a', { since }));
    await warehouse.close();
  });
});
