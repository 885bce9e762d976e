/**
 * The framework integration reads a JSON body itself and scans its shape as
 * it arrives (`framework.ts`, `JsonShapeScanner`): a hostile body is refused
 * at the first chunk past a limit, the rest is never read, and the function
 * answers the refusal itself, on a connection that closes after it. Bodies
 * here are as large as a function may be configured to read (4 MiB), sent
 * over a raw socket, so what the server read of each can be told from what
 * was sent.
 */
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { brotliCompressSync, constants as zlibConstants, deflateSync, gzipSync } from 'node:zlib';
import * as functions from '@google-cloud/functions-framework';
import type { HttpFunction } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { systemClock } from '../../../lambda-src/clock';
import { createApiFunction } from '../../../lambda-src/handlers/api';
import { bodyReadFailureOf, installFunctionsFramework } from '../../../lambda-src/http/framework';
import { JSON_SHAPE_LIMITS, JsonShapeScanner } from '../../../lambda-src/http/safe-json';
import { MAX_BODY_BYTES, MAX_JSON_ARRAY_ELEMENTS, MAX_JSON_DEPTH, MAX_JSON_OBJECT_KEYS, MAX_JSON_STRING_BYTES } from '../../../lambda-src/rules/limits';
import { hostileBodies, type HostileShape } from '../../../tools/hostile-json';
import { RawAnswer, RawConnection } from '../../../tools/raw-http-client';
import { capturingLogger } from '../../support/function-server';
import { MemoryWarehouse } from '../../support/memory-warehouse';

const BODY_LIMIT = MAX_BODY_BYTES.max;
/** The most one read of a socket delivers in Node (libuv's suggested read buffer). */
const SOCKET_READ_BYTES = 64 * 1024;

installFunctionsFramework({ maxBodyBytes: BODY_LIMIT, jsonShapeLimits: JSON_SHAPE_LIMITS });

let registrations = 0;
function serve(fn: HttpFunction): Server {
  registrations += 1;
  const name = `body-scan-test-${registrations}`;
  functions.http(name, fn);
  return getTestServer(name);
}

let echoCalls = 0;
/** What the function saw of the body, answered after a moment, as a function awaiting its warehouse would: a reader that kept reading meanwhile would show in the bytes read. */
const echo = serve(async (req, res) => {
  echoCalls += 1;
  await new Promise((resolve) => setTimeout(resolve, 20));
  res.json({ failure: bodyReadFailureOf(req) ?? null, rawBodyBytes: req.rawBody?.length ?? null });
});

/** Answers at once. */
const prompt = serve((req, res) => res.json({ failure: bodyReadFailureOf(req) ?? null }));

const apiLogger = capturingLogger();
const api = serve(createApiFunction({ warehouse: async () => new MemoryWarehouse(), maxBodyBytes: BODY_LIMIT, logger: apiLogger, clock: systemClock }));

/** The limit each worst case passes, as the function's 400 names it. */
const LIMIT_PASSED: Record<HostileShape, string> = {
  depth: `nests arrays and objects deeper than the limit of ${MAX_JSON_DEPTH} levels`,
  keys: `holds more object keys than the limit of ${MAX_JSON_OBJECT_KEYS}`,
  elements: `holds more array elements than the limit of ${MAX_JSON_ARRAY_ELEMENTS}`,
  string: `holds a string longer than the limit of ${MAX_JSON_STRING_BYTES} bytes`,
};

/** The benchmark's four worst cases, each of exactly the body limit, and the limit each passes. */
const HOSTILE = Object.entries(hostileBodies(BODY_LIMIT)).map(([shape, body]) => [shape, body, LIMIT_PASSED[shape as HostileShape]] as const);

/** How far into `body` the shape scan has seen enough to refuse it, to the next KiB. */
function refusedWithin(body: string): number {
  const scanner = new JsonShapeScanner(JSON_SHAPE_LIMITS);
  for (let end = 1024; ; end += 1024) if (scanner.feed(Buffer.from(body.slice(end - 1024, end))) !== undefined) return end;
}

function requestBytes(headers: Record<string, string | number>, body: string | Buffer): Buffer {
  const head = Object.entries({ Host: 'test', 'Content-Type': 'application/json', ...headers }).map(([name, value]) => `${name}: ${value}\r\n`);
  return Buffer.concat([Buffer.from(`POST / HTTP/1.1\r\n${head.join('')}\r\n`), Buffer.from(body)]);
}

