/**
 * The push subscriber function through the functions framework's own server,
 * over an in-memory warehouse. Bodies are what a Pub/Sub push subscription
 * delivers.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import request from 'supertest';
import { DEAD_LETTER_ATTRIBUTES as DEAD_LETTER } from '../../../lambda-src/dead-letter/dead-letter';
import { PubSubDeadLetterTopic } from '../../../lambda-src/dead-letter/pubsub';
import { createApiFunction } from '../../../lambda-src/handlers/api';
import { pushEnvelopeLimit, type PushDependencies } from '../../../lambda-src/handlers/push';
import { createSubscriberFunction } from '../../../lambda-src/handlers/subscriber';
import { MAX_JSON_STRING_BYTES, MAX_LOGGED_POISON_DATA_BYTES } from '../../../lambda-src/rules/limits';
import { DuckDbWarehouse } from '../../../lambda-src/warehouse/duckdb';
import { RowsRejectedError, WarehouseError } from '../../../lambda-src/warehouse/warehouse';
import { capturingLogger, serveFunction, steppingClock } from '../../support/function-server';
import { PubSubStandIn } from '../../../tools/pubsub-standin';
import { MemoryWarehouse } from '../../support/memory-warehouse';
import { propertyRuns } from '../../support/property-runs';
import { scratchDirectory } from '../../support/scratch-directory';

const SUBSCRIPTION = 'projects/demo/subscriptions/ingest-push';
const RECORD = { id: '123', name: 'Sample Data', value: 45.67 };

/** A delivery as Pub/Sub pushes it (it sends both spellings of the id and time). */
function delivery(data: string | undefined, messageId = '2070443601311540', extra: Record<string, unknown> = {}) {
  return {
    message: {
      ...(data === undefined ? {} : { data }),
      messageId,
      message_id: messageId,
      publishTime: '2026-01-02T03:04:05.678Z',
      publish_time: '2026-01-02T03:04:05.678Z',
      attributes: { origin: 'test' },
    },
    subscription: SUBSCRIPTION,
    deliveryAttempt: 1,
    ...extra,
  };
}

const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const ofPayload = (payload: unknown, messageId?: string) => delivery(base64(JSON.stringify(payload)), messageId);

function setup(overrides: Partial<PushDependencies> = {}) {
  const warehouse = new MemoryWarehouse();
  const logger = capturingLogger();
  const server = serveFunction(
    createSubscriberFunction({ warehouse: async () => warehouse, maxBodyBytes: 1024 * 1024, logger, clock: steppingClock(5), ...overrides }),
  );
  const push = (body: unknown) => request(server).post('/').set('Content-Type', 'application/json').send(JSON.stringify(body));
  return { warehouse, lines: logger.lines, server, push };
}

