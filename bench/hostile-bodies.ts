/**
 * Ordinary clients while hostile ones send worst-case JSON at the body
 * limit: the API function on DuckDB serves single-record `POST /` requests
 * on `ORDINARY_CONNECTIONS` connections, alone, then while four more
 * connections, from a process of their own (`hostile-senders.ts`), each send
 * one kind of hostile body of exactly `MAX_BODY_BYTES` (deep arrays, a wide
 * object, a wide array, a long string of escapes) as fast as they are
 * answered. The rows are the ordinary requests' p50 and p99 under attack as
 * a ratio to the same load without it, and whether every ordinary request
 * still succeeded and every hostile one was refused.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { MAX_BODY_BYTES } from '../lambda-src/rules/limits';
import { compareUnderLoad, roundSpread, type LoadSettings, type LoadVariant, type VariantOutcome } from '../tools/bench/compare';
import { atMost, exactly, row, type Row } from '../tools/bench/report';
import { bundled, ROOT, scratchDirectory, serve } from './functions';
import type { HostileTally } from './hostile-senders';
import { ingestRequest } from './payloads';

const BENCHMARK = 'Hostile bodies (DuckDB)';
/** Enough ordinary clients to keep the function busy, few enough that their own queueing does not hide the attack's cost. */
const ORDINARY_CONNECTIONS = 8;
/** The target: the ordinary median under attack within 3× of the median without. */
const MAX_P50_RATIO = 3;
const SENDERS = join(__dirname, 'hostile-senders.ts');

/** Starts the hostile senders' process against `url` and resolves once it is sending; `stop` ends it and returns its tally. */
async function startHostileSenders(url: string, bodyBytes: number): Promise<{ stop(): Promise<HostileTally> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', SENDERS, url, String(bodyBytes)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      if (stdout.startsWith('sending\n')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`hostile senders exited (${code}) before sending`)));
  });
  return {
    stop: async () => {
      child.kill('SIGTERM');
      const code = await exited;
      const tally = stdout.trimEnd().split('\n').at(-1)!;
      if (code !== 0) throw new Error(`hostile senders exited with ${code}`);
      return JSON.parse(tally) as HostileTally;
    },
  };
}

export async function hostileBodiesBenchmark(settings: LoadSettings): Promise<Row[]> {
  const api = bundled('api');
  const directory = scratchDirectory('hostile');

  const variant = (label: string, hostile: boolean): LoadVariant<HostileTally | undefined> => ({
    label,
    start: async (round) => {
      const database = join(directory, `${hostile ? 'attacked' : 'alone'}-${round}.duckdb`);
      const served = await serve(api, { env: { WAREHOUSE: 'duckdb', DUCKDB_PATH: database } });
      const senders = hostile ? await startHostileSenders(served.url, MAX_BODY_BYTES.default) : undefined;
      return {
        url: served.url,
        finish: async () => {
          const tally = await senders?.stop();
          await served.stop();
          return tally;
        },
      };
    },
    request: (round, sequence) => ingestRequest(`${hostile ? 'attacked' : 'alone'}-${round}-${sequence}`),
  });

  const [alone, attacked] = (await compareUnderLoad(
    [variant('ordinary load alone', false), variant('with 4 hostile senders', true)],
    ORDINARY_CONNECTIONS,
    settings,
  )) as [VariantOutcome<undefined>, VariantOutcome<HostileTally>];
  process.stderr.write(roundSpread(BENCHMARK, 'requests', alone, attacked));

  const hostile = attacked.checks.reduce((sum, tally) => ({
    sent: sum.sent + tally.sent,
    notRefused: sum.notRefused + tally.notRefused,
    failures: sum.failures + tally.failures,
  }));
  const baseline = (value: number) => ({ label: alone.label, value });
  const attackSeconds = (settings.rounds * (settings.warmupMs + settings.durationMs)) / 1000;
  const ordinary = `${ORDINARY_CONNECTIONS} connections of single records`;
  const failed = (outcome: VariantOutcome<unknown>) => outcome.summary.errorAnswers + outcome.summary.failures;
  return [
    row(BENCHMARK, {
      metric: `p50 latency, ${ordinary}, with 4 hostile senders`,
      value: attacked.summary.p50Ms,
      unit: 'ms',
      baseline: baseline(alone.summary.p50Ms),
      target: atMost(MAX_P50_RATIO),
    }),
    row(BENCHMARK, { metric: `p99 latency, ${ordinary}, with 4 hostile senders`, value: attacked.summary.p99Ms, unit: 'ms', baseline: baseline(alone.summary.p99Ms) }),
    row(BENCHMARK, {
      metric: 'ordinary requests/s with 4 hostile senders',
      value: attacked.summary.requestsPerSecond,
      unit: 'requests/s',
      baseline: baseline(alone.summary.requestsPerSecond),
    }),
    row(BENCHMARK, { metric: 'ordinary answers not 2xx (or none)', value: failed(alone) + failed(attacked), unit: '', target: exactly(0) }),
    row(BENCHMARK, { metric: `hostile ${MAX_BODY_BYTES.default}-byte bodies answered per second`, value: (hostile.sent - hostile.failures) / attackSeconds, unit: 'bodies/s' }),
    row(BENCHMARK, { metric: 'hostile bodies not answered 400 (or not answered)', value: hostile.notRefused + hostile.failures, unit: '', target: exactly(0) }),
  ];
}
