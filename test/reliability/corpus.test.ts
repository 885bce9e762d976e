/**
 * Hostile input, case by case, at both entry points (the API's `POST /` and
 * the Pub/Sub push subscriber) served as `npm start` serves them. Every case
 * of the corpus must get the exact 4xx, `success:false` with a reason in
 * `details`, write nothing, and leave the function answering the seed's valid
 * request (and a valid push delivery) with 200.
 */
import { MemoryWarehouse } from '../support/memory-warehouse';
import { CORPUS, JSON_TYPE, RECORD } from './corpus';
import { startFunctions, type RunningFunctions } from './functions';
import { pushDelivery, SEED_BODY, SEED_SUCCESS } from './http-client';

const MAX_ANSWER_CHARACTERS = 32 * 1024;
const MAX_LOG_LINE_CHARACTERS = 32 * 1024;

let functions: RunningFunctions;
let warehouse: MemoryWarehouse;
let healthyDeliveries = 0;

beforeAll(async () => {
  warehouse = new MemoryWarehouse();
  functions = await startFunctions(warehouse);
});

afterAll(async () => {
  await functions.stop();
});

it(`holds at least 40 malformed requests (${CORPUS.length})`, () => {
  expect(CORPUS.length).toBeGreaterThanOrEqual(40);
  expect(new Set(CORPUS.map((entry) => entry.name)).size).toBe(CORPUS.length);
});

describe.each(CORPUS)('$target: $name', ({ target, request, status }) => {
  it(`answers ${status} with success:false and a reason, writes nothing, and stays healthy`, async () => {
    const insertCallsBefore = warehouse.insertCalls.length;
    const rowsBefore = warehouse.rows.size;
    const reply = await functions[target].send(request);

    expect(reply.status).toBe(status);
    expect(reply.headers['content-type']).toBe('application/json; charset=utf-8');
    const body = JSON.parse(reply.text);
    expect(body).toEqual({
      success: false,
      error: expect.any(String),
      details: expect.arrayContaining([{ field: expect.any(String), message: expect.stringMatching(/\S/) }]),
    });
    expect(reply.text).not.toMatch(/\bat .+:\d+:\d+|node_modules|lambda-src/);
    // However long the input, the answer and its log line stay small (Cloud Logging drops entries over 256 KB).
    expect(reply.text.length).toBeLessThan(MAX_ANSWER_CHARACTERS);
    expect(JSON.stringify(functions.logLines.at(-1)).length).toBeLessThan(MAX_LOG_LINE_CHARACTERS);
    expect(warehouse.insertCalls.length).toBe(insertCallsBefore);
    expect(warehouse.rows.size).toBe(rowsBefore);

    const seed = await functions.api.send({ headers: JSON_TYPE, body: SEED_BODY });
    expect([seed.status, seed.text]).toEqual([200, SEED_SUCCESS]);
    healthyDeliveries += 1;
    const push = await functions.subscriber.postJson(pushDelivery({ data: RECORD }, `healthy-${healthyDeliveries}`));
    expect([push.status, push.text]).toEqual([200, SEED_SUCCESS]);
  });
});

it('left no trace of the prototype keys it was sent', () => {
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain('polluted');
});
