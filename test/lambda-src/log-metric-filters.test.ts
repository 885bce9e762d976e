/**
 * The log-based metrics count what the functions really log: the real API and
 * subscriber functions run under the functions framework against a scripted
 * warehouse, their stdout lines become LogEntries the way Cloud Logging makes
 * them, and each synthesized metric filter (and its extractors) is evaluated
 * against them. The subscriber publishes poison to a dead-letter topic on the
 * Pub/Sub stand-in, as deployed.
 */
import { TerraformStack, Testing } from 'cdktf';
import request from 'supertest';
import { MonitoringAlerts } from '../../constructs/monitoring-alerts';
import { logMetricNames } from '../../constructs/monitoring-signals';
import { PubSubDeadLetterTopic } from '../../lambda-src/dead-letter/pubsub';
import { createFunctionRuntime } from '../../lambda-src/functions/runtime';
import { createApiFunction } from '../../lambda-src/handlers/api';
import { createSubscriberFunction } from '../../lambda-src/handlers/subscriber';
import { FUNCTION_NAMES, type FunctionName, INSERT_FAILED_EVENT, OUTCOMES, REQUEST_EVENTS } from '../../lambda-src/log-events';
import { RowsRejectedError, WarehouseError } from '../../lambda-src/warehouse/warehouse';
import { PubSubStandIn } from '../../tools/pubsub-standin';
import { applyExtractor, type LogEntry, matchesLogFilter, parseLogFilter, toLogEntry } from '../support/logging-filter';
import { MemoryWarehouse } from '../support/memory-warehouse';
import { MONITORED_PIPELINE as PIPELINE } from '../support/monitored-pipeline';
import { serveFunction } from '../support/function-server';
import { captureStdout } from '../support/stdout-lines';

type Json = Record<string, any>;

// The filters and extractors exactly as synthesized.
const synthesized: Json = JSON.parse(Testing.synthScope((scope) => new MonitoringAlerts(scope as TerraformStack, 'monitoring', PIPELINE)));
const names = logMetricNames(PIPELINE);
const metricNamed = (name: string): Json => {
  const found = Object.values(synthesized.resource.google_logging_metric as Record<string, Json>).find((m) => m.name === name);
  if (found === undefined) throw new Error(`no metric ${name}`);
  return found;
};
const insertErrors = metricNamed(names.insertErrors);
const rowsIngested = metricNamed(names.rowsIngested);
const ingestLatency = metricNamed(names.ingestLatency);

/** Commits, or throws what the scenario says. */
const warehouse = new MemoryWarehouse();
// The deployed composition (batcher over insert-failure log over the adapter), logging to stdout; one attempt per
// request (the batcher would retry a retryable failure until its deadline, logging each attempt), so each failed
// scenario is one insert-failed line.
const oneAttempt = { maxRetries: 0 };
const runtimes = {
  api: createFunctionRuntime({
    functionName: FUNCTION_NAMES.api,
    openWarehouse: async () => warehouse,
    settings: { maxBodyBytes: 1024 * 1024, projectId: PIPELINE.project },
    groupCommit: oneAttempt,
  }),
  subscriber: createFunctionRuntime({
    functionName: FUNCTION_NAMES.subscriber,
    openWarehouse: async () => warehouse,
    settings: { maxBodyBytes: 1024 * 1024, projectId: PIPELINE.project },
    groupCommit: oneAttempt,
  }),
};
const DEAD_LETTER_TOPIC = `projects/${PIPELINE.project}/topics/ingest-dev-dead-letter`;
let pubsub: PubSubStandIn;
let deadLetters: PubSubDeadLetterTopic;
let servers: Record<FunctionName, ReturnType<typeof serveFunction>>;
const serviceOf: Record<FunctionName, string> = { api: PIPELINE.apiServiceName, subscriber: PIPELINE.subscriberServiceName };
const resourceOf = (fn: FunctionName) => ({ type: 'cloud_run_revision', labels: { service_name: serviceOf[fn], revision_name: `${serviceOf[fn]}-00001-abc` } });

const record = (id: string) => ({ id, name: 'Sample Data', value: 45.67 });
const pushOf = (payload: unknown, messageId: string) => ({
  message: { data: Buffer.from(JSON.stringify(payload)).toString('base64'), messageId },
  subscription: `projects/${PIPELINE.project}/subscriptions/ingest-dev-push`,
});

