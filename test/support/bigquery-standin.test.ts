/**
 * The stand-in must answer like BigQuery, or the adapter tests prove nothing:
 * these talk to it over plain HTTP, without the client library.
 */
import { WAREHOUSE_BIGQUERY_FIELDS } from '../../lambda-src/record';
import { BigQueryStandIn, type TableRef } from './bigquery-standin';

let standIn: BigQueryStandIn;
let tables = 0;

beforeAll(async () => {
  standIn = await BigQueryStandIn.start();
});

afterAll(async () => {
  await standIn.stop();
});

function freshTable(): TableRef {
  tables += 1;
  const ref = { projectId: 'p-1', datasetId: 'ds', tableId: `t${tables}` };
  standIn.createTable(ref, WAREHOUSE_BIGQUERY_FIELDS);
  return ref;
}

function insertAllUrl(ref: TableRef): string {
  return `${standIn.url}/bigquery/v2/projects/${ref.projectId}/datasets/${ref.datasetId}/tables/${ref.tableId}/insertAll?prettyPrint=false`;
}

async function post(url: string, body: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

const json = (overrides: Record<string, unknown> = {}) => ({
  id: '1',
  name: 'n',
  value: 1.5,
  insert_id: 'i',
  ingested_at: '2024-01-15T12:34:56.789Z',
  ...overrides,
});

test('stores valid rows, deduplicating on insert id, and records the request', async () => {
  const ref = freshTable();
  const body = { skipInvalidRows: false, ignoreUnknownValues: false, rows: [{ insertId: 'a', json: json() }, { insertId: 'a', json: json() }, { json: json() }] };
  expect(await post(insertAllUrl(ref), body)).toEqual({ status: 200, body: { kind: 'bigquery#tableDataInsertAllResponse' } });
  await post(insertAllUrl(ref), body);
  expect(standIn.rows(ref)).toEqual([
    { insertId: 'a', json: json() },
    { insertId: undefined, json: json() },
    { insertId: undefined, json: json() },
  ]);
  expect(standIn.requests.filter((request) => request.table.tableId === ref.tableId)[0]).toEqual({
    route: 'tabledata.insertAll',
    table: ref,
    rows: body.rows,
    skipInvalidRows: false,
    ignoreUnknownValues: false,
    authorization: undefined,
  });
});

test.each([
  ['a too long string', { name: 'x'.repeat(1025) }, /maximum length 1024/],
  ['a missing required field', { value: undefined }, /Missing required field: value/],
  ['a null required field', { id: null }, /Missing required field: id/],
  ['a string where a FLOAT goes', { value: 'abc' }, /floating point/],
  ['a number where a STRING goes', { name: 7 }, /string/],
  ['a malformed timestamp', { ingested_at: 'yesterday' }, /timestamp/],
  ['an unknown field', { extra: 1 }, /no such field: extra/],
])('refuses a row with %s: invalid for it, stopped for the others, nothing stored', async (_, overrides, message) => {
  const ref = freshTable();
  const reply = await post(insertAllUrl(ref), { rows: [{ insertId: 'a', json: json() }, { insertId: 'b', json: json(overrides) }] });
  expect(reply.status).toBe(200);
  expect(reply.body.insertErrors).toEqual([
    { index: 0, errors: [expect.objectContaining({ reason: 'stopped' })] },
    { index: 1, errors: [expect.objectContaining({ reason: 'invalid', message: expect.stringMatching(message) })] },
  ]);
  expect(standIn.rows(ref)).toEqual([]);
});

test('skipInvalidRows stores the valid rows; ignoreUnknownValues drops unknown fields', async () => {
  const ref = freshTable();
  const reply = await post(insertAllUrl(ref), {
    skipInvalidRows: true,
    ignoreUnknownValues: true,
    rows: [{ insertId: 'a', json: json({ extra: 1 }) }, { insertId: 'b', json: json({ value: 'abc' }) }],
  });
  expect(reply.body.insertErrors).toEqual([{ index: 1, errors: [expect.objectContaining({ reason: 'invalid' })] }]);
  expect(standIn.rows(ref)).toEqual([{ insertId: 'a', json: json() }]);
});

test('accepts the timestamp forms BigQuery does', async () => {
  const ref = freshTable();
  const forms = ['2024-01-15T12:34:56Z', '2024-01-15 12:34:56.123456 UTC', '2024-01-15T12:34:56.123+02:00', 1705322096.5];
  const reply = await post(insertAllUrl(ref), { rows: forms.map((form, index) => ({ insertId: `${index}`, json: json({ ingested_at: form }) })) });
  expect(reply.body.insertErrors).toBeUndefined();
  expect(standIn.rows(ref)).toHaveLength(forms.length);
});

test.each([
  ['a body that is not JSON', '{', 400, 'parseError'],
  ['no rows', { rows: [] }, 400, 'invalid'],
  ['an unknown request field', { rows: [{ json: json() }], skipInvalid: true }, 400, 'invalid'],
  ['a row without json', { rows: [{ insertId: 'a' }] }, 400, 'invalid'],
  ['an unknown row field', { rows: [{ json: json(), insertID: 'a' }] }, 400, 'invalid'],
  ['a non-boolean flag', { rows: [{ json: json() }], skipInvalidRows: 'false' }, 400, 'invalid'],
])('answers %s with a Google error', async (_, body, status, reason) => {
  const ref = freshTable();
  const reply = await post(insertAllUrl(ref), body);
  expect(reply).toEqual({ status, body: { error: expect.objectContaining({ code: status, errors: [expect.objectContaining({ reason })] }) } });
});

test('a missing table or an unknown path is 404 notFound', async () => {
  const missing = await post(insertAllUrl({ projectId: 'p-1', datasetId: 'ds', tableId: 'missing' }), { rows: [{ json: json() }] });
  expect(missing).toMatchObject({ status: 404, body: { error: { errors: [{ reason: 'notFound' }] } } });
  const unknown = await post(`${standIn.url}/bigquery/v2/projects/p-1/somethingElse`, {});
  expect(unknown.status).toBe(404);
});

test('scripted replies apply to the next requests in order, then normal handling resumes', async () => {
  const ref = freshTable();
  standIn.script(
    'tabledata.insertAll',
    { outcome: { kind: 'httpError', status: 503 } },
    { outcome: { kind: 'rejectRows', indices: [0] } },
  );
  const body = { rows: [{ insertId: 'a', json: json() }] };
  expect((await post(insertAllUrl(ref), body)).status).toBe(503);
  expect((await post(insertAllUrl(ref), body)).body.insertErrors).toEqual([{ index: 0, errors: [expect.objectContaining({ reason: 'invalid' })] }]);
  expect((await post(insertAllUrl(ref), body)).body.insertErrors).toBeUndefined();
  expect(standIn.rows(ref)).toHaveLength(1);
});

test('a destroyed socket gives the client no answer, with or without storing the rows', async () => {
  const ref = freshTable();
  standIn.script('tabledata.insertAll', { outcome: { kind: 'destroySocket' } }, { outcome: { kind: 'destroySocket', afterStoring: true } });
  await expect(post(insertAllUrl(ref), { rows: [{ insertId: 'a', json: json() }] })).rejects.toThrow();
  expect(standIn.rows(ref)).toEqual([]);
  await expect(post(insertAllUrl(ref), { rows: [{ insertId: 'a', json: json() }] })).rejects.toThrow();
  expect(standIn.rows(ref)).toHaveLength(1);
});
