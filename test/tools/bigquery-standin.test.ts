/**
 * The stand-in must answer like BigQuery, or the adapter tests prove nothing:
 * these talk to it over plain HTTP, without the client library.
 */
import { WAREHOUSE_BIGQUERY_FIELDS } from '../../lambda-src/record';
import { latestByIdQuery, latestPageQuery, UPDATED_AT_COLUMN } from '../../lambda-src/warehouse/latest-view';
import { BigQueryStandIn, type TableOptions, type TableRef } from '../../tools/bigquery-standin';

let standIn: BigQueryStandIn;
let tables = 0;

beforeAll(async () => {
  standIn = await BigQueryStandIn.start();
});

afterAll(async () => {
  await standIn.stop();
});

function freshTable(options?: TableOptions): TableRef {
  tables += 1;
  const ref = { projectId: 'p-1', datasetId: 'ds', tableId: `t${tables}` };
  standIn.createTable(ref, WAREHOUSE_BIGQUERY_FIELDS, options);
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
  expect(standIn.requestsTo('tabledata.insertAll').filter((request) => request.table.tableId === ref.tableId)[0]).toEqual({
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

test('a hung call never answers, storing its rows first when asked to, and the stand-in can still stop', async () => {
  const ref = freshTable();
  standIn.script('tabledata.insertAll', { outcome: { kind: 'hang' } }, { outcome: { kind: 'hang', afterStoring: true } });
  const giveUp = (ms: number) => AbortSignal.timeout(ms);
  const send = (insertId: string) =>
    fetch(insertAllUrl(ref), { method: 'POST', body: JSON.stringify({ rows: [{ insertId, json: json({ insert_id: insertId }) }] }), signal: giveUp(300) });
  await expect(send('a')).rejects.toThrow();
  expect(standIn.rows(ref)).toEqual([]);
  await expect(send('b')).rejects.toThrow();
  expect(standIn.rows(ref).map((row) => row.insertId)).toEqual(['b']);
});

test('a reply rule answers what no script covers, seeing each request and its number on the route, until it is removed', async () => {
  const ref = freshTable();
  const seen: Array<[string | undefined, number]> = [];
  const before = standIn.requestsTo('tabledata.insertAll').length;
  standIn.script('tabledata.insertAll', { outcome: { kind: 'httpError', status: 500 } });
  standIn.respond('tabledata.insertAll', (request, index) => {
    seen.push([request.rows[0]!.insertId, index - before]);
    return request.rows[0]!.insertId === 'poison' ? { outcome: { kind: 'rejectRows', indices: [0] } } : undefined;
  });
  try {
    const body = (insertId: string) => ({ rows: [{ insertId, json: json({ insert_id: insertId }) }] });
    expect((await post(insertAllUrl(ref), body('scripted'))).status).toBe(500);
    expect((await post(insertAllUrl(ref), body('poison'))).body.insertErrors).toEqual([{ index: 0, errors: [expect.objectContaining({ reason: 'invalid' })] }]);
    expect((await post(insertAllUrl(ref), body('fine'))).body.insertErrors).toBeUndefined();
    expect(seen).toEqual([
      ['poison', 1],
      ['fine', 2],
    ]);
  } finally {
    standIn.respond('tabledata.insertAll', undefined);
  }
  expect((await post(insertAllUrl(ref), { rows: [{ insertId: 'poison-again', json: json({ id: 'poison' }) }] })).body.insertErrors).toBeUndefined();
  expect(standIn.rows(ref).map((row) => row.insertId)).toEqual(['fine', 'poison-again']);
});

describe('jobs.query', () => {
  const queriesUrl = () => `${standIn.url}/bigquery/v2/projects/p-1/queries?prettyPrint=false`;
  const stringParameter = (name: string, value: string) => ({ name, parameterType: { type: 'STRING' }, parameterValue: { value } });
  const limitParameter = (value: string) => ({ name: 'limit', parameterType: { type: 'INT64' }, parameterValue: { value } });
  const sinceParameter = (value: string) => ({ name: 'since', parameterType: { type: 'TIMESTAMP' }, parameterValue: { value } });
  const EVER = sinceParameter('1970-01-01T00:00:00.000Z');
  // The adapter's own SQL, so the stand-in is held to the shapes production sends.
  const byId = (table: string) => latestByIdQuery(`\`p-1.ds.${table}\``, (name) => `@${name}`);
  const page = (table: string) => latestPageQuery(`\`p-1.ds.${table}\``, (name) => `@${name}`);
  const query = (sql: string, parameters: unknown[], extra: Record<string, unknown> = {}) => ({
    query: sql,
    queryParameters: parameters,
    parameterMode: 'named',
    useLegacySql: false,
    formatOptions: { useInt64Timestamp: true },
    ...extra,
  });

  /** A table holding two versions of `a` (the later one wins), two of `b` at the same instant (the greater insert id wins) and one each of `😀` and U+FFFD. */
  async function versionedTable(): Promise<string> {
    const ref = freshTable({ dayPartitionedBy: UPDATED_AT_COLUMN });
    const rows = [
      json({ id: 'a', name: 'old', insert_id: 'a1', ingested_at: '2024-01-15T12:00:00.000Z' }),
      json({ id: 'a', name: 'new', insert_id: 'a0', ingested_at: '2024-01-15T12:00:00.001Z' }),
      json({ id: 'b', name: 'loses', insert_id: 'b1', ingested_at: '2024-01-15T12:00:00Z' }),
      json({ id: 'b', name: 'wins', insert_id: 'b2', ingested_at: '2024-01-15T12:00:00Z' }),
      json({ id: '😀', name: 'emoji', insert_id: 'e', ingested_at: '2024-01-15T12:00:00Z' }),
      json({ id: '\uFFFD', name: 'replacement', insert_id: 'r', ingested_at: '2024-01-15T12:00:00Z' }),
    ];
    await post(insertAllUrl(ref), { rows: rows.map((row) => ({ json: row })) });
    return ref.tableId;
  }

  test('reads the latest version of one id, in the REST shape: schema, f/v cells, int64 microsecond timestamps', async () => {
    const table = await versionedTable();
    const reply = await post(queriesUrl(), query(byId(table), [stringParameter('id', 'a'), EVER]));
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({
      kind: 'bigquery#queryResponse',
      jobComplete: true,
      totalRows: '1',
      jobReference: { projectId: 'p-1', jobId: expect.any(String), location: 'US' },
      schema: {
        fields: [
          { name: 'id', type: 'STRING', mode: 'REQUIRED' },
          { name: 'name', type: 'STRING', mode: 'REQUIRED' },
          { name: 'value', type: 'FLOAT', mode: 'REQUIRED' },
          { name: 'ingested_at', type: 'TIMESTAMP', mode: 'REQUIRED' },
        ],
      },
      rows: [{ f: [{ v: 'a' }, { v: 'new' }, { v: '1.5' }, { v: '1705320000001000' }] }],
    });
    const tie = await post(queriesUrl(), query(byId(table), [stringParameter('id', 'b'), EVER]));
    expect(tie.body.rows[0].f[1]).toEqual({ v: 'wins' });
  });

  test('reads only versions at or after since; float-second timestamps unless int64 ones are asked for', async () => {
    const table = await versionedTable();
    const at = async (since: string) => {
      const reply = await post(queriesUrl(), query(byId(table), [stringParameter('id', 'a'), sinceParameter(since)], { formatOptions: undefined }));
      return (reply.body.rows ?? []).map((row: { f: { v: string }[] }) => [row.f[1]!.v, row.f[3]!.v]);
    };
    expect(await at('2024-01-15T12:00:00.001Z')).toEqual([['new', '1705320000.001']]);
    expect(await at('2024-01-15 12:00:00.002 UTC')).toEqual([]);
  });

  test('pages by id in UTF-8 byte order after the given id, up to the limit, within the window; an empty page has no rows', async () => {
    const table = await versionedTable();
    const ids = async (afterId: string, limit: string, since = EVER) => {
      const reply = await post(queriesUrl(), query(page(table), [since, stringParameter('afterId', afterId), limitParameter(limit)]));
      return (reply.body.rows ?? []).map((row: { f: { v: string }[] }) => row.f[0]!.v);
    };
    expect(await ids('', '10')).toEqual(['a', 'b', '\uFFFD', '😀']);
    expect(await ids('a', '2')).toEqual(['b', '\uFFFD']);
    expect(await ids('\uFFFD', '2')).toEqual(['😀']);
    expect(await ids('', '10', sinceParameter('2024-01-15T12:00:00.001Z'))).toEqual(['a']);
    const empty = await post(queriesUrl(), query(page(table), [EVER, stringParameter('afterId', '😀'), limitParameter('5')]));
    expect(empty.body).toMatchObject({ jobComplete: true, totalRows: '0' });
    expect(empty.body).not.toHaveProperty('rows');
  });

  test('records the request as sent and what it read; JOB_CREATION_OPTIONAL answers with a queryId instead of a job', async () => {
    const table = await versionedTable();
    const sent = query(byId(table), [stringParameter('id', 'a'), EVER], { maximumBytesBilled: '1073741824', jobCreationMode: 'JOB_CREATION_OPTIONAL', timeoutMs: 5000 });
    const reply = await post(queriesUrl(), sent);
    expect(reply.body.queryId).toEqual(expect.any(String));
    expect(reply.body).not.toHaveProperty('jobReference');
    // Six rows of id, name, value, insert_id and ingested_at: 2 bytes and the text per string, 8 per number or timestamp.
    const strings = [['a', 'old', 'a1'], ['a', 'new', 'a0'], ['b', 'loses', 'b1'], ['b', 'wins', 'b2'], ['😀', 'emoji', 'e'], ['\uFFFD', 'replacement', 'r']];
    const bytesProcessed = strings.flat().reduce((sum, text) => sum + 2 + Buffer.byteLength(text), 0) + strings.length * (8 + 8);
    expect(standIn.requestsTo('jobs.query').at(-1)).toEqual({
      route: 'jobs.query',
      projectId: 'p-1',
      query: sent.query,
      queryParameters: sent.queryParameters,
      parameterMode: 'named',
      useLegacySql: false,
      maximumBytesBilled: '1073741824',
      timeoutMs: 5000,
      jobCreationMode: 'JOB_CREATION_OPTIONAL',
      authorization: undefined,
      statistics: { bytesProcessed, bytesBilled: 10 * 1024 * 1024 },
    });
  });

  test('a day-partitioned table is read, and billed, only in the partitions since can reach; an unpartitioned one whole', async () => {
    const partitioned = freshTable({ dayPartitionedBy: UPDATED_AT_COLUMN });
    const unpartitioned = freshTable();
    const rows = [
      json({ id: 'x', name: 'n'.repeat(98), insert_id: 'old', ingested_at: '2024-01-14T23:59:59.999Z' }),
      json({ id: 'x', name: 'n'.repeat(98), insert_id: 'new', ingested_at: '2024-01-15T00:00:00.000Z' }),
    ];
    for (const ref of [partitioned, unpartitioned]) await post(insertAllUrl(ref), { rows: rows.map((row) => ({ json: row })) });
    const bytesRead = async (table: string, since: string) => {
      await post(queriesUrl(), query(page(table), [sinceParameter(since), stringParameter('afterId', ''), limitParameter('10')]));
      return standIn.requestsTo('jobs.query').at(-1)!.statistics!.bytesProcessed;
    };
    const rowBytes = 3 + 100 + 8 + 5 + 8; // id, name, value, insert_id ('old'/'new'), ingested_at
    expect(await bytesRead(partitioned.tableId, '2024-01-15T12:00:00Z')).toBe(rowBytes);
    expect(await bytesRead(partitioned.tableId, '2024-01-14T12:00:00Z')).toBe(2 * rowBytes);
    expect(await bytesRead(unpartitioned.tableId, '2024-01-15T12:00:00Z')).toBe(2 * rowBytes);
  });

  test('refuses a query that would bill more than maximumBytesBilled (at least 10 MB per table), as BigQuery does', async () => {
    const table = await versionedTable();
    const capped = await post(queriesUrl(), query(byId(table), [stringParameter('id', 'a'), EVER], { maximumBytesBilled: String(10 * 1024 * 1024 - 1) }));
    expect(capped).toMatchObject({ status: 400, body: { error: { errors: [{ reason: 'bytesBilledLimitExceeded' }] } } });
    const enough = await post(queriesUrl(), query(byId(table), [stringParameter('id', 'a'), EVER], { maximumBytesBilled: String(10 * 1024 * 1024) }));
    expect(enough.status).toBe(200);
  });

  test.each([
    ['legacy SQL', (table: string) => query(byId(table), [stringParameter('id', 'a'), EVER], { useLegacySql: undefined }), 400, 'invalidQuery'],
    ['a query shape it does not run', (table: string) => query(`SELECT * FROM \`p-1.ds.${table}\``, []), 400, 'invalidQuery'],
    ['a value spliced into the SQL', (table: string) => query(`SELECT id FROM \`p-1.ds.${table}\` WHERE id = 'a'`, []), 400, 'invalidQuery'],
    ['a read without a window', (table: string) => query(`SELECT id, name FROM \`p-1.ds.${table}\` WHERE id = @id`, [stringParameter('id', 'a')]), 400, 'invalidQuery'],
    ['a missing parameter', (table: string) => query(byId(table), [EVER]), 400, 'invalidQuery'],
    ['a missing window', (table: string) => query(byId(table), [stringParameter('id', 'a')]), 400, 'invalidQuery'],
    ['a parameter of the wrong type', (table: string) => query(byId(table), [{ ...stringParameter('id', 'a'), parameterType: { type: 'INT64' } }, EVER]), 400, 'invalidQuery'],
    ['a window start that is not a timestamp', (table: string) => query(byId(table), [stringParameter('id', 'a'), sinceParameter('yesterday')]), 400, 'invalidQuery'],
    ['a negative limit', (table: string) => query(page(table), [EVER, stringParameter('afterId', ''), limitParameter('-1')]), 400, 'invalidQuery'],
    ['an unknown column', (table: string) => query(byId(table).replace('name', 'colour'), [stringParameter('id', 'a'), EVER]), 400, 'invalidQuery'],
    ['an unknown table', () => query(byId('missing'), [stringParameter('id', 'a'), EVER]), 404, 'notFound'],
    ['an unknown request field', (table: string) => query(byId(table), [], { sql: 'x' }), 400, 'invalid'],
  ])('answers %s with a Google error', async (_, build, status, reason) => {
    const table = await versionedTable();
    const reply = await post(queriesUrl(), build(table));
    expect(reply).toEqual({ status, body: { error: expect.objectContaining({ code: status, errors: [expect.objectContaining({ reason })] }) } });
  });

  test('can be scripted to answer that the query has not completed', async () => {
    const table = await versionedTable();
    standIn.script('jobs.query', { outcome: { kind: 'incomplete' } });
    const reply = await post(queriesUrl(), query(byId(table), [stringParameter('id', 'a'), EVER]));
    expect(reply.body).toMatchObject({ jobComplete: false, jobReference: { jobId: expect.any(String) } });
    expect(reply.body).not.toHaveProperty('rows');
  });
});