interface Scenario {
  readonly name: string;
  readonly fn: FunctionName;
  readonly body: unknown;
  readonly failure?: Error;
  /** The dead-letter topic refuses the publish. */
  readonly deadLetterDown?: boolean;
  readonly status: number;
}

const SCENARIOS: readonly Scenario[] = [
  { name: 'api: one record committed', fn: 'api', body: { data: record('a1') }, status: 200 },
  { name: 'api: a batch of two committed', fn: 'api', body: { data: [record('a2'), record('a3')] }, status: 200 },
  { name: 'api: invalid record (400)', fn: 'api', body: { data: { ...record('a4'), value: 'not a number' } }, status: 400 },
  { name: 'api: invalid batch of two (400)', fn: 'api', body: { data: [record('a5'), { id: '' }] }, status: 400 },
  { name: 'api: warehouse unavailable (503)', fn: 'api', body: { data: record('a6') }, failure: new WarehouseError('BigQuery answered 503', 'warehouse_unavailable', true), status: 503 },
  { name: 'api: rows rejected (500)', fn: 'api', body: { data: record('a7') }, failure: new RowsRejectedError([{ index: 0, reason: 'invalid', message: 'no such field' }]), status: 500 },
  { name: 'subscriber: message committed', fn: 'subscriber', body: pushOf({ data: record('s1') }, 'm-1'), status: 200 },
  { name: 'subscriber: warehouse error (500)', fn: 'subscriber', body: pushOf({ data: record('s2') }, 'm-2'), failure: new Error('permission denied'), status: 500 },
  { name: 'subscriber: malformed envelope (acknowledged poison, 202)', fn: 'subscriber', body: { message: { messageId: 'm-3' } }, status: 202 },
  { name: 'subscriber: invalid record (dead-lettered poison, 202)', fn: 'subscriber', body: pushOf({ data: { id: 's4' } }, 'm-4'), status: 202 },
  { name: 'subscriber: poison, dead-letter topic down (503)', fn: 'subscriber', body: pushOf({ data: { id: 's5' } }, 'm-5'), deadLetterDown: true, status: 503 },
];

interface Observed {
  readonly scenario: Scenario;
  readonly status: number;
  readonly entries: LogEntry[];
}

const payload = (entry: LogEntry) => entry.jsonPayload as Json;
const isRequestLine = (entry: LogEntry) => (Object.values(REQUEST_EVENTS) as string[]).includes(payload(entry).event);
const isInsertFailedLine = (entry: LogEntry) => payload(entry).event === INSERT_FAILED_EVENT;

let observed: Observed[] = [];
let readLine: LogEntry;

beforeAll(async () => {
  pubsub = await PubSubStandIn.start();
  pubsub.createTopic(DEAD_LETTER_TOPIC);
  deadLetters = new PubSubDeadLetterTopic({ topic: DEAD_LETTER_TOPIC, apiEndpoint: pubsub.url });
  servers = { api: serveFunction(createApiFunction(runtimes.api)), subscriber: serveFunction(createSubscriberFunction({ ...runtimes.subscriber, deadLetters })) };
  const stdout = captureStdout();
  try {
    for (const scenario of SCENARIOS) {
      stdout.clear();
      warehouse.failWith(scenario.failure);
      if (scenario.deadLetterDown) pubsub.failNext({ kind: 'httpError', status: 503 });
      const response = await request(servers[scenario.fn]).post('/').set('Content-Type', 'application/json').send(JSON.stringify(scenario.body));
      const entries = (await stdout.lines())
        .filter((line) => line.startsWith('{'))
        .map((line) => toLogEntry(line, resourceOf(scenario.fn)));
      observed.push({ scenario, status: response.status, entries });
    }
    stdout.clear();
    warehouse.failWith(undefined);
    const read = await request(servers.api).get('/records?limit=3');
    expect(read.status).toBe(200);
    const [line] = await stdout.lines();
    readLine = toLogEntry(line!, resourceOf(FUNCTION_NAMES.api));
  } finally {
    stdout.restore();
  }
});

afterAll(async () => {
  await Promise.all([runtimes.api.close(), runtimes.subscriber.close()]);
  deadLetters.close();
  await pubsub.stop();
});

