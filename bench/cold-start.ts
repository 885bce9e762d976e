/**
 * Cold start: from spawning a fresh Node.js process to the first 200 answer,
 * for the bundled API function (the deploy zip, writing to the BigQuery
 * stand-in as in the cloud), the same function from its TypeScript source,
 * and the bundled no-op function. The variants take turns, in rotating
 * order, and each is reported by its median. Also the size of every deploy
 * zip, which Cloud Functions downloads and unpacks before the process starts.
 */
import { bundled, serve, unbundled, type FunctionSource } from './functions';
import { post } from '../tools/bench/load';
import { ingestRequest } from './payloads';
import { atMost, median, row, type Row } from '../tools/bench/report';
import { startStandIn } from './standin';

const BENCHMARK = 'Cold start';
/** Cloud Functions' limit is far larger; ours keeps the zip quick to fetch and unpack. */
export const MAX_ZIP_BYTES = 1024 * 1024;

async function timeToFirstAnswer(fn: FunctionSource, env: Record<string, string>, id: string): Promise<number> {
  const served = await serve(fn, { env });
  try {
    const status = await post(new URL(served.url), ingestRequest(id));
    if (status !== 200) throw new Error(`${fn.label} answered its first request with ${status}`);
    return performance.now() - served.spawnedAt;
  } finally {
    await served.stop();
  }
}

export async function coldStartBenchmark(repetitions: number): Promise<Row[]> {
  const noop = bundled('noop');
  const api = bundled('api');
  const subscriber = bundled('subscriber');
  const variants = [noop, api, unbundled('api')];
  const standIn = await startStandIn(0);
  const timings = variants.map(() => [] as number[]);
  try {
    for (let repetition = 0; repetition < repetitions; repetition++) {
      for (let turn = 0; turn < variants.length; turn++) {
        const index = (turn + repetition) % variants.length;
        timings[index]!.push(await timeToFirstAnswer(variants[index]!, standIn.env, `cold-${repetition}-${index}`));
      }
    }
  } finally {
    await standIn.stop();
  }
  const [noopMs, apiMs, sourceMs] = timings.map(median) as [number, number, number];
  return [
    row(BENCHMARK, {
      metric: 'spawn → first 200, api (bundled)',
      value: apiMs,
      unit: 'ms',
      baseline: { label: 'no-op', value: noopMs },
      target: atMost(1.5),
    }),
    row(BENCHMARK, {
      metric: 'spawn → first 200, api (bundled)',
      value: apiMs,
      unit: 'ms',
      baseline: { label: 'api from source', value: sourceMs },
      target: atMost(0.6),
    }),
    ...[api, subscriber].flatMap((fn) => [
      row(BENCHMARK, { metric: `zip size, ${fn.target}`, value: fn.zipBytes / 1024, unit: 'KiB', target: atMost(MAX_ZIP_BYTES / 1024) }),
      row(BENCHMARK, { metric: `index.js size, ${fn.target}`, value: fn.bundle.bundleBytes / 1024, unit: 'KiB' }),
    ]),
  ];
}
