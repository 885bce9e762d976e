import { createServer } from 'node:net';
import { WAREHOUSE_BIGQUERY_FIELDS } from '../../../lambda-src/record';
import { BigQueryWarehouse, normalizeApiEndpoint, type BigQueryWarehouseOptions } from '../../../lambda-src/warehouse/bigquery';
import { UPDATED_AT_COLUMN } from '../../../lambda-src/warehouse/latest-view';
import { ReadTooLargeError, RowsRejectedError, STOPPED_REASON, WarehouseError } from '../../../lambda-src/warehouse/warehouse';
import { BigQueryStandIn, type InsertAllRequest, type QueryRequest, type TableRef } from '../../../tools/bigquery-standin';
import { asStored, byInsertId, describeWarehouseContract, INJECTION_SHAPED_IDS, row, rows, type StoredRow } from './contract';

const PROJECT = 'test-project';
const DATASET = 'ingest';

let standIn: BigQueryStandIn;
let tables = 0;

beforeAll(async () => {
  // A few milliseconds per reply, so concurrent inserts really are in flight together.
  standIn = await BigQueryStandIn.start({ latencyMs: 5 });
});

afterAll(async () => {
  await standIn.stop();
});

/**
 * A fixed insertAll deadline for the tests that are not about it (those set their own). The adaptive one falls
 * toward its 250 ms floor after a few quick calls, and on a loaded machine a later call, a large batch above all,
 * can take longer than that: such a test would then fail on how fast the machine was, not on what it checks.
 */
const FIXED_INSERT_DEADLINE = { minInsertTimeoutMs: 20_000, maxInsertTimeoutMs: 20_000 };

/** A new empty table in the stand-in, partitioned by day as `WarehouseTable` makes it (and no view), and its coordinates for the adapter. */
function freshTable(): { ref: TableRef; options: BigQueryWarehouseOptions } {
  tables += 1;
  const ref = { projectId: PROJECT, datasetId: DATASET, tableId: `records_${tables}` };
  standIn.createTable(ref, WAREHOUSE_BIGQUERY_FIELDS, { dayPartitionedBy: UPDATED_AT_COLUMN });
  return { ref, options: { projectId: PROJECT, dataset: DATASET, table: ref.tableId, apiEndpoint: standIn.url, ...FIXED_INSERT_DEADLINE } };
}

function storedRows(ref: TableRef): StoredRow[] {
  return standIn.rows(ref).map(({ json }) => ({
    id: json.id as string,
    name: json.name as string,
    value: json.value as number,
    insertId: json.insert_id as string,
    ingestedAt: new Date(json.ingested_at as string),
  }));
}

function requestsTo(ref: TableRef): InsertAllRequest[] {
  return standIn.requestsTo('tabledata.insertAll').filter((request) => request.table.tableId === ref.tableId);
}

/** The WarehouseError a warehouse call (insert or read) failed with; the test fails if it succeeded or threw anything else. */
async function failureOf(call: Promise<unknown>): Promise<WarehouseError> {
  const failure = await call.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(failure).toBeInstanceOf(WarehouseError);
  return failure as WarehouseError;
}

describeWarehouseContract('BigQueryWarehouse', async () => {
  const { ref, options } = freshTable();
  return { warehouse: new BigQueryWarehouse(options), storedRows: async () => storedRows(ref) };
});