const allEntries = () => [...observed.flatMap((o) => o.entries), readLine];
const entriesOf = (name: string) => {
  const found = observed.find((o) => o.scenario.name === name);
  if (found === undefined) throw new Error(`no scenario ${name}`);
  return found.entries;
};

describe('the functions log what the metrics count', () => {
  test('each scenario got its status and exactly one request line', () => {
    expect(observed.map((o) => [o.scenario.name, o.status])).toEqual(SCENARIOS.map((s) => [s.name, s.status]));
    for (const o of observed) expect(o.entries.filter(isRequestLine)).toHaveLength(1);
  });

  test('every failed warehouse insert writes one insert-failed line with function and error class', () => {
    for (const o of observed) {
      const failed = o.entries.filter(isInsertFailedLine);
      expect(failed).toHaveLength(o.scenario.failure === undefined ? 0 : 1);
      for (const entry of failed) {
        expect(payload(entry)).toMatchObject({ function: o.scenario.fn, errorClass: expect.any(String), rows: expect.any(Number) });
      }
    }
  });
});

describe(`insert-errors metric (${names.insertErrors})`, () => {
  test('matches the insert-failed lines and nothing else, validation 400s and 5xx request lines included', () => {
    const matched = allEntries().filter((entry) => matchesLogFilter(insertErrors.filter, entry));
    expect(matched).toEqual(allEntries().filter(isInsertFailedLine));
    expect(matched).toHaveLength(3);
    for (const rejected of [...entriesOf('api: invalid record (400)'), ...entriesOf('api: invalid batch of two (400)')]) {
      expect(matchesLogFilter(insertErrors.filter, rejected)).toBe(false);
    }
    // A dead-letter publish that failed is no warehouse insert error: the dead-letter alert sees what it leads to.
    const [undeliverable] = entriesOf('subscriber: poison, dead-letter topic down (503)');
    expect(payload(undeliverable!)).toMatchObject({ outcome: OUTCOMES.failed, errorClass: 'dead_letter_unavailable', refusedAs: 'invalid_input', messageId: 'm-5' });
    expect(matchesLogFilter(insertErrors.filter, undeliverable!)).toBe(false);
  });

  test('its labels carry the function and the error class', () => {
    const labels = allEntries()
      .filter((entry) => matchesLogFilter(insertErrors.filter, entry))
      .map((entry) => Object.fromEntries(Object.entries(insertErrors.label_extractors as Record<string, string>).map(([key, extractor]) => [key, applyExtractor(extractor, entry)])));
    expect(labels).toEqual([
      { function: 'api', error_class: 'warehouse_unavailable' },
      { function: 'api', error_class: 'warehouse_rejected_rows' },
      { function: 'subscriber', error_class: 'warehouse_error' },
    ]);
  });
});

describe(`rows-ingested metric (${names.rowsIngested})`, () => {
  test('matches the committed ingest and push lines only, and extracts their row counts', () => {
    const matched = allEntries().filter((entry) => matchesLogFilter(rowsIngested.filter, entry));
    expect(matched).toEqual([
      ...entriesOf('api: one record committed').filter(isRequestLine),
      ...entriesOf('api: a batch of two committed').filter(isRequestLine),
      ...entriesOf('subscriber: message committed').filter(isRequestLine),
    ]);
    expect(matched.map((entry) => applyExtractor(rowsIngested.value_extractor, entry))).toEqual([1, 2, 1]);
    expect(matched.map((entry) => applyExtractor(rowsIngested.label_extractors.function, entry))).toEqual(['api', 'api', 'subscriber']);
  });

  test('does not count the rows of refused requests or of reads', () => {
    const refusedBatch = entriesOf('api: invalid batch of two (400)').filter(isRequestLine)[0];
    expect(payload(refusedBatch)).toMatchObject({ rows: 2, outcome: OUTCOMES.rejected });
    expect(matchesLogFilter(rowsIngested.filter, refusedBatch)).toBe(false);
    const poison = entriesOf('subscriber: malformed envelope (acknowledged poison, 202)').filter(isRequestLine)[0];
    expect(payload(poison)).toMatchObject({ outcome: OUTCOMES.rejected, errorClass: 'invalid_message', messageId: 'm-3' });
    expect(matchesLogFilter(rowsIngested.filter, poison)).toBe(false);
    const deadLettered = entriesOf('subscriber: invalid record (dead-lettered poison, 202)').filter(isRequestLine)[0];
    expect(payload(deadLettered)).toMatchObject({ outcome: OUTCOMES.rejected, errorClass: 'invalid_input', messageId: 'm-4', deadLetterMessageId: expect.any(String) });
    expect(deadLettered.severity).toBe('WARNING');
    expect(matchesLogFilter(rowsIngested.filter, deadLettered)).toBe(false);
    expect(payload(readLine)).toMatchObject({ event: REQUEST_EVENTS.read, rows: 3, outcome: OUTCOMES.success });
    expect(matchesLogFilter(rowsIngested.filter, readLine)).toBe(false);
  });
});

