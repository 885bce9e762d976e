/**
 * The production write path: the bundled API function writing to the BigQuery
 * REST stand-in, which answers each insertAll after a 50 ms round trip, each
 * round with a fresh stand-in whose counters show how many calls and rows
 * arrived. Three variants:
 *
 * - group commit: the deployed function as configured by default;
 * - one insert per request: the same batcher sending each request alone
 *   (`api-one-insert-per-request.ts`), with the same limit of inserts in
 *   flight, so the ratio is what coalescing buys for the same number of
 *   concurrent insertAll calls per instance (the target's baseline);
 * - one insert per request, unbounded: no batcher at all (`GROUP_COMMIT=off`),
 *   every request its own insertAll at once, as a function without group
 *   commit would do. With 64 connections and a 50 ms round trip no variant
 *   can pass 64 / 0.05 = 1280 requests/s, so its ratio shows how far that
 *   ceiling is, not a target.
 */
import { compareUnderLoad, roundSpread, type LoadSettings, type LoadVariant, type VariantOutcome } from '../tools/bench/compare';
import { bundled, serve, type Bundled } from './functions';
import { ingestRequest } from './payloads';
import { atLeast, below, exactly, row, type Row } from '../tools/bench/report';
import { startStandIn, type StandInStats } from './standin';

const BENCHMARK = 'BigQuery path (50 ms stand-in)';
export const ROUND_TRIP_MS = 50;
export const CONNECTIONS = 64;

function variant(label: string, fn: Bundled, env: Record<string, string>, idPrefix: string): LoadVariant<StandInStats> {
  return {
    label,
    start: async () => {
      const standIn = await startStandIn(ROUND_TRIP_MS);
      const served = await serve(fn, { env: { ...standIn.env, ...env } });
      return {
        url: served.url,
        finish: async () => {
          await served.stop();
          const stats = await standIn.stats();
          await standIn.stop();
          return stats;
        },
      };
    },
    request: (round, sequence) => ingestRequest(`${idPrefix}-${round}-${sequence}`),
  };
}

export async function bigQueryPathBenchmark(settings: LoadSettings): Promise<Row[]> {
  const api = bundled('api');
  const [candidate, perRequest, unbounded] = (await compareUnderLoad(
    [
      variant('group commit', api, {}, 'bq-group-commit'),
      variant('one insert per request', bundled('apiOneInsertPerRequest'), {}, 'bq-per-request'),
      variant('one insert per request, unbounded', api, { GROUP_COMMIT: 'off' }, 'bq-unbounded'),
    ],
    CONNECTIONS,
    settings,
  )) as [VariantOutcome<StandInStats>, VariantOutcome<StandInStats>, VariantOutcome<StandInStats>];

  const total = (outcome: VariantOutcome<StandInStats>, field: keyof StandInStats) =>
    outcome.checks.reduce((sum, check) => sum + check[field], 0);
  const against = (outcome: VariantOutcome<StandInStats>, value: number) => ({ label: outcome.label, value });
  const rowsPerCall = (outcome: VariantOutcome<StandInStats>) => total(outcome, 'rowsReceived') / total(outcome, 'insertAllCalls');
  process.stderr.write(roundSpread(BENCHMARK, 'requests', perRequest, candidate));
  const c = candidate.summary;
  return [
    row(BENCHMARK, {
      metric: `requests/s, ${CONNECTIONS} connections`,
      value: c.requestsPerSecond,
      unit: 'requests/s',
      baseline: against(perRequest, perRequest.summary.requestsPerSecond),
      target: atLeast(10),
    }),
    row(BENCHMARK, {
      metric: `requests/s, ${CONNECTIONS} connections`,
      value: c.requestsPerSecond,
      unit: 'requests/s',
      baseline: against(unbounded, unbounded.summary.requestsPerSecond),
    }),
    row(BENCHMARK, { metric: 'p50 latency', value: c.p50Ms, unit: 'ms', baseline: against(perRequest, perRequest.summary.p50Ms) }),
    row(BENCHMARK, {
      metric: 'p99 latency',
      value: c.p99Ms,
      unit: 'ms',
      baseline: against(perRequest, perRequest.summary.p99Ms),
      target: below(200),
      targetOn: 'value',
    }),
    row(BENCHMARK, {
      metric: 'insertAll calls',
      value: total(candidate, 'insertAllCalls'),
      unit: '',
      baseline: against(perRequest, total(perRequest, 'insertAllCalls')),
    }),
    row(BENCHMARK, {
      metric: 'rows per insertAll call',
      value: rowsPerCall(candidate),
      unit: '',
      baseline: against(perRequest, rowsPerCall(perRequest)),
      target: atLeast(10),
      targetOn: 'value',
    }),
    row(BENCHMARK, { metric: 'rows stored', value: total(candidate, 'storedRows'), unit: '' }),
    row(BENCHMARK, { metric: 'answers not 2xx (or none)', value: c.errorAnswers + c.failures, unit: '', target: exactly(0) }),
    row(BENCHMARK, {
      metric: 'rows stored − 2xx answers',
      value: total(candidate, 'storedRows') - c.successes,
      unit: '',
      target: exactly(0),
    }),
    row(BENCHMARK, {
      metric: 'rows sent − distinct insert ids',
      value: total(candidate, 'rowsReceived') - total(candidate, 'distinctInsertIds'),
      unit: '',
      target: exactly(0),
    }),
  ];
}
