/**
 * HTTP/1.1 over a raw socket, for the benchmark's load generator and the
 * reliability and protocol tests. Callers write the request bytes themselves
 * (so they can send what `fetch` refuses: no Content-Type, a body on GET,
 * bytes that are not UTF-8, a malformed request line), and the answer is read
 * up to its `Content-Length`. `KeepAliveConnection` reconnects as needed;
 * `RawConnection` is one socket, and tells how the server ended it.
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

interface TakenAnswer {
  answer: RawAnswer;
  /** What was received after the answer. */
  rest: Buffer;
  /** The answer says `Connection: close`. */
  closesConnection: boolean;
}

/** The first whole answer in `received`, or undefined while it is incomplete; throws on an answer without Content-Length. */
function takeAnswer(received: Buffer, bodiless: boolean): TakenAnswer | undefined {
  const headerEnd = received.indexOf('\r\n\r\n');
  if (headerEnd < 0) return undefined;
  const head = received.toString('latin1', 0, headerEnd);
  const length = CONTENT_LENGTH.exec(head)?.[1];
  if (length === undefined) throw new Error(`answer without Content-Length: ${head.split('\r\n', 1)[0]}`);
  const bodyStart = headerEnd + 4;
  const answerEnd = bodyStart + (bodiless ? 0 : Number(length));
  if (received.length < answerEnd) return undefined;
  return {
    answer: new RawAnswer(Number(head.slice(9, 12)), head, received, bodyStart, answerEnd),
    rest: received.subarray(answerEnd),
    closesConnection: CONNECTION_CLOSE.test(head),
  };
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
    let taken: TakenAnswer | undefined;
    try {
      taken = takeAnswer(this.received, exchange.bodiless);
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    if (taken === undefined) return;
    this.received = taken.rest;
    if (taken.closesConnection) this.close();
    this.exchange = undefined;
    exchange.resolve(taken.answer);
  }

  private fail(error: Error): void {
    this.close();
    this.received = Buffer.alloc(0);
    const exchange = this.exchange;
    this.exchange = undefined;
    exchange?.reject(error);
  }
}

/** How the server ended a connection: a clean close (FIN) or a reset. */
export type ConnectionEnding = 'closed' | 'reset';

/**
 * One connection, never reopened: answers are read in order as they arrive,
 * and `ended` tells how the server ended the connection, so that a test can
 * tell a clean close from a reset.
 */
export class RawConnection {
  /** Settles once the connection is gone: `reset` if the server reset it, else `closed`. */
  readonly ended: Promise<ConnectionEnding>;
  private received: Buffer = Buffer.alloc(0);
  private waiting: (Exchange & { bodiless: boolean }) | undefined;
  private ending: ConnectionEnding | undefined;

  private constructor(private readonly socket: Socket) {
    this.ended = new Promise((resolve) => {
      socket.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'ECONNRESET') this.ending = 'reset';
      });
      socket.on('close', () => {
        this.ending ??= 'closed';
        this.failWaiting();
        resolve(this.ending);
      });
    });
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.deliver();
    });
    // The server's FIN: end our side too, as an HTTP client does once it has read the answer.
    socket.on('end', () => socket.end());
  }

  static open(host: string, port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port }, () => {
        socket.off('error', reject);
        resolve(new RawConnection(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Writes bytes as given: a whole request, part of one, or several. */
  write(bytes: string | Uint8Array): void {
    this.socket.write(bytes);
  }

  /** The next answer on this connection; rejects if the connection ends before it is whole. */
  nextAnswer(options?: SendOptions): Promise<RawAnswer> {
    return new Promise((resolve, reject) => {
      this.waiting = { bodiless: options?.bodiless ?? false, resolve, reject };
      this.deliver();
      if (this.ending !== undefined) this.failWaiting();
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private deliver(): void {
    const waiting = this.waiting;
    if (!waiting) return;
    let taken: TakenAnswer | undefined;
    try {
      taken = takeAnswer(this.received, waiting.bodiless);
    } catch (error) {
      this.waiting = undefined;
      waiting.reject(error as Error);
      return;
    }
    if (taken === undefined) return;
    this.received = taken.rest;
    this.waiting = undefined;
    waiting.resolve(taken.answer);
  }

  private failWaiting(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.reject(new Error(`connection ${this.ending} before the answer`));
  }
}
