/**
 * The embedded warehouse for local runs and end-to-end tests: a DuckDB file
 * (default `.data/warehouse.duckdb`) holding table `ingest.records` with the
 * same columns and limits as the BigQuery table.
 *
 * One process opens a file once: DuckDB lets two instances open the same
 * file in one process and then both write it unaware of each other, so every
 * `DuckDbWarehouse` on a path shares one instance and one connection, and
 * their writes are queued, one transaction at a time. The file is released
 * when the last of them closes.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import {
  DOUBLE,
  DuckDBInstance,
  LIST,
  TIMESTAMPTZ,
  VARCHAR,
  listValue,
  timestampTZValue,
  type DuckDBConnection,
  type DuckDBListType,
  type DuckDBPreparedStatement,
  type DuckDBValue,
} from '@duckdb/node-api';
import { parseRecord, WAREHOUSE_BIGQUERY_FIELDS, type BigQueryField } from '../record';
import { columnValue, type ColumnValue } from './columns';
import { STOPPED_REASON } from './group-commit';
import { RowsRejectedError, WarehouseError, type RowError, type Warehouse, type WarehouseRow } from './warehouse';

export const DUCKDB_SCHEMA = 'ingest';
export const DUCKDB_TABLE = 'records';

interface DuckDbColumnType {
  sql: string;
  listType: DuckDBListType;
  encode(value: ColumnValue): DuckDBValue;
}

const COLUMN_TYPES: Readonly<Record<BigQueryField['type'], DuckDbColumnType>> = {
  STRING: { sql: 'VARCHAR', listType: LIST(VARCHAR), encode: (value) => String(value) },
  FLOAT: { sql: 'DOUBLE', listType: LIST(DOUBLE), encode: (value) => Number(value) },
  // BigQuery TIMESTAMP is an instant; TIMESTAMPTZ is DuckDB's instant, in microseconds.
  TIMESTAMP: {
    sql: 'TIMESTAMPTZ',
    listType: LIST(TIMESTAMPTZ),
    encode: (value) => timestampTZValue(BigInt((value as Date).getTime()) * 1000n),
  },
};

const quote = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`;
const TABLE_SQL = `${quote(DUCKDB_SCHEMA)}.${quote(DUCKDB_TABLE)}`;
const INSERT_ID_COLUMN = 'insert_id';

function columnDefinition(field: BigQueryField): string {
  const parts = [quote(field.name), COLUMN_TYPES[field.type].sql];
  if (field.mode === 'REQUIRED') parts.push('NOT NULL');
  if (field.name === INSERT_ID_COLUMN) parts.push('UNIQUE');
  if (field.maxLength !== undefined) parts.push(`CHECK (length(${quote(field.name)}) <= ${Number(field.maxLength)})`);
  return parts.join(' ');
}

const CREATE_SQL = [
  `CREATE SCHEMA IF NOT EXISTS ${quote(DUCKDB_SCHEMA)}`,
  `CREATE TABLE IF NOT EXISTS ${TABLE_SQL} (${WAREHOUSE_BIGQUERY_FIELDS.map(columnDefinition).join(', ')})`,
];

// One list parameter per column, unnested side by side into rows: a batch of
// any size is one prepared statement, hence one transaction, with no value
// ever spliced into SQL. A repeated insert id, in the table or earlier in the
// same batch, is skipped.
const INSERT_SQL =
  `INSERT INTO ${TABLE_SQL} (${WAREHOUSE_BIGQUERY_FIELDS.map((field) => quote(field.name)).join(', ')}) ` +
  `SELECT ${WAREHOUSE_BIGQUERY_FIELDS.map((_, index) => `unnest($${index + 1})`).join(', ')} ` +
  `ON CONFLICT (${quote(INSERT_ID_COLUMN)}) DO NOTHING`;

const MAX_MESSAGE_LENGTH = 300;

function duckDbMessage(error: unknown): string {
  // Not `instanceof Error`: the native binding's errors may come from another realm (e.g. under jest).
  const candidate = (error as { message?: unknown } | null)?.message;
  const message = typeof candidate === 'string' ? candidate : String(error);
  const firstLine = message.split('\n', 1)[0]!;
  return firstLine.length > MAX_MESSAGE_LENGTH ? `${firstLine.slice(0, MAX_MESSAGE_LENGTH)}…` : firstLine;
}

/** DuckDB prefixes messages with its exception type; these can pass (disk, memory, a concurrent writer). */
const TRANSIENT_ERROR = /^(IO|Out of Memory|TransactionContext|Interrupt) Error/;

function asWarehouseError(error: unknown, action: string): WarehouseError {
  if (error instanceof WarehouseError) return error;
  const message = duckDbMessage(error);
  return TRANSIENT_ERROR.test(message)
    ? new WarehouseError(`DuckDB ${action} failed: ${message}`, 'warehouse_unavailable', true)
    : new WarehouseError(`DuckDB ${action} failed: ${message}`, 'warehouse_error', false);
}

