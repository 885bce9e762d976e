/**
 * Crash safety: `npm start` under concurrent load at both entry points (single
 * records and batches of five, every record id unique) is killed with
 * SIGKILL while requests are in flight. Reopened, the DuckDB file must hold
 * every record that was acknowledged with a 200, each once, nothing that was
 * never sent, and no half of a batch: an unacknowledged batch is wholly there
 * or wholly absent.
 */
import { Agent, request } from 'node:http';
import { pushDelivery } from './http-client';
import { readStoredRows, startLocalProcess, type LocalProcess } from '../../tools/local-process';

const API_CONNECTIONS = 24;
const PUSH_CONNECTIONS = 8;
const BATCH_SIZE = 5;
/** Kill once this many requests were acknowledged... */
const ACKNOWLEDGED_BEFORE_KILL = 300;
/** ...or after this long, whichever comes first. */
const MAX_LOAD_MS = 20_000;

interface Sent {
  ids: string[];
  /** Undefined until answered; never set when the connection died first. */
  status?: number;
}

function post(agent: Agent, url: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const outgoing = request(url, { method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode!));
      response.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

let server: LocalProcess;

afterAll(async () => {
  await server?.cleanUp();
});

it('keeps every acknowledged record, and no half batch, across a SIGKILL mid-flight', async () => {
  server = await startLocalProcess();
  const agent = new Agent({ keepAlive: true, maxSockets: API_CONNECTIONS + PUSH_CONNECTIONS });
  const sent: Sent[] = [];
  let acknowledged = 0;
  let inFlight = 0;
  let killed = false;
  let reachedTarget!: () => void;
  const target = new Promise<void>((resolve) => (reachedTarget = resolve));

  const connection = async (name: string, push: boolean) => {
    for (let sequence = 0; !killed; sequence += 1) {
      const batch = !push && sequence % 4 === 3;
      const ids = batch ? Array.from({ length: BATCH_SIZE }, (_, index) => `${name}-${sequence}-${index}`) : [`${name}-${sequence}`];
      const records = ids.map((id) => ({ id, name: 'crash', value: sequence }));
      const entry: Sent = { ids };
      sent.push(entry);
      const payload = { data: batch ? records : records[0] };
      inFlight += 1;
      try {
        entry.status = push
          ? await post(agent, server.subscriberUrl, JSON.stringify(pushDelivery(payload, ids[0]!)))
          : await post(agent, server.apiUrl, JSON.stringify(payload));
      } catch {
        return; // The connection died with the server: the outcome is unknown to the client.
      } finally {
        inFlight -= 1;
      }
      if (entry.status === 200 && (acknowledged += 1) >= ACKNOWLEDGED_BEFORE_KILL) reachedTarget();
    }
  };
  const load = Promise.all([
    ...Array.from({ length: API_CONNECTIONS }, (_, index) => connection(`api${index}`, false)),
    ...Array.from({ length: PUSH_CONNECTIONS }, (_, index) => connection(`push${index}`, true)),
  ]);
  const timer = setTimeout(reachedTarget, MAX_LOAD_MS);
  await target;
  clearTimeout(timer);
  const inFlightAtKill = inFlight;
  server.child.kill('SIGKILL');
  killed = true;
  expect(await server.exited).toBeNull();
  await load;
  agent.destroy();

  expect(inFlightAtKill).toBeGreaterThan(0);
  expect(acknowledged).toBeGreaterThan(0);
  // Until the kill, the server answered nothing but 200.
  expect(sent.filter((entry) => entry.status !== undefined && entry.status !== 200)).toEqual([]);

  const rows = await readStoredRows(server.databasePath);
  const storedIds = rows.map((row) => row.id);
  const stored = new Set(storedIds);
  expect(storedIds.length).toBe(stored.size);
  const sentIds = new Set(sent.flatMap((entry) => entry.ids));
  expect(storedIds.filter((id) => !sentIds.has(id))).toEqual([]);
  const lost = sent.filter((entry) => entry.status === 200).flatMap((entry) => entry.ids.filter((id) => !stored.has(id)));
  expect(lost).toEqual([]);
  const halfBatches = sent.filter((entry) => {
    const present = entry.ids.filter((id) => stored.has(id)).length;
    return present !== 0 && present !== entry.ids.length;
  });
  expect(halfBatches).toEqual([]);
  const recordsAcknowledged = sent.filter((entry) => entry.status === 200).reduce((sum, entry) => sum + entry.ids.length, 0);
  process.stderr.write(
    `crash: ${acknowledged} requests (${recordsAcknowledged} records) acknowledged, ${inFlightAtKill} in flight at SIGKILL, ${stored.size} records in the file, 0 lost\n`,
  );
}, 60_000);
