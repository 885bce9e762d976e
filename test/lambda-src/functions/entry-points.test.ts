/**
 * The deployed entry modules themselves: loading them registers `api` and
 * `subscriber` with the functions framework, checks the environment, and
 * opens nothing; the first request opens the warehouse the environment names
 * (here DuckDB in a temp directory), and the subscriber publishes poison to
 * the dead-letter topic it names (here on the Pub/Sub stand-in).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import request from 'supertest';
import type { FunctionRuntime } from '../../../lambda-src/functions/runtime';
import { PubSubStandIn } from '../../../tools/pubsub-standin';
import { captureStdout, type StdoutCapture } from '../../support/stdout-lines';

const SEED_BODY = '{"data":{"id":"123","name":"Sample Data","value":45.67}}';
const ENV_NAMES = ['WAREHOUSE', 'DUCKDB_PATH', 'MAX_BODY_BYTES', 'DEAD_LETTER_TOPIC', 'PUBSUB_EMULATOR_HOST'] as const;
const DEAD_LETTER_TOPIC = 'projects/entry-project/topics/ingest-dead-letter';
const savedEnv = Object.fromEntries(ENV_NAMES.map((name) => [name, process.env[name]]));

let directory: string;
let databasePath: string;
let runtimes: FunctionRuntime[];
let stdout: StdoutCapture;
let pubsub: PubSubStandIn;

function setEnv(values: Partial<Record<(typeof ENV_NAMES)[number], string>>): void {
  for (const name of ENV_NAMES) {
    if (values[name] === undefined) delete process.env[name];
    else process.env[name] = values[name];
  }
}

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'ingest-entry-'));
  databasePath = join(directory, 'data', 'warehouse.duckdb');
  pubsub = await PubSubStandIn.start();
  pubsub.createTopic(DEAD_LETTER_TOPIC);
  setEnv({ WAREHOUSE: 'duckdb', DUCKDB_PATH: databasePath, DEAD_LETTER_TOPIC, PUBSUB_EMULATOR_HOST: pubsub.host });
  stdout = captureStdout();
  const api = await import('../../../lambda-src/functions/api');
  const subscriber = await import('../../../lambda-src/functions/subscriber');
  runtimes = [api.runtime, subscriber.runtime];
});

afterAll(async () => {
  await Promise.all(runtimes.map((runtime) => runtime.close()));
  stdout.restore();
  setEnv(savedEnv);
  await pubsub.stop();
  rmSync(directory, { recursive: true, force: true });
});

describe('lambda-src/functions entry modules', () => {
  it('register both functions and open nothing at load', () => {
    expect(() => getTestServer('api')).not.toThrow();
    expect(() => getTestServer('subscriber')).not.toThrow();
    expect(existsSync(join(directory, 'data'))).toBe(false);
  });

  it('store through the warehouse the environment names, on first use', async () => {
    const ingest = await request(getTestServer('api')).post('/').set('Content-Type', 'application/json').send(SEED_BODY);
    expect(ingest.status).toBe(200);
    expect(ingest.text).toBe('{"success":true,"message":"Data inserted successfully!"}');
    const data = Buffer.from('{"data":{"id":"456","name":"Pushed","value":1.5}}').toString('base64');
    const push = await request(getTestServer('subscriber'))
      .post('/')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ message: { data, messageId: 'entry-1' }, subscription: 's' }));
    expect(push.status).toBe(200);
    const lines = (await stdout.lines()).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((line) => [line.function, line.event, line.outcome])).toEqual([
      ['api', 'ingest', 'success'],
      ['subscriber', 'push', 'success'],
    ]);

    await Promise.all(runtimes.map((runtime) => runtime.close()));
    const instance = await DuckDBInstance.create(databasePath);
    const connection = await instance.connect();
    const rows = (await connection.runAndReadAll('SELECT id, insert_id FROM ingest.records ORDER BY id')).getRowObjectsJS();
    connection.closeSync();
    instance.closeSync();
    expect(rows).toEqual([
      { id: '123', insert_id: `http:${ingest.headers['x-request-id']}:0` },
      { id: '456', insert_id: 'pubsub:entry-1:0' },
    ]);
  });

  it('the subscriber publishes poison to the dead-letter topic its environment names, then acknowledges it', async () => {
    const poison = JSON.stringify({ message: { data: Buffer.from('not json').toString('base64'), messageId: 'entry-2' }, subscription: 's' });
    const response = await request(getTestServer('subscriber')).post('/').set('Content-Type', 'application/json').send(poison);
    expect(response.status).toBe(202);
    expect(pubsub.published(DEAD_LETTER_TOPIC)).toEqual([
      expect.objectContaining({ data: Buffer.from('not json'), attributes: expect.objectContaining({ deadLetterMessageId: 'entry-2', deadLetterErrorClass: 'invalid_json' }) }),
    ]);
  });

  it.each([
    [{ DEAD_LETTER_TOPIC: 'ingest-dead-letter' }, /^DEAD_LETTER_TOPIC must be a Pub\/Sub topic's full name/, 'subscriber'],
    [{ WAREHOUSE: 'mysql' }, /^WAREHOUSE must be one of duckdb, bigquery/],
    [{ MAX_BODY_BYTES: 'big' }, /^MAX_BODY_BYTES must be an integer/],
  ])('refuse to load with a bad environment, naming the variable (%j)', (env, message, entry = 'api') => {
    setEnv(env);
    try {
      expect(() => jest.isolateModules(() => require(`../../../lambda-src/functions/${entry}`))).toThrow(message);
    } finally {
      setEnv({ WAREHOUSE: 'duckdb', DUCKDB_PATH: databasePath });
    }
  });
});
