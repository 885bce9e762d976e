/**
 * The API function (`POST /`, the seed's contract) through the functions
 * framework's own server, over an in-memory warehouse.
 */
import request from 'supertest';
import { createApiFunction } from '../../../lambda-src/handlers/api';
import { MAX_JSON_ARRAY_ELEMENTS, MAX_JSON_DEPTH, MAX_JSON_OBJECT_KEYS, MAX_JSON_STRING_BYTES, MAX_RECORDS_PER_INSERT } from '../../../lambda-src/rules/limits';
import type { HandlerDependencies } from '../../../lambda-src/handlers/store';
import { RowsRejectedError, WarehouseError } from '../../../lambda-src/warehouse/warehouse';
import { capturingLogger, sendRaw, serveFunction, steppingClock } from '../../support/function-server';
import { MemoryWarehouse } from '../../support/memory-warehouse';
import { SEED_BODY, SEED_SUCCESS } from '../../../tools/seed';


function setup(overrides: Partial<HandlerDependencies> = {}) {
  const warehouse = new MemoryWarehouse();
  const logger = capturingLogger();
  const server = serveFunction(
    createApiFunction({ warehouse: async () => warehouse, maxBodyBytes: 1024 * 1024, logger, clock: steppingClock(12), ...overrides }),
  );
  const post = (body: string, contentType = 'application/json') =>
    request(server).post('/').set('Content-Type', contentType).send(body);
  return { warehouse, lines: logger.lines, server, post };
}

const record = (id: string, value = 1) => ({ id, name: `record ${id}`, value });

