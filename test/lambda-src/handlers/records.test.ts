/**
 * The read and update routes of the API function (`GET /records/{id}`,
 * `GET /records`, `PUT /records/{id}`) through the functions framework's own
 * server, over an in-memory warehouse with the port's read semantics.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import type { Clock } from '../../../lambda-src/clock';
import { createApiFunction } from '../../../lambda-src/handlers/api';
import { encodePageToken } from '../../../lambda-src/handlers/page-token';
import { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT } from '../../../lambda-src/handlers/records';
import { HOUR_MS } from '../../../lambda-src/rules/durations';
import { ID_MAX_LENGTH, READ_WINDOW_HOURS } from '../../../lambda-src/rules/limits';
import type { HandlerDependencies } from '../../../lambda-src/handlers/store';
import { ReadTooLargeError, WarehouseError, type WarehouseRow } from '../../../lambda-src/warehouse/warehouse';
import { INJECTION_SHAPED_IDS } from '../warehouse/contract';
import { capturingLogger, serveFunction } from '../../support/function-server';
import { MemoryWarehouse } from '../../support/memory-warehouse';

const START = new Date('2026-01-02T03:04:05.678Z');

/** Wall-clock time the test sets; each request's latency is 5 ms. */
function settableClock(): Clock & { set(date: Date): void; advance(ms: number): void } {
  let now = START;
  let monotonic = 0;
  return {
    now: () => now,
    monotonicMs: () => (monotonic += 5),
    set: (date) => (now = date),
    advance: (ms) => (now = new Date(now.getTime() + ms)),
  };
}

function setup(overrides: Partial<HandlerDependencies> = {}) {
  const warehouse = new MemoryWarehouse();
  const logger = capturingLogger();
  const clock = settableClock();
  const server = serveFunction(createApiFunction({ warehouse: async () => warehouse, maxBodyBytes: 1024 * 1024, logger, clock, ...overrides }));
  const agent = request(server);
  const post = async (data: unknown) => {
    const response = await agent.post('/').set('Content-Type', 'application/json').send(JSON.stringify({ data }));
    expect(response.status).toBe(200);
    clock.advance(1000);
  };
  const put = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    agent.put(path).set({ 'Content-Type': 'application/json', ...headers }).send(typeof body === 'string' ? body : JSON.stringify(body));
  return { warehouse, lines: logger.lines, clock, agent, post, put };
}

/** A path for an id, percent-encoded as a client would. */
const recordPath = (id: string) => `/records/${encodeURIComponent(id)}`;

const stored = (id: string, ms = 0): WarehouseRow => ({ id, name: `name ${id}`, value: 1, insertId: `seed-${id}-${ms}`, ingestedAt: new Date(START.getTime() + ms) });

/** The start of the default read window at `now`. */
const defaultSince = (now: Date) => new Date(now.getTime() - READ_WINDOW_HOURS.default * HOUR_MS);

/** The 404 body of a read that found no version of the record since `since`. */
const notFoundBody = (since: Date) => ({
  success: false,
  error: 'Record not found',
  details: [
    {
      field: 'query.since',
      message: `no version of this record was stored since ${since.toISOString()}; to look further back, pass an earlier since (an RFC 3339 timestamp)`,
    },
  ],
});

/** A page token as the API issues it, with the window the test's first page would have. */
const token = (afterId: string, since = defaultSince(START)) => encodePageToken({ afterId, since });

