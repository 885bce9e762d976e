/**
 * Throughput of a deployed function writing to DuckDB, against the no-op
 * function under the same load: the HTTP ingest API (`POST /`) and the
 * Pub/Sub push subscriber. Each round gets a fresh database file; after the
 * function exits, the rows in the file are compared with the 2xx answers.
 */
import { join } from 'node:path';
import { compareUnderLoad, roundSpread, type LoadSettings, type LoadVariant, type VariantOutcome } from '../tools/bench/compare';
import { storedRows, type StoredRows } from './duckdb-rows';
import { bundled, scratchDirectory, serve, type EntryName } from './functions';
import type { LoadRequest } from '../tools/bench/load';
import { ingestRequest, pushRequest } from './payloads';
import { atLeast, atMost, exactly, row, type Row } from '../tools/bench/report';

interface DuckDbThroughputCase {
  benchmark: string;
  entry: EntryName;
  connections: number;
  /** What one request carries, for the throughput metric's name. */
  unit: 'requests' | 'messages';
  request(id: string): LoadRequest;
  /** Least throughput relative to the no-op; no target when absent. */
  minRatio?: number;
  /** Largest p99 latency in ms; no target when absent. */
  maxP99Ms?: number;
}

/** What a variant's instance left behind: its log lines, and the rows in its database file (none for the no-op). */
interface Check {
  logLines: number;
  stored?: StoredRows;
}

async function duckDbThroughput(spec: DuckDbThroughputCase, settings: LoadSettings): Promise<Row[]> {
  const noop = bundled('noop');
  const candidate = bundled(spec.entry);
  const directory = scratchDirectory(spec.entry);

  const noopVariant: LoadVariant<Check> = {
    label: 'no-op function',
    start: async () => {
      const served = await serve(noop);
      return {
        url: served.url,
        finish: async () => {
          await served.stop();
          return { logLines: served.logLines() };
        },
      };
    },
    request: (round, sequence) => spec.request(`noop-${round}-${sequence}`),
  };
  const candidateVariant: LoadVariant<Check> = {
    label: candidate.label,
    start: async (round) => {
      const database = join(directory, `round-${round}.duckdb`);
      const served = await serve(candidate, { env: { WAREHOUSE: 'duckdb', DUCKDB_PATH: database } });
      return {
        url: served.url,
        finish: async () => {
          await served.stop();
          return { logLines: served.logLines(), stored: await storedRows(database) };
        },
      };
    },
    request: (round, sequence) => spec.request(`${spec.entry}-${round}-${sequence}`),
  };

  const [baseline, measured] = (await compareUnderLoad([noopVariant, candidateVariant], spec.connections, settings)) as [
    VariantOutcome<Check>,
    VariantOutcome<Check>,
  ];
  process.stderr.write(roundSpread(spec.benchmark, spec.unit, baseline, measured));
  const b = baseline.summary;
  const c = measured.summary;
  const stored = measured.checks.reduce((sum, check) => sum + (check.stored?.rows ?? 0), 0);
  const distinct = measured.checks.reduce((sum, check) => sum + (check.stored?.distinctInsertIds ?? 0), 0);
  const logLines = measured.checks.reduce((sum, check) => sum + check.logLines, 0);
  const against = (value: number) => ({ label: 'no-op', value });
  return [
    row(spec.benchmark, {
      metric: `${spec.unit}/s, ${spec.connections} connections`,
      value: c.requestsPerSecond,
      unit: `${spec.unit}/s`,
      baseline: against(b.requestsPerSecond),
      target: spec.minRatio === undefined ? undefined : atLeast(spec.minRatio),
    }),
    row(spec.benchmark, { metric: 'p50 latency', value: c.p50Ms, unit: 'ms', baseline: against(b.p50Ms) }),
    row(spec.benchmark, {
      metric: 'p99 latency',
      value: c.p99Ms,
      unit: 'ms',
      baseline: against(b.p99Ms),
      target: spec.maxP99Ms === undefined ? undefined : atMost(spec.maxP99Ms),
      targetOn: 'value',
    }),
    row(spec.benchmark, { metric: 'answers not 2xx (or none)', value: c.errorAnswers + c.failures, unit: '', target: exactly(0) }),
    row(spec.benchmark, { metric: 'rows stored − 2xx answers', value: stored - c.successes, unit: '', target: exactly(0) }),
    row(spec.benchmark, { metric: 'rows stored − distinct insert ids', value: stored - distinct, unit: '', target: exactly(0) }),
    row(spec.benchmark, { metric: 'log lines − answers', value: logLines - (c.successes + c.errorAnswers), unit: '', target: exactly(0) }),
  ];
}

export function httpIngestBenchmark(settings: LoadSettings): Promise<Row[]> {
  return duckDbThroughput(
    { benchmark: 'HTTP ingest (DuckDB)', entry: 'api', connections: 32, unit: 'requests', request: ingestRequest, minRatio: 0.75, maxP99Ms: 50 },
    settings,
  );
}

export function pushPathBenchmark(settings: LoadSettings): Promise<Row[]> {
  return duckDbThroughput(
    { benchmark: 'Pub/Sub push (DuckDB)', entry: 'subscriber', connections: 32, unit: 'messages', request: pushRequest },
    settings,
  );
}