describe('POST / with a valid record', () => {
  it("answers the seed's curl with the exact 200 body, only after the row is committed", async () => {
    const { warehouse, post } = setup();
    const response = await post(SEED_BODY);
    expect(response.status).toBe(200);
    expect(response.text).toBe(SEED_SUCCESS);
    expect(warehouse.committedRows).toEqual([
      {
        id: '123',
        name: 'Sample Data',
        value: 45.67,
        insertId: `http:${response.headers['x-request-id']}:0`,
        ingestedAt: new Date('2026-01-02T03:04:05.678Z'),
      },
    ]);
  });

  it('answers JSON that is never sniffed, never cached, with a request id', async () => {
    const response = await setup().post(SEED_BODY);
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it.each(['application/json; charset=utf-8', 'Application/JSON;charset="UTF-8"', 'application/json;'])(
    'accepts Content-Type %s',
    async (contentType) => {
      const response = await setup().post(SEED_BODY, contentType);
      expect(response.status).toBe(200);
    },
  );

  it('does not answer 200 when the held insert then fails: the answer waits for the commit', async () => {
    const { warehouse, post } = setup();
    const release = warehouse.hold();
    const pending = post(SEED_BODY).then((response) => response);
    await warehouse.insertCallsReached(1);
    warehouse.failWith(new WarehouseError('connection reset', 'warehouse_unavailable', true));
    release();
    const response = await pending;
    expect(response.status).toBe(503);
    expect(warehouse.committedRows).toEqual([]);
  });

  it('gives every request its own insert ids', async () => {
    const { warehouse, post } = setup();
    await post(SEED_BODY);
    await post(SEED_BODY);
    expect(warehouse.committedRows).toHaveLength(2);
  });
});

describe('POST / with an invalid record', () => {
  it('answers 400 "Invalid input data" naming the missing value, and writes nothing', async () => {
    const { warehouse, post } = setup();
    const response = await post(JSON.stringify({ data: { id: '123', name: 'Sample Data' } }));
    expect(response.status).toBe(400);
    expect(response.text.startsWith('{"success":false,"error":"Invalid input data"')).toBe(true);
    expect(response.body.details).toEqual([{ field: 'data.value', message: 'is required' }]);
    expect(warehouse.insertCalls).toEqual([]);
  });

  it('names each bad field', async () => {
    const { post } = setup();
    const response = await post(JSON.stringify({ data: { id: '', name: 7, value: 'x', colour: 'red' } }));
    expect(response.status).toBe(400);
    expect(response.body.details.map((detail: { field: string }) => detail.field).sort()).toEqual(
      ['data.colour', 'data.id', 'data.name', 'data.value'].sort(),
    );
  });

  it('refuses text no warehouse can store (a lone surrogate), and stores an escaped surrogate pair as its character', async () => {
    const { warehouse, post } = setup();
    const refused = await post('{"data":{"id":"1","name":"\\ud83d","value":1}}');
    expect(refused.body.details).toEqual([{ field: 'data.name', message: 'must be well-formed Unicode (an unpaired \\ud800-\\udfff escape is not)' }]);
    expect((await post('{"data":{"id":"1","name":"\\ud83d\\ude00","value":1}}')).status).toBe(200);
    expect(warehouse.committedRows.map((row) => row.name)).toEqual(['😀']);
  });

  it('lists at most 100 bad fields, and the log line counts the rest', async () => {
    const { post, lines } = setup();
    const response = await post(JSON.stringify({ data: Array.from({ length: 150 }, (_, index) => ({ id: `${index}`, name: 'n' })) }));
    expect(response.status).toBe(400);
    expect(response.body.details).toHaveLength(100);
    expect(response.body.details[99]).toEqual({ field: 'data[99].value', message: 'is required' });
    expect(lines[0].reason).toMatch(/; and 145 more$/);
  });

  it.each([
    ['no data field', '{"record":{}}', ['data', 'record']],
    ['an array body', '[1]', ['body']],
    ['a string body', '"text"', ['body']],
    ['data that is not an object', '{"data":5}', ['data']],
    ['a non-finite value spelled as a huge number', '{"data":{"id":"1","name":"n","value":1e999}}', ['data.value']],
    ['an unpaired surrogate escape in the name', '{"data":{"id":"1","name":"a\\ud800b","value":1}}', ['data.name']],
    ['an unpaired low surrogate escape as the id', '{"data":{"id":"\\udc00","name":"n","value":1}}', ['data.id']],
  ])('refuses %s', async (_case, body, fields) => {
    const { warehouse, post } = setup();
    const response = await post(body);
    expect(response.status).toBe(400);
    expect(response.body.error).toBe('Invalid input data');
    expect(response.body.details.map((detail: { field: string }) => detail.field).sort()).toEqual(fields);
    expect(warehouse.insertCalls).toEqual([]);
  });
});

describe('POST / with a batch', () => {
  it('stores every record of a valid batch in one insert, one insert id each', async () => {
    const { warehouse, post } = setup();
    const response = await post(JSON.stringify({ data: [record('a'), record('b'), record('c')] }));
    expect(response.status).toBe(200);
    expect(response.text).toBe(SEED_SUCCESS);
    expect(warehouse.insertCalls).toHaveLength(1);
    const requestId = response.headers['x-request-id'];
    expect(warehouse.committedRows.map((row) => [row.id, row.insertId])).toEqual([
      ['a', `http:${requestId}:0`],
      ['b', `http:${requestId}:1`],
      ['c', `http:${requestId}:2`],
    ]);
  });

  it('refuses the whole batch when one record is bad, naming it by index', async () => {
    const { warehouse, post } = setup();
    const response = await post(JSON.stringify({ data: [record('a'), { id: 'b', name: 'b' }, record('c')] }));
    expect(response.status).toBe(400);
    expect(response.body.details).toEqual([{ field: 'data[1].value', message: 'is required' }]);
    expect(warehouse.insertCalls).toEqual([]);
  });

  it(`accepts ${MAX_RECORDS_PER_INSERT} records and refuses ${MAX_RECORDS_PER_INSERT + 1} or none`, async () => {
    const { warehouse, post } = setup();
    const batch = (size: number) => JSON.stringify({ data: Array.from({ length: size }, (_, index) => record(`r${index}`)) });
    expect((await post(batch(MAX_RECORDS_PER_INSERT))).status).toBe(200);
    const tooMany = await post(batch(MAX_RECORDS_PER_INSERT + 1));
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.details).toEqual([{ field: 'data', message: `must hold between 1 and 500 records, got 501` }]);
    const none = await post(batch(0));
    expect(none.status).toBe(400);
    expect(warehouse.insertCalls).toHaveLength(1);
  });
});

describe('POST / with a body that is not usable JSON', () => {
  it.each([
    ['not JSON', '{bad', 'is not valid JSON (error at position 1)'],
    ['empty', '', 'is empty'],
    ['only whitespace', '  \n', 'is empty'],
  ])('answers our JSON 400 for a body that is %s', async (_case, body, message) => {
    const { warehouse, post, lines } = setup();
    const response = await post(body);
    expect(response.status).toBe(400);
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(response.body).toEqual({ success: false, error: 'Invalid input data', details: [{ field: 'body', message }] });
    expect(lines[0]).toMatchObject({ errorClass: 'invalid_json', outcome: 'rejected' });
    expect(warehouse.insertCalls).toEqual([]);
  });

  it('refuses bytes that are not UTF-8', async () => {
    const { server } = setup();
    const response = await sendRaw(server, 'POST', { 'Content-Type': 'application/json' }, Uint8Array.from([0x7b, 0xff, 0x7d]));
    expect(response.status).toBe(400);
    expect(JSON.parse(response.text).details).toEqual([{ field: 'body', message: 'is not valid UTF-8' }]);
  });

  it('answers a corrupt gzip body (which the framework fails to read) with our JSON 400', async () => {
    const { server, lines } = setup();
    const response = await sendRaw(server, 'POST', { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' }, Buffer.from('nope'));
    expect(response.status).toBe(400);
    expect(JSON.parse(response.text)).toEqual({ success: false, error: 'Invalid input data', details: [{ field: 'body', message: 'could not be read' }] });
    expect(lines[0]).toMatchObject({ errorClass: 'unreadable_body' });
  });

  it.each([
    ['deeper', `{"data":${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}}`, `nests arrays and objects deeper than the limit of ${MAX_JSON_DEPTH} levels`],
    ['with more array elements', `{"data":[${'0,'.repeat(MAX_JSON_ARRAY_ELEMENTS)}0]}`, `holds more array elements than the limit of ${MAX_JSON_ARRAY_ELEMENTS}`],
    ['with more object keys', `{${Array.from({ length: MAX_JSON_OBJECT_KEYS + 1 }, (_, index) => `"k${index}":0`).join(',')}}`, `holds more object keys than the limit of ${MAX_JSON_OBJECT_KEYS}`],
    ['with a longer string', `{"data":{"id":"1","name":"${'\\u00e9'.repeat(MAX_JSON_STRING_BYTES / 6 + 1)}","value":1}}`, `holds a string longer than the limit of ${MAX_JSON_STRING_BYTES} bytes`],
  ])('answers 400 json_too_complex, naming the limit, for JSON %s than the limits allow', async (_case, body, message) => {
    const { warehouse, post, lines } = setup();
    const response = await post(body);
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ success: false, error: 'Invalid input data', details: [{ field: 'body', message }] });
    expect(lines[0]).toMatchObject({ errorClass: 'json_too_complex', outcome: 'rejected' });
    expect(warehouse.insertCalls).toEqual([]);
  });

  it.each([
    ['at the top level', '{"data":{"id":"1","name":"n","value":1},"__proto__":{"polluted":true}}', ['__proto__']],
    ['inside a record', '{"data":{"id":"1","name":"n","value":1,"constructor":{"prototype":{}}}}', ['data.constructor']],
    ['deep in a batch', '{"data":[{"id":"1","name":"n","value":1},{"x":{"prototype":1}}]}', ['data[1].x.prototype']],
  ])('refuses __proto__/constructor/prototype keys %s, never merging them', async (_case, body, fields) => {
    const { warehouse, post } = setup();
    const response = await post(body);
    expect(response.status).toBe(400);
    expect(response.body.details).toEqual(fields.map((field) => ({ field, message: 'forbidden key' })));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(warehouse.insertCalls).toEqual([]);
  });
});

describe('POST / size and media type', () => {
  it('answers 413 above the configured limit and accepts a body of exactly the limit', async () => {
    const body = JSON.stringify({ data: record('1') });
    const { post, warehouse } = setup({ maxBodyBytes: Buffer.byteLength(body) });
    expect((await post(body)).status).toBe(200);
    const tooLarge = await post(`${body} `);
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body).toEqual({
      success: false,
      error: 'Payload too large',
      details: [{ field: 'request', message: `body is larger than the limit of ${Buffer.byteLength(body)} bytes` }],
    });
    expect(warehouse.insertCalls).toHaveLength(1);
  });

  it('answers 413 for a body over the default 1 MiB', async () => {
    const response = await setup().post(JSON.stringify({ data: record('x'.repeat(1024 * 1024)) }));
    expect(response.status).toBe(413);
  });

  it.each([
    'text/plain',
    'application/x-www-form-urlencoded',
    'application/json; charset=latin1',
    'application/json; charset=utf-16',
    'application/json; charset=utf8',
    'application/json; profile=x',
    'application/jsonx',
  ])('answers 415 for Content-Type %s', async (contentType) => {
    const { post, warehouse, lines } = setup();
    const response = await post(SEED_BODY, contentType);
    expect(response.status).toBe(415);
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(response.body).toMatchObject({ success: false, error: 'Unsupported media type' });
    expect(lines[0]).toMatchObject({ errorClass: 'unsupported_media_type' });
    expect(warehouse.insertCalls).toEqual([]);
  });

  it('answers 415 when there is no Content-Type at all', async () => {
    const { server } = setup();
    const response = await sendRaw(server, 'POST', {}, Buffer.from(SEED_BODY));
    expect(response.status).toBe(415);
  });
});

