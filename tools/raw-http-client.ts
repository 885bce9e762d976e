/**
 * A keep-alive HTTP/1.1 connection over a raw socket, for the benchmark's load
 * generator and the reliability tests. Callers write the request bytes
 * themselves (so they can send what `fetch` refuses: no Content-Type, a body on
 * GET, bytes that are not UTF-8), and the answer is read up to its
 * `Content-Length`.
 *
 * It exists because `node:http`'s client costs about as much CPU per request
 * as the no-op function under test: on two cores, every cycle the client
 * spends is one the function does not get. So the read path does the least it
 * can: one header-block string and two regular expressions per answer, with
 * headers and body materialized only when a caller reads them (the load
 * generator reads neither).
 */
import { connect, type Socket } from 'node:net';

const CONTENT_LENGTH = /\r\ncontent-length: *(\d+)/i;
const CONNECTION_CLOSE = /\r\nconnection: *close/i;

/** One answer, read whole. */
export class RawAnswer {
  private parsedHeaders: Record<string, string> | undefined;

  constructor(
    readonly status: number,
    /** The status line and header lines, without the blank line that ends them. */
    private readonly head: string,
    private readonly received: Buffer,
    private readonly bodyStart: number,
    private readonly bodyEnd: number,
  ) {}

  /** Lower-case names; a repeated header keeps its last value. */
  get headers(): Readonly<Record<string, string>> {
    if (this.parsedHeaders) return this.parsedHeaders;
    const headers: Record<string, string> = {};
    for (const line of this.head.split('\r\n').slice(1)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    this.parsedHeaders = headers;
    return headers;
  }

  get body(): Buffer {
    return this.received.subarray(this.bodyStart, this.bodyEnd);
  }
}

export interface SendOptions {
  /** The answer carries a Content-Length but no body, as answers to HEAD do. @default false */
  bodiless?: boolean;
}

interface Exchange {
  bodiless: boolean;
  resolve(answer: RawAnswer): void;
  reject(error: Error): void;
}

/** One keep-alive connection, one request at a time; reconnects on the next send after the server closes it. */
export class KeepAliveConnection {
  private socket: Socket | undefined;
  private received: Buffer = Buffer.alloc(0);
  private exchange: Exchange | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  /**
   * Writes `request` (a whole HTTP/1.1 request: head, blank line, body) and resolves once the whole answer is
   * read; rejects on an answer without Content-Length or a connection closed before the answer.
   */
  send(request: string | Uint8Array, options?: SendOptions): Promise<RawAnswer> {
    // Not async: on an open connection, the one promise below is all a request costs.
    if (this.socket) return this.exchangeOn(this.socket, request, options);
    return this.open().then((socket) => this.exchangeOn(socket, request, options));
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private exchangeOn(socket: Socket, request: string | Uint8Array, options: SendOptions | undefined): Promise<RawAnswer> {
    return new Promise((resolve, reject) => {
      this.exchange = { bodiless: options?.bodiless ?? false, resolve, reject };
      socket.write(request);
    });
  }

  private open(): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: this.host, port: this.port }, () => {
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
    const exchange = this.exchange;
    if (!exchange) return;
    const headerEnd = this.received.indexOf('\r\n\r\n');
    if (headerEnd < 0) return;
    const head = this.received.toString('latin1', 0, headerEnd);
    const length = CONTENT_LENGTH.exec(head)?.[1];
    if (length === undefined) {
      this.fail(new Error(`answer without Content-Length: ${head.split('\r\n', 1)[0]}`));
      return;
    }
    const bodyStart = headerEnd + 4;
    const answerEnd = bodyStart + (exchange.bodiless ? 0 : Number(length));
    if (this.received.length < answerEnd) return;
    const answer = new RawAnswer(Number(head.slice(9, 12)), head, this.received, bodyStart, answerEnd);
    this.received = this.received.subarray(answerEnd);
    if (CONNECTION_CLOSE.test(head)) this.close();
    this.exchange = undefined;
    exchange.resolve(answer);
  }

  private fail(error: Error): void {
    this.close();
    this.received = Buffer.alloc(0);
    const exchange = this.exchange;
    this.exchange = undefined;
    exchange?.reject(error);
  }
}