describe('push delivery of a valid message', () => {
  it('acks with 200 once stored, the insert id being the messageId in the push namespace', async () => {
    const { warehouse, push, lines } = setup();
    const response = await push(ofPayload({ data: RECORD }));
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ success: true, message: 'Data inserted successfully!' });
    expect(warehouse.committedRows).toEqual([{ ...RECORD, insertId: 'pubsub:2070443601311540:0', ingestedAt: new Date('2026-01-02T03:04:05.678Z') }]);
    expect(lines).toEqual([
      expect.objectContaining({
        severity: 'INFO',
        event: 'push',
        function: 'subscriber',
        outcome: 'success',
        rows: 1,
        messageId: '2070443601311540',
        subscription: SUBSCRIPTION,
        deliveryAttempt: 1,
        publishTime: '2026-01-02T03:04:05.678Z',
        httpRequest: expect.objectContaining({ latency: '0.005s', status: 200 }),
      }),
    ]);
    expect(lines[0]).not.toHaveProperty('errorClass');
    expect(lines[0]).not.toHaveProperty('messageData');
  });

  it('stores nothing new when the same message is delivered again', async () => {
    const { warehouse, push } = setup();
    expect((await push(ofPayload({ data: RECORD }))).status).toBe(200);
    expect((await push(ofPayload({ data: RECORD }))).status).toBe(200);
    expect(warehouse.insertCalls.map((rows) => rows.map((row) => row.insertId))).toEqual([['pubsub:2070443601311540:0'], ['pubsub:2070443601311540:0']]);
    expect(warehouse.committedRows).toHaveLength(1);
  });

  it('gives each record of a batch its index, after the messageId, which may itself hold colons', async () => {
    const { warehouse, push } = setup();
    expect((await push(ofPayload({ data: [RECORD, { ...RECORD, id: '124' }] }, 'm-1'))).status).toBe(200);
    expect((await push(ofPayload({ data: RECORD }, 'm-1:1'))).status).toBe(200);
    expect(warehouse.committedRows.map((row) => row.insertId)).toEqual(['pubsub:m-1:0', 'pubsub:m-1:1', 'pubsub:m-1:1:0']);
  });

  it('stores a message whose base64 data is longer than any string a payload may hold', async () => {
    const { warehouse, push } = setup();
    const records = Array.from({ length: 100 }, (_, index) => ({ ...RECORD, id: `r-${index}`, name: 'n'.repeat(1000) }));
    const body = ofPayload({ data: records });
    expect(body.message.data!.length).toBeGreaterThan(MAX_JSON_STRING_BYTES);
    expect((await push(body)).status).toBe(200);
    expect(warehouse.committedRows).toHaveLength(100);
  });

  it('accepts the snake_case message_id alone', async () => {
    const { warehouse, push } = setup();
    const body = ofPayload({ data: RECORD });
    const { messageId: _dropped, ...message } = body.message;
    expect((await push({ ...body, message })).status).toBe(200);
    expect(warehouse.committedRows[0].insertId).toBe('pubsub:2070443601311540:0');
  });
});

/** A valid message but for its id, which JSON spells with an unpaired `\ud800` escape. */
const LONE_SURROGATE_ID = `{"message":{"data":"${base64(JSON.stringify({ data: RECORD }))}","messageId":"id-\\ud800"},"subscription":"s"}`;
const messageIdRule = { field: 'message.messageId', message: 'must be a non-empty string of at most 256 characters of well-formed Unicode' };

