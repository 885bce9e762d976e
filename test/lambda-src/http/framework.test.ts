/**
 * Each change `installFunctionsFramework` makes to the Functions Framework,
 * seen through the framework's own server (`getTestServer`, built by the same
 * `getServer` as `functions-framework --target`), and the version guard. An
 * upgrade of the framework that changes what one of them relies on fails
 * here. (What Node's HTTP parser refuses: protocol-errors.test.ts; the
 * SIGTERM handler: test/e2e/deployed-shutdown.test.ts, which needs the
 * framework's own `main`.)
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import * as domain from 'node:domain';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as functions from '@google-cloud/functions-framework';
import type { HttpFunction, Request } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import bodyParser from 'body-parser';
import request from 'supertest';
import {
  bodyReadFailureOf,
  checkFrameworkVersion,
  FRAMEWORK_PACKAGE,
  installedFramework,
  installFunctionsFramework,
  SUPPORTED_FRAMEWORK_VERSIONS,
  undecodablePathOf,
} from '../../../lambda-src/http/framework';
import { RawConnection } from '../../../tools/raw-http-client';
import { sendRaw } from '../../support/function-server';
import { captureStdout, type StdoutCapture } from '../../support/stdout-lines';

const BODY_LIMIT = 1000;
const JSON_TYPE = { 'Content-Type': 'application/json' };
/** Whitespace around `{}`: valid JSON of any size, compressing to almost nothing. */
const paddedJson = (bytes: number) => `{${' '.repeat(bytes - 2)}}`;

const bodyParserBefore = { ...bodyParser };
const frameworkModule = (name: string) => require(join(installedFramework().directory, 'build', 'src', `${name}.js`));
const functionWrappers = frameworkModule('function_wrappers') as { wrapUserFunction: unknown };
const wrapUserFunctionBefore = functionWrappers.wrapUserFunction;
const executionContextStore = frameworkModule('async_local_storage') as { asyncLocalStorageMiddleware: unknown };
const asyncLocalStorageMiddlewareBefore = executionContextStore.asyncLocalStorageMiddleware;
const executionContext = frameworkModule('execution_context') as { executionContextMiddleware: unknown };
const executionContextMiddlewareBefore = executionContext.executionContextMiddleware;
const invoker = frameworkModule('invoker') as { setLatestRes: (res: unknown) => void };
installFunctionsFramework({ maxBodyBytes: BODY_LIMIT });

let registrations = 0;
function serve(fn: HttpFunction) {
  registrations += 1;
  const name = `framework-test-${registrations}`;
  functions.http(name, fn);
  return getTestServer(name);
}

/** Echoes what the function saw of the request. */
const echo = serve((req: Request, res) => {
  res.json({
    rawBody: req.rawBody?.toString('utf8') ?? null,
    rawBodyBytes: req.rawBody?.length ?? null,
    failure: bodyReadFailureOf(req) ?? null,
    path: req.path,
    undecodablePath: undecodablePathOf(req) ?? null,
    inDomain: Boolean((process as { domain?: unknown }).domain),
  });
});

describe('the version guard', () => {
  it("finds the framework's own package.json from its main entry", () => {
    const found = installedFramework();
    const manifest = JSON.parse(readFileSync(join(found.directory, 'package.json'), 'utf8'));
    expect(manifest.name).toBe(FRAMEWORK_PACKAGE);
    expect(found.version).toBe(manifest.version);
    const pinned = JSON.parse(readFileSync(join(__dirname, '../../../package.json'), 'utf8')).devDependencies[FRAMEWORK_PACKAGE];
    expect(found.version).toBe(pinned);
  });

  it('accepts the installed framework', () => {
    expect(() => checkFrameworkVersion(installedFramework())).not.toThrow();
  });

  it.each([SUPPORTED_FRAMEWORK_VERSIONS.from, '5.0.6', '5.0.12'])('accepts %s', (version) => {
    expect(() => checkFrameworkVersion({ version, directory: '/x' })).not.toThrow();
  });

  it.each(['5.0.4', SUPPORTED_FRAMEWORK_VERSIONS.before, '5.10.0', '6.0.0', '4.9.9', '5.0.6-rc.1', 'undefined'])(
    'refuses %s, saying what was found, what is supported and what to do',
    (version) => {
      expect(() => checkFrameworkVersion({ version, directory: '/srv/node_modules/@google-cloud/functions-framework' })).toThrow(
        new RegExp(
          [
            `^@google-cloud/functions-framework ${version.replaceAll('.', '\\.')} is installed \\(/srv/node_modules/@google-cloud/functions-framework\\)`,
            `supports >=5\\.0\\.5 <5\\.1\\.0 only`,
            `Install a supported version`,
            `widen SUPPORTED_FRAMEWORK_VERSIONS`,
          ].join('.*'),
        ),
      );
    },
  );
});

