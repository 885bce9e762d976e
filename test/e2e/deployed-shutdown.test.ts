/**
 * The deployed runtime's shutdown: the bundled API run by the Functions
 * Framework's own `main` (as `functions-framework --target=api` runs it on
 * Cloud Run), writing to the BigQuery stand-in, with two keep-alive clients:
 * one idle, one whose request's row waits in the group-commit batcher when
 * SIGTERM arrives (`GROUP_COMMIT_LINGER_MS` would hold it there for a minute).
 * The idle connection must be closed at once and cleanly; the waiting row
 * must be sent at once, and its request answered 200 with
 * `Connection: close`; then the process must exit 0. The framework's own
 * handler would exit at once and drop the answer.
 */
import { WAREHOUSE_BIGQUERY_FIELDS } from '../../lambda-src/record';
import { BigQueryStandIn } from '../../tools/bigquery-standin';
import { RawConnection } from '../../tools/raw-http-client';
import { startDeployedFunction, type DeployedFunction } from './deployed-function';

const TABLE = { projectId: 'acme-ingest-dev', datasetId: 'ingest', tableId: 'records' };
const SEED_SUCCESS = '{"success":true,"message":"Data inserted successfully!"}';
/** The batcher sends a full batch at once, whatever the linger. */
const FULL_BATCH = 500;

const post = (body: string) => `POST / HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
const GET = 'GET / HTTP/1.1\r\nHost: api\r\n\r\n';

let standIn: BigQueryStandIn;
let api: DeployedFunction | undefined;

beforeAll(async () => {
  // Long enough that the flushed insert is still in flight while the test watches the idle connection close.
  standIn = await BigQueryStandIn.start({ latencyMs: 750 });
  standIn.createTable(TABLE, WAREHOUSE_BIGQUERY_FIELDS);
});

afterAll(async () => {
  await api?.cleanUp();
  await standIn.stop();
});

it('closes idle keep-alive connections at once, sends the waiting row, answers its request with Connection: close, then exits 0', async () => {
  api = await startDeployedFunction('lambda-src/functions/api.ts', 'api', {
    env: {
      NODE_ENV: 'production',
      WAREHOUSE: 'bigquery',
      GOOGLE_CLOUD_PROJECT: TABLE.projectId,
      BIGQUERY_EMULATOR_HOST: standIn.url,
      GROUP_COMMIT_LINGER_MS: '60000',
    },
  });
  const idle = await RawConnection.open(api.host, api.port);
  // A full batch opens the warehouse, so the next request's row waits in the batcher and nowhere else.
  const warmUp = Array.from({ length: FULL_BATCH }, (_, index) => ({ id: `warm-up-${index}`, name: 'warm-up', value: index }));
  idle.write(post(JSON.stringify({ data: warmUp })));
  const warmed = await idle.nextAnswer();
  expect([warmed.status, warmed.headers.connection]).toEqual([200, 'keep-alive']);

  const busy = await RawConnection.open(api.host, api.port);
  busy.write(post('{"data":{"id":"in-flight","name":"Sample Data","value":45.67}}'));
  let answered = false;
  const answer = busy.nextAnswer().finally(() => (answered = true));
  // Connections are read in the order they were accepted: once a request sent after it is answered, the POST has been read.
  idle.write(GET);
  expect((await idle.nextAnswer()).status).toBe(405);
  expect(standIn.requests).toHaveLength(1);
  api.child.kill('SIGTERM');

  expect(await idle.ended).toBe('closed');
  expect(answered).toBe(false);

  const settled = await answer;
  expect(settled.status).toBe(200);
  expect(settled.headers.connection).toBe('close');
  expect(settled.body.toString('utf8')).toBe(SEED_SUCCESS);
  expect(await busy.ended).toBe('closed');
  expect(await api.exited).toBe(0);
  expect(standIn.requests).toHaveLength(2);
  expect(standIn.rows(TABLE).map((row) => row.json.id)).toContain('in-flight');
});
