/**
 * A raw HTTP/1.1 client for the reliability tests: exact bytes, any method,
 * any (or no) Content-Type, over keep-alive connections to one server (the
 * raw-socket connection of test/support/raw-http-client.ts).
 * `fetch` and supertest cannot send some of what these tests need (no
 * Content-Type at all, a body that is not UTF-8, a body on GET), and
 * `node:http`'s client costs about as much CPU per request as the function
 * under test, which ten thousand fuzz inputs per entry point cannot afford.
 */
import { KeepAliveConnection } from '../../tools/raw-http-client';

export interface RawRequest {
  /** @default 'POST' */
  method?: string;
  /** Path and query. @default '/' */
  path?: string;
  /** Sent as given; no Content-Type is added. With `Transfer-Encoding: chunked` the body is sent as one chunk, else with its Content-Length. */
  headers?: Readonly<Record<string, string>>;
  body?: string | Uint8Array;
}

export interface RawReply {
  status: number;
  /** Lower-case names; a repeated header keeps its last value. */
  headers: Readonly<Record<string, string>>;
  text: string;
}

/** Writes `request` as the exact bytes it describes and reads the answer. */
async function sendRaw(connection: KeepAliveConnection, host: string, request: RawRequest): Promise<RawReply> {
  const method = request.method ?? 'POST';
  const body = request.body === undefined ? Buffer.alloc(0) : Buffer.from(request.body);
  const headers = Object.entries(request.headers ?? {});
  const chunked = headers.some(([name, value]) => name.toLowerCase() === 'transfer-encoding' && /chunked/i.test(value));
  const lines = [`${method} ${request.path ?? '/'} HTTP/1.1`, `Host: ${host}`, ...headers.map(([name, value]) => `${name}: ${value}`)];
  if (!chunked && (request.body !== undefined || method === 'POST' || method === 'PUT' || method === 'PATCH')) lines.push(`Content-Length: ${body.length}`);
  const payload = chunked ? Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]) : body;
  const answer = await connection.send(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), payload]), {
    bodiless: method === 'HEAD',
  });
  return { status: answer.status, headers: answer.headers, text: answer.body.toString('utf8') };
}

export class HttpTarget {
  private readonly hostname: string;
  private readonly port: number;
  private readonly idle: KeepAliveConnection[] = [];
  private readonly open = new Set<KeepAliveConnection>();

  constructor(baseUrl: string) {
    const url = new URL(baseUrl);
    this.hostname = url.hostname;
    this.port = Number(url.port);
  }

  /** Sends on an idle connection, or a new one: as many connections as requests in flight. */
  async send(request: RawRequest): Promise<RawReply> {
    const connection = this.idle.pop() ?? new KeepAliveConnection(this.hostname, this.port);
    this.open.add(connection);
    try {
      const reply = await sendRaw(connection, `${this.hostname}:${this.port}`, request);
      this.idle.push(connection);
      return reply;
    } catch (error) {
      connection.close();
      this.open.delete(connection);
      throw error;
    }
  }

  /** POSTs `body` as `application/json`. */
  postJson(body: unknown, headers: Readonly<Record<string, string>> = {}): Promise<RawReply> {
    return this.send({ headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });
  }

  close(): void {
    for (const connection of this.open) connection.close();
    this.open.clear();
    this.idle.length = 0;
  }
}

/** A Pub/Sub push delivery of `payload` (serialized as JSON unless already a string or bytes). */
export function pushDelivery(payload: unknown, messageId: string): Record<string, unknown> {
  const bytes = typeof payload === 'string' || payload instanceof Uint8Array ? payload : JSON.stringify(payload);
  return {
    message: { data: Buffer.from(bytes).toString('base64'), messageId, publishTime: '2026-01-02T03:04:05.678Z' },
    subscription: 'projects/demo/subscriptions/ingest-push',
  };
}

export { SEED_BODY, SEED_SUCCESS } from '../../tools/seed';