describe('GET /records/{id}', () => {
  it('answers 200 with the latest version, updatedAt in RFC 3339', async () => {
    const { agent, post, lines } = setup();
    await post({ id: '123', name: 'Sample Data', value: 45.67 });
    await post({ id: '123', name: 'Newer', value: 1.5 });
    const response = await agent.get('/records/123');
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.text).toBe('{"success":true,"data":{"id":"123","name":"Newer","value":1.5,"updatedAt":"2026-01-02T03:04:06.678Z"}}');
    expect(lines.at(-1)).toMatchObject({ event: 'read', function: 'api', outcome: 'success', rows: 1, httpRequest: { requestMethod: 'GET', status: 200 } });
  });

  it('answers 404 for an unknown id, saying since when it looked and how to look further back', async () => {
    const { agent, post, lines, clock } = setup();
    await post({ id: 'known', name: 'n', value: 1 });
    const response = await agent.get('/records/unknown');
    expect(response.status).toBe(404);
    expect(response.body).toEqual(notFoundBody(defaultSince(clock.now())));
    expect(lines.at(-1)).toMatchObject({
      event: 'read',
      outcome: 'rejected',
      errorClass: 'not_found',
      reason: `no record with id "unknown" since ${defaultSince(clock.now()).toISOString()}`,
    });
  });

  it.each([
    ['a space and a slash', 'a b/c'],
    ['non-ASCII characters', 'é 漢 😀'],
    ['a percent sign', '100%'],
    ['a question mark and a hash', 'what?#1'],
    ['a plus sign (not a space in a path)', 'a+b'],
  ])('percent-decodes an id with %s', async (_, id) => {
    const { agent, post, warehouse } = setup();
    await post({ id, name: 'n', value: 1 });
    const response = await agent.get(recordPath(id));
    expect(response.status).toBe(200);
    expect(response.body.data.id).toBe(id);
    expect(warehouse.readCalls.at(-1)).toEqual({ getLatest: id, since: expect.any(Date) });
  });

  it.each(INJECTION_SHAPED_IDS)('treats the id %j as data: 404, the warehouse asked for exactly that id', async (id) => {
    const { agent, post, warehouse, clock } = setup();
    await post({ id: 'a', name: 'n', value: 1 });
    const response = await agent.get(recordPath(id));
    expect(response.status).toBe(404);
    expect(response.body).toEqual(notFoundBody(defaultSince(clock.now())));
    expect(warehouse.readCalls.at(-1)).toEqual({ getLatest: id, since: defaultSince(clock.now()) });
  });

  it.each(['%', '%E0%A4%A', '%FF', 'a%2'])('answers 400 for the malformed percent-encoding %s, asking the warehouse nothing', async (raw) => {
    const { agent, warehouse, lines } = setup();
    const response = await agent.get(`/records/${raw}`);
    expect(response.status).toBe(400);
    expect(response.body).toEqual({
      success: false,
      error: 'Invalid input data',
      details: [{ field: 'path.id', message: 'is not valid percent-encoding (UTF-8 bytes as %XX)' }],
    });
    expect(warehouse.readCalls).toEqual([]);
    expect(lines[0]).toMatchObject({ event: 'read', errorClass: 'invalid_input' });
  });

  it(`answers 400 for an id longer than ${ID_MAX_LENGTH} characters, and accepts one of exactly ${ID_MAX_LENGTH}`, async () => {
    const { agent, warehouse } = setup();
    const tooLong = await agent.get(recordPath('é'.repeat(ID_MAX_LENGTH + 1)));
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.details).toEqual([{ field: 'path.id', message: `must be at most ${ID_MAX_LENGTH} characters` }]);
    expect(warehouse.readCalls).toEqual([]);
    expect((await agent.get(recordPath('é'.repeat(ID_MAX_LENGTH)))).status).toBe(404);
  });

  it('refuses query parameters it does not take', async () => {
    const { agent } = setup();
    const response = await agent.get('/records/123?fields=name');
    expect(response.status).toBe(400);
    expect(response.body.details).toEqual([{ field: 'query.fields', message: 'unknown parameter (allowed: since)' }]);
  });

  it.each(['/records/', '/records/a/b', '/records//a', '/%zz/records'])('answers %s with a JSON 404 (an id is exactly one path segment)', async (path) => {
    const { agent, warehouse } = setup();
    const response = await agent.get(path);
    expect(response.status).toBe(404);
    expect(response.body).toMatchObject({ success: false, error: 'Not found' });
    expect(warehouse.readCalls).toEqual([]);
  });

  it('answers 503 with Retry-After when the warehouse is unavailable, 500 when it fails otherwise, never its message', async () => {
    const { agent, warehouse, lines } = setup();
    warehouse.failWith(new WarehouseError('socket hang up at 10.1.2.3', 'warehouse_unavailable', true));
    const unavailable = await agent.get('/records/1');
    expect(unavailable.status).toBe(503);
    expect(unavailable.headers['retry-after']).toBe('1');
    expect(unavailable.body.error).toBe(`Warehouse unavailable, retry later (warehouse_unavailable, request id ${unavailable.headers['x-request-id']})`);
    warehouse.failWith(new WarehouseError('Access Denied: table', 'warehouse_error', false));
    const failed = await agent.get('/records/1');
    expect(failed.status).toBe(500);
    expect(failed.text).not.toMatch(/10\.1\.2\.3|Access Denied/);
    expect(lines.map((line) => [line.event, line.outcome, line.errorClass])).toEqual([
      ['read', 'failed', 'warehouse_unavailable'],
      ['read', 'failed', 'warehouse_error'],
    ]);
  });
});

