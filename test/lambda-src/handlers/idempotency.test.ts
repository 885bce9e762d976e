/**
 * `Idempotency-Key` on the API function: one key names one request (method,
 * URL, body), through the functions framework's own server over an
 * in-memory warehouse; and the memory of keys, bounded in time and size.
 */
import type { Request } from '@google-cloud/functions-framework';
import request from 'supertest';
import type { Clock } from '../../../lambda-src/clock';
import { inserted, type Answer } from '../../../lambda-src/http/answer';
import type { RequestScope } from '../../../lambda-src/http/router';
import { createApiFunction } from '../../../lambda-src/handlers/api';
import { IdempotencyKeys } from '../../../lambda-src/handlers/idempotency';
import type { HandlerDependencies } from '../../../lambda-src/handlers/store';
import { WarehouseError } from '../../../lambda-src/warehouse/warehouse';
import { capturingLogger, serveFunction, steppingClock } from '../../support/function-server';
import { MemoryWarehouse } from '../../support/memory-warehouse';
import { SEED_SUCCESS } from '../../../tools/seed';

const record = (id: string, value = 1) => ({ id, name: `record ${id}`, value });
const body = (...ids: string[]) => JSON.stringify({ data: ids.length === 1 ? record(ids[0]!) : ids.map((id) => record(id)) });

/** An API function over `warehouse`; several over one warehouse stand for several instances. */
function instance(warehouse: MemoryWarehouse, overrides: Partial<HandlerDependencies> = {}) {
  const logger = capturingLogger();
  const server = serveFunction(createApiFunction({ warehouse: async () => warehouse, maxBodyBytes: 1024 * 1024, logger, clock: steppingClock(1), ...overrides }));
  const agent = request(server);
  const post = (text: string, key?: string | string[], path = '/') => {
    const sent = agent.post(path).set('Content-Type', 'application/json');
    // superagent sends an array as one header line per value; its types only admit a string.
    return (key === undefined ? sent : sent.set('Idempotency-Key', key as string)).send(text);
  };
  const put = (path: string, text: string, key: string) => agent.put(path).set('Content-Type', 'application/json').set('Idempotency-Key', key).send(text);
  return { post, put, lines: logger.lines };
}

function setup() {
  const warehouse = new MemoryWarehouse();
  return { warehouse, ...instance(warehouse) };
}

const reusedDetails = (key: string) => [
  { field: 'Idempotency-Key', message: `"${key}" was first sent with another request (method, URL or body); send a new key with a new request` },
];

describe('the same key with the same request', () => {
  it('gets the original answer again, marked as replayed, and stores nothing new: the warehouse is not even asked', async () => {
    const { warehouse, post, lines } = setup();
    const first = await post(body('a', 'b'), 'order-42');
    const again = await post(body('a', 'b'), 'order-42');
    expect([first.status, first.text, first.headers['idempotent-replayed']]).toEqual([200, SEED_SUCCESS, undefined]);
    expect([again.status, again.text, again.headers['idempotent-replayed']]).toEqual([200, SEED_SUCCESS, 'true']);
    expect(warehouse.insertCalls).toHaveLength(1);
    expect(warehouse.committedRows.map((row) => row.id)).toEqual(['a', 'b']);
    expect(warehouse.committedRows.map((row) => row.insertId)).toEqual([expect.stringMatching(/^http-key:[0-9a-f]{64}:0$/), expect.stringMatching(/^http-key:[0-9a-f]{64}:1$/)]);
    // The repeat stored nothing, so it adds no rows to the rows-ingested metric.
    expect(lines.map((line) => [line.outcome, line.rows, line.idempotentReplay])).toEqual([
      ['success', 2, undefined],
      ['success', 0, 'true'],
    ]);
  });

  it('arriving while the first is still being stored, waits for it and gets its answer, with one insert between them (another request under the key: 422)', async () => {
    const { warehouse, post } = setup();
    const release = warehouse.hold();
    const first = post(body('a'), 'k').then((response) => response);
    await warehouse.insertCallsReached(1);
    const repeat = post(body('a'), 'k').then((response) => response);
    const other = post(body('b'), 'k').then((response) => response);
    release();
    const [firstAnswer, repeatAnswer, otherAnswer] = await Promise.all([first, repeat, other]);
    expect([firstAnswer.status, repeatAnswer.status, repeatAnswer.headers['idempotent-replayed']]).toEqual([200, 200, 'true']);
    expect(otherAnswer.status).toBe(422);
    expect(warehouse.insertCalls).toHaveLength(1);
    expect(warehouse.committedRows.map((row) => row.id)).toEqual(['a']);
  });

  it('on another instance, which never saw the key, writes the same insert ids, so the warehouse stores nothing new', async () => {
    const warehouse = new MemoryWarehouse();
    const [one, two] = [instance(warehouse), instance(warehouse)];
    expect((await one.post(body('a'), 'k')).status).toBe(200);
    expect((await two.post(body('a'), 'k')).status).toBe(200);
    expect(warehouse.insertCalls).toHaveLength(2);
    expect(warehouse.insertCalls[1]!.map((row) => row.insertId)).toEqual(warehouse.insertCalls[0]!.map((row) => row.insertId));
    expect(warehouse.committedRows).toHaveLength(1);
  });
});

