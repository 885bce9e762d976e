import { createServer } from 'node:net';
import { WAREHOUSE_BIGQUERY_FIELDS } from '../../../lambda-src/record';
import { BigQueryWarehouse, normalizeApiEndpoint, type BigQueryWarehouseOptions } from '../../../lambda-src/warehouse/bigquery';
import { STOPPED_REASON } from '../../../lambda-src/warehouse/group-commit';
import { RowsRejectedError, WarehouseError, type Warehouse } from '../../../lambda-src/warehouse/warehouse';
import { BigQueryStandIn, type InsertAllRequest, type TableRef } from '../../support/bigquery-standin';
import { asStored, byInsertId, describeWarehouseContract, row, rows, type StoredRow } from './contract';

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

/** A new empty table in the stand-in, and its coordinates for the adapter. */
function freshTable(): { ref: TableRef; options: BigQueryWarehouseOptions } {
  tables += 1;
  const ref = { projectId: PROJECT, datasetId: DATASET, tableId: `records_${tables}` };
  standIn.createTable(ref, WAREHOUSE_BIGQUERY_FIELDS);
  return { ref, options: { projectId: PROJECT, dataset: DATASET, table: ref.tableId, apiEndpoint: standIn.url } };
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
  return standIn.requests.filter((request) => request.table.tableId === ref.tableId);
}

async function failureOf(warehouse: Warehouse, insert: Parameters<Warehouse['insert']>[0]): Promise<WarehouseError> {
  const failure = await warehouse.insert(insert).then(
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
    const failure = await failureOf(warehouse, rows(4));

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
  ])('HTTP %i %s is a retryable warehouse_unavailable, sent once', async (status, reason) => {
    const { ref, options } = freshTable();
    standIn.script('tabledata.insertAll', { outcome: { kind: 'httpError', status, reason } });
    const failure = await failureOf(new BigQueryWarehouse(options), rows(2));
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
    const failure = await failureOf(new BigQueryWarehouse(options), rows(1));
    expect(failure).toMatchObject({ errorClass: 'warehouse_error', retryable: false });
  });

  test('a table that does not exist is a non-retryable warehouse_error naming the status', async () => {
    const warehouse = new BigQueryWarehouse({ projectId: PROJECT, dataset: DATASET, table: 'missing', apiEndpoint: standIn.url });
    const failure = await failureOf(warehouse, rows(1));
    expect(failure).toMatchObject({ errorClass: 'warehouse_error', retryable: false });
    expect(failure.message).toMatch(/HTTP 404 notFound/);
  });

  test('a dropped connection is retryable; re-sending the batch after a lost reply stores it once', async () => {
    const { ref, options } = freshTable();
    const warehouse = new BigQueryWarehouse(options);
    const batch = rows(3);
    standIn.script('tabledata.insertAll', { outcome: { kind: 'destroySocket' } }, { outcome: { kind: 'destroySocket', afterStoring: true } });

    expect(await failureOf(warehouse, batch)).toMatchObject({ errorClass: 'warehouse_unavailable', retryable: true });
    expect(storedRows(ref)).toEqual([]);
    expect(await failureOf(warehouse, batch)).toMatchObject({ errorClass: 'warehouse_unavailable', retryable: true });
    await warehouse.insert(batch);

    expect(requestsTo(ref)).toHaveLength(3);
    expect(byInsertId(storedRows(ref))).toEqual(byInsertId(asStored(batch)));
  });

  test('a reply slower than requestTimeoutMs is a retryable warehouse_unavailable', async () => {
    const { options } = freshTable();
    const warehouse = new BigQueryWarehouse({ ...options, requestTimeoutMs: 200 });
    standIn.script('tabledata.insertAll', { delayMs: 60_000 });
    const failure = await failureOf(warehouse, rows(1));
    expect(failure).toMatchObject({ errorClass: 'warehouse_unavailable', retryable: true });
    expect(failure.message).toBe('BigQuery insertAll did not answer within 200 ms');
  });

  test('a refused connection is a retryable warehouse_unavailable', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const warehouse = new BigQueryWarehouse({ projectId: PROJECT, dataset: DATASET, table: 'any', apiEndpoint: `http://127.0.0.1:${closedPort}` });
    const failure = await failureOf(warehouse, rows(1));
    expect(failure).toMatchObject({ errorClass: 'warehouse_unavailable', retryable: true });
    expect(failure.message).toBe('BigQuery insertAll failed: ECONNREFUSED');
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
