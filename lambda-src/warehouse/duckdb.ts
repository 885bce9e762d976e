/**
 * The embedded warehouse for local runs and end-to-end tests: a DuckDB file
 * (default `.data/warehouse.duckdb`) holding table `ingest.records` with the
 * same columns and limits as the BigQuery table, and view
 * `ingest.records_latest` defined by the same SQL as the BigQuery view (for
 * people: reads query the table within their window, as on BigQuery).
 *
 * One process opens a file once: DuckDB lets two instances open the same
 * file in one process and then both write it unaware of each other, so every
 * `DuckDbWarehouse` on a path shares one instance and one connection, and
 * their writes are queued, one transaction at a time. Reads run on a second
 * connection, one at a time, so they never wait behind a write: DuckDB runs
 * the two connections' statements at once, on libuv's thread pool, each
 * read seeing the last committed state (`npm run bench` measures reads
 * while writes run).
 * The file is released when the last of them closes.
 *
 * Reads use the port's SQL (`latest-view.ts`) on a slice of the table picked
 * by each version's id key: its id's first 16 UTF-8 bytes as two big-endian
 * integers (`ID_KEY_COLUMNS`). Ids in byte order have keys in the same
 * order, so a get reads the versions whose key matches, and a page first
 * finds, from the keys alone, how far the next `limit` ids can reach, then
 * ranks only the versions up to there. Integer keys cost DuckDB a fraction
 * of what strings do to scan and order, and writes only compute two more
 * columns; a latest-version table kept with `ON CONFLICT DO UPDATE` made
 * every commit several times as expensive, and its first page still ordered
 * every id (docs/performance.md). Ids that share their first 16 bytes share
 * a key, so reads over them rank all their versions, as without the key.
 *
 * Each `insert` is one transaction, and resolves only once DuckDB has
 * committed it (its write-ahead log is on disk): the group-commit batcher in
 * front of the adapter turns the requests of a busy instance into few such
 * transactions.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import {
  DuckDBInstance,
  INTEGER,
  TIMESTAMPTZ,
  timestampTZValue,
  UBIGINT,
  VARCHAR,
  type DuckDBConnection,
  type DuckDBPreparedStatement,
  type DuckDBType,
} from '@duckdb/node-api';
import { isStorableText, parseRecord, WAREHOUSE_BIGQUERY_FIELDS, type BigQueryField } from '../record';
import { columnValue, type ColumnValue } from './columns';
import { SerialQueue } from './serial-queue';
import {
  LATEST_VIEW_SUFFIX,
  READ_PARAMETERS,
  latestByIdQuery,
  latestPageQuery,
  latestViewQuery,
  storedRecordOf,
  UPDATED_AT_COLUMN,
} from './latest-view';
import { asWarehouseError, failureText } from '../rules/warehouse-errors';
import {
  RowsRejectedError,
  STOPPED_REASON,
  WarehouseError,
  type ListLatestOptions,
  type ReadWindow,
  type RowError,
  type StoredRecord,
  type Warehouse,
  type WarehouseRow,
} from './warehouse';

export const DUCKDB_SCHEMA = 'ingest';
export const DUCKDB_TABLE = 'records';
export const DUCKDB_LATEST_VIEW = `${DUCKDB_TABLE}${LATEST_VIEW_SUFFIX}`;

interface DuckDbColumnType {
  sql: string;
  /** The DuckDB type `from_json` reads each element of the column's JSON array as. */
  jsonElementSql: string;
  /** The element as JSON sends it. */
  toJson(value: ColumnValue): string | number;
  /** SQL turning one `jsonElementSql` value into the column's type. */
  fromJsonElement(element: string): string;
}

/** A column whose values JSON carries as they are: `from_json` reads each element straight as the column's type. */
function jsonNative(sql: string, toJson: DuckDbColumnType['toJson']): DuckDbColumnType {
  return { sql, jsonElementSql: sql, toJson, fromJsonElement: (element) => element };
}