interface Exchange {
  answer: RawAnswer;
  /** Bytes of the body the server read from the connection: by the time it closed it, if the answer says it will. */
  serverReadOfBody: number;
}

/** Sends `request` on a connection of its own, in one write, and waits for the answer (and for the server to close the connection, if it says it will). */
async function exchange(server: Server, request: Buffer): Promise<Exchange> {
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const connection = await RawConnection.open('127.0.0.1', (server.address() as AddressInfo).port);
  try {
    const socket = await accepted;
    const closed = new Promise<void>((resolve) => socket.once('close', resolve));
    connection.write(request);
    const answer = await connection.nextAnswer();
    if (answer.headers.connection === 'close') await closed;
    return { answer, serverReadOfBody: socket.bytesRead - (request.indexOf('\r\n\r\n') + 4) };
  } finally {
    connection.close();
  }
}

const json = (answer: RawAnswer) => JSON.parse(answer.body.toString('utf8'));

beforeAll(async () => {
  for (const server of [echo, prompt, api]) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  for (const server of [echo, prompt, api]) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

describe('a JSON body past a shape limit is refused as it arrives', () => {
  it.each(HOSTILE)('%s: the function gets a 400 failure naming the limit and no bytes; the server reads no further than the socket read that passed the limit, and closes', async (_kind, body, limit) => {
    const { answer, serverReadOfBody } = await exchange(echo, requestBytes({ 'Content-Length': body.length }, body));
    expect(json(answer)).toEqual({ failure: { status: 400, message: limit, jsonShapeProblem: limit }, rawBodyBytes: null });
    expect(answer.headers.connection).toBe('close');
    expect(serverReadOfBody).toBeLessThanOrEqual(refusedWithin(body) + SOCKET_READ_BYTES);
  });

  it('in chunked transfer encoding', async () => {
    const [, body, limit] = HOSTILE[0]!;
    const chunkBytes = 4096;
    const chunks: string[] = [];
    for (let at = 0; at < body.length; at += chunkBytes) chunks.push(`${chunkBytes.toString(16)}\r\n${body.slice(at, at + chunkBytes)}\r\n`);
    const { answer, serverReadOfBody } = await exchange(echo, requestBytes({ 'Transfer-Encoding': 'chunked' }, `${chunks.join('')}0\r\n\r\n`));
    expect(json(answer)).toMatchObject({ failure: { status: 400, jsonShapeProblem: limit }, rawBodyBytes: null });
    // Its first chunk of nested arrays passes the depth limit.
    expect(serverReadOfBody).toBeLessThanOrEqual(SOCKET_READ_BYTES);
  });

  it.each([
    ['gzip', gzipSync],
    ['deflate', deflateSync],
    // The default quality takes seconds for 4 MiB.
    ['br', (bytes: string) => brotliCompressSync(bytes, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 4 } })],
  ])('compressed (%s): the inflated bytes are scanned', async (coding, compress) => {
    for (const [, body, limit] of HOSTILE) {
      const compressed = compress(body);
      const { answer } = await exchange(echo, requestBytes({ 'Content-Encoding': coding, 'Content-Length': compressed.length }, compressed));
      expect(json(answer)).toMatchObject({ failure: { status: 400, jsonShapeProblem: limit }, rawBodyBytes: null });
    }
  });

  it('the API answers it itself: 400 json_too_complex naming the limit, on a closing connection, with its one log line', async () => {
    for (const [, body, limit] of HOSTILE) {
      apiLogger.lines.length = 0;
      const { answer } = await exchange(api, requestBytes({ 'Content-Length': body.length }, body));
      expect([answer.status, answer.headers.connection, json(answer)]).toEqual([
        400,
        'close',
        { success: false, error: 'Invalid input data', details: [{ field: 'body', message: limit }] },
      ]);
      expect(apiLogger.lines).toEqual([expect.objectContaining({ errorClass: 'json_too_complex', outcome: 'rejected', httpRequest: expect.objectContaining({ status: 400 }) })]);
    }
  });
});

