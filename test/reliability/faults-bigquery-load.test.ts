/**
 * BigQuery faults striking a share of a load, as they do in production,
 * through the API served as `npm start` serves it over the real
 * `BigQueryWarehouse` and the REST stand-in, each record sent once by a
 * closed loop of producers (no client retries):
 *
 * - one request in ten carries a row BigQuery rejects (reason `invalid`, the
 *   rest of its insertAll `stopped`) and every seventh call answers 503: the
 *   innocent requests must still succeed, each stored once;
 * - one call in ten never answers: throughput must stay at least half of a
 *   fault-free run of the same load in the same test, every acknowledged row
 *   be stored once, and no request wait much past its deadline.
 *
 * Assertions are on counts and on a ratio of two runs in this test, so a
 * loaded machine slows both runs alike.
 */
import { WAREHOUSE_BIGQUERY_FIELDS } from '../../lambda-src/record';
import { createFunctionRuntime, type FunctionRuntime } from '../../lambda-src/functions/runtime';
import { BigQueryWarehouse } from '../../lambda-src/warehouse/bigquery';
import { WarehouseError } from '../../lambda-src/warehouse/warehouse';
import { capturingLogger } from '../support/function-server';
import { BigQueryStandIn, type InsertAllRequest } from '../../tools/bigquery-standin';
import { closedLoop, openLoop, recordOf, sendRecord, type LoadRun } from './fault-drill';
import type { RawReply } from './http-client';
import { startFunctions, type RunningFunctions } from './functions';

const TABLE = { projectId: 'demo-project', datasetId: 'ingest', tableId: 'records' };
/** The stand-in's round trip: like BigQuery's, a good part of what a request waits for. */
const ROUND_TRIP_MS = 10;
/** Producers in the closed loop. */
const CLIENTS = 32;
/** One new request this often in the open loop: faster than a round trip, so several share each batch. */
const ARRIVAL_INTERVAL_MS = 1;
/**
 * Added to the round trip of every call in the rejected-rows test, making it BigQuery's ~50 ms: requests arriving
 * meanwhile gather into batches of several, so most batches hold a rejected row, and so would a re-send's new company.
 */
const BATCHING_DELAY_MS = 40;
/** Generous: a loaded machine must not push healthy requests past it. */
const COMMIT_DEADLINE_MS = 4000;
/** The adapter's shortest insertAll deadline, a few round trips as its default is against BigQuery's; the one it uses follows the round trips it measures. */
const MIN_INSERT_TIMEOUT_MS = 50;
/** How late past its deadline an answer may come on a loaded machine (timers and the event loop run late). */
const DEADLINE_SLACK_MS = 2000;

let standIn: BigQueryStandIn;
let functions: RunningFunctions;

beforeAll(async () => {
  standIn = await BigQueryStandIn.start({ latencyMs: ROUND_TRIP_MS });
  standIn.createTable(TABLE, WAREHOUSE_BIGQUERY_FIELDS);
  const warehouse = new BigQueryWarehouse({
    projectId: TABLE.projectId,
    dataset: TABLE.datasetId,
    table: TABLE.tableId,
    apiEndpoint: standIn.url,
    minInsertTimeoutMs: MIN_INSERT_TIMEOUT_MS,
  });
  functions = await startFunctions(warehouse, { groupCommitDeadlineMs: COMMIT_DEADLINE_MS });
});

afterEach(() => standIn.respond('tabledata.insertAll', undefined));

afterAll(async () => {
  await functions.stop();
  await standIn.stop();
});

const copiesById = (): Map<string, number> => {
  const copies = new Map<string, number>();
  for (const row of standIn.rows(TABLE)) copies.set(String(row.json.id), (copies.get(String(row.json.id)) ?? 0) + 1);
  return copies;
};

const send = (id: string) => sendRecord(functions, 'api', id);
const idsOf = (prefix: string, count: number) => Array.from({ length: count }, (_, index) => `${prefix}-${index}`);
const throughput = (run: LoadRun) => run.answers.length / run.elapsedMs;

