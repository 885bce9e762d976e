/**
 * A raw HTTP/1.1 client for the reliability tests: exact bytes, any method,
 * any (or no) Content-Type, over keep-alive connections to one server.
 * `fetch` and supertest cannot send some of what these tests need (no
 * Content-Type at all, a body that is not UTF-8, a body on GET), and
 * `node:http`'s client costs about as much CPU per request as the function
 * under test, which ten thousand fuzz inputs per entry point cannot afford.
 */
import { connect, type Socket } from 'node:net';

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

interface Exchange {
  /** HEAD answers carry a Content-Length but no body. */
  head: boolean;
  resolve(reply: RawReply): void;
  reject(error: Error): void;
}

/** One keep-alive connection, one request at a time; reconnects after the server closes it. */
class Connection {
  private socket: Socket | undefined;
  private received: Buffer = Buffer.alloc(0);
  private exchange: Exchange | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  async send(request: RawRequest): Promise<RawReply> {
    const socket = this.socket ?? (await this.open());
    const method = request.method ?? 'POST';
    const body = request.body === undefined ? Buffer.alloc(0) : Buffer.from(request.body);
    const headers = Object.entries(request.headers ?? {});
    const chunked = headers.some(([name, value]) => name.toLowerCase() === 'transfer-encoding' && /chunked/i.test(value));
    const lines = [`${method} ${request.path ?? '/'} HTTP/1.1`, `Host: ${this.host}:${this.port}`, ...headers.map(([name, value]) => `${name}: ${value}`)];
    if (!chunked && (request.body !== undefined || method === 'POST' || method === 'PUT' || method === 'PATCH')) lines.push(`Content-Length: ${body.length}`);
    const payload = chunked ? Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]) : body;
    return new Promise((resolve, reject) => {
      this.exchange = { head: method === 'HEAD', resolve, reject };
      socket.write(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), payload]));
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private open(): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: this.host, port: this.port }, () => {
        socket.off('error', reject);
        socket.setNoDelay(true);
        // A socket already given up on may still report its end; only the current one counts.
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
    if (headerEnd < 0 || !this.exchange) return;
    const [statusLine, ...headerLines] = this.received.toString('latin1', 0, headerEnd).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of headerLines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    if (headers['content-length'] === undefined) {
      this.fail(new Error(`answer without Content-Length: ${statusLine}`));
      return;
    }
    const bodyLength = this.exchange.head ? 0 : Number(headers['content-length']);
    const answerEnd = headerEnd + 4 + bodyLength;
    if (this.received.length < answerEnd) return;
    const text = this.received.toString('utf8', headerEnd + 4, answerEnd);
    this.received = this.received.subarray(answerEnd);
    if (/close/i.test(headers.connection ?? '')) this.close();
    const exchange = this.exchange;
    this.exchange = undefined;
    exchange.resolve({ status: Number(statusLine!.split(' ')[1]), headers, text });
  }

  private fail(error: Error): void {
    this.close();
    this.received = Buffer.alloc(0);
    const exchange = this.exchange;
    this.exchange = undefined;
    exchange?.reject(error);
  }
}

export class HttpTarget {
  private readonly host: string;
  private readonly port: number;
  private readonly idle: Connection[] = [];
  private readonly open = new Set<Connection>();

  constructor(baseUrl: string) {
    const url = new URL(baseUrl);
    this.host = url.hostname;
    this.port = Number(url.port);
  }

  /** Sends on an idle connection, or a new one: as many connections as requests in flight. */
  async send(request: RawRequest): Promise<RawReply> {
    const connection = this.idle.pop() ?? new Connection(this.host, this.port);
    this.open.add(connection);
    try {
      const reply = await connection.send(request);
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

/** The seed README's curl body, byte for byte. */
export const SEED_BODY = `{
      "data": {
        "id": "123",
        "name": "Sample Data",
        "value": 45.67
      }
    }`;

/** The seed's success answer, byte for byte. */
export const SEED_SUCCESS = '{"success":true,"message":"Data inserted successfully!"}';
