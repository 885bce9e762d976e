/**
 * Graceful shutdown: `npm start` gets SIGTERM while requests to both entry
 * points are in flight, their rows held in the group-commit batcher
 * (`GROUP_COMMIT_LINGER_MS` keeps them there for seconds), and a keep-alive
 * connection is idle; a second signal follows. Every one of those requests
 * must still be answered 200, the idle connection closed cleanly, the
 * process must exit 0, and the DuckDB file must then hold each of their
 * records exactly once.
 */
import { request, type ClientRequest } from 'node:http';
import { pushDelivery, SEED_SUCCESS } from './http-client';
import { readStoredRows, startLocalProcess, type LocalProcess } from '../../tools/local-process';
import { RawConnection } from '../../tools/raw-http-client';

/** Far longer than sending the requests and the signal takes, so the rows are still pending at SIGTERM. */
const LINGER_MS = 1000;
const API_REQUESTS = 12;
const PUSH_REQUESTS = 4;

interface Pending {
  id: string;
  answer: Promise<{ status: number; text: string }>;
  answered: boolean;
}

/** POSTs on a connection of its own; `written` resolves once the whole request is handed to the kernel. */
function postAlone(url: string, body: string): { written: Promise<void>; answer: Promise<{ status: number; text: string }> } {
  let outgoing!: ClientRequest;
  const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
    outgoing = request(url, { method: 'POST', agent: false, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode!, text: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    outgoing.on('error', reject);
  });
  const written = new Promise<void>((resolve) => outgoing.end(body, resolve));
  return { written, answer };
}

let server: LocalProcess;

afterAll(async () => {
  await server?.cleanUp();
});

it('answers every in-flight request and commits its pending rows before exiting 0 on SIGTERM', async () => {
  server = await startLocalProcess({ GROUP_COMMIT_LINGER_MS: String(LINGER_MS) });
  const sends = [
    ...Array.from({ length: API_REQUESTS }, (_, index) => {
      const id = `api-${index}`;
      return { id, ...postAlone(server.apiUrl, JSON.stringify({ data: { id, name: 'drain', value: index } })) };
    }),
    ...Array.from({ length: PUSH_REQUESTS }, (_, index) => {
      const id = `push-${index}`;
      return { id, ...postAlone(server.subscriberUrl, JSON.stringify(pushDelivery({ data: { id, name: 'drain', value: index } }, id))) };
    }),
  ];
  await Promise.all(sends.map((send) => send.written));
  // Connections are accepted in order and readable sockets are read together: once a request sent
  // after all of them is answered, the server has read every one of them. Its connection then stays idle.
  const { hostname, port } = new URL(server.apiUrl);
  const idle = await RawConnection.open(hostname, Number(port));
  idle.write(`GET / HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`);
  const sentinel = await idle.nextAnswer();
  expect([sentinel.status, sentinel.headers.connection]).toEqual([405, 'keep-alive']);
  const pending: Pending[] = sends.map(({ id, answer }) => {
    const entry: Pending = { id, answer, answered: false };
    void answer.then(() => (entry.answered = true), () => undefined);
    return entry;
  });
  expect(pending.filter((entry) => entry.answered)).toEqual([]);

  server.child.kill('SIGTERM');
  // A signal while draining does not cut it short: a Ctrl-C under `npm start` arrives twice (from the terminal, and
  // forwarded by npm).
  server.child.kill('SIGINT');

  expect(await idle.ended).toBe('closed');
  const answers = await Promise.all(pending.map((entry) => entry.answer));
  expect(answers).toEqual(pending.map(() => ({ status: 200, text: SEED_SUCCESS })));
  expect(await server.exited).toBe(0);
  expect(server.stderr()).toContain('stopped cleanly');
  const storedIds = (await readStoredRows(server.databasePath)).map((row) => row.id).sort();
  expect(storedIds).toEqual(pending.map((entry) => entry.id).sort());
}, 30_000);