describe(`ingest-latency metric (${names.ingestLatency})`, () => {
  test('matches every ingest and push request line, whatever the outcome, and no read or insert-failed line', () => {
    const matched = allEntries().filter((entry) => matchesLogFilter(ingestLatency.filter, entry));
    expect(matched).toEqual(observed.flatMap((o) => o.entries.filter(isRequestLine)));
    expect(matchesLogFilter(ingestLatency.filter, readLine)).toBe(false);
    const outcomes = new Set(matched.map((entry) => applyExtractor(ingestLatency.label_extractors.outcome, entry)));
    expect(outcomes).toEqual(new Set(Object.values(OUTCOMES)));
    for (const entry of matched) {
      const latency = applyExtractor(ingestLatency.value_extractor, entry);
      expect(typeof latency).toBe('number');
      expect(latency as number).toBeGreaterThanOrEqual(0);
    }
  });
});

describe('every metric is scoped to this pipeline', () => {
  test("the same lines from another service's revision match no metric", () => {
    const foreign = observed
      .flatMap((o) => o.entries)
      .map((entry) => ({ ...entry, resource: { type: 'cloud_run_revision', labels: { service_name: 'someone-else' } } }));
    for (const metric of [insertErrors, rowsIngested, ingestLatency]) {
      expect(foreign.filter((entry) => matchesLogFilter(metric.filter, entry))).toEqual([]);
    }
  });
});

describe('logging filter evaluator', () => {
  const entry = toLogEntry(
    JSON.stringify({ severity: 'ERROR', message: 'x', httpRequest: { status: 503 }, event: 'ingest', rows: 2, labels: { 'k8s-pod/app': 'web' } }),
    { type: 'cloud_run_revision', labels: { service_name: 'svc' } },
  );

  test('lifts the special fields out of jsonPayload like Cloud Logging', () => {
    expect(entry).toMatchObject({ severity: 'ERROR', httpRequest: { status: 503 }, jsonPayload: { message: 'x', event: 'ingest', rows: 2 } });
    expect(payload(entry).severity).toBeUndefined();
  });

  test.each([
    ['jsonPayload.event="ingest"', true],
    ['jsonPayload.event="push"', false],
    ['jsonPayload.event!="push"', true],
    ['jsonPayload.rows=2', true],
    ['jsonPayload.rows="3"', false],
    ['jsonPayload.rows:*', true],
    ['jsonPayload.missing:*', false],
    ['jsonPayload.message:X', true],
    ['resource.labels.service_name=~"^s.c$"', true],
    ['resource.labels.service_name!~"^s"', false],
    ['jsonPayload.labels."k8s-pod/app"="web"', true],
    ['resource.type=cloud_run_revision jsonPayload.event="ingest"', true],
    ['NOT jsonPayload.event="ingest"', false],
    ['-jsonPayload.event="push"', true],
    // Cloud Logging's OR binds tighter than AND: (ingest OR push) AND rows=3, which is false.
    ['jsonPayload.event="ingest" OR jsonPayload.event="push" AND jsonPayload.rows=3', false],
    ['jsonPayload.event="push" OR (jsonPayload.event="ingest" AND jsonPayload.rows=2)', true],
    ['httpRequest.status=503 AND severity="ERROR"', true],
  ])('%s -> %s', (filter, expected) => {
    expect(matchesLogFilter(filter, entry)).toBe(expected);
  });

  test.each(['timestamp>="2025-01-01"', 'jsonPayload.event=', '(jsonPayload.event="a"', 'jsonPayload.event="a" )'])('refuses %s', (filter) => {
    expect(() => parseLogFilter(filter)).toThrow();
  });
});
