/**
 * The latest-version view and the two read queries against it, written once
 * for both warehouses: the same SQL text is valid GoogleSQL (BigQuery) and
 * DuckDB SQL. Only what differs between the dialects is passed in: how the
 * table or view name is quoted, and how a named parameter is spelled
 * (`@id` in BigQuery, `$id` in DuckDB). No value ever becomes SQL text.
 *
 * `WarehouseTable` (constructs/) creates the BigQuery view from
 * `latestViewQuery`, and `DuckDbWarehouse` creates its own from the same
 * function, so both pick the same version of a record.
 */
import { RECORD_BIGQUERY_FIELDS, WAREHOUSE_BIGQUERY_FIELDS, type IngestRecord } from '../record';
import type { StoredRecord } from './warehouse';

/** The view's default name is the table's plus this. */
export const LATEST_VIEW_SUFFIX = '_latest';

/** Column of the stored rows that becomes a record's `updatedAt`. */
export const UPDATED_AT_COLUMN = 'ingested_at';

/**
 * Versions of one id are ordered newest `ingested_at` first; `insert_id`
 * breaks ties so the chosen version never depends on scan order.
 */
const LATEST_FIRST = 'ORDER BY ingested_at DESC, insert_id DESC';

/**
 * The view: every column of the table, one row per id, that id's latest
 * version. A subquery with an explicit column list rather than QUALIFY or
 * `SELECT * EXCEPT`, which the two dialects spell differently. A filter on
 * `id` alone (the window's partition key, and the BigQuery table's
 * clustering column) cannot change which version of an id wins, so the
 * engine may apply it below the window and read only the blocks holding
 * those ids.
 *
 * @param table the source table, already quoted for the dialect
 */
export function latestViewQuery(table: string): string {
  const columns = WAREHOUSE_BIGQUERY_FIELDS.map((field) => field.name).join(', ');
  return [
    `SELECT ${columns}`,
    'FROM (',
    `  SELECT ${columns}, ROW_NUMBER() OVER (PARTITION BY id ${LATEST_FIRST}) AS version_rank`,
    `  FROM ${table}`,
    ')',
    'WHERE version_rank = 1',
  ].join('\n');
}

/** Spells a named query parameter in the dialect: `@name` (BigQuery) or `$name` (DuckDB). */
export type ParameterSyntax = (name: string) => string;

/** Parameters of the read queries, by name. */
export const READ_PARAMETERS = { id: 'id', afterId: 'afterId', limit: 'limit' } as const;

/** What a read selects: the record's own fields, then when its latest version was stored. */
export const READ_COLUMNS: readonly string[] = [...RECORD_BIGQUERY_FIELDS.map((field) => field.name), UPDATED_AT_COLUMN];

/** The latest version of one id: parameter `id`. */
export function latestByIdQuery(view: string, parameter: ParameterSyntax): string {
  return `SELECT ${READ_COLUMNS.join(', ')} FROM ${view} WHERE id = ${parameter(READ_PARAMETERS.id)}`;
}

/**
 * One page of latest versions, ordered by id, keyset-paginated: parameters
 * `afterId` (ids greater than it; `''` for the first page, since ids are
 * never empty) and `limit`.
 */
export function latestPageQuery(view: string, parameter: ParameterSyntax): string {
  return (
    `SELECT ${READ_COLUMNS.join(', ')} FROM ${view} ` +
    `WHERE id > ${parameter(READ_PARAMETERS.afterId)} ORDER BY id LIMIT ${parameter(READ_PARAMETERS.limit)}`
  );
}

/** A row a read query returned (column name to value) as a `StoredRecord`; `updatedAt` is its `ingested_at`, decoded by the adapter. */
export function storedRecordOf(row: Readonly<Record<string, unknown>>, updatedAt: Date): StoredRecord {
  const record = Object.fromEntries(RECORD_BIGQUERY_FIELDS.map((field) => [field.name, row[field.name]])) as IngestRecord;
  return { ...record, updatedAt };
}
