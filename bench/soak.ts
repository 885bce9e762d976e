/**
 * `npm run soak`: a bounded soak of `npm start` (both functions, one process,
 * DuckDB in a temporary directory) on loopback: 64 keep-alive connections
 * (seven eighths to the API, one eighth to the push subscriber), each record
 * with its own id, for 60 s. Then SIGTERM, and the database file is read.
 *
 * Passes when there was no 5xx and no dropped connection, the file holds
 * exactly one row per acknowledged request, the process exited 0, and the
 * server's resident memory at the end is within `MAX_RSS_GROWTH` of what it
 * was right after the warm-up (flat memory: no leak per request). Exits 1
 * otherwise.
 *
 *   npm run soak                              60 s, 64 connections
 *   SOAK_SECONDS=20 SOAK_CONNECTIONS=32 npm run soak
 *
 * Not part of `npm test`: it takes a minute and measures the machine too.
 */
import { readFileSync } from 'node:fs';
import { readStoredRows, startLocalProcess } from '../tools/local-process';
import { runLoad, summarize, type LoadResult } from '../tools/bench/load';
import { ingestRequest, pushRequest } from './payloads';
import { atMost, exactly, machine, markdownTable, row, type Row } from '../tools/bench/report';

const DEFAULT_SECONDS = 60;
const DEFAULT_CONNECTIONS = 64;
/** End RSS over post-warm-up RSS; V8 grows its heap a little under steady load, a leak grows it without bound. */
const MAX_RSS_GROWTH = 1.5;
const RSS_SAMPLE_MS = 5000;

function positiveInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return value;
}

/** Resident set size of a process, from Linux's /proc. */
function rssMiB(pid: number): number {
  const line = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!line) throw new Error(`no VmRSS for process ${pid}`);
  return Number(line[1]) / 1024;
}

const count = (results: readonly LoadResult[], keep: (status: number) => boolean) =>
  results.flatMap((result) => Object.entries(result.statusCounts)).reduce((sum, [status, n]) => sum + (keep(Number(status)) ? n : 0), 0);

async function main(): Promise<void> {
  const seconds = positiveInteger('SOAK_SECONDS', DEFAULT_SECONDS);
  const connections = positiveInteger('SOAK_CONNECTIONS', DEFAULT_CONNECTIONS);
  if (connections < 2) throw new Error('SOAK_CONNECTIONS must be at least 2 (one per entry point)');
  const pushConnections = Math.max(1, Math.round(connections / 8));
  const apiConnections = connections - pushConnections;
  const warmupMs = Math.min(10_000, (seconds * 1000) / 6);
  const durationMs = seconds * 1000 - warmupMs;

  const server = await startLocalProcess();
  try {
    const pid = server.child.pid!;
    process.stderr.write(`soak: ${seconds} s, ${apiConnections} API + ${pushConnections} push connections, server pid ${pid}\n`);
    const rssSamples: number[] = [];
    let rssAfterWarmup = Number.NaN;
    const warmupTimer = setTimeout(() => (rssAfterWarmup = rssMiB(pid)), warmupMs);
    const sampler = setInterval(() => rssSamples.push(rssMiB(pid)), RSS_SAMPLE_MS);
    const load = (url: string, connectionCount: number, request: (sequence: number) => ReturnType<typeof ingestRequest>) =>
      runLoad({ url, connections: connectionCount, warmupMs, durationMs, maxRequests: Number.MAX_SAFE_INTEGER, nextRequest: request });
    const results = await Promise.all([
      load(server.apiUrl, apiConnections, (sequence) => ingestRequest(`soak-api-${sequence}`)),
      load(server.subscriberUrl, pushConnections, (sequence) => pushRequest(`soak-push-${sequence}`)),
    ]);
    const rssAtEnd = rssMiB(pid);
    clearTimeout(warmupTimer);
    clearInterval(sampler);

    server.child.kill('SIGTERM');
    const exitCode = await server.exited;
    const stored = await readStoredRows(server.databasePath);
    const acknowledged = count(results, (status) => status >= 200 && status < 300);
    const serverErrors = count(results, (status) => status >= 500);
    const summary = summarize(results);
    const benchmark = 'soak';
    const rows: Row[] = [
      row(benchmark, { metric: 'requests sent', value: summary.sent, unit: '' }),
      row(benchmark, { metric: 'throughput (measured window)', value: summary.requestsPerSecond, unit: 'req/s' }),
      row(benchmark, { metric: 'p99 latency', value: summary.p99Ms, unit: 'ms' }),
      row(benchmark, { metric: '5xx answers', value: serverErrors, unit: '', target: exactly(0) }),
      row(benchmark, { metric: 'other non-2xx answers', value: summary.errorAnswers - serverErrors, unit: '', target: exactly(0) }),
      row(benchmark, { metric: 'dropped connections', value: summary.failures, unit: '', target: exactly(0) }),
      row(benchmark, { metric: 'stored rows − acknowledged requests', value: stored.length - acknowledged, unit: '', target: exactly(0) }),
      row(benchmark, { metric: 'distinct insert ids − stored rows', value: new Set(stored.map((entry) => entry.insert_id)).size - stored.length, unit: '', target: exactly(0) }),
      row(benchmark, { metric: 'exit code after SIGTERM', value: exitCode ?? -1, unit: '', target: exactly(0) }),
      row(benchmark, { metric: 'server RSS after warm-up', value: rssAfterWarmup, unit: 'MiB' }),
      row(benchmark, { metric: 'server RSS peak (5 s samples)', value: Math.max(rssAtEnd, ...rssSamples), unit: 'MiB' }),
      row(benchmark, {
        metric: 'server RSS at end',
        value: rssAtEnd,
        unit: 'MiB',
        baseline: { label: 'after warm-up', value: rssAfterWarmup },
        target: atMost(MAX_RSS_GROWTH),
      }),
    ];
    process.stdout.write(`${markdownTable(rows)}\n\n`);
    process.stdout.write(`${JSON.stringify({ machine: machine(), seconds, connections, acknowledged, stored: stored.length, rows })}\n`);
    const failed = rows.filter((result) => result.pass === false);
    if (failed.length > 0) {
      process.stderr.write(`soak FAILED: ${failed.map((result) => result.metric).join(', ')}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`soak passed: ${acknowledged} acknowledged, ${stored.length} stored, 0 lost\n`);
    }
  } finally {
    await server.cleanUp();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`soak failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