it('with one request in ten carrying a rejected row and every seventh call answering 503, innocent requests succeed and none is stored twice', async () => {
  const REQUESTS = 400;
  const ids = Array.from({ length: REQUESTS }, (_, index) => (index % 10 === 9 ? `poison-${index}` : `innocent-${index}`));
  let calls503 = 0;
  let callsRejected = 0;
  standIn.respond('tabledata.insertAll', (request: InsertAllRequest, index) => {
    if (index % 7 === 6) {
      calls503 += 1;
      return { outcome: { kind: 'httpError', status: 503 } };
    }
    const poisoned = request.rows.flatMap((row, rowIndex) => (String(row.json.id).startsWith('poison-') ? [rowIndex] : []));
    if (poisoned.length === 0) return { delayMs: BATCHING_DELAY_MS };
    callsRejected += 1;
    return { delayMs: BATCHING_DELAY_MS, outcome: { kind: 'rejectRows', indices: poisoned } };
  });

  // Requests keep arriving while refused batches come back, so a re-send could always find new company.
  const run = await openLoop(ids, ARRIVAL_INTERVAL_MS, send);

  const innocent = run.answers.filter((answer) => answer.id.startsWith('innocent-'));
  const poison = run.answers.filter((answer) => answer.id.startsWith('poison-'));
  // The faults struck, and often.
  expect(calls503).toBeGreaterThanOrEqual(3);
  expect(callsRejected).toBeGreaterThanOrEqual(3);
  process.stderr.write(`innocent ok ${innocent.filter((answer) => answer.status === 200).length}/${innocent.length} 503s ${calls503} rejected ${callsRejected}\n`);
  expect(innocent.filter((answer) => answer.status === 200).length / innocent.length).toBeGreaterThanOrEqual(0.95);
  expect(new Set(poison.map((answer) => answer.status))).toEqual(new Set([500]));
  const copies = copiesById();
  expect([...copies.entries()].filter(([, count]) => count !== 1)).toEqual([]);
  expect(innocent.filter((answer) => answer.status === 200 && !copies.has(answer.id))).toEqual([]);
  expect(poison.filter((answer) => copies.has(answer.id))).toEqual([]);
  expect(standIn.rows(TABLE).find((row) => String(row.json.id) === innocent[0]!.id)?.json).toMatchObject(recordOf(innocent[0]!.id));
});

describe('with one call in ten hanging', () => {
  /**
   * The warehouse stack the functions run (batcher over insert-failure log over the adapter), driven without HTTP:
   * over HTTP this machine's CPU, not the warehouse's answers, bounds throughput, which would hide what hung calls
   * cost. Each producer inserts one row and waits for its verdict, as a request handler does.
   */
  let runtime: FunctionRuntime;
  beforeAll(() => {
    runtime = createFunctionRuntime({
      functionName: 'api',
      openWarehouse: async () =>
        new BigQueryWarehouse({ projectId: TABLE.projectId, dataset: TABLE.datasetId, table: TABLE.tableId, apiEndpoint: standIn.url, minInsertTimeoutMs: MIN_INSERT_TIMEOUT_MS }),
      settings: { maxBodyBytes: 1024 * 1024, projectId: TABLE.projectId, groupCommitDeadlineMs: COMMIT_DEADLINE_MS },
      logger: capturingLogger(),
    });
  });
  afterAll(() => runtime.close());

  const insert = async (id: string): Promise<RawReply> => {
    const row = { ...recordOf(id), insertId: `load:${id}`, ingestedAt: new Date() };
    try {
      await (await runtime.warehouse()).insert([row]);
      return { status: 200, headers: {}, text: '' };
    } catch (error) {
      return { status: error instanceof WarehouseError && error.retryable ? 503 : 500, headers: {}, text: String(error) };
    }
  };

  it('throughput stays at least half the fault-free run, each acknowledged row is stored once, and no request waits past its deadline', async () => {
    const REQUESTS = 1500;
    // Warm-up: JIT, connection pools and the adapter's measured round trip, so the two runs compare like with like.
    await closedLoop(idsOf('warmup', 300), CLIENTS, insert);
    const faultFree = await closedLoop(idsOf('fault-free', REQUESTS), CLIENTS, insert);

    let hung = 0;
    standIn.respond('tabledata.insertAll', (_, index) => {
      if (index % 10 !== 9) return undefined;
      hung += 1;
      // Half of the hung calls had stored their rows before going silent: their re-send must not store them again.
      return { outcome: { kind: 'hang', afterStoring: hung % 2 === 0 } };
    });
    const hanging = await closedLoop(idsOf('hanging', REQUESTS), CLIENTS, insert);

    const ratio = throughput(hanging) / throughput(faultFree);
    const slowest = Math.max(...hanging.answers.map((answer) => answer.latencyMs));
    process.stderr.write(
      `hanging calls: ${hung}; throughput ${(1000 * throughput(hanging)).toFixed(0)}/s against ${(1000 * throughput(faultFree)).toFixed(0)}/s fault-free (${ratio.toFixed(2)}x); slowest request ${slowest.toFixed(0)} ms\n`,
    );
    // Every tenth call: the closed loop's requests travel together, so a run makes a few dozen calls.
    expect(hung).toBeGreaterThanOrEqual(4);
    expect(new Set([...faultFree.answers, ...hanging.answers].map((answer) => answer.status))).toEqual(new Set([200]));
    expect(ratio).toBeGreaterThanOrEqual(0.5);
    const copies = copiesById();
    for (const answer of [...faultFree.answers, ...hanging.answers]) expect([answer.id, copies.get(answer.id)]).toEqual([answer.id, 1]);
    expect(slowest).toBeLessThan(COMMIT_DEADLINE_MS + DEADLINE_SLACK_MS);
  });
});
