/** GROUP_COMMIT and the per-warehouse group-commit tuning of the deployed runtime. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createFunctionRuntime,
  GROUP_COMMIT_FOR_WAREHOUSE,
  groupCommitFromEnv,
  runtimeFromEnv,
} from '../../../lambda-src/functions/runtime';
import { InsertFailureLogWarehouse } from '../../../lambda-src/handlers/insert-failure-log';
import { GROUP_COMMIT_DEFAULTS, GroupCommitWarehouse } from '../../../lambda-src/warehouse/group-commit';
import type { WarehouseRow } from '../../../lambda-src/warehouse/warehouse';
import { MemoryWarehouse } from '../../support/memory-warehouse';

const SETTINGS = { maxBodyBytes: 1024, projectId: undefined };
const row: WarehouseRow = { id: 'a', name: 'a', value: 1, insertId: 'i-1', ingestedAt: new Date(0) };

describe('groupCommitFromEnv', () => {
  it.each([{}, { GROUP_COMMIT: '' }, { GROUP_COMMIT: 'on' }])('is on, with the defaults, for %j', (env) => {
    expect(groupCommitFromEnv(env)).toEqual({});
  });

  it('is off for GROUP_COMMIT=off', () => {
    expect(groupCommitFromEnv({ GROUP_COMMIT: 'off' })).toBe(false);
  });

  it.each(['0', 'false', 'OFF', 'yes'])('refuses GROUP_COMMIT=%j, naming the variable and the choices', (value) => {
    expect(() => groupCommitFromEnv({ GROUP_COMMIT: value })).toThrow(`GROUP_COMMIT must be one of on, off, got ${JSON.stringify(value)}`);
  });
});

describe('createFunctionRuntime without group commit', () => {
  it('sends each insert straight through the insert-failure log, and closes the adapter', async () => {
    const adapter = new MemoryWarehouse();
    const runtime = createFunctionRuntime({ functionName: 'api', openWarehouse: async () => adapter, settings: SETTINGS, groupCommit: false });
    const warehouse = await runtime.warehouse();
    expect(warehouse).toBeInstanceOf(InsertFailureLogWarehouse);
    await warehouse.insert([row]);
    expect(adapter.insertCalls).toEqual([[row]]);
    await runtime.close();
    expect(adapter.closeCalls).toBe(1);
  });

  it('passes group-commit options to the batcher', async () => {
    const runtime = createFunctionRuntime({
      functionName: 'api',
      openWarehouse: async () => new MemoryWarehouse(),
      settings: SETTINGS,
      groupCommit: { lingerMs: 7 },
    });
    const warehouse = (await runtime.warehouse()) as GroupCommitWarehouse;
    expect(warehouse.options.lingerMs).toBe(7);
    await runtime.close();
  });
});

describe('runtimeFromEnv', () => {
  let directory: string;
  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), 'runtime-group-commit-'));
  });
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it('gives DuckDB, which writes one batch at a time, a batcher with one batch in flight and no linger timer', async () => {
    expect(GROUP_COMMIT_FOR_WAREHOUSE.duckdb).toEqual({ maxInFlightBatches: 1, lingerMs: 0 });
    const runtime = runtimeFromEnv('api', { WAREHOUSE: 'duckdb', DUCKDB_PATH: join(directory, 'warehouse.duckdb') });
    const warehouse = (await runtime.warehouse()) as GroupCommitWarehouse;
    expect(warehouse).toBeInstanceOf(GroupCommitWarehouse);
    expect(warehouse.options).toEqual({ ...GROUP_COMMIT_DEFAULTS, maxInFlightBatches: 1, lingerMs: 0 });
    await runtime.close();
  });

  it('lets GROUP_COMMIT_LINGER_MS override the warehouse linger', async () => {
    const runtime = runtimeFromEnv('api', {
      WAREHOUSE: 'duckdb',
      DUCKDB_PATH: join(directory, 'linger.duckdb'),
      GROUP_COMMIT_LINGER_MS: '5',
    });
    expect(((await runtime.warehouse()) as GroupCommitWarehouse).options).toMatchObject({ maxInFlightBatches: 1, lingerMs: 5 });
    await runtime.close();
  });

  it('lets GROUP_COMMIT_DEADLINE_MS set how long a request may wait for its commit, and refuses one out of range naming it', async () => {
    const runtime = runtimeFromEnv('api', { WAREHOUSE: 'duckdb', DUCKDB_PATH: join(directory, 'deadline.duckdb'), GROUP_COMMIT_DEADLINE_MS: '1500' });
    expect(((await runtime.warehouse()) as GroupCommitWarehouse).options).toMatchObject({ deadlineMs: 1500, lingerMs: 0 });
    await runtime.close();
    expect(() => runtimeFromEnv('api', { GROUP_COMMIT_DEADLINE_MS: '0' })).toThrow(/^GROUP_COMMIT_DEADLINE_MS must be an integer from 1 to 3600000/);
  });

  it('gives BigQuery the batcher defaults, and no batcher with GROUP_COMMIT=off', async () => {
    const bigQuery = { WAREHOUSE: 'bigquery', GOOGLE_CLOUD_PROJECT: 'demo-project', BIGQUERY_EMULATOR_HOST: 'http://127.0.0.1:9' };
    const batched = runtimeFromEnv('api', bigQuery);
    expect(((await batched.warehouse()) as GroupCommitWarehouse).options).toEqual(GROUP_COMMIT_DEFAULTS);
    const unbatched = runtimeFromEnv('api', { ...bigQuery, GROUP_COMMIT: 'off' });
    expect(await unbatched.warehouse()).toBeInstanceOf(InsertFailureLogWarehouse);
    await Promise.all([batched.close(), unbatched.close()]);
  });

  it('refuses a bad GROUP_COMMIT at load', () => {
    expect(() => runtimeFromEnv('api', { GROUP_COMMIT: 'maybe' })).toThrow(/^GROUP_COMMIT must be one of on, off/);
  });
});
