/**
 * A small closed-loop HTTP load generator: `connections` keep-alive sockets,
 * each sending its next request as soon as the previous answer is read, for a
 * warm-up then a measured window. Bounded by time and by request count, and
 * refuses any target but the loopback interface.
 *
 * It sends over the raw-socket keep-alive connection of
 * test/support/raw-http-client.ts rather than `node:http`'s client, which
 * costs about as much CPU per request as the no-op function itself: on two
 * cores, every cycle the load generator spends is one the function under test
 * does not get.
 */
import { KeepAliveConnection, type RawAnswer } from '../raw-http-client';

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

/** One keep-alive connection to a loopback target, POSTing one request at a time. */
class Connection {
  private readonly connection: KeepAliveConnection;

  constructor(private readonly url: URL) {
    if (!LOOPBACK_HOSTS.has(url.hostname)) throw new Error(`bench only sends to loopback, got ${url.hostname}`);
    this.connection = new KeepAliveConnection(url.hostname, Number(url.port));
  }

  /** Sends a POST and resolves once the whole answer is read. */
  post(load: LoadRequest): Promise<RawAnswer> {
    const headers = Object.entries(load.headers ?? {})
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    const head =
      `POST ${this.url.pathname}${this.url.search} HTTP/1.1\r\nHost: ${this.url.host}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(load.body)}\r\n${headers}\r\n`;
    return this.connection.send(head + load.body);
  }

  close(): void {
    this.connection.close();
  }
}

/** POSTs one request on a connection of its own and resolves with its status once the whole answer is read. */
export async function post(url: URL, load: LoadRequest): Promise<number> {
  const connection = new Connection(url);
  try {
    return (await connection.post(load)).status;
  } finally {
    connection.close();
  }
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const url = new URL(options.url);
  const latencies: number[] = [];
  const statusCounts: Record<number, number> = {};
  let sent = 0;
  let failures = 0;
  const start = performance.now();
  const measureFrom = start + options.warmupMs;
  const stopAt = measureFrom + options.durationMs;

  const drive = async () => {
    const connection = new Connection(url);
    try {
      await sendUntilStopped(connection);
    } finally {
      connection.close();
    }
  };
  const sendUntilStopped = async (connection: Connection) => {
    while (performance.now() < stopAt && sent < options.maxRequests) {
      const load = options.nextRequest(sent++);
      const sentAt = performance.now();
      try {
        const { status } = await connection.post(load);
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
  await Promise.all(Array.from({ length: options.connections }, drive));
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