describe('GET /records', () => {
  /** Every page from the first with `limit`, following nextPageToken. */
  async function walk(agent: ReturnType<typeof setup>['agent'], limit: number) {
    const pages: Array<{ data: Array<{ id: string; name: string }>; nextPageToken?: string }> = [];
    let query = `?limit=${limit}`;
    for (;;) {
      const response = await agent.get(`/records${query}`);
      expect(response.status).toBe(200);
      pages.push(response.body);
      if (response.body.nextPageToken === undefined) return pages;
      query = `?limit=${limit}&pageToken=${encodeURIComponent(response.body.nextPageToken)}`;
    }
  }

  it('lists latest versions in id order; limit=1 gives one record and a token, and following tokens visits each id once', async () => {
    const { agent, warehouse } = setup();
    await warehouse.insert([stored('b'), stored('a'), stored('c'), { ...stored('a', 5), name: 'a v2' }]);
    const first = await agent.get('/records?limit=1');
    expect(first.body).toEqual({
      success: true,
      data: [{ id: 'a', name: 'a v2', value: 1, updatedAt: '2026-01-02T03:04:05.683Z' }],
      nextPageToken: expect.any(String),
    });
    const pages = await walk(agent, 1);
    expect(pages.map((page) => page.data.map((record) => record.id))).toEqual([['a'], ['b'], ['c']]);
    expect(pages.at(-1)).not.toHaveProperty('nextPageToken');
  });

  it('asks the warehouse for one more than the limit, and gives no token when exactly the limit remained', async () => {
    const { agent, warehouse } = setup();
    await warehouse.insert([stored('a'), stored('b')]);
    const response = await agent.get('/records?limit=2');
    expect(response.body.data).toHaveLength(2);
    expect(response.body).not.toHaveProperty('nextPageToken');
    expect(warehouse.readCalls).toEqual([{ listLatest: { afterId: '', limit: 3, since: defaultSince(START) } }]);
  });

  it('defaults to 100 per page and accepts up to 1000', async () => {
    const { agent, warehouse } = setup();
    await warehouse.insert(Array.from({ length: 150 }, (_, index) => stored(`r${String(index).padStart(3, '0')}`)));
    const first = await agent.get('/records');
    expect(first.body.data).toHaveLength(100);
    expect(first.body.nextPageToken).toEqual(expect.any(String));
    const all = await agent.get('/records?limit=1000');
    expect(all.body.data).toHaveLength(150);
    expect(warehouse.readCalls).toEqual([
      { listLatest: { afterId: '', limit: 101, since: defaultSince(START) } },
      { listLatest: { afterId: '', limit: 1001, since: defaultSince(START) } },
    ]);
  });

  it('answers an empty warehouse with no records and no token, logging the rows read', async () => {
    const { agent, lines } = setup();
    const response = await agent.get('/records');
    expect(response.text).toBe('{"success":true,"data":[]}');
    expect(lines[0]).toMatchObject({ event: 'read', outcome: 'success', rows: 0 });
  });

  it.each(['0', '1001', '100000', '-1', '1.5', '1e2', 'abc', '', ' 1', '+1', '0x10', '00001000'])(
    'answers limit=%j with 400 naming the limit',
    async (limit) => {
      const { agent, warehouse } = setup();
      const response = await agent.get(`/records?limit=${encodeURIComponent(limit)}`);
      expect(response.status).toBe(400);
      expect(response.body).toEqual({ success: false, error: 'Invalid input data', details: [{ field: 'query.limit', message: 'must be an integer from 1 to 1000' }] });
      expect(warehouse.readCalls).toEqual([]);
    },
  );

  const since = defaultSince(START).toISOString();
  const encoded = (json: string) => Buffer.from(json).toString('base64url');
  const tampered: Array<[string, string]> = [
    ['not base64url', 'not a token!'],
    ['empty', ''],
    ['base64 padding added', `${token('a')}=`],
    ['a character changed so the JSON breaks', `x${token('a').slice(1)}`],
    ['truncated', token('abc').slice(0, -2)],
    ['extra bytes appended', `${token('a')}AAAA`],
    ['version 1, from before tokens carried a window', encoded(JSON.stringify({ v: 1, after: 'a' }))],
    ['another version', encoded(JSON.stringify({ v: 3, after: 'a', since }))],
    ['no window', encoded(JSON.stringify({ v: 2, after: 'a' }))],
    ['an extra field', encoded(JSON.stringify({ v: 2, after: 'a', since, limit: 5 }))],
    ['keys in another order', encoded(JSON.stringify({ after: 'a', since, v: 2 }))],
    ['whitespace in the JSON', encoded(`{"v":2, "after":"a","since":"${since}"}`)],
    ['a window start spelled otherwise', encoded(JSON.stringify({ v: 2, after: 'a', since: since.replace('.678Z', '.678+00:00') }))],
    ['a window start that is not a timestamp', encoded(JSON.stringify({ v: 2, after: 'a', since: 'yesterday' }))],
    ['a window start in the year 0', encoded(JSON.stringify({ v: 2, after: 'a', since: '0000-06-01T00:00:00.000Z' }))],
    ['a window start in the future', token('a', new Date(START.getTime() + 1))],
    ['an empty id', token('')],
    ['an id that is too long', token('x'.repeat(ID_MAX_LENGTH + 1))],
    ['an id that is a number', encoded(JSON.stringify({ v: 2, after: 5, since }))],
    ['a JSON array', encoded('[1,"a"]')],
    ['JSON null', encoded('null')],
    ['a forbidden key', encoded(`{"v":2,"after":"a","since":"${since}","__proto__":{}}`)],
    ['bytes that are not UTF-8', Buffer.from([0x7b, 0xff, 0x7d]).toString('base64url')],
    ['far too long', 'A'.repeat(10_000)],
  ];
  it.each(tampered)('answers a page token that is %s with 400, never 500', async (_, token) => {
    const { agent, warehouse } = setup();
    const response = await agent.get(`/records?pageToken=${encodeURIComponent(token)}`);
    expect(response.status).toBe(400);
    expect(response.body.details).toEqual([{ field: 'query.pageToken', message: 'is not a page token this API issued (pass nextPageToken unchanged)' }]);
    expect(warehouse.readCalls).toEqual([]);
  });

  it('accepts a token for the longest id of control characters, which escape to six bytes each', async () => {
    const { agent, warehouse } = setup();
    const id = '\u0001'.repeat(ID_MAX_LENGTH);
    const response = await agent.get(`/records?pageToken=${token(id)}`);
    expect(response.status).toBe(200);
    expect(warehouse.readCalls).toEqual([{ listLatest: { afterId: id, limit: 101, since: defaultSince(START) } }]);
  });

  it('refuses unknown and repeated parameters, naming each', async () => {
    const { agent } = setup();
    const response = await agent.get('/records?limit=1&limit=2&offset=5');
    expect(response.status).toBe(400);
    expect(response.body.details).toEqual([
      { field: 'query.limit', message: 'must be given once' },
      { field: 'query.offset', message: 'unknown parameter (allowed: limit, pageToken, since)' },
    ]);
  });

  it.each(['POST', 'PUT', 'DELETE', 'PATCH'])('answers %s /records with 405 and Allow: GET', async (method) => {
    const { agent, lines, warehouse } = setup();
    const response = await agent[method.toLowerCase() as 'post']('/records').set('Content-Type', 'application/json').send('{}');
    expect(response.status).toBe(405);
    expect(response.headers.allow).toBe('GET');
    expect(lines[0]).toMatchObject({ event: 'read', errorClass: 'method_not_allowed' });
    expect(warehouse.insertCalls).toEqual([]);
  });

  it('answers 503 when the warehouse is unavailable', async () => {
    const { agent, warehouse } = setup();
    warehouse.failWith(new WarehouseError('timeout', 'warehouse_unavailable', true));
    expect((await agent.get('/records')).status).toBe(503);
  });
});

