/**
 * Oversized bodies are refused while they are read, not after: the
 * framework's body parsers stop at the body limit the functions installed
 * (`installFunctionsFramework`), counting inflated bytes, instead of
 * buffering (and JSON-parsing) up to 1 GB first; the parsers themselves are
 * tested in test/lambda-src/http/framework.test.ts. Both functions then
 * answer with their own JSON: the API 413, the subscriber 202 with the same
 * body, acknowledging a delivery no retry could store (handlers/push.ts).
 */
import { gzipSync } from 'node:zlib';
import { pushEnvelopeLimit } from '../../lambda-src/handlers/push';
import { MemoryWarehouse } from '../support/memory-warehouse';
import { MAX_BODY_BYTES, startFunctions, type RunningFunctions } from './functions';
import { pushDelivery } from './http-client';

const JSON_TYPE = { 'Content-Type': 'application/json' };
/** Whitespace around `{}`: valid JSON of any size, compressing to almost nothing. */
const paddedJson = (bytes: number) => `{${' '.repeat(bytes - 2)}}`;
const bomb = (inflatedBytes: number) => gzipSync(paddedJson(inflatedBytes));

let functions: RunningFunctions;

beforeAll(async () => {
  functions = await startFunctions(new MemoryWarehouse());
});

afterAll(async () => {
  await functions.stop();
});

describe('both functions refuse a body over their limit with their own JSON', () => {
  const tooLarge = { success: false, error: 'Payload too large', details: [{ field: 'request', message: expect.stringMatching(/larger than the limit/) }] };

  const BOMB = bomb(16 * 1024 * 1024);

  it('API: a gzip body inflating to 16 MiB', async () => {
    const reply = await functions.api.send({ headers: { ...JSON_TYPE, 'Content-Encoding': 'gzip' }, body: BOMB });
    expect([reply.status, JSON.parse(reply.text)]).toEqual([413, tooLarge]);
  });

  it('push: a gzip envelope inflating to 16 MiB, acknowledged as poison', async () => {
    const reply = await functions.subscriber.send({ headers: { ...JSON_TYPE, 'Content-Encoding': 'gzip' }, body: BOMB });
    expect([reply.status, JSON.parse(reply.text)]).toEqual([202, tooLarge]);
  });

  it('push: an envelope just over its limit, with valid data inside, acknowledged as poison', async () => {
    const envelope = pushDelivery({ data: { id: '1', name: 'x', value: 1 } }, 'm-1');
    const body = JSON.stringify(envelope).replace('{', `{${' '.repeat(pushEnvelopeLimit(MAX_BODY_BYTES))}`);
    const reply = await functions.subscriber.send({ headers: JSON_TYPE, body });
    expect([reply.status, JSON.parse(reply.text)]).toEqual([202, tooLarge]);
  });
});