it('keeps a refused connection half-open for a moment after the answer, reading nothing, so that a client still writing reads the answer before the reset', async () => {
  const [, body] = HOSTILE[0]!;
  const accepted = new Promise<Socket>((resolve) => prompt.once('connection', resolve));
  const connection = await RawConnection.open('127.0.0.1', (prompt.address() as AddressInfo).port);
  // Only the linger's clock is faked: the server's own reading and writing run as ever.
  jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'hrtime', 'performance', 'Date'] });
  try {
    const socket = await accepted;
    const closed = new Promise<void>((resolve) => socket.once('close', resolve));
    connection.write(requestBytes({ 'Content-Length': body.length }, body));
    const answer = await connection.nextAnswer();
    expect([answer.status, answer.headers.connection]).toEqual([200, 'close']);
    if (!socket.writableFinished) await new Promise((resolve) => socket.once('finish', resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(socket.destroyed).toBe(false);
    jest.runOnlyPendingTimers();
    await closed;
  } finally {
    jest.useRealTimers();
    connection.close();
  }
});

describe('a JSON body within the limits is read whole, however it arrives', () => {
  /** 500 records whose names are 1024 escaped characters: the largest valid payload's shape, ~3 MB, its strings across many chunks. */
  const largestPayload = `{"data":[${Array.from({ length: 500 }, (_, index) => `{"id":"id-${index}","name":"${'\\u00e9'.repeat(1024)}","value":${index}}`).join(',')}]}`;

  it('with a Content-Length', async () => {
    const { answer } = await exchange(echo, requestBytes({ 'Content-Length': largestPayload.length }, largestPayload));
    expect(json(answer)).toEqual({ failure: null, rawBodyBytes: largestPayload.length });
    expect(answer.headers.connection).not.toBe('close');
  });

  it('gzipped', async () => {
    const compressed = gzipSync(largestPayload);
    const { answer } = await exchange(echo, requestBytes({ 'Content-Encoding': 'gzip', 'Content-Length': compressed.length }, compressed));
    expect(json(answer)).toEqual({ failure: null, rawBodyBytes: largestPayload.length });
  });

  it('and the API, whose limits are those the framework scanned it with, does not scan it again', async () => {
    const feed = jest.spyOn(JsonShapeScanner.prototype, 'feed');
    try {
      const { answer } = await exchange(api, requestBytes({ 'Content-Length': largestPayload.length }, largestPayload));
      expect(answer.status).toBe(200);
      expect(feed).toHaveBeenCalled();
      expect(new Set(feed.mock.instances).size).toBe(1);
    } finally {
      feed.mockRestore();
    }
  });
});

it('a client that goes away in the middle of a body is not answered, and the function never runs', async () => {
  const calls = echoCalls;
  const accepted = new Promise<Socket>((resolve) => echo.once('connection', resolve));
  const connection = await RawConnection.open('127.0.0.1', (echo.address() as AddressInfo).port);
  const socket = await accepted;
  const closed = new Promise<void>((resolve) => socket.once('close', resolve));
  connection.write(requestBytes({ 'Content-Length': 1000 }, '{"data":['));
  // Once the server has the request head and the start of the body, and is reading the rest:
  await new Promise((resolve) => setImmediate(resolve));
  connection.close();
  await closed;
  expect(echoCalls).toBe(calls);
});

it('refuses shape limits that are not positive integers, naming the field', () => {
  expect(() => installFunctionsFramework({ maxBodyBytes: BODY_LIMIT, jsonShapeLimits: { ...JSON_SHAPE_LIMITS, depth: 0 } })).toThrow(
    'installFunctionsFramework: jsonShapeLimits.depth must be a positive integer, got 0',
  );
});

// Last: it loosens the limits of this process for every server built after.
it('a server keeps the limits installed when it was built; another function installed later loosens them (its default strings are as long as its body limit) for servers built after', async () => {
  const [, body] = HOSTILE[3]!;
  installFunctionsFramework({ maxBodyBytes: BODY_LIMIT });
  const later = serve((req, res) => res.json({ failure: bodyReadFailureOf(req) ?? null, rawBodyBytes: req.rawBody?.length ?? null }));
  await new Promise<void>((resolve) => later.listen(0, '127.0.0.1', resolve));
  try {
    const request = requestBytes({ 'Content-Length': body.length }, body);
    expect(json((await exchange(later, request)).answer)).toEqual({ failure: null, rawBodyBytes: body.length });
    expect(json((await exchange(echo, request)).answer)).toMatchObject({ failure: { status: 400 }, rawBodyBytes: null });
  } finally {
    later.closeAllConnections();
    await new Promise((resolve) => later.close(resolve));
  }
});
