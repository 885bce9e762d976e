/**
 * The benchmark harness in tools/bench: targets judge rows as documented, and
 * the load generator counts what it sent.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { roundRates, roundSpread } from '../../tools/bench/compare';
import { runLoad, percentile, summarize, type LoadResult } from '../../tools/bench/load';
import { atLeast, atMost, below, exactly, markdownTable, median, row } from '../../tools/bench/report';

describe('rows and targets', () => {
  it('checks the ratio against the target when there is a baseline', () => {
    const result = row('b', { metric: 'rps', value: 75, unit: 'requests/s', baseline: { label: 'no-op', value: 100 }, target: atLeast(0.75) });
    expect(result).toMatchObject({ ratio: 0.75, target: '≥ 0.75×', pass: true });
    expect(row('b', { metric: 'rps', value: 74, unit: 'requests/s', baseline: { label: 'no-op', value: 100 }, target: atLeast(0.75) }).pass).toBe(false);
  });

  it('checks the value instead when asked, still showing the ratio', () => {
    const result = row('b', { metric: 'p99', value: 51, unit: 'ms', baseline: { label: 'no-op', value: 30 }, target: atMost(50), targetOn: 'value' });
    expect(result).toMatchObject({ ratio: 1.7, target: '≤ 50 ms', pass: false });
  });

  it('distinguishes below from at most, and exact counts', () => {
    expect(below(200).met(200)).toBe(false);
    expect(atMost(200).met(200)).toBe(true);
    expect(row('b', { metric: 'lost rows', value: 1, unit: '', target: exactly(0) })).toMatchObject({ target: '= 0', pass: false });
    expect(row('b', { metric: 'rows', value: 3, unit: '' }).pass).toBeUndefined();
  });

  it('prints a Markdown table with pipes escaped', () => {
    const table = markdownTable([row('a|b', { metric: 'm', value: 1.234, unit: 'ms', target: atMost(2) })]);
    expect(table.split('\n')).toEqual([
      '| benchmark | metric | value | baseline (same run) | ratio | target | result |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      '| a\\|b | m | 1.23 ms |  |  | ≤ 2 ms | pass |',
    ]);
  });

  it('takes percentiles and medians by rank', () => {
    const sorted = Array.from({ length: 100 }, (_, index) => index + 1);
    expect(percentile(sorted, 0.5)).toBe(50);
    expect(percentile(sorted, 0.99)).toBe(99);
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});

describe('round spread', () => {
  /** A round that answered `answers` requests in a window of `windowMs`. */
  const round = (answers: number, windowMs = 2000): LoadResult => ({
    latenciesMs: new Array<number>(answers).fill(1),
    windowMs,
    statusCounts: { 200: answers },
    failures: 0,
    sent: answers,
  });

  it('rates each round by the answers in its window', () => {
    expect(roundRates({ runs: [round(8000), round(6000, 3000)] })).toEqual([4000, 2000]);
  });

  it('pairs the rounds in order and reports the baseline range and the ratio range and median', () => {
    const baseline = { label: 'no-op', runs: [round(8000), round(9000), round(7000)] };
    const candidate = { label: 'api', runs: [round(6000), round(8100), round(6300)] };
    expect(roundSpread('HTTP ingest', 'requests', baseline, candidate)).toBe(
      'HTTP ingest by round: no-op 3,500-4,500 requests/s; api ÷ no-op 0.75-0.90× (median 0.90×)\n',
    );
  });

  it('shows one value where every round agrees, as in a one-round quick run', () => {
    expect(roundSpread('Push', 'messages', { label: 'no-op', runs: [round(8000)] }, { label: 'subscriber', runs: [round(6000)] })).toBe(
      'Push by round: no-op 4,000 messages/s; subscriber ÷ no-op 0.75× (median 0.75×)\n',
    );
  });
});

describe('runLoad', () => {
  let server: Server;
  let url: string;
  const bodies: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        bodies.push(body);
        const status = bodies.length % 5 === 0 ? 503 : 200;
        res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': 2 });
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('stops at the request cap, sends each sequence number once, and counts every answer by status', async () => {
    const result = await runLoad({
      url,
      connections: 4,
      warmupMs: 0,
      durationMs: 60_000,
      maxRequests: 40,
      nextRequest: (sequence) => ({ body: JSON.stringify({ sequence }) }),
    });
    expect(result.sent).toBe(40);
    expect(result.failures).toBe(0);
    expect(result.statusCounts).toEqual({ 200: 32, 503: 8 });
    expect(bodies.map((body) => (JSON.parse(body) as { sequence: number }).sequence).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 40 }, (_, index) => index),
    );
    expect(summarize([result])).toMatchObject({ successes: 32, errorAnswers: 8, failures: 0, sent: 40 });
  });

  it('refuses anything but loopback', async () => {
    await expect(
      runLoad({ url: 'http://192.0.2.1/', connections: 1, warmupMs: 0, durationMs: 1, maxRequests: 1, nextRequest: () => ({ body: '{}' }) }),
    ).rejects.toThrow('bench only sends to loopback, got 192.0.2.1');
  });
});