describe('BigQueryWarehouse on the wire', () => {
  test('one insertAll per batch: every row with its insert id, all-or-nothing and strict-schema flags, no credentials', async () => {
    const { ref, options } = freshTable();
    const warehouse = new BigQueryWarehouse(options);
    const batch = [row({ ingestedAt: new Date('2024-01-15T12:34:56.789Z') }), row()];
    await warehouse.insert(batch);

    const sent = requestsTo(ref);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      table: ref,
      skipInvalidRows: false,
      ignoreUnknownValues: false,
      authorization: undefined,
    });
    expect(sent[0]!.rows.map((one) => one.insertId)).toEqual(batch.map((one) => one.insertId));
    expect(sent[0]!.rows[0]!.json).toEqual({
      id: batch[0]!.id,
      name: batch[0]!.name,
      value: batch[0]!.value,
      insert_id: batch[0]!.insertId,
      ingested_at: '2024-01-15T12:34:56.789Z',
    });
  });

  test('an empty batch sends nothing', async () => {
    const { ref, options } = freshTable();
    await new BigQueryWarehouse(options).insert([]);
    expect(requestsTo(ref)).toHaveLength(0);
  });

  test('per-row insertErrors become RowsRejectedError with indices, reasons and messages, and are not re-sent', async () => {
    const { ref, options } = freshTable();
    const warehouse = new BigQueryWarehouse(options);
    standIn.script('tabledata.insertAll', { outcome: { kind: 'rejectRows', indices: [1, 3], message: 'bad row' } });
    const failure = await failureOf(warehouse.insert(rows(4)));

    expect(failure).toBeInstanceOf(RowsRejectedError);
    expect(failure).toMatchObject({ errorClass: 'warehouse_rejected_rows', retryable: false });
    expect((failure as RowsRejectedError).rowErrors).toEqual([
      { index: 0, reason: STOPPED_REASON, message: '' },
      { index: 1, reason: 'invalid', message: 'bad row' },
      { index: 2, reason: STOPPED_REASON, message: '' },
      { index: 3, reason: 'invalid', message: 'bad row' },
    ]);
    expect(requestsTo(ref)).toHaveLength(1);
    expect(storedRows(ref)).toEqual([]);
  });

  test.each([
    [500, 'backendError'],
    [503, 'backendError'],
    [429, 'rateLimitExceeded'],
    [403, 'rateLimitExceeded'],
    [403, 'quotaExceeded'],
  ])('HTTP %i %s is a retryable warehouse_unavailable, sent once', async (status, reason) => {
    const { ref, options } = freshTable();
    standIn.script('tabledata.insertAll', { outcome: { kind: 'httpError', status, reason } });
    const failure = await failureOf(new BigQueryWarehouse(options).insert(rows(2)));
    expect(failure).toMatchObject({ errorClass: 'warehouse_unavailable', retryable: true });
    expect(failure.message).toContain(`HTTP ${status}`);
    expect(requestsTo(ref)).toHaveLength(1);
    expect(storedRows(ref)).toEqual([]);
  });

  test.each([
    [400, 'invalid'],
    [403, 'accessDenied'],
  ])('HTTP %i %s is a non-retryable warehouse_error', async (status, reason) => {
    const { options } = freshTable();
    standIn.script('tabledata.insertAll', { outcome: { kind: 'httpError', status, reason } });
    const failure = await failureOf(new BigQueryWarehouse(options).insert(rows(1)));
    expect(failure).toMatchObject({ errorClass: 'warehouse_error', retryable: false });
  });

  test('a table that does not exist is a non-retryable warehouse_error naming the status', async () => {
    const warehouse = new BigQueryWarehouse({ projectId: PROJECT, dataset: DATASET, table: 'missing', apiEndpoint: standIn.url });
    const failure = await failureOf(warehouse.insert(rows(1)));
    expect(failure).toMatchObject({ errorClass: 'warehouse_error', retryable: false });
    expect(failure.message).toMatch(/HTTP 404 notFound/);
  });

  test('a dropped connection is retryable; re-sending the batch after a lost reply stores it once', async () => {
    const { ref, options } = freshTable();
    const warehouse = new BigQueryWarehouse(options);
    const batch = rows(3);
    standIn.script('tabledata.insertAll', { outcome: { kind: 'destroySocket' } }, { outcome: { kind: 'destroySocket', afterStoring: true } });

    expect(await failureOf(warehouse.insert(batch))).toMatchObject({ errorClass: 'warehouse_unavailable', retryable: true });
    expect(storedRows(ref)).toEqual([]);
    expect(await failureOf(warehouse.insert(batch))).toMatchObject({ errorClass: 'warehouse_unavailable', retryable: true });
    await warehouse.insert(batch);

    expect(requestsTo(ref)).toHaveLength(3);
    expect(byInsertId(storedRows(ref))).toEqual(byInsertId(asStored(batch)));
  });

  test('an insertAll slower than its deadline is a retryable warehouse_unavailable', async () => {
    const { options } = freshTable();
    const warehouse = new BigQueryWarehouse({ ...options, minInsertTimeoutMs: 200, maxInsertTimeoutMs: 200 });
    standIn.script('tabledata.insertAll', { delayMs: 60_000 });
    const failure = await failureOf(warehouse.insert(rows(1)));
    expect(failure).toMatchObject({ errorClass: 'warehouse_unavailable', retryable: true });
    expect(failure.message).toBe('BigQuery insertAll did not answer within 200 ms');
  });

  test('the insertAll deadline follows the round trips measured: a hung call is abandoned far sooner than the first call would have been', async () => {
    const { ref, options } = freshTable();
    // The first call may wait a minute, longer than this test may run; the round trips after it are milliseconds, and
    // the floor of a second keeps a busy machine's pause (a full test run on two cores) from failing one of them.
    const warehouse = new BigQueryWarehouse({ ...options, minInsertTimeoutMs: 1000, maxInsertTimeoutMs: 60_000 });
    for (let call = 0; call < 8; call += 1) await warehouse.insert(rows(1));
    standIn.script('tabledata.insertAll', { outcome: { kind: 'hang', afterStoring: true } });
    const hung = rows(2);
    const failure = await failureOf(warehouse.insert(hung));
    expect(failure).toMatchObject({ errorClass: 'warehouse_unavailable', retryable: true });
    const deadline = Number(/did not answer within (\d+) ms/.exec(failure.message)?.[1]);
    expect(deadline).toBeGreaterThanOrEqual(1000);
    expect(deadline).toBeLessThan(60_000);

    // Abandoned, then re-sent with the same insert ids by its caller: stored once.
    await warehouse.insert(hung);
    expect(byInsertId(storedRows(ref)).filter((stored) => hung.some((one) => one.insertId === stored.insertId))).toEqual(byInsertId(asStored(hung)));
  });

  test.each([
    [{ minInsertTimeoutMs: 0 }],
    [{ minInsertTimeoutMs: 500, maxInsertTimeoutMs: 100 }],
    [{ maxInsertTimeoutMs: Number.POSITIVE_INFINITY }],
  ])('refuses insert deadlines %j, naming the options', (deadlines) => {
    const { options } = freshTable();
    expect(() => new BigQueryWarehouse({ ...options, ...deadlines })).toThrow(/minInsertTimeoutMs and maxInsertTimeoutMs must be positive numbers/);
  });

  test('past its deadline an insert hangs up instead of holding the connection for an answer that may never come', async () => {
    let closed!: () => void;
    const hungUp = new Promise<void>((resolve) => (closed = resolve));
    const silent = createServer((socket) => socket.resume().on('close', closed));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as { port: number };
      const warehouse = new BigQueryWarehouse({ projectId: PROJECT, dataset: DATASET, table: 'any', apiEndpoint: `http://127.0.0.1:${port}`, minInsertTimeoutMs: 100, maxInsertTimeoutMs: 100 });
      expect(await failureOf(warehouse.insert(rows(1)))).toMatchObject({ errorClass: 'warehouse_unavailable', retryable: true });
      const stillOpen = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the connection was still open 2 s after the deadline')), 2000).unref());
      await Promise.race([hungUp, stillOpen]);
    } finally {
      silent.close();
    }
  });

  test('a refused connection is a retryable warehouse_unavailable', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const warehouse = new BigQueryWarehouse({ projectId: PROJECT, dataset: DATASET, table: 'any', apiEndpoint: `http://127.0.0.1:${closedPort}` });
    const failure = await failureOf(warehouse.insert(rows(1)));
    expect(failure).toMatchObject({ errorClass: 'warehouse_unavailable', retryable: true });
    expect(failure.message).toBe('BigQuery insertAll failed: ECONNREFUSED');
  });
});

