import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BigQueryWarehouse } from '../../../lambda-src/warehouse/bigquery';
import { DuckDbWarehouse } from '../../../lambda-src/warehouse/duckdb';
import { openWarehouse, warehouseConfigFromEnv } from '../../../lambda-src/warehouse/from-env';

describe('warehouseConfigFromEnv', () => {
  test('defaults to DuckDB under .data/', () => {
    expect(warehouseConfigFromEnv({})).toEqual({ kind: 'duckdb', path: '.data/warehouse.duckdb' });
    expect(warehouseConfigFromEnv({ WAREHOUSE: '', DUCKDB_PATH: ' ' })).toEqual({ kind: 'duckdb', path: '.data/warehouse.duckdb' });
  });

  test('DUCKDB_PATH picks the file', () => {
    expect(warehouseConfigFromEnv({ WAREHOUSE: 'duckdb', DUCKDB_PATH: '/var/lib/ingest/w.duckdb' })).toEqual({
      kind: 'duckdb',
      path: '/var/lib/ingest/w.duckdb',
    });
  });

  test('reads process.env when given nothing', () => {
    const saved = process.env.WAREHOUSE;
    process.env.WAREHOUSE = 'nonsense-from-process-env';
    try {
      expect(() => warehouseConfigFromEnv()).toThrow(/nonsense-from-process-env/);
    } finally {
      if (saved === undefined) delete process.env.WAREHOUSE;
      else process.env.WAREHOUSE = saved;
    }
  });

  test('an unknown WAREHOUSE is an error naming the variable and the choices', () => {
    expect(() => warehouseConfigFromEnv({ WAREHOUSE: 'postgres' })).toThrow('WAREHOUSE must be one of duckdb, bigquery, got "postgres"');
    expect(() => warehouseConfigFromEnv({ WAREHOUSE: 'BigQuery' })).toThrow(/^WAREHOUSE must be/);
  });

  test('BigQuery with defaults for dataset, table and bytes billed', () => {
    expect(warehouseConfigFromEnv({ WAREHOUSE: 'bigquery', GOOGLE_CLOUD_PROJECT: 'my-project' })).toEqual({
      kind: 'bigquery',
      projectId: 'my-project',
      dataset: 'ingest',
      table: 'records',
      maxBytesBilled: 1024 ** 3,
    });
  });

  test('BigQuery with every variable set', () => {
    expect(
      warehouseConfigFromEnv({
        WAREHOUSE: 'bigquery',
        GOOGLE_CLOUD_PROJECT: 'example.com:my-project',
        BIGQUERY_DATASET: 'Ingest_2024',
        BIGQUERY_TABLE: 'récords 2024-01',
        BIGQUERY_MAX_BYTES_BILLED: '10485760',
        BIGQUERY_EMULATOR_HOST: 'http://127.0.0.1:9050/',
      }),
    ).toEqual({
      kind: 'bigquery',
      projectId: 'example.com:my-project',
      dataset: 'Ingest_2024',
      table: 'récords 2024-01',
      maxBytesBilled: 10485760,
      apiEndpoint: 'http://127.0.0.1:9050',
    });
  });

  test('BigQuery without GOOGLE_CLOUD_PROJECT is an error naming it', () => {
    expect(() => warehouseConfigFromEnv({ WAREHOUSE: 'bigquery' })).toThrow('GOOGLE_CLOUD_PROJECT is required when WAREHOUSE=bigquery');
    expect(() => warehouseConfigFromEnv({ WAREHOUSE: 'bigquery', GOOGLE_CLOUD_PROJECT: '' })).toThrow(/GOOGLE_CLOUD_PROJECT/);
  });

  test.each([
    ['GOOGLE_CLOUD_PROJECT', 'My_Project'],
    ['GOOGLE_CLOUD_PROJECT', 'abc'],
    ['GOOGLE_CLOUD_PROJECT', 'project-ending-'],
    ['BIGQUERY_DATASET', 'my-dataset'],
    ['BIGQUERY_DATASET', 'ingest.records'],
    ['BIGQUERY_DATASET', 'd'.repeat(1025)],
    ['BIGQUERY_TABLE', 'records; DROP'],
    ['BIGQUERY_TABLE', 'a/b'],
    ['BIGQUERY_TABLE', 'é'.repeat(513)],
    ['BIGQUERY_TABLE', 'records`; DROP'],
    ['BIGQUERY_MAX_BYTES_BILLED', '1GiB'],
    ['BIGQUERY_MAX_BYTES_BILLED', '10485759'],
    ['BIGQUERY_MAX_BYTES_BILLED', '-1'],
    ['BIGQUERY_MAX_BYTES_BILLED', '1e12'],
    ['BIGQUERY_MAX_BYTES_BILLED', '9007199254740992'],
    ['BIGQUERY_EMULATOR_HOST', 'localhost:9050'],
  ])('%s=%j is refused with an error naming it', (name, value) => {
    const env = { WAREHOUSE: 'bigquery', GOOGLE_CLOUD_PROJECT: 'my-project', [name]: value };
    expect(() => warehouseConfigFromEnv(env)).toThrow(new RegExp(`^${name} `));
  });

  test('names at the limits are accepted', () => {
    const config = warehouseConfigFromEnv({
      WAREHOUSE: 'bigquery',
      GOOGLE_CLOUD_PROJECT: 'a'.repeat(30),
      BIGQUERY_DATASET: 'd'.repeat(1024),
      BIGQUERY_TABLE: 'é'.repeat(512),
      BIGQUERY_MAX_BYTES_BILLED: String(Number.MAX_SAFE_INTEGER),
    });
    expect(config).toMatchObject({ dataset: 'd'.repeat(1024), table: 'é'.repeat(512), maxBytesBilled: Number.MAX_SAFE_INTEGER });
  });
});

describe('openWarehouse', () => {
  let directory: string;

  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), 'open-warehouse-'));
  });

  afterAll(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  test('opens DuckDB at the configured path, creating its directory', async () => {
    const path = join(directory, 'data', 'warehouse.duckdb');
    const warehouse = await openWarehouse({ kind: 'duckdb', path });
    try {
      expect(warehouse).toBeInstanceOf(DuckDbWarehouse);
      expect(existsSync(path)).toBe(true);
    } finally {
      await warehouse.close();
    }
  });

  test('BigQuery opens without touching the network or credentials', async () => {
    const warehouse = await openWarehouse(
      warehouseConfigFromEnv({ WAREHOUSE: 'bigquery', GOOGLE_CLOUD_PROJECT: 'my-project', BIGQUERY_EMULATOR_HOST: 'http://127.0.0.1:1' }),
    );
    expect(warehouse).toBeInstanceOf(BigQueryWarehouse);
    await warehouse.close();
  });

  test('never loads DuckDB for BigQuery', async () => {
    await jest.isolateModulesAsync(async () => {
      jest.doMock('@duckdb/node-api', () => {
        throw new Error('@duckdb/node-api was loaded');
      });
      const isolated = await import('../../../lambda-src/warehouse/from-env');
      const warehouse = await isolated.openWarehouse(isolated.warehouseConfigFromEnv({ WAREHOUSE: 'bigquery', GOOGLE_CLOUD_PROJECT: 'my-project' }));
      await warehouse.close();
      await expect(isolated.openWarehouse({ kind: 'duckdb', path: join(directory, 'never.duckdb') })).rejects.toThrow(
        '@duckdb/node-api was loaded',
      );
    });
  });
});