describe('PUT /records/{id}', () => {
  it('appends a new version and answers the update message; GET then returns the new values', async () => {
    const { agent, post, put, warehouse, lines } = setup();
    await post({ id: '123', name: 'Sample Data', value: 45.67 });
    const response = await put('/records/123', { data: { name: 'Renamed', value: 7 } });
    expect(response.status).toBe(200);
    expect(response.text).toBe('{"success":true,"message":"Data updated successfully!"}');
    expect(warehouse.committedRows.at(-1)).toEqual({
      id: '123',
      name: 'Renamed',
      value: 7,
      insertId: `http:${response.headers['x-request-id']}:0`,
      ingestedAt: new Date(START.getTime() + 1000),
    });
    expect(warehouse.committedRows).toHaveLength(2);
    expect((await agent.get('/records/123')).body.data).toEqual({ id: '123', name: 'Renamed', value: 7, updatedAt: '2026-01-02T03:04:06.678Z' });
    expect(lines.find((line) => line.httpRequest.requestMethod === 'PUT')).toMatchObject({ event: 'update', outcome: 'success', rows: 1 });
  });

  it('answers 404 for an id no record has, and writes nothing (an update never creates)', async () => {
    const { put, warehouse, lines } = setup();
    const response = await put('/records/nobody', { data: { name: 'n', value: 1 } });
    expect(response.status).toBe(404);
    expect(response.body).toEqual(notFoundBody(defaultSince(START)));
    expect(warehouse.insertCalls).toEqual([]);
    expect(lines[0]).toMatchObject({ event: 'update', outcome: 'rejected', errorClass: 'not_found' });
  });

  it('accepts an id in the body equal to the path, percent-decoded', async () => {
    const { post, put } = setup();
    await post({ id: 'a b', name: 'n', value: 1 });
    expect((await put(recordPath('a b'), { data: { id: 'a b', name: 'm', value: 2 } })).status).toBe(200);
  });

  it.each([
    ['an id in the body that differs from the path', { data: { id: 'other', name: 'n', value: 1 } }, [{ field: 'data.id', message: 'must equal the id in the path, or be left out' }]],
    ['no value', { data: { name: 'n' } }, [{ field: 'data.value', message: 'is required' }]],
    ['a value that is a string', { data: { name: 'n', value: '1' } }, [{ field: 'data.value', message: 'must be a number' }]],
    ['a name that is too long', { data: { name: 'x'.repeat(1025), value: 1 } }, [{ field: 'data.name', message: 'must be at most 1024 characters' }]],
    ['an unknown field', { data: { name: 'n', value: 1, colour: 'red' } }, [{ field: 'data.colour', message: 'unknown field' }]],
    ['an array of records', { data: [{ name: 'n', value: 1 }] }, [{ field: 'data', message: 'must be one record object (an update takes no batch)' }]],
    ['no data', { record: {} }, [{ field: 'data', message: 'is required' }, { field: 'record', message: 'unknown field' }]],
    ['data that is not an object', { data: 5 }, [{ field: 'data', message: 'must be an object' }]],
    ['a body that is not an object', [1], [{ field: 'body', message: 'must be a JSON object with a "data" field' }]],
  ])('answers 400 for %s, naming the field, writing nothing', async (_, body, details) => {
    const { post, put, warehouse } = setup();
    await post({ id: '1', name: 'n', value: 1 });
    const response = await put('/records/1', body);
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ success: false, error: 'Invalid input data', details });
    expect(warehouse.insertCalls).toHaveLength(1);
  });

  it('answers 400 for a body that is not JSON, 415 for another media type', async () => {
    const { post, put, agent } = setup();
    await post({ id: '1', name: 'n', value: 1 });
    expect((await put('/records/1', '{bad')).status).toBe(400);
    const response = await agent.put('/records/1').set('Content-Type', 'text/plain').send('{"data":{"name":"n","value":1}}');
    expect(response.status).toBe(415);
  });

  it(`answers 400 for a path id over ${ID_MAX_LENGTH} characters before reading the body`, async () => {
    const { put, warehouse } = setup();
    const response = await put(recordPath('x'.repeat(ID_MAX_LENGTH + 1)), { data: { name: 'n', value: 1 } });
    expect(response.status).toBe(400);
    expect(response.body.details).toEqual([{ field: 'path.id', message: `must be at most ${ID_MAX_LENGTH} characters` }]);
    expect(warehouse.readCalls).toEqual([]);
  });

  it.each(INJECTION_SHAPED_IDS)('treats the path id %j as data: 404 when unknown, updated when it exists', async (id) => {
    const { post, put, warehouse } = setup();
    expect((await put(recordPath(id), { data: { name: 'n', value: 1 } })).status).toBe(404);
    await post({ id, name: 'n', value: 1 });
    expect((await put(recordPath(id), { data: { name: 'm', value: 2 } })).status).toBe(200);
    expect(warehouse.committedRows.map((row) => row.id)).toEqual([id, id]);
  });

  it('stores the update after the version it supersedes, even when this clock is behind the writer of that version', async () => {
    const { post, put, clock, agent } = setup();
    await post({ id: '1', name: 'from a fast clock', value: 1 });
    clock.set(new Date(START.getTime() - 60_000));
    expect((await put('/records/1', { data: { name: 'from a slow clock', value: 2 } })).status).toBe(200);
    expect((await agent.get('/records/1')).body.data).toEqual({ id: '1', name: 'from a slow clock', value: 2, updatedAt: '2026-01-02T03:04:05.679Z' });
  });

  it('with the same Idempotency-Key, a retried update is answered again and stored once; another update under it is a 422; a malformed key is a 400', async () => {
    const { post, put, warehouse } = setup();
    await post({ id: '1', name: 'n', value: 1 });
    const headers = { 'Idempotency-Key': 'update-1-attempt' };
    expect((await put('/records/1', { data: { name: 'm', value: 2 } }, headers)).status).toBe(200);
    const retried = await put('/records/1', { data: { name: 'm', value: 2 } }, headers);
    expect([retried.status, retried.headers['idempotent-replayed']]).toEqual([200, 'true']);
    expect((await put('/records/1', { data: { name: 'm', value: 3 } }, headers)).status).toBe(422);
    expect(warehouse.committedRows).toHaveLength(2);
    expect((await put('/records/1', { data: { name: 'm', value: 2 } }, { 'Idempotency-Key': ' ' })).status).toBe(400);
  });

  it('answers 503 when the existence check or the write finds the warehouse unavailable, and stores nothing', async () => {
    const { post, put, warehouse } = setup();
    await post({ id: '1', name: 'n', value: 1 });
    warehouse.failWith(new WarehouseError('timeout', 'warehouse_unavailable', true));
    const checkFailed = await put('/records/1', { data: { name: 'm', value: 2 } });
    expect(checkFailed.status).toBe(503);
    expect(warehouse.insertCalls).toHaveLength(1);

    warehouse.failWith(undefined);
    const release = warehouse.hold();
    const pending = put('/records/1', { data: { name: 'm', value: 2 } }).then((response) => response);
    await warehouse.insertCallsReached(2);
    warehouse.failWith(new WarehouseError('reset', 'warehouse_unavailable', true));
    release();
    expect((await pending).status).toBe(503);
    expect(warehouse.committedRows).toHaveLength(1);
  });

  it.each(['POST', 'DELETE', 'PATCH'])('answers %s /records/{id} with 405 and Allow: GET, PUT', async (method) => {
    const { agent } = setup();
    const response = await agent[method.toLowerCase() as 'post']('/records/1');
    expect(response.status).toBe(405);
    expect(response.headers.allow).toBe('GET, PUT');
  });
});