describe('BigQueryWarehouse reads on the wire', () => {
  const MARKER = 'user-text-marker';
  const SINCE = new Date('2024-01-15T00:00:00.000Z');
  const sinceParameter = { name: 'since', parameterType: { type: 'TIMESTAMP' }, parameterValue: { value: '2024-01-15T00:00:00.000Z' } };

  /** The jobs.query requests since `before` (a count of all of them). */
  const queriesSince = (before: number): QueryRequest[] => standIn.requestsTo('jobs.query').slice(before);

  test('getLatest: one GoogleSQL jobs.query on the table itself, the window on its partitioning column, every value a typed named parameter', async () => {
    const { ref, options } = freshTable();
    const warehouse = new BigQueryWarehouse({ ...options, requestTimeoutMs: 4000 });
    const id = `${MARKER} ${INJECTION_SHAPED_IDS[0]}`;
    await warehouse.insert([row({ id, name: 'found' })]);
    const before = standIn.requestsTo('jobs.query').length;

    expect(await warehouse.getLatest(id, { since: SINCE })).toMatchObject({ id, name: 'found' });
    const [sent, ...more] = queriesSince(before);
    expect(more).toEqual([]);
    expect(sent).toEqual({
      route: 'jobs.query',
      projectId: PROJECT,
      query:
        `SELECT id, name, value, ingested_at FROM \`${PROJECT}.${DATASET}.${ref.tableId}\` ` +
        'WHERE id = @id AND ingested_at >= @since ORDER BY ingested_at DESC, insert_id DESC LIMIT 1',
      queryParameters: [{ name: 'id', parameterType: { type: 'STRING' }, parameterValue: { value: id } }, sinceParameter],
      parameterMode: 'named',
      useLegacySql: false,
      maximumBytesBilled: String(1024 ** 3),
      timeoutMs: 4000,
      jobCreationMode: 'JOB_CREATION_OPTIONAL',
      authorization: undefined,
      statistics: expect.any(Object),
    });
    expect(sent!.query).not.toContain(MARKER);
  });

  test('listLatest: the window and the page inside the scan of the table itself, ROW_NUMBER per id, ordered by id, every value a typed named parameter', async () => {
    const { ref, options } = freshTable();
    const warehouse = new BigQueryWarehouse(options);
    await warehouse.insert([row({ id: 'b' }), row({ id: 'a' }), row({ id: 'c' })]);
    const before = standIn.requestsTo('jobs.query').length;
    expect((await warehouse.listLatest({ afterId: 'a', limit: 1, since: SINCE })).map((record) => record.id)).toEqual(['b']);
    const [sent] = queriesSince(before);
    expect(sent!.query).toBe(
      [
        'SELECT id, name, value, ingested_at',
        'FROM (',
        '  SELECT id, name, value, ingested_at, ROW_NUMBER() OVER (PARTITION BY id ORDER BY ingested_at DESC, insert_id DESC) AS version_rank',
        `  FROM \`${PROJECT}.${DATASET}.${ref.tableId}\``,
        '  WHERE ingested_at >= @since AND id > @afterId',
        ')',
        'WHERE version_rank = 1 ORDER BY id LIMIT @limit',
      ].join('\n'),
    );
    expect(sent!.queryParameters).toEqual([
      sinceParameter,
      { name: 'afterId', parameterType: { type: 'STRING' }, parameterValue: { value: 'a' } },
      { name: 'limit', parameterType: { type: 'INT64' }, parameterValue: { value: 1 } },
    ]);
    expect(sent!.maximumBytesBilled).toBe(String(1024 ** 3));
  });

  test.each(INJECTION_SHAPED_IDS)('the id %j never reaches the SQL text, finds nothing, and every read names the table, never a view', async (id) => {
    const { ref, options } = freshTable();
    const warehouse = new BigQueryWarehouse(options);
    await warehouse.insert(rows(2));
    const before = standIn.requestsTo('jobs.query').length;
    expect(await warehouse.getLatest(id, { since: SINCE })).toBeUndefined();
    expect(await warehouse.listLatest({ afterId: id, limit: 5, since: SINCE })).toEqual(expect.any(Array));
    const sent = queriesSince(before);
    expect(sent).toHaveLength(2);
    for (const query of sent) {
      expect([...query.query.matchAll(/FROM `([^`]+)`/g)].map((match) => match[1])).toEqual([`${PROJECT}.${DATASET}.${ref.tableId}`]);
      expect(query.query).not.toContain('_latest');
      expect(query.query).toMatch(/\bWHERE (id = @id AND )?ingested_at >= @since\b/);
      expect(query.queryParameters).toContainEqual(sinceParameter);
      expect(query.queryParameters.map((parameter) => parameter.parameterValue?.value)).toContain(id);
    }
  });

  test('what a read bills depends on its window, not on the table: old partitions are pruned, and a window over the cap is a ReadTooLargeError', async () => {
    const { options } = freshTable();
    const warehouse = new BigQueryWarehouse({ ...options, maxBytesBilled: 10 * 1024 * 1024 });
    // 8500 rows of about 1.3 kB each, three days before the window: just over 10 MiB in partitions a read of the window never scans.
    const old = new Date('2024-01-12T12:00:00.000Z');
    for (let batch = 0; batch < 17; batch += 1) {
      await warehouse.insert(Array.from({ length: 500 }, () => row({ id: 'i'.repeat(256), name: 'n'.repeat(1024), ingestedAt: old })));
    }
    await warehouse.insert([row({ id: 'recent', ingestedAt: new Date('2024-01-15T09:00:00.000Z') })]);
    const before = standIn.requestsTo('jobs.query').length;
    expect(await warehouse.getLatest('recent', { since: SINCE })).toMatchObject({ id: 'recent' });
    expect((await warehouse.listLatest({ afterId: '', limit: 10, since: SINCE })).map((record) => record.id)).toEqual(['recent']);
    for (const sent of queriesSince(before)) expect(sent.statistics).toEqual({ bytesProcessed: expect.any(Number), bytesBilled: 10 * 1024 * 1024 });
    expect(queriesSince(before)[0]!.statistics!.bytesProcessed).toBeLessThan(100);

    const failure = await failureOf(warehouse.listLatest({ afterId: '', limit: 10, since: old }));
    expect(failure).toBeInstanceOf(ReadTooLargeError);
    expect(failure).toMatchObject({ errorClass: 'warehouse_error', retryable: false });
    expect(failure.message).toMatch(/^BigQuery query refused: HTTP 400 bytesBilledLimitExceeded/);
  });

  test('maxBytesBilled is configurable', async () => {
    const { options } = freshTable();
    const warehouse = new BigQueryWarehouse({ ...options, maxBytesBilled: 50 * 1024 * 1024 });
    const before = standIn.requestsTo('jobs.query').length;
    await warehouse.getLatest('x', { since: SINCE });
    expect(queriesSince(before)[0]).toMatchObject({ maximumBytesBilled: String(50 * 1024 * 1024) });
  });

  test.each([
    [503, 'backendError'],
    [429, 'rateLimitExceeded'],
  ])('HTTP %i %s is a retryable warehouse_unavailable, sent once', async (status, reason) => {
    const { options } = freshTable();
    const before = standIn.requestsTo('jobs.query').length;
    standIn.script('jobs.query', { outcome: { kind: 'httpError', status, reason } });
    const failure = await failureOf(new BigQueryWarehouse(options).listLatest({ afterId: '', limit: 10, since: SINCE }));
    expect(failure).toMatchObject({ errorClass: 'warehouse_unavailable', retryable: true });
    expect(failure.message).toContain(`BigQuery query failed: HTTP ${status}`);
    expect(queriesSince(before)).toHaveLength(1);
  });

  test('a missing table is a non-retryable warehouse_error', async () => {
    const { options } = freshTable();
    const failure = await failureOf(new BigQueryWarehouse({ ...options, table: 'no_such_table' }).getLatest('x', { since: SINCE }));
    expect(failure).toMatchObject({ errorClass: 'warehouse_error', retryable: false });
    expect(failure.message).toMatch(/HTTP 404 notFound/);
  });

  test('a query BigQuery has not finished within the timeout is a retryable warehouse_unavailable, not polled', async () => {
    const { options } = freshTable();
    const before = standIn.requestsTo('jobs.query').length;
    standIn.script('jobs.query', { outcome: { kind: 'incomplete' } });
    const failure = await failureOf(new BigQueryWarehouse({ ...options, requestTimeoutMs: 3000 }).getLatest('x', { since: SINCE }));
    expect(failure).toMatchObject({ errorClass: 'warehouse_unavailable', retryable: true });
    expect(failure.message).toBe('BigQuery query did not complete within 3000 ms');
    expect(queriesSince(before)).toHaveLength(1);
  });

  test('a reply slower than requestTimeoutMs is a retryable warehouse_unavailable', async () => {
    const { options } = freshTable();
    standIn.script('jobs.query', { delayMs: 60_000 });
    const failure = await failureOf(new BigQueryWarehouse({ ...options, requestTimeoutMs: 200 }).getLatest('x', { since: SINCE }));
    expect(failure).toMatchObject({ errorClass: 'warehouse_unavailable', retryable: true });
    expect(failure.message).toBe('BigQuery query did not answer within 200 ms');
  });

  test.each([
    [{ maxBytesBilled: 10 * 1024 * 1024 - 1 }, /^maxBytesBilled must be an integer from 10485760 to /],
    [{ maxBytesBilled: 1.5e9 + 0.5 }, /^maxBytesBilled must be an integer/],
    [{ table: 'v`; DROP TABLE x; --' }, /must not contain a backquote/],
    [{ table: 'records\\' }, /must not contain a backquote, backslash or newline/],
  ])('refuses options %j at construction', (overrides, message) => {
    expect(() => new BigQueryWarehouse({ projectId: PROJECT, dataset: DATASET, table: 'records', ...overrides })).toThrow(message);
  });
});

describe('BigQueryWarehouse with BIGQUERY_EMULATOR_HOST', () => {
  const saved = { ...process.env };

  afterEach(() => {
    for (const name of ['BIGQUERY_EMULATOR_HOST', 'GOOGLE_APPLICATION_CREDENTIALS']) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  });

  test.each([
    ['the stand-in URL', (url: string) => url],
    ['the Node client spelling with /bigquery/v2', (url: string) => `${url}/bigquery/v2/`],
  ])('given %s, inserts there and looks up no Google credentials', async (_, spelling) => {
    const { ref } = freshTable();
    process.env.BIGQUERY_EMULATOR_HOST = spelling(standIn.url);
    // Credentials that would fail if anything tried to load them.
    process.env.GOOGLE_APPLICATION_CREDENTIALS = '/nonexistent/credentials.json';
    const warehouse = new BigQueryWarehouse({ projectId: PROJECT, dataset: DATASET, table: ref.tableId });
    const batch = rows(2);
    await warehouse.insert(batch);
    expect(byInsertId(storedRows(ref))).toEqual(byInsertId(asStored(batch)));
    expect(requestsTo(ref)[0]!.authorization).toBeUndefined();
  });
});

describe('normalizeApiEndpoint', () => {
  test.each([
    ['http://127.0.0.1:9050', 'http://127.0.0.1:9050'],
    ['http://127.0.0.1:9050/', 'http://127.0.0.1:9050'],
    ['http://localhost:9050/bigquery/v2', 'http://localhost:9050'],
    ['https://proxy.example.com/bq/', 'https://proxy.example.com/bq'],
  ])('%s -> %s', (input, expected) => {
    expect(normalizeApiEndpoint(input, 'apiEndpoint')).toBe(expected);
  });

  test.each(['127.0.0.1:9050', 'localhost', 'ftp://host', 'http://host/?q=1', ''])('refuses %j, naming the source', (input) => {
    expect(() => normalizeApiEndpoint(input, 'BIGQUERY_EMULATOR_HOST')).toThrow(/^BIGQUERY_EMULATOR_HOST must be an http\(s\) URL/);
  });
});
