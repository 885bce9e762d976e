import request from 'supertest';
import { inserted } from '../../../lambda-src/http/answer';
import { createRoutedFunction, type RouteHandler } from '../../../lambda-src/http/router';
import { REQUEST_EVENTS } from '../../../lambda-src/log-events';
import { capturingLogger, serveFunction, steppingClock } from '../../support/function-server';

/**
 * Our functions run without the functions framework's per-request `domain`
 * (see `installFunctionsFramework`), so nothing but the router stands between a
 * failing handler and the framework's crash handling: every failure must
 * end as our JSON 500 and its log line, with no unhandled rejection or
 * uncaught exception (which the deployed runtime answers by killing the
 * instance).
 */
function serveHandler(handler: RouteHandler) {
  const logger = capturingLogger();
  const server = serveFunction(
    createRoutedFunction({
      functionName: 'api',
      routes: [
        { path: '/', event: REQUEST_EVENTS.ingest, methods: { POST: handler } },
        { path: '/ok', event: REQUEST_EVENTS.ingest, methods: { POST: () => Promise.resolve(inserted(1)) } },
      ],
      unmatchedEvent: REQUEST_EVENTS.ingest,
      logger,
      clock: steppingClock(1),
    }),
  );
  return { server, logger };
}

const failures: unknown[] = [];
const recordFailure = (error: unknown) => failures.push(error);
beforeEach(() => {
  failures.length = 0;
  process.on('unhandledRejection', recordFailure);
  process.on('uncaughtException', recordFailure);
});
afterEach(() => {
  process.off('unhandledRejection', recordFailure);
  process.off('uncaughtException', recordFailure);
});

/** Lets any unhandled rejection of the request just served be reported before the test looks. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

describe.each([
  [
    'rejects after awaiting',
    async () => {
      await new Promise((resolve) => setImmediate(resolve));
      throw new Error('async secret');
    },
  ],
  [
    'throws before returning a promise',
    () => {
      throw new Error('sync secret');
    },
  ],
  ['rejects with a non-Error', () => Promise.reject('string secret')],
] satisfies Array<[string, RouteHandler]>)('a handler that %s', (_case, handler) => {
  it('gets our JSON 500 and one log line, leaves nothing unhandled, and the function keeps serving', async () => {
    const { server, logger } = serveHandler(handler);
    const response = await request(server).post('/').set('Content-Type', 'application/json').send('{}');
    await settle();

    expect(response.status).toBe(500);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.body).toEqual({
      success: false,
      error: expect.stringContaining(`(internal_error, request id ${response.headers['x-request-id']})`),
      requestId: response.headers['x-request-id'],
    });
    expect(response.text).not.toContain('secret');
    expect(logger.lines).toEqual([
      expect.objectContaining({ requestId: response.headers['x-request-id'], outcome: 'failed', errorClass: 'internal_error', reason: expect.stringContaining('secret') }),
    ]);
    expect(failures).toEqual([]);

    const next = await request(server).post('/ok').set('Content-Type', 'application/json').send('{}');
    expect(next.status).toBe(200);
    expect(logger.lines).toHaveLength(2);
  });
});

it('runs the handler in no domain', async () => {
  let domainInHandler: unknown = 'not called';
  const { server } = serveHandler(async () => {
    domainInHandler = (process as { domain?: unknown }).domain;
    return inserted(1);
  });
  expect((await request(server).post('/').set('Content-Type', 'application/json').send('{}')).status).toBe(200);
  // No active domain: `process.domain` is null once the domain module has loaded, undefined before.
  expect(domainInHandler ?? 'none').toBe('none');
});