describe('read windows (since)', () => {
  it('reads back to now minus READ_WINDOW_HOURS by default: a record last written before that is not found, and an earlier since finds it', async () => {
    const { agent, warehouse, clock } = setup();
    await warehouse.insert([stored('old', -READ_WINDOW_HOURS.default * HOUR_MS - 1), stored('edge', -READ_WINDOW_HOURS.default * HOUR_MS)]);
    expect((await agent.get('/records/old')).body).toEqual(notFoundBody(defaultSince(START)));
    expect((await agent.get('/records/edge')).status).toBe(200);
    expect((await agent.get('/records')).body.data.map((record: { id: string }) => record.id)).toEqual(['edge']);
    const earlier = new Date(START.getTime() - 2 * READ_WINDOW_HOURS.default * HOUR_MS).toISOString();
    expect((await agent.get(`/records/old?since=${earlier}`)).status).toBe(200);
    expect((await agent.get(`/records?since=${earlier}`)).body.data.map((record: { id: string }) => record.id)).toEqual(['edge', 'old']);
    expect(clock.now()).toEqual(START);
  });

  it('takes the default window from readWindowHours (READ_WINDOW_HOURS)', async () => {
    const { agent, warehouse } = setup({ readWindowHours: 2 });
    await agent.get('/records/a');
    await agent.get('/records');
    const since = new Date(START.getTime() - 2 * HOUR_MS);
    expect(warehouse.readCalls).toEqual([{ getLatest: 'a', since }, { listLatest: { afterId: '', limit: 101, since } }]);
  });

  it.each([
    ['2026-01-01T00:00:00Z', '2026-01-01T00:00:00.000Z'],
    ['2026-01-01t00:00:00z', '2026-01-01T00:00:00.000Z'],
    ['2026-01-01T01:30:00+01:30', '2026-01-01T00:00:00.000Z'],
    ['2025-12-31T23:00:00-01:00', '2026-01-01T00:00:00.000Z'],
    ['2026-01-01T00:00:00.5Z', '2026-01-01T00:00:00.500Z'],
    ['2026-01-01T00:00:00.123000Z', '2026-01-01T00:00:00.123Z'],
    ['2026-01-01T00:00:00.123001Z', '2026-01-01T00:00:00.124Z'],
    ['2024-02-29T12:00:00Z', '2024-02-29T12:00:00.000Z'],
    ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00.000Z'],
    ['0001-01-01T00:30:00+01:00', '0001-01-01T00:00:00.000Z'],
  ])('reads since %s as the instant %s (a finer fraction rounds up: stored versions carry milliseconds)', async (given, instant) => {
    const { agent, warehouse } = setup();
    expect((await agent.get(`/records/a?since=${encodeURIComponent(given)}`)).status).toBe(404);
    expect((await agent.get(`/records?since=${encodeURIComponent(given)}`)).status).toBe(200);
    expect(warehouse.readCalls).toEqual([
      { getLatest: 'a', since: new Date(instant) },
      { listLatest: { afterId: '', limit: 101, since: new Date(instant) } },
    ]);
  });

  const SINCE_RULE = 'must be an RFC 3339 timestamp such as 2026-01-02T03:04:05Z (send a + in an offset as %2B)';
  it.each([
    '',
    'yesterday',
    '1767225600',
    '2026-01-01',
    '2026-01-01T00:00Z',
    '2026-01-01T00:00:00',
    '2026-01-01 00:00:00Z',
    '2026-01-01T00:00:00 01:00',
    '2026-01-01T00:00:00.Z',
    '2026-02-29T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-01-01T24:00:00Z',
    '2026-01-01T00:60:00Z',
    '2025-12-31T23:59:60Z',
    '2026-01-01T00:00:00+24:00',
    '0000-01-01T00:00:00Z',
    '+002026-01-01T00:00:00Z',
  ])('answers since=%j with 400 naming since, on every read route, asking the warehouse nothing', async (since) => {
    const { agent, put, warehouse } = setup();
    const query = `since=${encodeURIComponent(since)}`;
    for (const response of [await agent.get(`/records/a?${query}`), await agent.get(`/records?${query}`), await put(`/records/a?${query}`, { data: { name: 'n', value: 1 } })]) {
      expect(response.status).toBe(400);
      expect(response.body).toEqual({ success: false, error: 'Invalid input data', details: [{ field: 'query.since', message: SINCE_RULE }] });
    }
    expect(warehouse.readCalls).toEqual([]);
  });

  it('answers a since in the future with 400 naming since; now itself is accepted', async () => {
    const { agent, warehouse } = setup();
    const future = new Date(START.getTime() + 1).toISOString();
    const message = `must not be in the future (it is ${START.toISOString()})`;
    expect((await agent.get(`/records/a?since=${future}`)).body.details).toEqual([{ field: 'query.since', message }]);
    expect((await agent.get(`/records?since=${future}`)).body.details).toEqual([{ field: 'query.since', message }]);
    expect(warehouse.readCalls).toEqual([]);
    expect((await agent.get(`/records?since=${START.toISOString()}`)).status).toBe(200);
  });

  it('answers a repeated since with 400', async () => {
    const { agent } = setup();
    const response = await agent.get(`/records/a?since=${START.toISOString()}&since=${START.toISOString()}`);
    expect(response.body.details).toEqual([{ field: 'query.since', message: 'must be given once' }]);
  });

  it('reports a bad since beside a bad limit, both named', async () => {
    const { agent } = setup();
    const response = await agent.get('/records?limit=0&since=today');
    expect(response.body.details.map((detail: { field: string }) => detail.field)).toEqual(['query.limit', 'query.since']);
  });

  it('keeps the first page\'s window on every later page, however far the clock moves, so paging is stable', async () => {
    const { agent, warehouse, clock } = setup();
    await warehouse.insert([stored('a'), stored('b'), stored('c')]);
    const first = await agent.get('/records?limit=1');
    clock.advance(3 * READ_WINDOW_HOURS.default * HOUR_MS);
    const second = await agent.get(`/records?limit=1&pageToken=${first.body.nextPageToken}`);
    const third = await agent.get(`/records?limit=1&pageToken=${second.body.nextPageToken}&since=${encodeURIComponent(defaultSince(START).toISOString())}`);
    expect([first, second, third].map((page) => page.body.data.map((record: { id: string }) => record.id))).toEqual([['a'], ['b'], ['c']]);
    expect(first.body.nextPageToken).toBe(token('a'));
    expect(warehouse.readCalls.map((call) => ('listLatest' in call ? call.listLatest.since : undefined))).toEqual([
      defaultSince(START),
      defaultSince(START),
      defaultSince(START),
    ]);
  });

  it('a page token carries an explicit since too', async () => {
    const { agent, warehouse } = setup();
    await warehouse.insert([stored('a'), stored('b')]);
    const since = new Date(START.getTime() - 7 * 24 * HOUR_MS);
    const first = await agent.get(`/records?limit=1&since=${since.toISOString()}`);
    expect(first.body.nextPageToken).toBe(token('a', since));
  });

  it('answers a page token beside a since naming another instant with 400 naming since and the token\'s instant', async () => {
    const { agent, warehouse } = setup();
    const other = new Date(START.getTime() - HOUR_MS);
    const response = await agent.get(`/records?pageToken=${token('a')}&since=${other.toISOString()}`);
    expect(response.status).toBe(400);
    expect(response.body.details).toEqual([
      {
        field: 'query.since',
        message: `must be left out, or name the instant the page token carries (${defaultSince(START).toISOString()}): a listing keeps the window of its first page`,
      },
    ]);
    expect(warehouse.readCalls).toEqual([]);
  });

  it('answers a window BigQuery refuses to scan (bytesBilledLimitExceeded) with 400 naming since, on every read route, storing nothing', async () => {
    const { agent, put, warehouse, lines } = setup();
    warehouse.failWith(new ReadTooLargeError('BigQuery query refused: HTTP 400 bytesBilledLimitExceeded: Query exceeded limit for bytes billed'));
    const since = new Date(START.getTime() - 30 * 24 * HOUR_MS);
    const detail = {
      field: 'query.since',
      message: `the window from ${since.toISOString()} holds more data than one read may scan; pass a later since to narrow it`,
    };
    for (const response of [
      await agent.get(`/records/a?since=${since.toISOString()}`),
      await agent.get(`/records?since=${since.toISOString()}`),
      await put(`/records/a?since=${since.toISOString()}`, { data: { name: 'n', value: 1 } }),
    ]) {
      expect(response.status).toBe(400);
      expect(response.body).toEqual({ success: false, error: 'Invalid input data', details: [detail] });
    }
    expect(warehouse.insertCalls).toEqual([]);
    expect(lines.map((line) => [line.outcome, line.errorClass])).toEqual([
      ['rejected', 'invalid_input'],
      ['rejected', 'invalid_input'],
      ['rejected', 'invalid_input'],
    ]);
  });

  it('PUT reads with the window GET would: a record last written before it is 404, and found with an earlier since', async () => {
    const { put, warehouse } = setup();
    await warehouse.insert([stored('old', -READ_WINDOW_HOURS.default * HOUR_MS - 1)]);
    const refused = await put('/records/old', { data: { name: 'n', value: 2 } });
    expect(refused.status).toBe(404);
    expect(refused.body).toEqual(notFoundBody(defaultSince(START)));
    expect(warehouse.insertCalls).toHaveLength(1);
    const earlier = new Date(START.getTime() - 2 * READ_WINDOW_HOURS.default * HOUR_MS);
    expect((await put(`/records/old?since=${earlier.toISOString()}`, { data: { name: 'n', value: 2 } })).status).toBe(200);
    expect(warehouse.readCalls).toEqual([
      { getLatest: 'old', since: defaultSince(START) },
      { getLatest: 'old', since: earlier },
    ]);
    expect(warehouse.committedRows.at(-1)).toMatchObject({ id: 'old', value: 2, ingestedAt: START });
  });
});

