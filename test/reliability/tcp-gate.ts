/**
 * A TCP forwarder in front of a local server that can be shut, so that
 * connecting to it is refused (ECONNREFUSED: nothing listens on its port),
 * and opened again on the same port: a warehouse endpoint that goes away and
 * comes back, with the client configured once.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export class TcpGate {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly targetPort: number,
    private port: number,
  ) {}

  /** Opens a gate to `127.0.0.1:targetPort` on a free port. */
  static async open(targetPort: number): Promise<TcpGate> {
    const gate = new TcpGate(targetPort, 0);
    await gate.reopen();
    return gate;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Stops listening and cuts every forwarded connection. */
  async shut(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /** Listens again, on the same port once it has one. */
  async reopen(): Promise<void> {
    if (this.server) return;
    const server = createServer((client) => {
      const upstream = createConnection(this.targetPort, '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }
}