describe('push delivery of poison, a message no retry can store: acknowledged with 202 so it never loops, logged as rejected', () => {
  it.each([
    ['data that is not JSON', delivery(base64('this is not json')), 'invalid_json', [{ field: 'message.data', message: 'is not valid JSON' }]],
    ['data that is not base64', delivery('***'), 'invalid_message', [{ field: 'message.data', message: 'must be a base64 string' }]],
    ['no data', delivery(undefined), 'invalid_message', [{ field: 'message.data', message: 'is required' }]],
    ['data that is not UTF-8', delivery(Buffer.from([0xff, 0xfe]).toString('base64')), 'invalid_json', [{ field: 'message.data', message: 'is not valid UTF-8' }]],
    ['an invalid record', ofPayload({ data: { id: '123', name: 'x' } }), 'invalid_input', [{ field: 'data.value', message: 'is required' }]],
    ['a record with unstorable text', delivery(base64('{"data":{"id":"\\udc00","name":"n","value":1}}')), 'invalid_input', [{ field: 'data.id', message: expect.stringMatching(/^must be well-formed Unicode/) }]],
    ['a forbidden key in the data', ofPayload(JSON.parse('{"data":{"id":"1","name":"n","value":1},"__proto__":{}}')), 'invalid_input', [{ field: '__proto__', message: 'forbidden key' }]],
    ['data nested past the JSON depth limit', delivery(base64(`${'['.repeat(17)}${']'.repeat(17)}`)), 'json_too_complex', [{ field: 'message.data', message: 'nests arrays and objects deeper than the limit of 16 levels' }]],
  ])('acknowledges %s with 202, logging the messageId, reason and data, writing nothing', async (_case, body, errorClass, details) => {
    const { warehouse, push, lines } = setup();
    const response = await push(body);
    expect(response.status).toBe(202);
    expect(response.body).toEqual({ success: false, error: 'Invalid input data', details });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      severity: 'WARNING',
      outcome: 'rejected',
      errorClass,
      messageId: '2070443601311540',
      subscription: SUBSCRIPTION,
      deliveryAttempt: 1,
      publishTime: '2026-01-02T03:04:05.678Z',
      reason: expect.stringMatching(/^message\.data|^data|^__proto__/),
      httpRequest: expect.objectContaining({ status: 202 }),
    });
    const data = body.message.data;
    if (data !== undefined && data !== '***') {
      const bytes = Buffer.from(data, 'base64');
      expect(lines[0]).toMatchObject({ messageData: data, messageDataBytes: bytes.length, messageDataSha256: createHash('sha256').update(bytes).digest('hex') });
    }
    expect(warehouse.insertCalls).toEqual([]);
  });

  it.each([
    ['no message', { subscription: SUBSCRIPTION }, [{ field: 'message', message: 'is required' }]],
    ['a message that is not an object', { message: 'hi', subscription: SUBSCRIPTION }, [{ field: 'message', message: 'must be an object' }]],
    ['no messageId', { message: { data: base64('{}') }, subscription: SUBSCRIPTION }, [messageIdRule]],
    ['an empty messageId', { message: { data: base64('{}'), messageId: '' }, subscription: SUBSCRIPTION }, [messageIdRule]],
    ['a messageId of 257 characters', { message: { data: base64('{}'), messageId: 'm'.repeat(257) }, subscription: SUBSCRIPTION }, [messageIdRule]],
    ['a messageId with a lone surrogate', JSON.parse(LONE_SURROGATE_ID), [messageIdRule]],
    ['a body that is not an object', [1, 2], [{ field: 'body', message: 'must be a JSON object' }]],
  ])('acknowledges an envelope with %s: 202 invalid_message, nothing stored', async (_case, body, details) => {
    const { push, lines, warehouse } = setup();
    const response = await push(body);
    expect(response.status).toBe(202);
    expect(response.body.details).toEqual(details);
    expect(lines[0]).toMatchObject({ errorClass: 'invalid_message', outcome: 'rejected', severity: 'WARNING' });
    expect(warehouse.insertCalls).toEqual([]);
  });

  it('acknowledges an envelope that is not JSON, but answers 415 to a request that is not labelled JSON: that is no push delivery', async () => {
    const { server, lines } = setup();
    expect((await request(server).post('/').set('Content-Type', 'application/json').send('{not json')).status).toBe(202);
    expect((await request(server).post('/').set('Content-Type', 'text/plain').send('{}')).status).toBe(415);
    expect(lines.map((line) => [line.outcome, line.errorClass])).toEqual([
      ['rejected', 'invalid_json'],
      ['rejected', 'unsupported_media_type'],
    ]);
  });

  it('acknowledges data over the body limit (by size and hash in the log, not whole), and stores data of exactly the limit', async () => {
    const payload = JSON.stringify({ data: RECORD });
    const { push, warehouse, lines } = setup({ maxBodyBytes: Buffer.byteLength(payload) });
    expect((await push(delivery(base64(payload)))).status).toBe(200);
    const response = await push(delivery(base64(`${payload} `), 'm-2'));
    expect(response.status).toBe(202);
    expect(response.body.details).toEqual([{ field: 'request', message: `message.data is larger than the limit of ${Buffer.byteLength(payload)} bytes` }]);
    expect(lines[1]).toMatchObject({ outcome: 'rejected', errorClass: 'payload_too_large', messageId: 'm-2', messageDataBytes: Buffer.byteLength(payload) + 1 });
    expect(warehouse.committedRows).toHaveLength(1);
  });

  it('logs data over MAX_LOGGED_POISON_DATA_BYTES by size and hash only', async () => {
    const { push, lines } = setup();
    const data = Buffer.from(`{"data":{"id":"1","name":"${'n'.repeat(MAX_LOGGED_POISON_DATA_BYTES)}","value":1}}`);
    expect((await push(delivery(data.toString('base64')))).status).toBe(202);
    expect(lines[0]).toMatchObject({ errorClass: 'invalid_input', messageDataBytes: data.length, messageDataSha256: createHash('sha256').update(data).digest('hex') });
    expect(lines[0]).not.toHaveProperty('messageData');
  });

  it('acknowledges an envelope over its own limit', async () => {
    const { server, lines } = setup({ maxBodyBytes: 3 });
    const response = await request(server)
      .post('/')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify(delivery(base64('{}'), '1', { padding: 'p'.repeat(pushEnvelopeLimit(3)) })));
    expect(response.status).toBe(202);
    expect(lines[0]).toMatchObject({ outcome: 'rejected', errorClass: 'payload_too_large' });
  });

  it('bounds the envelope by the base64 size of the limit plus room for attributes', () => {
    expect(pushEnvelopeLimit(3)).toBe(4 + 256 * 1024);
    expect(pushEnvelopeLimit(1024 * 1024)).toBe(1398104 + 256 * 1024);
  });

  it('answers every arbitrary JSON delivery with 200 or 202, never a nack', async () => {
    const { server } = setup();
    const jsonish = fc.oneof(fc.json(), fc.string().map(base64), fc.jsonValue().map((value) => base64(JSON.stringify(value))));
    const bodies = fc.oneof(
      fc.string(),
      fc.json(),
      jsonish.map((data) => JSON.stringify({ message: { data, messageId: 'm' } })),
      fc.record({ data: fc.jsonValue() }).map((payload) => JSON.stringify({ message: { data: base64(JSON.stringify(payload)), messageId: 'm' } })),
    );
    await fc.assert(
      fc.asyncProperty(bodies, async (body) => {
        const response = await request(server).post('/').set('Content-Type', 'application/json').send(body);
        expect([200, 202]).toContain(response.status);
        expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
      }),
      { numRuns: propertyRuns(150) },
    );
  });
});