const COLUMN_TYPES: Readonly<Record<BigQueryField['type'], DuckDbColumnType>> = {
  STRING: jsonNative('VARCHAR', (value) => String(value)),
  // JSON has no -0, so -0 is stored as 0, as BigQuery's JSON insertAll stores it; every other double round-trips.
  FLOAT: jsonNative('DOUBLE', (value) => Number(value)),
  // BigQuery TIMESTAMP is an instant; TIMESTAMPTZ is DuckDB's instant, made from epoch microseconds.
  TIMESTAMP: {
    sql: 'TIMESTAMPTZ',
    jsonElementSql: 'BIGINT',
    toJson: (value) => (value as Date).getTime(),
    fromJsonElement: (element) => `make_timestamptz(${element} * 1000)`,
  },
};

const quote = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`;
const TABLE_SQL = `${quote(DUCKDB_SCHEMA)}.${quote(DUCKDB_TABLE)}`;
const LATEST_VIEW_SQL = `${quote(DUCKDB_SCHEMA)}.${quote(DUCKDB_LATEST_VIEW)}`;
const INSERT_ID_COLUMN = 'insert_id';

function columnDefinition(field: BigQueryField): string {
  const parts = [quote(field.name), COLUMN_TYPES[field.type].sql];
  if (field.mode === 'REQUIRED') parts.push('NOT NULL');
  if (field.name === INSERT_ID_COLUMN) parts.push('UNIQUE');
  if (field.maxLength !== undefined) parts.push(`CHECK (length(${quote(field.name)}) <= ${Number(field.maxLength)})`);
  return parts.join(' ');
}

/**
 * The two columns of each version's id key (see the file's comment): the
 * id's first 16 UTF-8 bytes, zero-padded, as two unsigned 64-bit integers,
 * bytes 1-8 and 9-16.
 */
const ID_KEY_COLUMNS = { high: 'id_key_high', low: 'id_key_low' } as const;
const HIGH = quote(ID_KEY_COLUMNS.high);
const LOW = quote(ID_KEY_COLUMNS.low);

/**
 * The macros computing an id's key, from the hex digits of its UTF-8 bytes.
 * Temporary, defined on each connection as it opens: the adapter's reads
 * and writes need them, people querying the file do not.
 */
const KEY_OF = { high: 'ingest_id_key_high', low: 'ingest_id_key_low' } as const;
const ID_KEY_MACROS_SQL = [
  `CREATE OR REPLACE TEMP MACRO ${KEY_OF.high}(id) AS ('0x' || rpad(substr(hex(id), 1, 16), 16, '0'))::UBIGINT`,
  `CREATE OR REPLACE TEMP MACRO ${KEY_OF.low}(id) AS ('0x' || rpad(substr(hex(id), 17, 16), 16, '0'))::UBIGINT`,
];

const CREATE_SQL = [
  `CREATE SCHEMA IF NOT EXISTS ${quote(DUCKDB_SCHEMA)}`,
  `CREATE TABLE IF NOT EXISTS ${TABLE_SQL} (${WAREHOUSE_BIGQUERY_FIELDS.map(columnDefinition).join(', ')})`,
  // Replaced on every open, so a file made by an older version reads with today's definitions.
  `CREATE OR REPLACE VIEW ${LATEST_VIEW_SQL} AS ${latestViewQuery(TABLE_SQL)}`,
  // A file written before the key existed (or by a version that did not fill it) gets it now.
  `ALTER TABLE ${TABLE_SQL} ADD COLUMN IF NOT EXISTS ${HIGH} UBIGINT`,
  `ALTER TABLE ${TABLE_SQL} ADD COLUMN IF NOT EXISTS ${LOW} UBIGINT`,
  `UPDATE ${TABLE_SQL} SET ${HIGH} = ${KEY_OF.high}(id), ${LOW} = ${KEY_OF.low}(id) WHERE ${HIGH} IS NULL OR ${LOW} IS NULL`,
  // DuckDB 1.5 fails to replay a write-ahead log holding that ALTER TABLE, so it goes into the file before any insert.
  'CHECKPOINT',
];

const namedParameter = (name: string) => `$${name}`;
/** Parameters of a page's slice: its first key (`afterId`'s) and its last (the reach of a look at the keys). */
const SLICE = { afterHigh: 'afterHigh', afterLow: 'afterLow', reachHigh: 'reachHigh', reachLow: 'reachLow' } as const;
const afterKey = (part: keyof typeof KEY_OF) => `${KEY_OF[part]}(${namedParameter(READ_PARAMETERS.afterId)})`;
const slice = (name: keyof typeof SLICE) => namedParameter(SLICE[name]);

/**
 * A read runs the port's query on a slice of the table, the versions of a
 * range of keys, read first on their own (`MATERIALIZED`): otherwise DuckDB
 * would test the port query's conditions on ids (`id = @id`,
 * `id > @afterId`) on every version's id as it scans, which costs more than
 * the rest of the read. Each slice is a union of ranges with no `OR`, which
 * DuckDB tests on the two integer columns as it scans, fetching the other
 * columns of the rows in the slice only.
 */
const onSlice = (versions: string, query: (table: string, parameter: typeof namedParameter) => string) =>
  `WITH slice AS MATERIALIZED (${versions}) ${query('slice', namedParameter)}`;

const LATEST_BY_ID_SQL = onSlice(
  `SELECT * FROM ${TABLE_SQL} WHERE ${HIGH} = ${KEY_OF.high}(${namedParameter(READ_PARAMETERS.id)}) AND ${LOW} = ${KEY_OF.low}(${namedParameter(READ_PARAMETERS.id)})`,
  latestByIdQuery,
);
const pageSql = (versions: string) => onSlice(versions, latestPageQuery);
/** The slice when its first and last keys share their high half (as ids sharing their first 8 bytes do). */
const PAGE_WITHIN_ONE_HIGH_SQL = pageSql(
  `SELECT * FROM ${TABLE_SQL} WHERE ${HIGH} = ${slice('afterHigh')} AND ${LOW} BETWEEN ${slice('afterLow')} AND ${slice('reachLow')}`,
);
/** The slice when its last key's high half is greater than its first's. */
const PAGE_ACROSS_HIGHS_SQL = pageSql(
  [
    `SELECT * FROM ${TABLE_SQL} WHERE ${HIGH} = ${slice('afterHigh')} AND ${LOW} >= ${slice('afterLow')}`,
    `SELECT * FROM ${TABLE_SQL} WHERE ${HIGH} > ${slice('afterHigh')} AND ${HIGH} < ${slice('reachHigh')}`,
    `SELECT * FROM ${TABLE_SQL} WHERE ${HIGH} = ${slice('reachHigh')} AND ${LOW} <= ${slice('reachLow')}`,
  ].join(' UNION ALL '),
);

/** The greatest key's half, named after its parameter. */
const reachOf = (half: keyof typeof ID_KEY_COLUMNS) =>
  `arg_max(${quote(ID_KEY_COLUMNS[half])}, (${HIGH}, ${LOW})) AS ${half === 'high' ? SLICE.reachHigh : SLICE.reachLow}`;
/**
 * A look at the `keys` smallest keys of the versions in the window from
 * `afterId`'s key on: their count, the greatest of them, and `afterId`'s.
 * From the keys alone, a cheap scan of two integer columns.
 */
const pageReachSql = (keys: number) =>
  `SELECT count(*)::INTEGER AS keys, ${reachOf('high')}, ${reachOf('low')}, ` +
  `${afterKey('high')} AS ${SLICE.afterHigh}, ${afterKey('low')} AS ${SLICE.afterLow} FROM (` +
  `SELECT ${HIGH}, ${LOW} FROM ${TABLE_SQL} WHERE ${UPDATED_AT_COLUMN} >= ${namedParameter(READ_PARAMETERS.since)} ` +
  `AND ${HIGH} >= ${afterKey('high')} AND (${HIGH} > ${afterKey('high')} OR ${LOW} >= ${afterKey('low')}) ` +
  `ORDER BY ${HIGH}, ${LOW} LIMIT ${keys})`;
const LATEST_BY_ID_TYPES: Record<string, DuckDBType> = { [READ_PARAMETERS.id]: VARCHAR, [READ_PARAMETERS.since]: TIMESTAMPTZ };
const LATEST_PAGE_TYPES: Record<string, DuckDBType> = {
  [READ_PARAMETERS.afterId]: VARCHAR,
  [READ_PARAMETERS.limit]: INTEGER,
  [READ_PARAMETERS.since]: TIMESTAMPTZ,
  ...Object.fromEntries(Object.values(SLICE).map((name) => [name, UBIGINT])),
};
const PAGE_REACH_TYPES: Record<string, DuckDBType> = { [READ_PARAMETERS.afterId]: VARCHAR, [READ_PARAMETERS.since]: TIMESTAMPTZ };

/**
 * How many keys the first look at a page reads: twice the page, so ids with
 * a second version rarely need another look; a power of two, so a few
 * prepared statements serve every limit. Each further look reads four times
 * as many.
 */
function firstPageReach(limit: number): number {
  return Math.max(64, 2 ** Math.ceil(Math.log2(2 * limit)));
}
/** A window's start as DuckDB's instant, in epoch microseconds. */
const sinceValue = (since: Date) => timestampTZValue(BigInt(since.getTime()) * 1000n);

function storedRecord(row: Record<string, unknown>): StoredRecord {
  return storedRecordOf(row, row[UPDATED_AT_COLUMN] as Date);
}

// One parameter per column, a JSON array of the column's values, unnested
// side by side into rows: a batch of any size is one prepared statement, hence
// one transaction, with no value ever spliced into SQL. JSON text rather than
// a DuckDB list value: the binding builds a native value, with a finalizer,
// for every list element on the event loop's thread, while one string per
// column costs a `JSON.stringify`, and DuckDB parses it in less CPU than it
// spends on the list (docs/performance.md).
const jsonColumnSql = (field: BigQueryField, index: number) => {
  const type = COLUMN_TYPES[field.type];
  return type.fromJsonElement(`unnest(from_json($${index + 1}::VARCHAR, '["${type.jsonElementSql}"]'))`);
};
const INSERT_NEW_SQL =
  `INSERT INTO ${TABLE_SQL} (${[...WAREHOUSE_BIGQUERY_FIELDS.map((field) => quote(field.name)), HIGH, LOW].join(', ')}) ` +
  `SELECT *, ${KEY_OF.high}(id), ${KEY_OF.low}(id) FROM (SELECT ${WAREHOUSE_BIGQUERY_FIELDS.map((field, index) => `${jsonColumnSql(field, index)} AS ${quote(field.name)}`).join(', ')})`;
// The same, skipping any row whose insert id is already in the table or earlier in the batch.
const INSERT_SKIPPING_REPEATS_SQL = `${INSERT_NEW_SQL} ON CONFLICT (${quote(INSERT_ID_COLUMN)}) DO NOTHING`;
/**
 * What DuckDB says when an insert id is repeated, in the table (`Duplicate key "insert_id: …"`) or within the batch
 * (`… UNIQUE constraint violation: duplicate key …`); `insert_id` is the table's only UNIQUE column.
 */
const REPEATED_INSERT_ID = /^Constraint Error: .*duplicate key/i;

/** DuckDB prefixes messages with its exception type; these can pass (disk, memory, a concurrent writer). */
const TRANSIENT_ERROR = /^(IO|Out of Memory|TransactionContext|Interrupt) Error/;

/** A DuckDB failure as the port's error: the transient exception types are retryable, the rest unclassified. */
function duckDbFailure(error: unknown, action: string): WarehouseError {
  const operation = `DuckDB ${action}`;
  return asWarehouseError(error, {
    operation,
    classify: (_, text) => (TRANSIENT_ERROR.test(text) ? new WarehouseError(`${operation} failed: ${text}`, 'warehouse_unavailable', true) : undefined),
  });
}

/** Why a row cannot be stored, in the words of the record schema; undefined when it can. */
function rowProblem(row: WarehouseRow, index: number): string | undefined {
  const { insertId, ingestedAt, ...record } = row;
  const problems: string[] = [];
  const parsed = parseRecord(record, `rows[${index}]`);
  if (!parsed.ok) problems.push(...parsed.errors.map((error) => `${error.field}: ${error.message}`));
  if (typeof insertId !== 'string' || insertId === '') problems.push(`rows[${index}].insertId: must be a non-empty string`);
  else if (!isStorableText(insertId)) problems.push(`rows[${index}].insertId: must be well-formed Unicode`);
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

/**
 * One DuckDB worker thread. Writes go one transaction at a time and
 * reads are single-record lookups or short pages, so no query gains from
 * parallel operators, while each extra thread competes for the cores that
 * serve requests: with DuckDB's default (one thread per core) the API
 * function used more CPU per ingested request (docs/performance.md).
 */
const INSTANCE_OPTIONS: Record<string, string> = { threads: '1' };

interface Statements {
  insertNew: DuckDBPreparedStatement;
  insertSkippingRepeats: DuckDBPreparedStatement;
  latestById: DuckDBPreparedStatement;
  pageWithinOneHigh: DuckDBPreparedStatement;
  pageAcrossHighs: DuckDBPreparedStatement;
}

/** What a look at the keys found: how many (fewer than asked means none are left), and the greatest. */
interface PageReach {
  keys: number;
  reachHigh: bigint | null;
  reachLow: bigint | null;
  afterHigh: bigint;
  afterLow: bigint;
}

/** The instance, connections and statements every `DuckDbWarehouse` on one file shares. */
class SharedDatabase {
  private readonly writes = new SerialQueue();
  private readonly reads = new SerialQueue();
  /** Page-reach statements by how many keys they read, prepared on the reader as limits first need them. */
  private readonly pageReach = new Map<number, DuckDBPreparedStatement>();

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connections: readonly DuckDBConnection[],
    private readonly statements: Statements,
  ) {}

  private get reader(): DuckDBConnection {
    return this.connections[1]!;
  }

  static async open(file: string): Promise<SharedDatabase> {
    await mkdir(dirname(file), { recursive: true });
    const instance = await DuckDBInstance.create(file, INSTANCE_OPTIONS);
    const connections: DuckDBConnection[] = [];
    try {
      const writer = await instance.connect();
      connections.push(writer);
      for (const statement of ID_KEY_MACROS_SQL) await writer.run(statement);
      for (const statement of CREATE_SQL) await writer.run(statement);
      const reader = await instance.connect();
      connections.push(reader);
      for (const statement of ID_KEY_MACROS_SQL) await reader.run(statement);
      const statements: Statements = {
        insertNew: await writer.prepare(INSERT_NEW_SQL),
        insertSkippingRepeats: await writer.prepare(INSERT_SKIPPING_REPEATS_SQL),
        latestById: await reader.prepare(LATEST_BY_ID_SQL),
        pageWithinOneHigh: await reader.prepare(PAGE_WITHIN_ONE_HIGH_SQL),
        pageAcrossHighs: await reader.prepare(PAGE_ACROSS_HIGHS_SQL),
      };
      return new SharedDatabase(instance, connections, statements);
    } catch (error) {
      for (const connection of connections) connection.closeSync();
      instance.closeSync();
      throw error;
    }
  }

  /**
   * Stores the rows in one transaction, skipping repeated insert ids, and
   * resolves once it is committed. Almost every batch carries only new ids,
   * and a plain insert costs much less than one with `ON CONFLICT`
   * (docs/performance.md), so that is tried first; a repeated id
   * fails it whole (nothing written) and the batch goes again, skipping the
   * repeats.
   */
  insert(rows: readonly WarehouseRow[]): Promise<void> {
    return this.writes.run(async () => {
      const columns = WAREHOUSE_BIGQUERY_FIELDS.map((field) => {
        const { toJson } = COLUMN_TYPES[field.type];
        return JSON.stringify(rows.map((row) => toJson(columnValue(row, field))));
      });
      const run = (statement: DuckDBPreparedStatement) => {
        columns.forEach((column, index) => statement.bindVarchar(index + 1, column));
        return statement.run();
      };
      try {
        await run(this.statements.insertNew);
      } catch (error) {
        if (!REPEATED_INSERT_ID.test(failureText(error))) throw error;
        await run(this.statements.insertSkippingRepeats);
      }
    });
  }

  getLatest(id: string, { since }: ReadWindow): Promise<StoredRecord | undefined> {
    return this.reads.run(async () => {
      this.statements.latestById.bind({ [READ_PARAMETERS.id]: id, [READ_PARAMETERS.since]: sinceValue(since) }, LATEST_BY_ID_TYPES);
      const [row] = (await this.statements.latestById.runAndReadAll()).getRowObjectsJS();
      return row === undefined ? undefined : storedRecord(row);
    });
  }

  /**
   * Looks at the smallest keys of the window after `afterId`'s key, then
   * ranks the versions up to the greatest of them. Every id of those
   * versions sorts before any id of a greater key, so when they hold
   * `limit` ids (or the look found every key left) the page is complete;
   * otherwise ids with many versions filled the look, and the next one
   * reads four times as many keys.
   */
  listLatest({ afterId, limit, since }: ListLatestOptions): Promise<StoredRecord[]> {
    return this.reads.run(async () => {
      const window = sinceValue(since);
      for (let keys = firstPageReach(limit); ; keys *= 4) {
        const reachStatement = await this.pageReachStatement(keys);
        reachStatement.bind({ [READ_PARAMETERS.since]: window, [READ_PARAMETERS.afterId]: afterId }, PAGE_REACH_TYPES);
        const { keys: found, reachHigh, reachLow, afterHigh, afterLow } = (await reachStatement.runAndReadAll()).getRowObjectsJS()[0] as unknown as PageReach;
        if (reachHigh === null || reachLow === null) return [];
        const withinOneHigh = reachHigh === afterHigh;
        const statement = withinOneHigh ? this.statements.pageWithinOneHigh : this.statements.pageAcrossHighs;
        statement.bind(
          {
            [READ_PARAMETERS.since]: window,
            [READ_PARAMETERS.afterId]: afterId,
            [READ_PARAMETERS.limit]: limit,
            [SLICE.afterHigh]: afterHigh,
            [SLICE.afterLow]: afterLow,
            ...(withinOneHigh ? {} : { [SLICE.reachHigh]: reachHigh }),
            [SLICE.reachLow]: reachLow,
          },
          LATEST_PAGE_TYPES,
        );
        const page = (await statement.runAndReadAll()).getRowObjectsJS();
        if (page.length === limit || found < keys) return page.map(storedRecord);
      }
    });
  }

  private async pageReachStatement(keys: number): Promise<DuckDBPreparedStatement> {
    let statement = this.pageReach.get(keys);
    if (!statement) {
      statement = await this.reader.prepare(pageReachSql(keys));
      this.pageReach.set(keys, statement);
    }
    return statement;
  }

  async close(): Promise<void> {
    await Promise.all([this.writes.drained(), this.reads.drained()]);
    for (const statement of [...Object.values(this.statements), ...this.pageReach.values()]) statement.destroySync();
    for (const connection of this.connections) connection.closeSync();
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
      throw duckDbFailure(error, `open of ${file}`);
    }
  }

  async insert(rows: readonly WarehouseRow[]): Promise<void> {
    this.refuseIfClosed();
    if (rows.length === 0) return;
    const rowErrors = batchRowErrors(rows);
    if (rowErrors.length > 0) throw new RowsRejectedError(rowErrors);
    try {
      await this.database.insert(rows);
    } catch (error) {
      throw duckDbFailure(error, 'insert');
    }
  }

  async getLatest(id: string, window: ReadWindow): Promise<StoredRecord | undefined> {
    this.refuseIfClosed();
    try {
      return await this.database.getLatest(id, window);
    } catch (error) {
      throw duckDbFailure(error, 'read');
    }
  }

  async listLatest(options: ListLatestOptions): Promise<StoredRecord[]> {
    this.refuseIfClosed();
    try {
      return await this.database.listLatest(options);
    } catch (error) {
      throw duckDbFailure(error, 'read');
    }
  }

  /** Waits for queued writes and reads when this is the file's last user, then releases the file. */
  close(): Promise<void> {
    this.closed ??= release(this.file);
    return this.closed;
  }

  private refuseIfClosed(): void {
    if (this.closed) throw new WarehouseError('DuckDB warehouse is closed', 'warehouse_error', false);
  }
}
