/**
 * The deploy artifact, run the way Cloud Functions runs it: each entry is
 * bundled and zipped by the real bundler, unzipped, loaded by the Functions
 * Framework's own loader and served by its own server with options parsed
 * from the environment, as its `main` does. What matters most here is that
 * in bundled form a body the framework cannot read still reaches our
 * function (our JSON 400, never the framework's HTML page with a stack).
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { buildBundle } from '../../constructs/private/bundler';
import { extractZip } from '../../tools/synth-zip';

const ROOT = resolve(__dirname, '../..');
const FRAMEWORK_SRC = dirname(require.resolve('@google-cloud/functions-framework'));

/** Loads `target` from the unzipped source like the runtime, serves it on 127.0.0.1:0, prints the port. */
const SERVE = `
  const [source, target, frameworkSrc] = process.argv.slice(1);
  const { getUserFunction } = require(frameworkSrc + '/loader.js');
  const { getServer } = require(frameworkSrc + '/server.js');
  const { parseOptions } = require(frameworkSrc + '/options.js');
  getUserFunction(source, target, 'http').then((loaded) => {
    const options = { ...parseOptions([], process.env), target, sourceLocation: source, signatureType: loaded.signatureType };
    const server = getServer(loaded.userFunction, options);
    server.listen(0, '127.0.0.1', () => process.stderr.write('port ' + server.address().port + '\\n'));
  });
`;

interface Served {
  url: string;
  process: ChildProcessByStdio<null, Readable, Readable>;
  directory: string;
}

async function serveBundle(entry: string, target: string, databasePath: string): Promise<Served> {
  const bundle = buildBundle({ entry: join(ROOT, entry), nodeMajor: 20, externalModules: ['@duckdb/node-api'] });
  const directory = extractZip(readFileSync(bundle.zipPath));
  const child = spawn(process.execPath, ['-e', SERVE, directory, target, FRAMEWORK_SRC], {
    cwd: directory,
    env: { PATH: process.env.PATH ?? '', NODE_PATH: join(ROOT, 'node_modules'), WAREHOUSE: 'duckdb', DUCKDB_PATH: databasePath },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  const port = await new Promise<string>((resolvePort, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      const found = /^port (\d+)$/m.exec(stderr)?.[1];
      if (found) resolvePort(found);
    });
    child.on('exit', (code) => reject(new Error(`${target} exited (${code}):\n${stderr}`)));
  });
  return { url: `http://127.0.0.1:${port}/`, process: child, directory };
}

const post = (url: string, body: string) => fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });

let api: Served;
let subscriber: Served;
let databaseDirectory: string;

beforeAll(async () => {
  databaseDirectory = mkdtempSync(join(tmpdir(), 'bundled-functions-'));
  [api, subscriber] = await Promise.all([
    serveBundle('lambda-src/functions/api.ts', 'api', join(databaseDirectory, 'api.duckdb')),
    serveBundle('lambda-src/functions/subscriber.ts', 'subscriber', join(databaseDirectory, 'subscriber.duckdb')),
  ]);
});

afterAll(() => {
  for (const served of [api, subscriber]) {
    if (!served) continue;
    served.process.kill('SIGKILL');
    rmSync(served.directory, { recursive: true, force: true });
  }
  rmSync(databaseDirectory, { recursive: true, force: true });
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

  it('answers a push delivery on the bundled subscriber, and a malformed one with our JSON 400', async () => {
    const data = Buffer.from('{"data":{"id":"456","name":"Pushed","value":1.5}}').toString('base64');
    expect((await post(subscriber.url, JSON.stringify({ message: { data, messageId: 'b-1' } }))).status).toBe(200);
    const malformed = await post(subscriber.url, '{"message":');
    expect(malformed.status).toBe(400);
    expect(malformed.headers.get('content-type')).toBe('application/json; charset=utf-8');
  });
});