describe('docs/reads.md', () => {
  const doc = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'reads.md'), 'utf8');

  it('shows the bodies and page tokens the API really answers, at the instant its examples were taken', async () => {
    const { agent, warehouse, clock } = setup();
    clock.set(new Date('2026-01-02T03:04:05.678Z'));
    await warehouse.insert(['123', '124', '125'].map((id) => stored(id)));
    const missing = await agent.get('/records/999');
    expect(doc).toContain(`# 404 ${missing.text}`);
    const first = await agent.get('/records?limit=2');
    expect(doc).toContain(`"nextPageToken":"${first.body.nextPageToken}"`);
    expect(doc).toContain(`pageToken=${first.body.nextPageToken}`);
    const put = await agent.put('/records/123').set('Content-Type', 'application/json').send('{"data": {"name": "Renamed", "value": 1.5}}');
    expect(doc).toContain(`# 200 ${put.text}`);
  });

  it('states the limits the API enforces', () => {
    expect(doc).toContain(`\`READ_WINDOW_HOURS\` (default ${READ_WINDOW_HOURS.default}, 1 to ${READ_WINDOW_HOURS.max})`);
    expect(doc).toContain(`(1 to ${MAX_PAGE_LIMIT}, default ${DEFAULT_PAGE_LIMIT})`);
  });
});
