/**
 * End to end: `npm start` runs as its own process on random ports
 * with a DuckDB file in a temp directory; the seed's curl request and Pub/Sub
 * push deliveries go over real sockets, then the read and update API is
 * walked (get, update, page through every record); Ctrl-C, with the reader
 * of stdout gone as `npm -s start | jq` leaves it, must exit 0 having closed
 * the database, whose file then holds exactly the rows that were
 * acknowledged.
 *
 * The steps share one server process (starting it is the expensive part), so
 * they run in order and each builds on the previous ones.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { DuckDBInstance } from '@duckdb/node-api';
import { SEED_BODY, SEED_SUCCESS } from '../../tools/seed';

const ROOT = resolve(__dirname, '../..');


const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const pushDelivery = (data: string, messageId: string) =>
  JSON.stringify({
    message: { data, messageId, message_id: messageId, publishTime: '2026-01-02T03:04:05.678Z', attributes: {} },
    subscription: 'projects/local/subscriptions/ingest-push',
  });

type ServerProcess = ChildProcessByStdio<null, Readable, Readable>;

let directory: string;
let databasePath: string;
let server: ServerProcess;
let exited: Promise<number | null>;
let stdout = '';
let stderr = '';
let apiUrl: string;
let subscriberUrl: string;

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'ingest-e2e-'));
  databasePath = join(directory, 'warehouse.duckdb');
  // --silent keeps npm's own "> npm start" lines off stdout, which must hold only log lines. Detached: a process
  // group of its own, which a Ctrl-C signals as a whole.
  server = spawn('npm', ['start', '--silent'], {
    cwd: ROOT,
    detached: true,
    env: { ...process.env, PORT: '0', PUBSUB_PORT: '0', WAREHOUSE: 'duckdb', DUCKDB_PATH: databasePath, NODE_ENV: 'development' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  exited = new Promise((resolveExit) => server.on('exit', (code) => resolveExit(code)));
  server.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  [apiUrl, subscriberUrl] = await new Promise<[string, string]>((resolveUrls, reject) => {
    server.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      const api = /^api \(POST \/\):\s+(\S+)$/m.exec(stderr)?.[1];
      const subscriber = /^subscriber \(push\):\s+(\S+)$/m.exec(stderr)?.[1];
      if (api && subscriber) resolveUrls([api, subscriber]);
    });
    void exited.then((code) => reject(new Error(`server exited (${code}) before listening:\n${stderr}`)));
  });
});

afterAll(async () => {
  if (server.exitCode === null && server.signalCode === null) {
    process.kill(-server.pid!, 'SIGKILL');
    await exited;
  }
  rmSync(directory, { recursive: true, force: true });
});

const post = (url: string, body: string, contentType = 'application/json') =>
  fetch(url, { method: 'POST', headers: { 'Content-Type': contentType }, body });
const get = (path: string) => fetch(new URL(path, apiUrl));
const put = (path: string, body: unknown) =>
  fetch(new URL(path, apiUrl), { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
interface RecordJson {
  id: string;
  name: string;
  value: number;
  updatedAt: string;
}
interface ReadBody {
  success: boolean;
  data: RecordJson[];
  nextPageToken?: string;
}
const readJson = async <T>(response: Response): Promise<T> => (await response.json()) as T;
const RFC_3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

async function storedRows(): Promise<Array<Record<string, unknown>>> {
  const instance = await DuckDBInstance.create(databasePath);
  try {
    const connection = await instance.connect();
    try {
      const reader = await connection.runAndReadAll('SELECT id, name, value, insert_id FROM ingest.records ORDER BY id, ingested_at, insert_id');
      return reader.getRowObjectsJS();
    } finally {
      connection.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}

describe('npm start, end to end', () => {
  it('prints both URLs and a sample curl', () => {
    expect(apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(subscriberUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(stderr).toContain(`curl -X POST ${apiUrl.replace(/\/$/, '')} -H "Content-Type: application/json" -d '${SEED_BODY}'`);
  });

  it("answers the seed's curl request with the exact 200 body", async () => {
    const response = await post(apiUrl, SEED_BODY);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await response.text()).toBe(SEED_SUCCESS);
  });

  it('answers the same request without value with 400 "Invalid input data"', async () => {
    const response = await post(apiUrl, SEED_BODY.replace(',\n        "value": 45.67', ''));
    expect(response.status).toBe(400);
    expect((await response.text()).startsWith('{"success":false,"error":"Invalid input data"')).toBe(true);
  });

  it('answers a body that is not JSON with a JSON 400', async () => {
    const response = await post(apiUrl, 'id=123&name=Sample');
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await response.json()).toMatchObject({ success: false, error: 'Invalid input data' });
  });

  it('stores a push delivery, and nothing more when the same message is delivered again', async () => {
    const delivery = pushDelivery(base64(JSON.stringify({ data: { id: '456', name: 'Pushed', value: 1.5 } })), '9001');
    expect((await post(subscriberUrl, delivery)).status).toBe(200);
    expect((await post(subscriberUrl, delivery)).status).toBe(200);
  });

  it('acknowledges a push delivery whose data is not JSON with 202 (poison, never redelivered), not a 5xx', async () => {
    const response = await post(subscriberUrl, pushDelivery(base64('definitely not json'), '9002'));
    expect(response.status).toBe(202);
  });

  it('wrote one JSON log line on stdout per request', async () => {
    // A line is written as its answer leaves, and travels on another pipe: wait for all six.
    while (stdout.split('\n').length <= 6) await new Promise((resolveData) => server.stdout.once('data', resolveData));
    const lines = stdout.trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(lines.map((line) => [line.function, line.httpRequest.status])).toEqual([
      ['api', 200],
      ['api', 400],
      ['api', 400],
      ['subscriber', 200],
      ['subscriber', 200],
      ['subscriber', 202],
    ]);
  });

  it('GET /records/{id} returns the posted record with its updatedAt', async () => {
    const response = await get('/records/123');
    expect(response.status).toBe(200);
    const body = await readJson<{ data: RecordJson }>(response);
    expect(body).toEqual({ success: true, data: { id: '123', name: 'Sample Data', value: 45.67, updatedAt: expect.stringMatching(RFC_3339) } });
  });

  it('PUT /records/{id} changes name and value; GET then returns the new values', async () => {
    const updated = await put('/records/123', { data: { name: 'Renamed', value: 99.5 } });
    expect(updated.status).toBe(200);
    expect(await updated.text()).toBe('{"success":true,"message":"Data updated successfully!"}');
    const body = await readJson<{ data: RecordJson }>(await get('/records/123'));
    expect(body.data).toMatchObject({ id: '123', name: 'Renamed', value: 99.5 });
  });

  it('GET /records?limit=1 returns one record and a nextPageToken; following the tokens visits every id once, latest version', async () => {
    expect((await post(apiUrl, JSON.stringify({ data: [{ id: 'walk-b', name: 'B', value: 2 }, { id: 'walk-a', name: 'A', value: 1 }] }))).status).toBe(200);
    const first = await readJson<ReadBody>(await get('/records?limit=1'));
    expect(first.data).toHaveLength(1);
    expect(first.nextPageToken).toEqual(expect.any(String));
    const second = await readJson<ReadBody>(await get(`/records?limit=1&pageToken=${encodeURIComponent(first.nextPageToken!)}`));
    expect(second.data).toHaveLength(1);
    expect(second.data[0]!.id).not.toBe(first.data[0]!.id);

    const walked: RecordJson[] = [];
    let query = '?limit=1';
    for (;;) {
      const page = await readJson<ReadBody>(await get(`/records${query}`));
      walked.push(...page.data);
      if (page.nextPageToken === undefined) break;
      query = `?limit=1&pageToken=${encodeURIComponent(page.nextPageToken)}`;
    }
    expect(walked.map(({ id, name }) => [id, name])).toEqual([
      ['123', 'Renamed'],
      ['456', 'Pushed'],
      ['walk-a', 'A'],
      ['walk-b', 'B'],
    ]);
  });

  it.each(['unknown', "' OR '1'='1", "x'; DROP TABLE ingest.records; --", '%'])('answers GET and PUT of the id %j with 404', async (id) => {
    const path = `/records/${encodeURIComponent(id)}`;
    const read = await get(path);
    expect(read.status).toBe(404);
    expect(await read.json()).toEqual({ success: false, error: 'Record not found', details: [{ field: 'query.since', message: expect.stringMatching(/^no version of this record was stored since /) }] });
    expect((await put(path, { data: { name: 'n', value: 1 } })).status).toBe(404);
  });

  it('answers limit=100000 with 400, and a tampered page token with 400', async () => {
    expect((await get('/records?limit=100000')).status).toBe(400);
    expect((await get('/records?pageToken=tampered')).status).toBe(400);
  });

  it('exits 0 on Ctrl-C after draining and closing the database, though the reader of its stdout is gone', async () => {
    // As after `npm -s start | jq` and Ctrl-C: jq is gone, and the server still logs (here a request's line).
    server.stdout.destroy();
    expect((await post(apiUrl, JSON.stringify({ data: { id: 'after-jq', name: 'Unlogged', value: 3 } }))).status).toBe(200);
    // The terminal signals the whole process group, and npm forwards the signal to the server once more.
    process.kill(-server.pid!, 'SIGINT');
    expect(await exited).toBe(0);
    expect(stderr).toContain('stopped cleanly');
    expect(stderr).not.toContain('EPIPE');
  });

  it('left exactly the acknowledged rows in ingest.records', async () => {
    const perRequest = (index: number) => expect.stringMatching(new RegExp(`^http:[0-9a-f-]{36}:${index}$`));
    expect(await storedRows()).toEqual([
      { id: '123', name: 'Sample Data', value: 45.67, insert_id: perRequest(0) },
      { id: '123', name: 'Renamed', value: 99.5, insert_id: perRequest(0) },
      { id: '456', name: 'Pushed', value: 1.5, insert_id: 'pubsub:9001:0' },
      { id: 'after-jq', name: 'Unlogged', value: 3, insert_id: perRequest(0) },
      { id: 'walk-a', name: 'A', value: 1, insert_id: perRequest(1) },
      { id: 'walk-b', name: 'B', value: 2, insert_id: perRequest(0) },
    ]);
  });
});
