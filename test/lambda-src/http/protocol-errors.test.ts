/**
 * What Node's HTTP layer would answer on its own, before any function runs
 * (a bare status line, or nothing at all for `CONNECT`), is our JSON error
 * body on the framework's server, with the right status, and the connection
 * then closes cleanly: the exact bytes go over a raw socket, one case per
 * refusal.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock } from '../../../lambda-src/clock';
import { createApiFunction } from '../../../lambda-src/handlers/api';
import { RawConnection, type RawAnswer } from '../../../tools/raw-http-client';
import { capturingLogger, serveFunction } from '../../support/function-server';
import { MemoryWarehouse } from '../../support/memory-warehouse';

let server: Server;
let connection: RawConnection;

beforeAll(async () => {
  server = serveFunction(
    createApiFunction({ warehouse: async () => new MemoryWarehouse(), maxBodyBytes: 1024, logger: capturingLogger(), clock: systemClock }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

beforeEach(async () => {
  connection = await RawConnection.open('127.0.0.1', (server.address() as AddressInfo).port);
});

afterEach(() => connection.close());

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** Our refusal: the fixed text, the reason in `details`, the headers every answer carries, then a clean close. */
async function expectRefusal(answer: RawAnswer, status: number, error: string, reason: RegExp): Promise<void> {
  expect(answer.status).toBe(status);
  expect(JSON.parse(answer.body.toString('utf8'))).toEqual({ success: false, error, details: [{ field: 'request', message: expect.stringMatching(reason) }] });
  expect(answer.headers).toMatchObject({
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(answer.body.length),
    'x-content-type-options': 'nosniff',
    'cache-control': 'no-store',
    'x-request-id': expect.stringMatching(/^[0-9a-f-]{36}$/),
    connection: 'close',
  });
  await expect(connection.ended).resolves.toBe('closed');
}

it('answers headers larger than the server accepts with 431', async () => {
  connection.write(`POST / HTTP/1.1\r\nHost: test\r\nX-Padding: ${'x'.repeat(64 * 1024)}\r\nContent-Length: 2\r\n\r\n{}`);
  await expectRefusal(await connection.nextAnswer(), 431, 'Request header fields too large', /larger than the server accepts/);
});

it('answers a malformed request line with 400', async () => {
  connection.write('GET / HTTP/1.1 trailing\r\nHost: test\r\n\r\n');
  await expectRefusal(await connection.nextAnswer(), 400, 'Bad request', /^malformed HTTP request: /);
});

it('answers an HTTP/1.1 request without Host with 400', async () => {
  connection.write('GET /records/1 HTTP/1.1\r\n\r\n');
  await expectRefusal(await connection.nextAnswer(), 400, 'Bad request', /must carry a Host header/);
});

it('answers a method the parser does not know with 501', async () => {
  connection.write('BREW / HTTP/1.1\r\nHost: test\r\n\r\n');
  await expectRefusal(await connection.nextAnswer(), 501, 'Not implemented', /^method "BREW" is not implemented$/);
});

it('answers CONNECT with 501 instead of dropping the connection, even to a client already sending the tunnel bytes', async () => {
  connection.write(`CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n${'\u0016'.repeat(256 * 1024)}`);
  await expectRefusal(await connection.nextAnswer(), 501, 'Not implemented', /^CONNECT is not implemented/);
});

it('answers an expectation other than 100-continue with 417', async () => {
  connection.write('POST / HTTP/1.1\r\nHost: test\r\nExpect: teapot\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
  await expectRefusal(await connection.nextAnswer(), 417, 'Expectation failed', /^Expect: teapot cannot be met/);
});

it('answers a parser error after a request on the same keep-alive connection', async () => {
  connection.write('GET /records/1 HTTP/1.1\r\nHost: test\r\n\r\n');
  expect((await connection.nextAnswer()).status).toBe(404);
  connection.write('GET / HTTP/1.1 trailing\r\nHost: test\r\n\r\n');
  await expectRefusal(await connection.nextAnswer(), 400, 'Bad request', /^malformed HTTP request: /);
});

it('serves an upgrade attempt as the request it is (no protocol switch), and the connection stays usable', async () => {
  connection.write('GET / HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
  const refused = await connection.nextAnswer();
  expect(refused.status).toBe(405);
  expect(refused.headers).toMatchObject({ 'content-type': 'application/json; charset=utf-8', allow: 'POST' });
  expect(JSON.parse(refused.body.toString('utf8'))).toMatchObject({ success: false, error: 'Method not allowed' });
  connection.write('GET /records/1 HTTP/1.1\r\nHost: test\r\n\r\n');
  expect((await connection.nextAnswer()).status).toBe(404);
});
