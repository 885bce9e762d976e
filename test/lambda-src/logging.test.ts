import { spawnSync } from 'node:child_process';
import { INSERT_FAILED_EVENT } from '../../lambda-src/log-events';
import { createLogger, formatLatency, outcomeOf, traceFields, type RequestLogEntry } from '../../lambda-src/logging';

function capture(projectId?: string) {
  const lines: string[] = [];
  return { lines, logger: createLogger({ projectId, write: (line) => lines.push(line) }) };
}

const entry: RequestLogEntry = {
  function: 'api',
  event: 'ingest',
  requestId: 'r-1',
  method: 'POST',
  url: 'https://api.example/',
  status: 200,
  latencyMs: 12.3456789,
  userAgent: 'curl/8',
  rows: 3,
};

describe('formatLatency', () => {
  it.each([
    [12, '0.012s'],
    [12.3456789, '0.012345679s'],
    [1500, '1.5s'],
    [0, '0s'],
    [0.0004, '0.0000004s'],
  ])('writes %p ms as %p', (ms, text) => expect(formatLatency(ms)).toBe(text));
});

describe('outcomeOf', () => {
  it.each([
    [200, 'success'],
    [204, 'success'],
    [400, 'rejected'],
    [499, 'rejected'],
    [500, 'failed'],
    [503, 'failed'],
  ])('%p is %p', (status, outcome) => expect(outcomeOf(status)).toBe(outcome));

  it.each([
    [202, 'invalid_message', 'rejected'],
    [400, 'invalid_input', 'rejected'],
    [503, 'warehouse_unavailable', 'failed'],
  ] as const)('%p with error class %p is %p: an acknowledged refusal still counts as one', (status, errorClass, outcome) =>
    expect(outcomeOf(status, errorClass)).toBe(outcome),
  );
});

describe('traceFields', () => {
  it('qualifies the trace with the project and converts the decimal span id to 16 hex digits', () => {
    expect(traceFields('105445aa7843bc8bf206b12000100000/18446744073709551615;o=0', 'demo')).toEqual({
      'logging.googleapis.com/trace': 'projects/demo/traces/105445aa7843bc8bf206b12000100000',
      'logging.googleapis.com/spanId': 'ffffffffffffffff',
      'logging.googleapis.com/trace_sampled': false,
    });
  });

  it('keeps the bare trace id when the project is unknown, and needs no span', () => {
    expect(traceFields('abc123', undefined)).toEqual({ 'logging.googleapis.com/trace': 'abc123' });
  });

  it.each([undefined, '', 'not a trace', 'xyz/1;o=1'])('writes nothing for %p', (header) => {
    expect(traceFields(header, 'demo')).toEqual({});
  });
});

describe('createLogger', () => {
  it('writes one JSON line per request with the Cloud Logging fields and ours', () => {
    const { lines, logger } = capture('demo');
    logger.request({ ...entry, traceContext: 'abc/2;o=1', context: { messageId: 'm-1' } });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain('\n');
    expect(JSON.parse(lines[0])).toEqual({
      severity: 'INFO',
      message: 'api ingest POST https://api.example/ -> 200 success rows=3 12.346ms',
      httpRequest: { requestMethod: 'POST', requestUrl: 'https://api.example/', status: 200, latency: '0.012345679s', userAgent: 'curl/8' },
      'logging.googleapis.com/trace': 'projects/demo/traces/abc',
      'logging.googleapis.com/spanId': '0000000000000002',
      'logging.googleapis.com/trace_sampled': true,
      messageId: 'm-1',
      event: 'ingest',
      function: 'api',
      requestId: 'r-1',
      rows: 3,
      latencyMs: 12.346,
      outcome: 'success',
    });
  });

  it.each([
    [404, 'WARNING', 'rejected'],
    [503, 'ERROR', 'failed'],
  ])('marks a %p line %s / %s with its errorClass and reason', (status, severity, outcome) => {
    const { lines, logger } = capture();
    logger.request({ ...entry, status, errorClass: 'not_found', reason: 'no route' });
    expect(JSON.parse(lines[0])).toMatchObject({
      severity,
      message: `api ingest POST https://api.example/ -> ${status} ${outcome} not_found rows=3 12.346ms: no route`,
      outcome,
      errorClass: 'not_found',
      reason: 'no route',
    });
  });

  it('does not let event context overwrite the fields metrics rely on', () => {
    const { lines, logger } = capture();
    logger.request({ ...entry, context: { event: 'spoofed', outcome: 'spoofed' } });
    expect(JSON.parse(lines[0])).toMatchObject({ event: 'ingest', outcome: 'success' });
  });

  it('writes the insert-failed line the insert-errors alert counts', () => {
    const { lines, logger } = capture();
    logger.insertFailed({ function: 'subscriber', rows: 7, errorClass: 'warehouse_unavailable', retryable: true, error: 'timeout' });
    expect(JSON.parse(lines[0])).toEqual({
      severity: 'ERROR',
      message: 'subscriber warehouse insert of 7 row(s) failed: warehouse_unavailable: timeout',
      event: INSERT_FAILED_EVENT,
      function: 'subscriber',
      rows: 7,
      errorClass: 'warehouse_unavailable',
      retryable: true,
      error: 'timeout',
    });
  });

  it('writes to stdout by default, the lines of one event-loop turn in one write', async () => {
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      const logger = createLogger();
      logger.request(entry);
      logger.request({ ...entry, status: 503 });
      expect(write).not.toHaveBeenCalled();
      await new Promise((resolve) => setImmediate(resolve));
      expect(write).toHaveBeenCalledTimes(1);
      expect(write).toHaveBeenCalledWith(expect.stringMatching(/^\{"severity":"INFO".*\}\n\{"severity":"ERROR".*\}\n$/));
    } finally {
      write.mockRestore();
    }
  });

  it('writes lines still pending when the process exits', () => {
    const script = `
      const { createLogger } = require(${JSON.stringify(require.resolve('../../lambda-src/logging'))});
      createLogger().request(${JSON.stringify(entry)});
      process.exit(3);
    `;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' });
    expect(child.status).toBe(3);
    expect(child.stdout).toMatch(/^\{"severity":"INFO".*\}\n$/);
  });
});
