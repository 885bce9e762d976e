/**
 * Which value of a `WarehouseRow` goes in which warehouse column. Both
 * adapters build their rows from `WAREHOUSE_BIGQUERY_FIELDS` through this
 * one mapping, so a field added to the record schema is stored by both.
 */
import type { BigQueryField, IngestRecord } from '../record';
import type { WarehouseRow } from './warehouse';

export type ColumnValue = string | number | Date;

type ColumnReader = (row: WarehouseRow) => ColumnValue;

/** The columns the pipeline adds (`INGESTION_BIGQUERY_FIELDS`); every other column is a record field of the same name. */
const INGESTION_COLUMN_VALUES: ReadonlyMap<string, ColumnReader> = new Map<string, ColumnReader>([
  ['insert_id', (row) => row.insertId],
  ['ingested_at', (row) => row.ingestedAt],
]);

export function columnValue(row: WarehouseRow, column: BigQueryField): ColumnValue {
  const ingestionValue = INGESTION_COLUMN_VALUES.get(column.name);
  return ingestionValue ? ingestionValue(row) : row[column.name as keyof IngestRecord];
}