describe("the framework's body parsers read up to the installed limit, and keep JSON as bytes", () => {
  it('reads a body of exactly the limit', async () => {
    const response = await request(echo).post('/').set(JSON_TYPE).send(paddedJson(BODY_LIMIT));
    expect(response.body).toMatchObject({ rawBodyBytes: BODY_LIMIT, failure: null });
  });

  it.each([
    ['one byte over, as JSON', JSON_TYPE, paddedJson(BODY_LIMIT + 1)],
    ['one byte over, as text/plain', { 'Content-Type': 'text/plain' }, 'x'.repeat(BODY_LIMIT + 1)],
    ['one byte over, as a form', { 'Content-Type': 'application/x-www-form-urlencoded' }, `a=${'x'.repeat(BODY_LIMIT)}`],
    ['one byte over, as octets', { 'Content-Type': 'application/octet-stream' }, 'x'.repeat(BODY_LIMIT + 1)],
    ['one byte over, as a CloudEvent', { 'Content-Type': 'application/cloudevents+json' }, paddedJson(BODY_LIMIT + 1)],
    ['a gzip body of a few bytes inflating past the limit', { ...JSON_TYPE, 'Content-Encoding': 'gzip' }, gzipSync(paddedJson(100 * BODY_LIMIT))],
  ])('stops reading %s: the function gets a 413 failure and no bytes', async (_name, headers, body) => {
    const response = await sendRaw(echo, 'POST', headers, Buffer.from(body));
    expect(JSON.parse(response.text)).toMatchObject({ rawBodyBytes: null, failure: { status: 413 } });
  });

  it('stops reading a chunked body (no Content-Length) past the limit', async () => {
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const connection = await RawConnection.open('127.0.0.1', (echo.address() as AddressInfo).port);
    try {
      const chunk = ' '.repeat(100);
      const chunks = Array.from({ length: 20 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`).join('');
      connection.write(`POST / HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${chunks}0\r\n\r\n`);
      const answer = await connection.nextAnswer();
      expect(JSON.parse(answer.body.toString('utf8'))).toMatchObject({ rawBodyBytes: null, failure: { status: 413 } });
    } finally {
      connection.close();
      echo.closeAllConnections();
      await new Promise((resolve) => echo.close(resolve));
    }
  });

  it('keeps malformed JSON as bytes for the function to parse: no framework failure', async () => {
    const response = await request(echo).post('/').set(JSON_TYPE).send('{bad');
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ rawBody: '{bad', failure: null });
  });

  it('keeps a JSON body in any charset as bytes: the function judges the media type', async () => {
    const response = await request(echo).post('/').set('Content-Type', 'application/json; charset=latin1').send('{}');
    expect(response.body).toMatchObject({ rawBody: '{}', failure: null });
  });

  it('keeps a bare JSON string (which the framework parser refuses in strict mode)', async () => {
    const response = await request(echo).post('/').set(JSON_TYPE).send('"text"');
    expect(response.body).toMatchObject({ rawBody: '"text"', failure: null });
  });

  it('inflates a valid gzip body', async () => {
    const response = await sendRaw(echo, 'POST', { ...JSON_TYPE, 'Content-Encoding': 'gzip' }, gzipSync('{"a":1}'));
    expect(JSON.parse(response.text)).toMatchObject({ rawBody: '{"a":1}', failure: null });
  });

  it('never reads a body with no media type at all', async () => {
    const response = await sendRaw(echo, 'POST', {}, Buffer.from('x'.repeat(10 * BODY_LIMIT)));
    expect(JSON.parse(response.text)).toMatchObject({ rawBodyBytes: null, failure: null });
  });

  it.each(['application/json', 'Application/JSON', 'application/json; charset=utf-8', 'application/cloudevents+json'])(
    'keeps a body of type %s as JSON bytes',
    async (type) => {
      const response = await request(echo).post('/').set('Content-Type', type).send('{"a":1}');
      expect(response.body).toMatchObject({ rawBody: '{"a":1}', failure: null });
    },
  );

  const expectFrameworkAsBefore = () => {
    expect({ ...bodyParser }).toEqual(bodyParserBefore);
    expect(functionWrappers.wrapUserFunction).toBe(wrapUserFunctionBefore);
    expect(executionContextStore.asyncLocalStorageMiddleware).toBe(asyncLocalStorageMiddlewareBefore);
    expect(executionContext.executionContextMiddleware).toBe(executionContextMiddlewareBefore);
  };

  it("leaves body-parser and the framework's function wrappers as they were for every other user", () => {
    expectFrameworkAsBefore();
  });

  it('leaves them as they were when the framework fails to build a server', () => {
    const { getServer } = frameworkModule('server') as { getServer: (fn: HttpFunction, options: object) => unknown };
    // An ignored-routes option that is not a string fails inside the framework's getServer, after our changes are made.
    expect(() => getServer(() => {}, { signatureType: 'http', timeoutMilliseconds: 0, ignoredRoutes: 42 })).toThrow(TypeError);
    expectFrameworkAsBefore();
  });
});

describe('a body the framework cannot read reaches the function, with the failure, instead of an HTML page', () => {
  it.each([
    ['a corrupt gzip body', { ...JSON_TYPE, 'Content-Encoding': 'gzip' }, 'not gzip at all', 400],
    ['an unsupported content encoding', { ...JSON_TYPE, 'Content-Encoding': 'compress' }, '{}', 415],
  ])('%s', async (_name, headers, body, status) => {
    const response = await sendRaw(echo, 'POST', headers, Buffer.from(body));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(JSON.parse(response.text)).toMatchObject({ rawBody: null, failure: { status, message: expect.any(String) } });
  });
});

describe('every path reaches the function', () => {
  it('hands over a path that is not valid percent-encoding, escaped, with the path as sent', async () => {
    const response = await request(echo).get('/records/%E0%A4%A?x=1');
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ path: '/records/%25E0%25A4%25A', undecodablePath: '/records/%E0%A4%A' });
  });

  it.each(['/favicon.ico', '/robots.txt'])('hands over %s, which the framework would answer with an empty 404', async (path) => {
    const response = await request(echo).get(path);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ path });
  });
});

/** Captures stdout around each test of the enclosing describe (and restores every mock after it); its JSON lines so far, parsed. */
function capturingStdoutInEachTest(): () => Promise<unknown[]> {
  let stdout: StdoutCapture;
  beforeEach(() => {
    stdout = captureStdout();
  });
  afterEach(() => {
    stdout.restore();
    jest.restoreAllMocks();
  });
  return async () => (await stdout.lines()).map((line) => JSON.parse(line));
}

/** Our JSON 500 for an internal failure: it quotes its request id, and nothing of the failure (whose messages here hold "secret"). */
function expectInternalError(response: request.Response): void {
  expect(response.status).toBe(500);
  expect(response.body).toEqual({
    success: false,
    error: `Internal error (internal_error, request id ${response.headers['x-request-id']})`,
    requestId: response.headers['x-request-id'],
  });
  expect(response.text).not.toContain('secret');
}

describe("an HTTP function runs without the framework's per-request domain", () => {
  const logLines = capturingStdoutInEachTest();

  it('creates no domain for a request, and runs the function in none', async () => {
    const create = jest.spyOn(domain, 'create');
    const response = await request(echo).get('/');
    expect(response.body).toMatchObject({ inDomain: false });
    expect(create).not.toHaveBeenCalled();
  });

  const throwing = serve(() => {
    throw new Error('secret thrown detail');
  });
  const rejecting = serve(async () => {
    throw new Error('secret rejected detail');
  });
  it.each([
    ['throws', throwing, 'secret thrown detail'],
    ['rejects', rejecting, 'secret rejected detail'],
  ])('answers a function that %s with our JSON 500, without its message, and logs it', async (_, server, reason) => {
    const response = await request(server).get('/');
    expectInternalError(response);
    expect((await logLines())).toEqual([
      expect.objectContaining({ severity: 'ERROR', requestId: response.headers['x-request-id'], outcome: 'failed', reason }),
    ]);
  });

  it('lets the answer of a function that answers and then throws reach the client whole, and logs the failure', async () => {
    // Larger than the socket buffers, so that cutting the connection would drop part of it.
    const answer = 'x'.repeat(16 * 1024 * 1024);
    const server = serve((_req, res) => {
      res.status(200).send(answer);
      throw new Error('thrown after answering');
    });
    const response = await request(server).get('/');
    expect(response.status).toBe(200);
    expect(response.text.length).toBe(answer.length);
    expect((await logLines())).toEqual([
      expect.objectContaining({ severity: 'ERROR', httpRequest: expect.objectContaining({ status: 200 }), reason: 'thrown after answering' }),
    ]);
  });
});

describe("the framework's execution id", () => {
  afterEach(() => jest.restoreAllMocks());

  it("is neither given to a request nor kept in a store, so the framework's execution-id logging leaves a request's writes as they are", async () => {
    const { getServer } = frameworkModule('server') as { getServer: (fn: HttpFunction, options: object) => import('node:http').Server };
    // What the framework's stdout and stderr interceptors (installed by its main under LOG_EXECUTION_ID=true) write in place of each write.
    const { getModifiedData } = frameworkModule('logger') as { getModifiedData: (data: string, encoding?: string, stderr?: boolean) => unknown };
    const twoLines = '{"severity":"INFO","n":1}\n{"severity":"INFO","n":2}\n';
    const server = getServer(
      (req, res) =>
        res.json({ executionId: req.executionId ?? null, stdout: getModifiedData(twoLines), stderr: getModifiedData(twoLines, undefined, true) }),
      // As the framework's main passes them when the Cloud Functions API deploys the function (getServer itself reads no enableExecutionId).
      { signatureType: 'http', enableExecutionId: true, timeoutMilliseconds: 0, ignoredRoutes: null },
    );
    const run = jest.spyOn(AsyncLocalStorage.prototype, 'run');
    const response = await request(server).get('/').set('Function-Execution-Id', 'from-the-platform');
    expect(response.body).toEqual({ executionId: null, stdout: twoLines, stderr: twoLines });
    expect(run).not.toHaveBeenCalled();
  });
});

describe('a framework failure that is not about the body', () => {
  const logLines = capturingStdoutInEachTest();

  it('is answered with our JSON 500, without its message or stack, and logged', async () => {
    // The framework's first middleware records every response for its crash handler.
    jest.spyOn(invoker, 'setLatestRes').mockImplementationOnce(() => {
      throw new Error('secret internal detail');
    });
    const response = await request(echo).get('/');
    expectInternalError(response);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect((await logLines())).toEqual([
      expect.objectContaining({
        severity: 'ERROR',
        requestId: response.headers['x-request-id'],
        httpRequest: { requestMethod: 'GET', requestUrl: '/', status: 500 },
        outcome: 'failed',
        errorClass: 'internal_error',
        reason: 'secret internal detail',
      }),
    ]);
  });

  it('is dispatched once more only if it is a 4xx, and a second failure is our JSON 500, not a loop', async () => {
    const setLatestRes = jest.spyOn(invoker, 'setLatestRes').mockImplementation(() => {
      throw Object.assign(new Error('bad request'), { status: 400 });
    });
    const response = await request(echo).post('/').set(JSON_TYPE).send('{}');
    expect(setLatestRes).toHaveBeenCalledTimes(2);
    expect(response.status).toBe(500);
    expect(response.body).toMatchObject({ success: false, error: expect.stringContaining('internal_error') });
  });
});
