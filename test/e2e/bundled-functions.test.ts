/**
 * The deploy artifact, run the way Cloud Functions runs it: each entry is
 * bundled and zipped by the real bundler, unzipped, and served by the
 * Functions Framework's own `main` (`functions-framework --target`). What
 * matters most here is that in bundled form our changes to the framework are
 * installed: a body the framework cannot read still reaches our function (our
 * JSON 400, never the framework's HTML page with a stack), what Node's HTTP
 * parser refuses is answered with our JSON too, and the entry refuses to
 * start under a framework version they were not tested with.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { installedFramework } from '../../lambda-src/http/framework';
import { OUTCOMES } from '../../lambda-src/log-events';
import { RawConnection } from '../../tools/raw-http-client';
import { startDeployedFunction, type DeployedFunction } from './deployed-function';

const post = (url: string, body: string) => fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });

let api: DeployedFunction;
let subscriber: DeployedFunction;
let scratch: string;

/**
 * The Cloud Functions API sets LOG_EXECUTION_ID=true on every function it deploys: the framework then rewrites what a
 * request writes to stdout, and a write holding several JSON lines would become one text entry.
 */
const duckDbEnv = (file: string) => ({ WAREHOUSE: 'duckdb', DUCKDB_PATH: join(scratch, file), NODE_ENV: 'production', LOG_EXECUTION_ID: 'true' });

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'bundled-functions-'));
  [api, subscriber] = await Promise.all([
    startDeployedFunction('lambda-src/functions/api.ts', 'api', { env: duckDbEnv('api.duckdb') }),
    startDeployedFunction('lambda-src/functions/subscriber.ts', 'subscriber', { env: duckDbEnv('subscriber.duckdb') }),
  ]);
});

afterAll(async () => {
  await Promise.all([api, subscriber].map((running) => running?.cleanUp()));
  rmSync(scratch, { recursive: true, force: true });
});

describe('bundled functions under the Functions Framework', () => {
  it("answers the seed's request on the bundled api with the exact 200 body", async () => {
    const response = await post(api.url, '{"data":{"id":"123","name":"Sample Data","value":45.67}}');
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('{"success":true,"message":"Data inserted successfully!"}');
  });

  it('answers malformed JSON with our JSON 400, not the framework HTML page', async () => {
    const response = await post(api.url, '{"data": nope');
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await response.json()).toEqual({
      success: false,
      error: 'Invalid input data',
      details: [{ field: 'body', message: expect.stringMatching(/^is not valid JSON/) }],
    });
  });

  it('answers a push delivery on the bundled subscriber, and acknowledges a malformed one with our JSON 202', async () => {
    const data = Buffer.from('{"data":{"id":"456","name":"Pushed","value":1.5}}').toString('base64');
    expect((await post(subscriber.url, JSON.stringify({ message: { data, messageId: 'b-1' } }))).status).toBe(200);
    const malformed = await post(subscriber.url, '{"message":');
    expect(malformed.status).toBe(202);
    expect(malformed.headers.get('content-type')).toBe('application/json; charset=utf-8');
  });

  it.each([
    ['CONNECT', 'CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n', 501],
    ['headers too large', `GET / HTTP/1.1\r\nHost: api\r\nX-Padding: ${'x'.repeat(64 * 1024)}\r\n\r\n`, 431],
  ])("answers what Node's HTTP parser refuses (%s) with our JSON on the framework's own server", async (_name, bytes, status) => {
    const connection = await RawConnection.open(api.host, api.port);
    try {
      connection.write(bytes);
      const answer = await connection.nextAnswer();
      expect(answer.status).toBe(status);
      expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(JSON.parse(answer.body.toString('utf8'))).toMatchObject({ success: false, details: [{ field: 'request' }] });
      expect(await connection.ended).toBe('closed');
    } finally {
      connection.close();
    }
  });

  it('logs each of many concurrent requests as a whole JSON line, with execution-id logging on', async () => {
    let stdout = '';
    const capture = (chunk: Buffer) => (stdout += chunk.toString('utf8'));
    api.child.stdout.on('data', capture);
    try {
      const requests = 40;
      const answers = await Promise.all(
        Array.from({ length: requests }, (_, index) => post(api.url, JSON.stringify({ data: { id: `concurrent-${index}`, name: 'n', value: index } }))),
      );
      expect(answers.map((answer) => answer.status)).toEqual(Array(requests).fill(200));
      // A line is written in a turn after its answer: wait for as many lines as answers (bounded, however loaded the machine).
      for (const deadline = Date.now() + 10_000; (stdout.match(/\n/g)?.length ?? 0) < requests && Date.now() < deadline; ) {
        await new Promise((wake) => setTimeout(wake, 20));
      }
      const lines = stdout.trimEnd().split('\n').map((line) => JSON.parse(line));
      expect(lines).toHaveLength(requests);
      for (const line of lines) expect(line).toMatchObject({ severity: 'INFO', outcome: OUTCOMES.success, httpRequest: { requestMethod: 'POST', status: 200 } });
    } finally {
      api.child.stdout.off('data', capture);
    }
  });

  it('refuses to start under a framework version outside the tested range, saying which and what to do', async () => {
    // A copy of the installed framework that says it is 6.0.0, found before the project's through NODE_PATH.
    const nodeModules = join(scratch, 'node_modules');
    const copy = join(nodeModules, '@google-cloud', 'functions-framework');
    cpSync(installedFramework().directory, copy, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(copy, 'package.json'), 'utf8'));
    writeFileSync(join(copy, 'package.json'), JSON.stringify({ ...manifest, version: '6.0.0' }));
    // The one package the framework imports as an ES module, which NODE_PATH does not reach.
    symlinkSync(dirname(require.resolve('read-package-up')), join(nodeModules, 'read-package-up'));
    const refusal = await startDeployedFunction('lambda-src/functions/api.ts', 'api', { env: duckDbEnv('guard.duckdb'), frameworkNodeModules: nodeModules }).then(
      () => 'started',
      (error: Error) => error.message,
    );
    expect(refusal).toMatch(/^api exited \(1\) before listening/);
    expect(refusal).toContain(`@google-cloud/functions-framework 6.0.0 is installed (${copy}), but this code supports >=5.0.5 <5.1.0 only`);
    expect(refusal).toContain('Install a supported version');
  });
});
