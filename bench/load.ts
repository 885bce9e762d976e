/**
 * A small closed-loop HTTP load generator: `connections` keep-alive sockets,
 * each sending its next request as soon as the previous answer is read, for a
 * warm-up then a measured window. Bounded by time and by request count, and
 * refuses any target but the loopback interface.
 */
import { Agent, request } from 'node:http';

export interface LoadRequest {
  body: string;
  headers?: Readonly<Record<string, string>>;
}

export interface LoadOptions {
  /** Target URL; must be on 127.0.0.1 / localhost. */
  url: string;
  /** Concurrent keep-alive connections, one request outstanding on each. */
  connections: number;
  /** Requests before the measured window: not timed, but their answers are counted. */
  warmupMs: number;
  /** Length of the measured window. */
  durationMs: number;
  /** Hard cap on requests sent (warm-up included), so a runaway target cannot make the run unbounded. */
  maxRequests: number;
  /** The `sequence`-th request to send, from 0; callers make ids unique from it. */
  nextRequest(sequence: number): LoadRequest;
}

/** One load run, raw. */
export interface LoadResult {
  /** Latency of each request answered within the measured window, in ms. */
  latenciesMs: number[];
  /** Length of the measured window, in ms. */
  windowMs: number;
  /** Answers by status code, warm-up included. */
  statusCounts: Readonly<Record<number, number>>;
  /** Requests that got no answer (connection errors), warm-up included. */
  failures: number;
  /** Requests sent, warm-up included. */
  sent: number;
}

/** One or more load runs of the same variant, pooled. */
export interface LoadSummary {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Answers with a 2xx status, warm-up included. */
  successes: number;
  /** Answers with any other status, warm-up included. */
  errorAnswers: number;
  /** Requests that got no answer, warm-up included. */
  failures: number;
  sent: number;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)]!;
}

/** POSTs one request and resolves with its status once the whole answer is read. */
export function post(url: URL, load: LoadRequest, agent?: Agent): Promise<number> {
  if (!LOOPBACK_HOSTS.has(url.hostname)) return Promise.reject(new Error(`bench only sends to loopback, got ${url.hostname}`));
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        agent: agent ?? false,
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(load.body), ...load.headers },
      },
      (res) => {
        res.on('data', () => undefined);
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(load.body);
  });
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const url = new URL(options.url);
  if (!LOOPBACK_HOSTS.has(url.hostname)) throw new Error(`bench only sends to loopback, got ${url.hostname}`);
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const latencies: number[] = [];
  const statusCounts: Record<number, number> = {};
  let sent = 0;
  let failures = 0;
  const start = performance.now();
  const measureFrom = start + options.warmupMs;
  const stopAt = measureFrom + options.durationMs;

  const connection = async () => {
    while (performance.now() < stopAt && sent < options.maxRequests) {
      const load = options.nextRequest(sent++);
      const sentAt = performance.now();
      try {
        const status = await post(url, load, agent);
        statusCounts[status] = (statusCounts[status] ?? 0) + 1;
      } catch {
        failures += 1;
        continue;
      }
      // Answers that arrive in the window count, whenever they were sent: with long latencies, counting only
      // requests both sent and answered inside it would miss a latency's worth at each end.
      const answeredAt = performance.now();
      if (answeredAt >= measureFrom && answeredAt <= stopAt) latencies.push(answeredAt - sentAt);
    }
  };
  try {
    await Promise.all(Array.from({ length: options.connections }, connection));
  } finally {
    agent.destroy();
  }
  return { latenciesMs: latencies, windowMs: options.durationMs, statusCounts, failures, sent };
}

const isSuccess = (status: string) => Number(status) >= 200 && Number(status) < 300;

export function summarize(results: readonly LoadResult[]): LoadSummary {
  const latencies = results.flatMap((result) => result.latenciesMs).sort((a, b) => a - b);
  const windowMs = results.reduce((sum, result) => sum + result.windowMs, 0);
  const answers = results.flatMap((result) => Object.entries(result.statusCounts));
  const count = (keep: (status: string) => boolean) => answers.filter(([status]) => keep(status)).reduce((sum, [, n]) => sum + n, 0);
  return {
    requestsPerSecond: latencies.length / (windowMs / 1000),
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    maxMs: latencies.at(-1) ?? Number.NaN,
    successes: count(isSuccess),
    errorAnswers: count((status) => !isSuccess(status)),
    failures: results.reduce((sum, result) => sum + result.failures, 0),
    sent: results.reduce((sum, result) => sum + result.sent, 0),
  };
}
