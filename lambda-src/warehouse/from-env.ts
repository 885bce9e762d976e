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
import { BigQueryWarehouse, DEFAULT_MAX_BYTES_BILLED, MIN_MAX_BYTES_BILLED, emulatorEndpointFromEnv } from './bigquery';
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

// https://cloud.google.com/resource-manager/docs/creating-managing-projects: 6-30 lowercase letters, digits and
// hyphens, starting with a letter, not ending with a hyphen; legacy domain-scoped ids carry an `example.com:` prefix.
const PROJECT_ID = /^(?:[a-z0-9][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
// https://cloud.google.com/bigquery/docs/datasets#dataset-naming: letters, digits, underscores; at most 1024 characters.
const DATASET_ID = /^[A-Za-z0-9_]{1,1024}$/;
// https://cloud.google.com/bigquery/docs/tables#table_naming: Unicode letters, marks, digits, connectors (e.g. `_`),
// dashes and spaces; at most 1024 UTF-8 bytes.
const TABLE_ID = /^[\p{L}\p{M}\p{N}\p{Pc}\p{Pd}\p{Zs}]+$/u;
const TABLE_ID_MAX_BYTES = 1024;
const TABLE_ID_RULE = 'must be at most 1024 bytes of letters, marks, digits, underscores, dashes or spaces';
const isTableId = (value: string) => TABLE_ID.test(value) && Buffer.byteLength(value) <= TABLE_ID_MAX_BYTES;

function checked(name: string, value: string, valid: boolean, rule: string): string {
  if (!valid) throw new Error(`${name} ${rule}, got ${JSON.stringify(value)}`);
  return value;
}

function bigQueryConfig(env: Env): BigQueryWarehouseConfig {
  const project = variable(env, 'GOOGLE_CLOUD_PROJECT');
  if (project === undefined) throw new Error('GOOGLE_CLOUD_PROJECT is required when WAREHOUSE=bigquery');
  const dataset = variable(env, 'BIGQUERY_DATASET') ?? DEFAULT_BIGQUERY_DATASET;
  const table = variable(env, 'BIGQUERY_TABLE') ?? DEFAULT_BIGQUERY_TABLE;
  const maxBytesBilled = variable(env, 'BIGQUERY_MAX_BYTES_BILLED') ?? String(DEFAULT_MAX_BYTES_BILLED);
  const config: BigQueryWarehouseConfig = {
    kind: 'bigquery',
    projectId: checked(
      'GOOGLE_CLOUD_PROJECT',
      project,
      PROJECT_ID.test(project),
      'must be a Google Cloud project id (6-30 lowercase letters, digits or hyphens, starting with a letter)',
    ),
    dataset: checked('BIGQUERY_DATASET', dataset, DATASET_ID.test(dataset), 'must be 1-1024 letters, digits or underscores'),
    table: checked('BIGQUERY_TABLE', table, isTableId(table), TABLE_ID_RULE),
    maxBytesBilled: Number(
      checked(
        'BIGQUERY_MAX_BYTES_BILLED',
        maxBytesBilled,
        /^\d+$/.test(maxBytesBilled) && Number(maxBytesBilled) >= MIN_MAX_BYTES_BILLED && Number.isSafeInteger(Number(maxBytesBilled)),
        `must be a whole number of bytes from ${MIN_MAX_BYTES_BILLED} (BigQuery's 10 MiB minimum per query) to ${Number.MAX_SAFE_INTEGER}`,
      ),
    ),
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
