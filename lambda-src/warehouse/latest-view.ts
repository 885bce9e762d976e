/**
 * The latest-version view and the two read queries, written once for both
 * warehouses: the same SQL text is valid GoogleSQL (BigQuery) and DuckDB
 * SQL. Only what differs between the dialects is passed in: how the table
 * or view name is quoted, and how a named parameter is spelled (`@id` in
 * BigQuery, `$id` in DuckDB). No value ever becomes SQL text.
 *
 * The view is for people: `WarehouseTable` (constructs/) creates the
 * BigQuery view from `latestViewQuery`, and `DuckDbWarehouse` its own. The
 * read queries never use it: they read the table itself within a window of
 * `ingested_at`, the BigQuery table's partitioning column, so that BigQuery
 * scans only the partitions the window covers (see docs/reads.md). Both
 * pick the same version of a record.
 */
import { RECORD_BIGQUERY_FIELDS, WAREHOUSE_BIGQUERY_FIELDS, type IngestRecord } from '../record';
import type { StoredRecord } from './warehouse';

/** The view's default name is the table's plus this. */
export const LATEST_VIEW_SUFFIX = '_latest';

/**
 * Column of the stored rows that becomes a record's `updatedAt`, and the one
 * read windows filter on: the BigQuery table must be partitioned by it.
 */
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
 * `id` alone (`ROW_NUMBER`'s partition key, and the BigQuery table's
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
export const READ_PARAMETERS = { id: 'id', afterId: 'afterId', limit: 'limit', since: 'since' } as const;

/** What a read selects: the record's own fields, then when its latest version was stored. */
export const READ_COLUMNS: readonly string[] = [...RECORD_BIGQUERY_FIELDS.map((field) => field.name), UPDATED_AT_COLUMN];

/**
 * The latest version of one id stored at or after the window's start:
 * parameters `id` and `since`. The table is clustered by `id`, and the
 * filter on `ingested_at` is on the partitioning column by itself, compared
 * with a parameter, so BigQuery prunes every partition before `since`.
 */
export function latestByIdQuery(table: string, parameter: ParameterSyntax): string {
  return (
    `SELECT ${READ_COLUMNS.join(', ')} FROM ${table} ` +
    `WHERE id = ${parameter(READ_PARAMETERS.id)} AND ${UPDATED_AT_COLUMN} >= ${parameter(READ_PARAMETERS.since)} ` +
    `${LATEST_FIRST} LIMIT 1`
  );
}

/**
 * One page of latest versions within the window, ordered by id,
 * keyset-paginated: parameters `since`, `afterId` (ids greater than it; `''`
 * for the first page, since ids are never empty) and `limit`. Both filters
 * sit below the window function: neither can change which version of an id
 * ranks first among those stored since `since`, and the one on
 * `ingested_at` prunes partitions.
 */
export function latestPageQuery(table: string, parameter: ParameterSyntax): string {
  const columns = READ_COLUMNS.join(', ');
  return [
    `SELECT ${columns}`,
    'FROM (',
    `  SELECT ${columns}, ROW_NUMBER() OVER (PARTITION BY id ${LATEST_FIRST}) AS version_rank`,
    `  FROM ${table}`,
    `  WHERE ${UPDATED_AT_COLUMN} >= ${parameter(READ_PARAMETERS.since)} AND id > ${parameter(READ_PARAMETERS.afterId)}`,
    ')',
    `WHERE version_rank = 1 ORDER BY id LIMIT ${parameter(READ_PARAMETERS.limit)}`,
  ].join('\n');
}

/** A row a read query returned (column name to value) as a `StoredRecord`; `updatedAt` is its `ingested_at`, decoded by the adapter. */
export function storedRecordOf(row: Readonly<Record<string, unknown>>, updatedAt: Date): StoredRecord {
  const record = Object.fromEntries(RECORD_BIGQUERY_FIELDS.map((field) => [field.name, row[field.name]])) as IngestRecord;
  return { ...record, updatedAt };
}
