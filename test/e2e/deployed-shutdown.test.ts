/**
 * The deployed runtime's shutdown: the bundled API run by the Functions
 * Framework's own `main` (as `functions-framework --target=api` runs it on
 * Cloud Run), writing to the BigQuery stand-in. SIGTERM arrives while a
 * request's rows are still on their way to the warehouse; the request must
 * still get its 200, the row must be stored, and the process must exit 0.
 * The framework's own handler would exit at once and drop the answer.
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { buildBundle } from '../../constructs/private/bundler';
import { WAREHOUSE_BIGQUERY_FIELDS } from '../../lambda-src/record';
import { BigQueryStandIn } from '../../tools/bigquery-standin';
import { extractZip } from '../../tools/synth-zip';

const ROOT = resolve(__dirname, '../..');
const FRAMEWORK_MAIN = join(dirname(require.resolve('@google-cloud/functions-framework')), 'main.js');
const TABLE = { projectId: 'acme-ingest-dev', datasetId: 'ingest', tableId: 'records' };

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    if (condition()) return;
    await new Promise((wake) => setTimeout(wake, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

let standIn: BigQueryStandIn;
let directory: string;

beforeAll(async () => {
  standIn = await BigQueryStandIn.start({ latencyMs: 1500 });
  standIn.createTable(TABLE, WAREHOUSE_BIGQUERY_FIELDS);
  const bundle = buildBundle({ entry: join(ROOT, 'lambda-src/functions/api.ts'), nodeMajor: 20, externalModules: ['@duckdb/node-api'] });
  directory = extractZip(readFileSync(bundle.zipPath));
});

afterAll(async () => {
  await standIn.stop();
  rmSync(directory, { recursive: true, force: true });
});

it('answers the request whose insert is in flight at SIGTERM, stores its row, then exits 0', async () => {
  const port = await freePort();
  const child = spawn(process.execPath, [FRAMEWORK_MAIN, '--target=api', `--source=${directory}`], {
    cwd: directory,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_PATH: join(ROOT, 'node_modules'),
      NODE_ENV: 'production',
      PORT: String(port),
      WAREHOUSE: 'bigquery',
      GOOGLE_CLOUD_PROJECT: TABLE.projectId,
      BIGQUERY_EMULATOR_HOST: standIn.url,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolveExit) => child.on('exit', (code) => resolveExit(code)));
  const url = `http://127.0.0.1:${port}/`;
  let response: Response | undefined;
  for (let attempt = 0; attempt < 100 && response === undefined; attempt += 1) {
    response = await fetch(url, { method: 'GET' }).catch(async () => {
      await new Promise((wake) => setTimeout(wake, 50));
      return undefined;
    });
  }
  expect(response?.status).toBe(405);

  const answer = fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: '{"data":{"id":"in-flight","name":"Sample Data","value":45.67}}',
  });
  await until(() => standIn.requests.length === 1, 'the insertAll request to reach the stand-in');
  child.kill('SIGTERM');

  const settled = await answer;
  expect(settled.status).toBe(200);
  expect(await settled.text()).toBe('{"success":true,"message":"Data inserted successfully!"}');
  expect(await exited).toBe(0);
  expect(standIn.rows(TABLE).map((row) => row.json.id)).toEqual(['in-flight']);
});