describe('the same key with another request', () => {
  it.each([
    ['another body', body('b'), '/'],
    ['the same records spelled with other bytes', ` ${body('a')}`, '/'],
    ['another URL', body('a'), '/?attempt=2'],
  ])('gets 422 for %s and stores nothing', async (_case, text, path) => {
    const { warehouse, post, lines } = setup();
    expect((await post(body('a'), 'order-42')).status).toBe(200);
    const reused = await post(text, 'order-42', path);
    expect(reused.status).toBe(422);
    expect(reused.body).toEqual({ success: false, error: 'Unprocessable content', details: reusedDetails('order-42') });
    expect(lines[1]).toMatchObject({ outcome: 'rejected', errorClass: 'idempotency_key_reused', severity: 'WARNING' });
    expect(warehouse.insertCalls).toHaveLength(1);
    expect(warehouse.committedRows.map((row) => row.id)).toEqual(['a']);
  });

  it('gets 422 across routes: a key used by POST / cannot update a record, nor the other way round', async () => {
    const { warehouse, post, put } = setup();
    expect((await post(body('a'), 'k-post')).status).toBe(200);
    expect((await put('/records/a', JSON.stringify({ data: { name: 'n', value: 2 } }), 'k-post')).status).toBe(422);
    expect((await put('/records/a', JSON.stringify({ data: { name: 'n', value: 2 } }), 'k-put')).status).toBe(200);
    expect((await post(body('a'), 'k-put')).status).toBe(422);
    expect(warehouse.committedRows.map((row) => [row.id, row.name])).toEqual([
      ['a', 'record a'],
      ['a', 'n'],
    ]);
  });

  it('on another instance, which never saw the key, is stored: the limit of a per-instance memory', async () => {
    const warehouse = new MemoryWarehouse();
    const [one, two] = [instance(warehouse), instance(warehouse)];
    expect((await one.post(body('a'), 'k')).status).toBe(200);
    expect((await two.post(body('b'), 'k')).status).toBe(200);
    expect(warehouse.committedRows.map((row) => row.id)).toEqual(['a', 'b']);
  });
});

describe('what binds a key', () => {
  it('a refused request does not: the corrected request may use the key', async () => {
    const { warehouse, post } = setup();
    expect((await post(JSON.stringify({ data: { id: 'a' } }), 'k')).status).toBe(400);
    expect((await post(body('a'), 'k')).status).toBe(200);
    expect(warehouse.committedRows).toHaveLength(1);
  });

  it('a request the warehouse failed does not stay bound: its retry is stored, under the insert ids of the failed attempt', async () => {
    const { warehouse, post } = setup();
    warehouse.failWith(new WarehouseError('timeout', 'warehouse_unavailable', true));
    expect((await post(body('a'), 'k')).status).toBe(503);
    warehouse.failWith(undefined);
    const retried = await post(body('a'), 'k');
    expect([retried.status, retried.headers['idempotent-replayed']]).toEqual([200, undefined]);
    expect(warehouse.insertCalls).toHaveLength(2);
    expect(warehouse.insertCalls[1]!.map((row) => row.insertId)).toEqual(warehouse.insertCalls[0]!.map((row) => row.insertId));
    expect(warehouse.committedRows).toHaveLength(1);
  });

  it('requests without a key, or with different keys, are each stored', async () => {
    const { warehouse, post } = setup();
    for (const key of [undefined, undefined, 'k1', 'k2']) expect((await post(body('a'), key)).status).toBe(200);
    expect(warehouse.committedRows).toHaveLength(4);
  });
});

