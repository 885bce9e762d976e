/**
 * Oversized bodies are refused while they are read, not after: the
 * framework's body parsers stop at the largest body a function declared
 * (`acceptBodiesUpTo`), counting inflated bytes, whatever the media type or
 * transfer encoding, instead of buffering (and JSON-parsing) up to 1 GB first.
 * Both functions then answer 413 with their own JSON.
 */
import { gzipSync } from 'node:zlib';
import type { Request } from '@google-cloud/functions-framework';
import { pushEnvelopeLimit } from '../../lambda-src/handlers/push';
import { acceptBodiesUpTo, bodyReadFailureOf } from '../../lambda-src/http/framework';
import { MemoryWarehouse } from '../support/memory-warehouse';
import { serveFunction } from '../support/function-server';
import { MAX_BODY_BYTES, startFunctions, type RunningFunctions } from './functions';
import { HttpTarget, pushDelivery } from './http-client';

const ECHO_LIMIT = 1000;
const JSON_TYPE = { 'Content-Type': 'application/json' };
/** Whitespace around `{}`: valid JSON of any size, compressing to almost nothing. */
const paddedJson = (bytes: number) => `{${' '.repeat(bytes - 2)}}`;
const bomb = (inflatedBytes: number) => gzipSync(paddedJson(inflatedBytes));

/** Declares a 1000-byte limit, then echoes what the framework read of the body. */
acceptBodiesUpTo(ECHO_LIMIT);
const echoServer = serveFunction((req: Request, res) => {
  res.json({ rawBodyBytes: req.rawBody?.length ?? null, failure: bodyReadFailureOf(req)?.status ?? null });
});

let echo: HttpTarget;
let functions: RunningFunctions;

beforeAll(async () => {
  await new Promise<void>((resolve) => echoServer.listen(0, '127.0.0.1', resolve));
  echo = new HttpTarget(`http://127.0.0.1:${(echoServer.address() as { port: number }).port}/`);
  functions = await startFunctions(new MemoryWarehouse());
});

afterAll(async () => {
  echo.close();
  await new Promise((resolve) => echoServer.close(resolve));
  await functions.stop();
});

describe('the framework reads a body only up to the declared limit', () => {
  it('reads a body of exactly the limit', async () => {
    const reply = await echo.send({ headers: JSON_TYPE, body: paddedJson(ECHO_LIMIT) });
    expect(JSON.parse(reply.text)).toEqual({ rawBodyBytes: ECHO_LIMIT, failure: null });
  });

  it.each([
    ['one byte over, as JSON', JSON_TYPE, paddedJson(ECHO_LIMIT + 1)],
    ['one byte over, as text/plain', { 'Content-Type': 'text/plain' }, 'x'.repeat(ECHO_LIMIT + 1)],
    ['a gzip body of a few bytes inflating past the limit', { ...JSON_TYPE, 'Content-Encoding': 'gzip' }, bomb(100 * ECHO_LIMIT)],
  ])('stops reading %s: the function gets a 413 failure and no bytes', async (_name, headers, body) => {
    const reply = await echo.send({ headers, body });
    expect(JSON.parse(reply.text)).toEqual({ rawBodyBytes: null, failure: 413 });
  });

  it('keeps a JSON body as bytes for the function to parse: malformed JSON is no framework failure', async () => {
    const reply = await echo.send({ headers: JSON_TYPE, body: '{bad' });
    expect(JSON.parse(reply.text)).toEqual({ rawBodyBytes: 4, failure: null });
  });

  it('never reads a body with no media type at all', async () => {
    const reply = await echo.send({ body: 'x'.repeat(10 * ECHO_LIMIT) });
    expect(JSON.parse(reply.text)).toEqual({ rawBodyBytes: null, failure: null });
  });

  it('stops reading a chunked body (no Content-Length) past the limit', async () => {
    const reply = await echo.send({ headers: { ...JSON_TYPE, 'Transfer-Encoding': 'chunked' }, body: paddedJson(10 * ECHO_LIMIT) });
    expect(JSON.parse(reply.text)).toEqual({ rawBodyBytes: null, failure: 413 });
  });
});

describe('both functions answer a body over their limit with their own 413', () => {
  const tooLarge = { success: false, error: 'Payload too large', details: [{ field: 'request', message: expect.stringMatching(/larger than the limit/) }] };

  const BOMB = bomb(16 * 1024 * 1024);

  it('API: a gzip body inflating to 16 MiB', async () => {
    const reply = await functions.api.send({ headers: { ...JSON_TYPE, 'Content-Encoding': 'gzip' }, body: BOMB });
    expect([reply.status, JSON.parse(reply.text)]).toEqual([413, tooLarge]);
  });

  it('push: a gzip envelope inflating to 16 MiB', async () => {
    const reply = await functions.subscriber.send({ headers: { ...JSON_TYPE, 'Content-Encoding': 'gzip' }, body: BOMB });
    expect([reply.status, JSON.parse(reply.text)]).toEqual([413, tooLarge]);
  });

  it('push: an envelope just over its limit, with valid data inside', async () => {
    const envelope = pushDelivery({ data: { id: '1', name: 'x', value: 1 } }, 'm-1');
    const body = JSON.stringify(envelope).replace('{', `{${' '.repeat(pushEnvelopeLimit(MAX_BODY_BYTES))}`);
    const reply = await functions.subscriber.send({ headers: JSON_TYPE, body });
    expect([reply.status, JSON.parse(reply.text)]).toEqual([413, tooLarge]);
  });
});
