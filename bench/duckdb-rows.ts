/** What a DuckDB warehouse file holds, read after its function has exited. */
import { DuckDBInstance } from '@duckdb/node-api';
import { DUCKDB_SCHEMA, DUCKDB_TABLE } from '../lambda-src/warehouse/duckdb';

export interface StoredRows {
  rows: number;
  distinctInsertIds: number;
}

export async function storedRows(path: string): Promise<StoredRows> {
  const instance = await DuckDBInstance.create(path);
  const connection = await instance.connect();
  try {
    const reader = await connection.runAndReadAll(
      `SELECT count(*)::INTEGER, count(DISTINCT insert_id)::INTEGER FROM "${DUCKDB_SCHEMA}"."${DUCKDB_TABLE}"`,
    );
    const [rows, distinctInsertIds] = reader.getRows()[0] as [number, number];
    return { rows, distinctInsertIds };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