/** Why a row cannot be stored, in the words of the record schema; undefined when it can. */
function rowProblem(row: WarehouseRow, index: number): string | undefined {
  const { insertId, ingestedAt, ...record } = row;
  const problems: string[] = [];
  const parsed = parseRecord(record, `rows[${index}]`);
  if (!parsed.ok) problems.push(...parsed.errors.map((error) => `${error.field}: ${error.message}`));
  if (typeof insertId !== 'string' || insertId === '') problems.push(`rows[${index}].insertId: must be a non-empty string`);
  if (!(ingestedAt instanceof Date) || Number.isNaN(ingestedAt.getTime())) problems.push(`rows[${index}].ingestedAt: must be a valid Date`);
  return problems.length > 0 ? problems.join('; ') : undefined;
}

/**
 * BigQuery's answer to a batch with bad rows (with `skipInvalidRows: false`):
 * the bad rows `invalid`, every other row `stopped`, nothing stored.
 */
function batchRowErrors(rows: readonly WarehouseRow[]): RowError[] {
  const problems = rows.map(rowProblem);
  if (problems.every((problem) => problem === undefined)) return [];
  return problems.map((problem, index) =>
    problem === undefined
      ? { index, reason: STOPPED_REASON, message: 'not stored because another row of the batch is invalid' }
      : { index, reason: 'invalid', message: problem },
  );
}

/** The instance, connection and insert statement every `DuckDbWarehouse` on one file shares. */
class SharedDatabase {
  /** Tail of the write queue: one statement runs at a time on the shared connection. */
  private writes: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    private readonly insertStatement: DuckDBPreparedStatement,
  ) {}

  static async open(file: string): Promise<SharedDatabase> {
    await mkdir(dirname(file), { recursive: true });
    const instance = await DuckDBInstance.create(file);
    let connection: DuckDBConnection | undefined;
    try {
      connection = await instance.connect();
      for (const statement of CREATE_SQL) await connection.run(statement);
      return new SharedDatabase(instance, connection, await connection.prepare(INSERT_SQL));
    } catch (error) {
      connection?.closeSync();
      instance.closeSync();
      throw error;
    }
  }

  insert(rows: readonly WarehouseRow[]): Promise<void> {
    const done = this.writes.then(async () => {
      WAREHOUSE_BIGQUERY_FIELDS.forEach((field, index) => {
        const type = COLUMN_TYPES[field.type];
        const values = rows.map((row) => type.encode(columnValue(row, field)));
        this.insertStatement.bindList(index + 1, listValue(values), type.listType);
      });
      await this.insertStatement.run();
    });
    this.writes = done.catch(() => undefined);
    return done;
  }

  async close(): Promise<void> {
    await this.writes;
    this.insertStatement.destroySync();
    this.connection.closeSync();
    this.instance.closeSync();
  }
}

interface OpenDatabase {
  users: number;
  database: Promise<SharedDatabase>;
}

/** Open files by absolute path. */
const openDatabases = new Map<string, OpenDatabase>();
/** Files whose last user closed them and whose instance is still shutting down; a new open waits for it. */
const closingDatabases = new Map<string, Promise<void>>();

async function acquire(file: string): Promise<SharedDatabase> {
  let entry = openDatabases.get(file);
  if (!entry) {
    const previousClose = closingDatabases.get(file) ?? Promise.resolve();
    const opened: OpenDatabase = { users: 0, database: previousClose.then(() => SharedDatabase.open(file)) };
    opened.database.catch(() => {
      if (openDatabases.get(file) === opened) openDatabases.delete(file);
    });
    openDatabases.set(file, opened);
    entry = opened;
  }
  entry.users += 1;
  try {
    return await entry.database;
  } catch (error) {
    entry.users -= 1;
    throw error;
  }
}

async function release(file: string): Promise<void> {
  const entry = openDatabases.get(file)!;
  entry.users -= 1;
  if (entry.users > 0) return;
  openDatabases.delete(file);
  const closed = entry.database.then((database) => database.close());
  const settled = closed.catch(() => undefined);
  closingDatabases.set(file, settled);
  try {
    await closed;
  } finally {
    if (closingDatabases.get(file) === settled) closingDatabases.delete(file);
  }
}

export class DuckDbWarehouse implements Warehouse {
  private closed?: Promise<void>;

  private constructor(
    private readonly file: string,
    private readonly database: SharedDatabase,
  ) {}

  /** Opens (creating the file, its directory, schema and table if needed) the warehouse at `path`. */
  static async open(path: string): Promise<DuckDbWarehouse> {
    const file = resolve(path);
    try {
      return new DuckDbWarehouse(file, await acquire(file));
    } catch (error) {
      throw asWarehouseError(error, `open of ${file}`);
    }
  }

  async insert(rows: readonly WarehouseRow[]): Promise<void> {
    if (this.closed) throw new WarehouseError('DuckDB warehouse is closed', 'warehouse_error', false);
    if (rows.length === 0) return;
    const rowErrors = batchRowErrors(rows);
    if (rowErrors.length > 0) throw new RowsRejectedError(rowErrors);
    try {
      await this.database.insert(rows);
    } catch (error) {
      throw asWarehouseError(error, 'insert');
    }
  }

  /** Waits for queued writes when this is the file's last user, then releases the file. */
  close(): Promise<void> {
    this.closed ??= release(this.file);
    return this.closed;
  }
}