describe('routes', () => {
  it.each(['GET', 'PUT', 'DELETE', 'PATCH'])('answers %s / with 405, an Allow header and JSON', async (method) => {
    const { server, lines } = setup();
    const response = await request(server)[method.toLowerCase() as 'get']('/');
    expect(response.status).toBe(405);
    expect(response.headers.allow).toBe('POST');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.body).toMatchObject({ success: false, error: 'Method not allowed' });
    expect(lines[0]).toMatchObject({ errorClass: 'method_not_allowed', event: 'ingest' });
  });

  it('answers an unknown path with a JSON 404', async () => {
    const { server, warehouse } = setup();
    const response = await request(server).post('/ingest').set('Content-Type', 'application/json').send(SEED_BODY);
    expect(response.status).toBe(404);
    expect(response.body).toMatchObject({ success: false, error: 'Not found' });
    expect(warehouse.insertCalls).toEqual([]);
  });
});

describe('POST / when the warehouse fails', () => {
  it('answers 503 with Retry-After when a retry may help, naming the class and request id only', async () => {
    const { warehouse, post } = setup();
    warehouse.failWith(new WarehouseError('ECONNRESET talking to 10.0.0.7 with token abc', 'warehouse_unavailable', true));
    const response = await post(SEED_BODY);
    const requestId = response.headers['x-request-id'];
    expect(response.status).toBe(503);
    expect(response.headers['retry-after']).toBe('1');
    expect(response.body).toEqual({
      success: false,
      error: `Warehouse unavailable, retry later (warehouse_unavailable, request id ${requestId})`,
      requestId,
    });
  });

  it.each([
    ['a non-retryable warehouse error', new WarehouseError('table not found', 'warehouse_error', false), 'warehouse_error'],
    ['rows the warehouse refused after our validation passed', new RowsRejectedError([{ index: 0, reason: 'invalid', message: 'no such field' }]), 'warehouse_rejected_rows'],
    ['an unclassified error', new TypeError('driver exploded at /srv/app/secret.js:10'), 'warehouse_error'],
  ])('answers 500 for %s, without the driver message', async (_case, error, errorClass) => {
    const { warehouse, post, lines } = setup();
    warehouse.failWith(error);
    const response = await post(SEED_BODY);
    expect(response.status).toBe(500);
    expect(response.headers['retry-after']).toBeUndefined();
    expect(response.body.error).toContain(`(${errorClass}, request id ${response.headers['x-request-id']})`);
    expect(response.text).not.toMatch(/no such field|exploded|secret|at /);
    expect(lines[0]).toMatchObject({ outcome: 'failed', errorClass, severity: 'ERROR', rows: 1 });
  });

  it('answers 500 when the warehouse cannot be opened, and opens it again on the next request', async () => {
    const warehouse = new MemoryWarehouse();
    let opens = 0;
    const { post } = setup({
      warehouse: async () => {
        opens += 1;
        if (opens === 1) throw new Error('cannot open');
        return warehouse;
      },
    });
    expect((await post(SEED_BODY)).status).toBe(500);
    expect((await post(SEED_BODY)).status).toBe(200);
    expect(warehouse.committedRows).toHaveLength(1);
  });

  it('answers a bug in the handler with a JSON 500, never the framework crash text', async () => {
    const { post } = setup({
      clock: {
        now: () => {
          throw new Error('clock is broken');
        },
        monotonicMs: () => 0,
      },
    });
    const response = await post(SEED_BODY);
    expect(response.status).toBe(500);
    expect(response.body).toMatchObject({ success: false, error: expect.stringContaining('(internal_error, request id') });
    expect(response.text).not.toContain('clock is broken');
  });
});