describe('push delivery of poison with a dead-letter topic: published there, then acknowledged', () => {
  const TOPIC = 'projects/demo-project/topics/ingest-dead-letter';
  let standIn: PubSubStandIn;
  let deadLetters: PubSubDeadLetterTopic;

  beforeAll(async () => {
    standIn = await PubSubStandIn.start();
    standIn.createTopic(TOPIC);
    deadLetters = new PubSubDeadLetterTopic({ topic: TOPIC, apiEndpoint: standIn.url });
  });

  afterAll(async () => {
    deadLetters.close();
    await standIn.stop();
  });

  /** The subscriber routing poison to the stand-in's topic, and the letters it publishes from now on. */
  function routed(overrides: Partial<PushDependencies> = {}) {
    const before = standIn.published().length;
    return { ...setup({ deadLetters, ...overrides }), letters: () => standIn.published(TOPIC).slice(before) };
  }

  const deliveryAttributes = {
    [DEAD_LETTER.messageId]: '2070443601311540',
    [DEAD_LETTER.subscription]: SUBSCRIPTION,
    [DEAD_LETTER.deliveryAttempt]: '1',
    [DEAD_LETTER.publishTime]: '2026-01-02T03:04:05.678Z',
  };

  it.each([
    ['data that is not JSON', delivery(base64('this is not json')), 'invalid_json'],
    ['an invalid record', ofPayload({ data: { id: '123', name: 'x' } }), 'invalid_input'],
    ['data that is not UTF-8', delivery(Buffer.from([0xff, 0xfe]).toString('base64')), 'invalid_json'],
    ['data over the body limit', delivery(base64(' '.repeat(2048))), 'payload_too_large'],
    ['a messageId with a lone surrogate', JSON.parse(LONE_SURROGATE_ID.replace('"subscription":"s"', `"subscription":"${SUBSCRIPTION}"`)), 'invalid_message'],
  ])('publishes %s once, its data as delivered and the reason beside its attributes, then answers 202', async (_case, body, errorClass) => {
    const { push, lines, letters, warehouse } = routed({ maxBodyBytes: 1024 });
    const response = await push(body);
    expect(response.status).toBe(202);
    const [letter, ...others] = letters();
    expect(others).toEqual([]);
    expect(letter!.data).toEqual(Buffer.from(body.message.data, 'base64'));
    expect(letter!.attributes).toEqual({
      ...(body.message.attributes ?? {}),
      ...(body.message.messageId === '2070443601311540' ? deliveryAttributes : { [DEAD_LETTER.subscription]: SUBSCRIPTION }),
      [DEAD_LETTER.reason]: lines[0]!.reason,
      [DEAD_LETTER.errorClass]: errorClass,
      [DEAD_LETTER.data]: 'message',
      [DEAD_LETTER.requestId]: response.headers['x-request-id'],
    });
    expect(lines).toEqual([
      expect.objectContaining({ severity: 'WARNING', outcome: 'rejected', errorClass, deadLetterMessageId: letter!.messageId, httpRequest: expect.objectContaining({ status: 202 }) }),
    ]);
    expect(warehouse.insertCalls).toEqual([]);
  });

  it.each([
    ['an envelope that is not JSON', '{not json', 'invalid_json'],
    ['a message that is not an object', JSON.stringify({ message: 'hi', subscription: SUBSCRIPTION }), 'invalid_message'],
    ['data that is not base64', JSON.stringify(delivery('***')), 'invalid_message'],
  ])('publishes the request body as received for %s, which holds no readable message', async (_case, body, errorClass) => {
    const { server, letters } = routed();
    const response = await request(server).post('/').set('Content-Type', 'application/json').send(body);
    expect(response.status).toBe(202);
    expect(letters()).toEqual([
      expect.objectContaining({
        data: Buffer.from(body),
        attributes: expect.objectContaining({ [DEAD_LETTER.data]: 'request-body', [DEAD_LETTER.errorClass]: errorClass, [DEAD_LETTER.requestId]: response.headers['x-request-id'] }),
      }),
    ]);
  });

  it('publishes a message that has attributes and no data as it is: attributes only', async () => {
    const { push, letters } = routed();
    expect((await push(delivery(undefined))).status).toBe(202);
    expect(letters()).toEqual([
      expect.objectContaining({ data: Buffer.alloc(0), attributes: expect.objectContaining({ origin: 'test', [DEAD_LETTER.data]: 'message', [DEAD_LETTER.reason]: 'message.data: is required' }) }),
    ]);
  });

  it('nacks with 503 when the publish fails, logging both why, and publishes once when Pub/Sub delivers it again', async () => {
    const { push, lines, letters } = routed();
    const body = ofPayload({ data: { id: '123', name: 'x' } });
    standIn.failNext({ kind: 'httpError', status: 403 });
    const failed = await push(body);
    expect(failed.status).toBe(503);
    expect(failed.body).toEqual({ success: false, error: expect.stringMatching(/^Dead-letter topic unavailable, retry later \(dead_letter_unavailable, request id /), requestId: failed.headers['x-request-id'] });
    expect(lines[0]).toMatchObject({
      severity: 'ERROR',
      outcome: 'failed',
      errorClass: 'dead_letter_unavailable',
      refusedAs: 'invalid_input',
      messageId: '2070443601311540',
      reason: expect.stringMatching(new RegExp(`^publishing to ${TOPIC} at http://127\\.0\\.0\\.1:\\d+ failed: HTTP 403: .*; the message was refused: data\\.value: is required$`)),
    });
    expect(letters()).toEqual([]);

    const redelivered = await push({ ...body, deliveryAttempt: 2 });
    expect(redelivered.status).toBe(202);
    expect(letters()).toEqual([expect.objectContaining({ attributes: expect.objectContaining({ [DEAD_LETTER.deliveryAttempt]: '2', [DEAD_LETTER.errorClass]: 'invalid_input' }) })]);
  });

  it('publishes nothing for a stored message, a warehouse failure or a request that is no push delivery', async () => {
    const { push, server, warehouse, letters } = routed();
    expect((await push(ofPayload({ data: RECORD }))).status).toBe(200);
    warehouse.failWith(new WarehouseError('timeout', 'warehouse_unavailable', true));
    expect((await push(ofPayload({ data: RECORD }, 'm-2'))).status).toBe(503);
    expect((await request(server).post('/').set('Content-Type', 'text/plain').send('{}')).status).toBe(415);
    expect(letters()).toEqual([]);
  });
});

describe('push delivery of poison to DuckDB', () => {
  const scratch = scratchDirectory('push-poison-');

  it('acknowledges a messageId holding a lone surrogate, which no warehouse can store, and stores the next message', async () => {
    const warehouse = await DuckDbWarehouse.open(scratch.fresh('warehouse.duckdb'));
    try {
      const { server } = setup({ warehouse: async () => warehouse });
      const post = (body: string) => request(server).post('/').set('Content-Type', 'application/json').send(body);
      expect((await post(LONE_SURROGATE_ID)).status).toBe(202);
      expect((await post(JSON.stringify(ofPayload({ data: RECORD }, 'after-poison')))).status).toBe(200);
      const since = new Date(0);
      expect(await warehouse.listLatest({ afterId: '', limit: 10, since })).toEqual([expect.objectContaining(RECORD)]);
    } finally {
      await warehouse.close();
    }
  });
});

describe('insert id namespaces', () => {
  it('keep a push message whose id spells an HTTP insert id from being taken for that request, and the other way round', async () => {
    const warehouse = new MemoryWarehouse();
    const deps = { warehouse: async () => warehouse, maxBodyBytes: 1024 * 1024, logger: capturingLogger(), clock: steppingClock(1) };
    const api = serveFunction(createApiFunction(deps));
    const subscriber = serveFunction(createSubscriberFunction(deps));
    const keyed = await request(api).post('/').set('Content-Type', 'application/json').set('Idempotency-Key', 'k-1').send(JSON.stringify({ data: { ...RECORD, id: 'http' } }));
    expect(keyed.status).toBe(200);
    const [httpId] = warehouse.committedRows.map((row) => row.insertId);
    // A message whose id is the HTTP row's insert id without its index, so that its own first id spells it.
    const spelled = httpId!.slice(0, httpId!.lastIndexOf(':'));
    const pushed = await request(subscriber).post('/').set('Content-Type', 'application/json').send(JSON.stringify(ofPayload({ data: { ...RECORD, id: 'push' } }, spelled)));
    expect(pushed.status).toBe(200);
    expect(warehouse.committedRows.map((row) => row.id)).toEqual(['http', 'push']);
    expect(new Set(warehouse.committedRows.map((row) => row.insertId)).size).toBe(2);
  });
});

describe('push delivery when the warehouse fails: 5xx (nack, Pub/Sub retries)', () => {
  it('answers 503 when the warehouse is unavailable', async () => {
    const { warehouse, push, lines } = setup();
    warehouse.failWith(new WarehouseError('timeout', 'warehouse_unavailable', true));
    const response = await push(ofPayload({ data: RECORD }));
    expect(response.status).toBe(503);
    expect(lines[0]).toMatchObject({ outcome: 'failed', errorClass: 'warehouse_unavailable', messageId: '2070443601311540' });
  });

  it.each([
    ['a non-retryable warehouse error', new WarehouseError('permission denied', 'warehouse_error', false)],
    ['refused rows', new RowsRejectedError([{ index: 0, reason: 'invalid', message: 'schema drift' }])],
  ])('answers 500 for %s: our fault, retried, dead-lettered after the bounded attempts, never dropped', async (_case, error) => {
    const { warehouse, push } = setup();
    warehouse.failWith(error);
    expect((await push(ofPayload({ data: RECORD }))).status).toBe(500);
  });
});

describe('subscriber routes', () => {
  it('answers GET / with 405 and POST elsewhere with 404, both JSON', async () => {
    const { server, lines } = setup();
    const notAllowed = await request(server).get('/');
    expect(notAllowed.status).toBe(405);
    expect(notAllowed.headers.allow).toBe('POST');
    expect((await request(server).post('/other').set('Content-Type', 'application/json').send('{}')).status).toBe(404);
    expect(lines.map((line) => line.event)).toEqual(['push', 'push']);
  });
});
