/**
 * A small closed-loop HTTP load generator: `connections` keep-alive sockets,
 * each sending its next request as soon as the previous answer is read, for a
 * warm-up then a measured window. Bounded by time and by request count, and
 * refuses any target but the loopback interface.
 *
 * It speaks just enough HTTP/1.1 over raw sockets (write the request bytes,
 * read the status and a `Content-Length` body) instead of using `node:http`'s
 * client, which costs about as much CPU per request as the no-op function
 * itself: on two cores, every cycle the load generator spends is one the
 * function under test does not get.
 */
import { connect, type Socket } from 'node:net';

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

/** One keep-alive HTTP/1.1 connection carrying one request at a time. */
class Connection {
  private socket: Socket | undefined;
  private received: Buffer = Buffer.alloc(0);
  private pending: { resolve(status: number): void; reject(error: Error): void } | undefined;

  constructor(private readonly url: URL) {
    if (!LOOPBACK_HOSTS.has(url.hostname)) throw new Error(`bench only sends to loopback, got ${url.hostname}`);
  }

  /** Sends a POST and resolves with its status once the whole answer is read. */
  async post(load: LoadRequest): Promise<number> {
    const socket = this.socket ?? (await this.open());
    const headers = Object.entries(load.headers ?? {})
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    const head =
      `POST ${this.url.pathname}${this.url.search} HTTP/1.1\r\nHost: ${this.url.host}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(load.body)}\r\n${headers}\r\n`;
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      socket.write(head + load.body);
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private open(): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: this.url.hostname, port: Number(this.url.port) }, () => {
        socket.off('error', reject);
        socket.setNoDelay(true);
        // A socket this connection has already given up on may still report its end; only the current one counts.
        socket.on('data', (chunk: Buffer) => this.socket === socket && this.read(chunk));
        socket.on('error', (error) => this.socket === socket && this.fail(error));
        socket.on('close', () => this.socket === socket && this.fail(new Error('connection closed before the answer')));
        this.socket = socket;
        resolve(socket);
      });
      socket.once('error', reject);
    });
  }

  private read(chunk: Buffer): void {
    this.received = this.received.length === 0 ? chunk : Buffer.concat([this.received, chunk]);
    const headerEnd = this.received.indexOf('\r\n\r\n');
    if (headerEnd < 0) return;
    const head = this.received.toString('latin1', 0, headerEnd);
    const length = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1];
    if (length === undefined) {
      this.fail(new Error(`answer without Content-Length: ${head.split('\r\n', 1)[0]}`));
      return;
    }
    const answerEnd = headerEnd + 4 + Number(length);
    if (this.received.length < answerEnd) return;
    this.received = this.received.subarray(answerEnd);
    if (/\r\nconnection: *close/i.test(head)) this.close();
    const pending = this.pending;
    this.pending = undefined;
    pending?.resolve(Number(head.slice(9, 12)));
  }

  private fail(error: Error): void {
    this.close();
    this.received = Buffer.alloc(0);
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(error);
  }
}

/** POSTs one request on a connection of its own and resolves with its status once the whole answer is read. */
export async function post(url: URL, load: LoadRequest): Promise<number> {
  const connection = new Connection(url);
  try {
    return await connection.post(load);
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
        const status = await connection.post(load);
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