describe('request log line', () => {
  it('writes one Cloud Logging line per request with the fields metrics are built on', async () => {
    const { post, lines, server } = setup();
    const response = await request(server)
      .post('/?source=test')
      .set('Content-Type', 'application/json')
      .set('User-Agent', 'curl/8.5.0')
      .set('X-Cloud-Trace-Context', '105445aa7843bc8bf206b12000100000/1;o=1')
      .send(SEED_BODY);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toEqual({
      severity: 'INFO',
      message: expect.stringContaining('200 success'),
      httpRequest: {
        requestMethod: 'POST',
        requestUrl: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/\?source=test$/),
        status: 200,
        latency: '0.012s',
        userAgent: 'curl/8.5.0',
      },
      'logging.googleapis.com/trace': 'projects/test-project/traces/105445aa7843bc8bf206b12000100000',
      'logging.googleapis.com/spanId': '0000000000000001',
      'logging.googleapis.com/trace_sampled': true,
      event: 'ingest',
      function: 'api',
      requestId: response.headers['x-request-id'],
      rows: 1,
      latencyMs: 12,
      outcome: 'success',
    });
    await post('{"data":[{"id":"1","name":"n","value":1},{"id":"2"}]}');
    expect(lines[1]).toMatchObject({
      severity: 'WARNING',
      outcome: 'rejected',
      errorClass: 'invalid_input',
      rows: 2,
      reason: 'data[1].name: is required; data[1].value: is required',
    });
    expect(lines[1]['logging.googleapis.com/trace']).toBeUndefined();
  });

  it('counts rows in a failed batch and marks it failed', async () => {
    const { warehouse, post, lines } = setup();
    warehouse.failWith(new WarehouseError('down', 'warehouse_unavailable', true));
    await post(JSON.stringify({ data: [record('a'), record('b')] }));
    expect(lines[0]).toMatchObject({ severity: 'ERROR', outcome: 'failed', errorClass: 'warehouse_unavailable', rows: 2, reason: 'down' });
  });
});
