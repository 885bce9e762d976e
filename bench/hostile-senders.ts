/**
 * The hostile clients of the hostile-bodies benchmark, in a process of their
 * own (as an attacker is on another machine): one connection at a time per
 * kind of worst-case JSON body, each of exactly the body limit, each sent
 * again as soon as it is answered (on a new connection: the server closes
 * the one whose body it refused unread). Started as
 * `node --import tsx bench/hostile-senders.ts <url> <bytes>`; says `sending`
 * as it starts, and on SIGTERM finishes the bodies in flight, prints its
 * tally as one JSON line and exits.
 */
import { hostileBodies } from '../tools/hostile-json';
import { KeepAliveConnection } from '../tools/raw-http-client';

/** What the senders saw. */
export interface HostileTally {
  sent: number;
  /** Answers with a status other than 400 (each body breaks a JSON shape limit). */
  notRefused: number;
  /** Requests that got no answer. */
  failures: number;
}

async function main(url: URL, bytes: number): Promise<void> {
  const tally: HostileTally = { sent: 0, notRefused: 0, failures: 0 };
  let stopped = false;
  process.once('SIGTERM', () => {
    stopped = true;
  });
  const requests = Object.values(hostileBodies(bytes)).map((body) =>
    Buffer.from(`POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`),
  );
  const connections = requests.map(() => new KeepAliveConnection(url.hostname, Number(url.port)));
  process.stdout.write('sending\n');
  await Promise.all(
    requests.map(async (request, index) => {
      const connection = connections[index]!;
      while (!stopped) {
        tally.sent += 1;
        try {
          if ((await connection.send(request)).status !== 400) tally.notRefused += 1;
        } catch {
          tally.failures += 1;
        }
      }
      connection.close();
    }),
  );
  process.stdout.write(`${JSON.stringify(tally)}\n`);
}

if (require.main === module) {
  const [url, bytes] = process.argv.slice(2);
  if (url === undefined || !/^\d+$/.test(bytes ?? '')) throw new Error('usage: hostile-senders.ts <url> <bytes>');
  if (new URL(url).hostname !== '127.0.0.1') throw new Error(`hostile senders only send to 127.0.0.1, got ${url}`);
  main(new URL(url), Number(bytes)).catch((error: unknown) => {
    process.stderr.write(`hostile senders failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}
