/**
 * Which warehouse a process writes to, from its environment:
 *
 * - `WAREHOUSE`: `duckdb` (default; local runs) or `bigquery` (the deployed
 *   functions get it from their construct).
 * - DuckDB: `DUCKDB_PATH` (default `.data/warehouse.duckdb`).
 * - BigQuery: `GOOGLE_CLOUD_PROJECT` (required), `BIGQUERY_DATASET`
 *   (default `ingest`), `BIGQUERY_TABLE` (default `records`; reads query it
 *   too), `BIGQUERY_MAX_BYTES_BILLED` (default 1 GiB: the most one read query may bill),
 *   `BIGQUERY_EMULATOR_HOST` (optional: an emulator or stand-in, no credentials).
 *
 * An empty variable counts as unset. A bad value is an error naming the variable.
 */
import { integerFromEnv, READ_MAX_BYTES_BILLED } from '../rules/limits';
import { DATASET_ID, nameProblem, PROJECT_ID, TABLE_ID } from '../rules/naming';
import { BigQueryWarehouse, emulatorEndpointFromEnv } from './bigquery';
import type { Warehouse } from './warehouse';

export const DEFAULT_DUCKDB_PATH = '.data/warehouse.duckdb';
export const DEFAULT_BIGQUERY_DATASET = 'ingest';
export const DEFAULT_BIGQUERY_TABLE = 'records';
export const WAREHOUSE_KINDS = ['duckdb', 'bigquery'] as const;

export interface DuckDbWarehouseConfig {
  kind: 'duckdb';
  /** Database file; its directory is created on open. */
  path: string;
}

export interface BigQueryWarehouseConfig {
  kind: 'bigquery';
  projectId: string;
  dataset: string;
  table: string;
  /** Most bytes one read query may bill. */
  maxBytesBilled: number;
  /** Emulator / stand-in base URL; absent means Google's endpoint with Application Default Credentials. */
  apiEndpoint?: string;
}

export type WarehouseConfig = DuckDbWarehouseConfig | BigQueryWarehouseConfig;

type Env = Readonly<Record<string, string | undefined>>;

function variable(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}

function checked(name: string, value: string, problem: string | undefined): string {
  if (problem !== undefined) throw new Error(`${name} ${problem}`);
  return value;
}

function bigQueryConfig(env: Env): BigQueryWarehouseConfig {
  const project = variable(env, 'GOOGLE_CLOUD_PROJECT');
  if (project === undefined) throw new Error('GOOGLE_CLOUD_PROJECT is required when WAREHOUSE=bigquery');
  const dataset = variable(env, 'BIGQUERY_DATASET') ?? DEFAULT_BIGQUERY_DATASET;
  const table = variable(env, 'BIGQUERY_TABLE') ?? DEFAULT_BIGQUERY_TABLE;
  const config: BigQueryWarehouseConfig = {
    kind: 'bigquery',
    projectId: checked('GOOGLE_CLOUD_PROJECT', project, nameProblem(project, PROJECT_ID)),
    dataset: checked('BIGQUERY_DATASET', dataset, nameProblem(dataset, DATASET_ID)),
    table: checked('BIGQUERY_TABLE', table, nameProblem(table, TABLE_ID)),
    maxBytesBilled: integerFromEnv(env, READ_MAX_BYTES_BILLED),
  };
  const apiEndpoint = emulatorEndpointFromEnv(env);
  return apiEndpoint === undefined ? config : { ...config, apiEndpoint };
}

export function warehouseConfigFromEnv(env: Env = process.env): WarehouseConfig {
  const kind = variable(env, 'WAREHOUSE') ?? 'duckdb';
  switch (kind) {
    case 'duckdb':
      return { kind: 'duckdb', path: variable(env, 'DUCKDB_PATH') ?? DEFAULT_DUCKDB_PATH };
    case 'bigquery':
      return bigQueryConfig(env);
    default:
      throw new Error(`WAREHOUSE must be one of ${WAREHOUSE_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
  }
}

export async function openWarehouse(config: WarehouseConfig): Promise<Warehouse> {
  switch (config.kind) {
    case 'duckdb': {
      // Loaded only here, so a cloud bundle built with DuckDB external never loads the native module.
      const { DuckDbWarehouse } = await import('./duckdb');
      return DuckDbWarehouse.open(config.path);
    }
    case 'bigquery':
      return new BigQueryWarehouse(config);
  }
}
