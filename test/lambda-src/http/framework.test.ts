import { gzipSync } from 'node:zlib';
import request from 'supertest';
import type { Request } from '@google-cloud/functions-framework';
import express from 'express';
import { bodyReadFailureOf } from '../../../lambda-src/http/framework';
import { sendRaw, serveFunction } from '../../support/function-server';
import { captureStdout, type StdoutCapture } from '../../support/stdout-lines';

/** Echoes what the function saw of the body, so each test sees whether and how the request reached it. */
const echo = serveFunction((req: Request, res) => {
  res.json({
    reached: true,
    rawBody: req.rawBody?.toString('utf8') ?? null,
    failure: bodyReadFailureOf(req) ?? null,
  });
});

describe('registerHttpFunction: the framework body-reading failures reach the function', () => {
  it('delivers a malformed JSON body to the function with its raw bytes instead of an HTML error page', async () => {
    const response = await request(echo).post('/').set('Content-Type', 'application/json').send('{bad');
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.body).toEqual({ reached: true, rawBody: '{bad', failure: { status: 400, message: expect.any(String) } });
  });

  it('delivers a JSON body that is a bare string (refused by the framework parser in strict mode)', async () => {
    const response = await request(echo).post('/').set('Content-Type', 'application/json').send('"text"');
    expect(response.body).toMatchObject({ reached: true, rawBody: '"text"' });
  });

  it('delivers a body in an unsupported charset, drained, with the status the framework chose', async () => {
    const response = await request(echo).post('/').set('Content-Type', 'application/json; charset=latin1').send('{}');
    expect(response.body).toMatchObject({ reached: true, rawBody: null, failure: { status: 415 } });
  });

  it('delivers a corrupt gzip body', async () => {
    const response = await request(echo)
      .post('/')
      .set('Content-Type', 'application/json')
      .set('Content-Encoding', 'gzip')
      .send('not gzip at all');
    expect(response.body).toMatchObject({ reached: true, rawBody: null, failure: { status: 400 } });
  });

  it('delivers a body in an unsupported content encoding', async () => {
    const response = await request(echo)
      .post('/')
      .set('Content-Type', 'application/json')
      .set('Content-Encoding', 'compress')
      .send('{}');
    expect(response.body).toMatchObject({ reached: true, rawBody: null, failure: { status: 415 } });
  });

  it('leaves readable bodies alone: a valid gzip body arrives inflated, with no failure', async () => {
    const response = await sendRaw(echo, 'POST', { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' }, gzipSync('{"a":1}'));
    expect(JSON.parse(response.text)).toEqual({ reached: true, rawBody: '{"a":1}', failure: null });
  });

  // Express apps built after registration share the patched final handler; these play the framework's middleware.
  let stdout: StdoutCapture;
  beforeEach(() => {
    stdout = captureStdout();
  });
  afterEach(() => stdout.restore());

  it('answers a framework failure that is not about the body with JSON 500, without its message or stack', async () => {
    const app = express();
    app.use((_req, _res, next) => next(new Error('secret internal detail')));
    const response = await request(app).get('/');
    expect(response.status).toBe(500);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.body).toEqual({
      success: false,
      error: `Internal error (internal_error, request id ${response.headers['x-request-id']})`,
      requestId: response.headers['x-request-id'],
    });
    expect(response.text).not.toContain('secret');
    expect((await stdout.lines()).map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({
        severity: 'ERROR',
        requestId: response.headers['x-request-id'],
        httpRequest: { requestMethod: 'GET', requestUrl: '/', status: 500 },
        outcome: 'failed',
        errorClass: 'internal_error',
        reason: 'secret internal detail',
      }),
    ]);
  });

  it('dispatches a body failure only once: failing again on the second pass gives JSON 500, not a loop', async () => {
    const app = express();
    let passes = 0;
    app.use((_req, _res, next) => {
      passes += 1;
      next(Object.assign(new Error('bad body'), { status: 400 }));
    });
    const response = await request(app).post('/').send('x');
    expect(passes).toBe(2);
    expect(response.status).toBe(500);
    expect(response.body).toMatchObject({ success: false, error: expect.stringContaining('internal_error') });
  });
});