describe('the Idempotency-Key header', () => {
  it('sent twice is a 400 naming the header, and nothing is stored (Node would have joined the two into one value)', async () => {
    const { warehouse, post, lines } = setup();
    const response = await post(body('a'), ['a', 'b']);
    expect(response.status).toBe(400);
    expect(response.body.details).toEqual([{ field: 'Idempotency-Key', message: 'must be sent once, got 2 headers' }]);
    expect(lines[0]).toMatchObject({ errorClass: 'invalid_input' });
    expect(warehouse.insertCalls).toEqual([]);
  });

  it('holding a comma is one key like any other', async () => {
    const { post } = setup();
    expect((await post(body('a'), 'a, b')).status).toBe(200);
    expect((await post(body('b'), 'a, b')).status).toBe(422);
  });

  it.each([['blank', '   '], ['too long', 'k'.repeat(256)], ['non-ASCII', 'clé']])('%s is a 400', async (_case, key) => {
    const { warehouse, post } = setup();
    const response = await post(body('a'), key);
    expect(response.status).toBe(400);
    expect(response.body.details).toEqual([{ field: 'Idempotency-Key', message: 'must be 1 to 255 printable ASCII characters, not all spaces' }]);
    expect(warehouse.insertCalls).toEqual([]);
  });
});

describe('IdempotencyKeys, the memory', () => {
  /** A clock whose monotonic time the test sets. */
  const manualClock = () => {
    let ms = 0;
    const clock: Clock = { now: () => new Date(0), monotonicMs: () => ms };
    return { clock, advance: (byMs: number) => (ms += byMs) };
  };
  const req = (url = '/') => ({ method: 'POST', originalUrl: url }) as Request;
  const scope: RequestScope = { requestId: 'r', functionName: 'api', params: {} };
  const bytes = (text: string) => Buffer.from(text);
  const counting = () => {
    const stored: string[] = [];
    const store = async (insertIdOf: (index: number) => string): Promise<Answer> => {
      stored.push(insertIdOf(0));
      return inserted(1);
    };
    return { stored, store };
  };

  it('forgets a key once its time to live has passed', async () => {
    const { clock, advance } = manualClock();
    const keys = new IdempotencyKeys(clock, { ttlMs: 1000 });
    const { stored, store } = counting();
    await keys.answer('k', req(), bytes('a'), scope, store);
    advance(999);
    expect((await keys.answer('k', req(), bytes('b'), scope, store)).status).toBe(422);
    advance(1);
    expect((await keys.answer('k', req(), bytes('b'), scope, store)).status).toBe(200);
    expect(stored).toHaveLength(2);
  });

  it('holds at most maxKeys, forgetting the oldest first', async () => {
    const keys = new IdempotencyKeys(manualClock().clock, { maxKeys: 2 });
    const { stored, store } = counting();
    for (const key of ['k1', 'k2', 'k3']) await keys.answer(key, req(), bytes(key), scope, store);
    expect(keys.size).toBe(2);
    expect((await keys.answer('k2', req(), bytes('other'), scope, store)).status).toBe(422);
    expect((await keys.answer('k1', req(), bytes('other'), scope, store)).status).toBe(200);
    expect(stored).toHaveLength(4);
  });

  it('derives the insert ids from the key and the request, never from the request id alone', async () => {
    const keys = new IdempotencyKeys(manualClock().clock);
    const { stored, store } = counting();
    await keys.answer(undefined, req(), bytes('a'), scope, store);
    await keys.answer('k1', req(), bytes('a'), scope, store);
    await keys.answer('k2', req(), bytes('a'), scope, store);
    await new IdempotencyKeys(manualClock().clock).answer('k1', req(), bytes('b'), scope, store);
    expect(stored[0]).toBe('http:r:0');
    expect(new Set(stored).size).toBe(4);
  });
});
