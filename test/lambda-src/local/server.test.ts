/**
 * `startLocalServers` in-process, over an in-memory warehouse: both functions
 * at their root paths, and a stop that drains before closing the warehouse.
 */
import { createServer, type Server } from 'node:net';
import type { DeadLetterRoute } from '../../../lambda-src/dead-letter/dead-letter';
import { PubSubDeadLetterTopic } from '../../../lambda-src/dead-letter/pubsub';
import { banner, describeDeadLetters, startLocalServers, type LocalServers } from '../../../lambda-src/local/server';
import { PubSubStandIn } from '../../../tools/pubsub-standin';
import { RawConnection } from '../../../tools/raw-http-client';
import { capturingLogger } from '../../support/function-server';
import { MemoryWarehouse } from '../../support/memory-warehouse';

const SETTINGS = { maxBodyBytes: 1024 * 1024, projectId: undefined };
const RECORD = { id: '123', name: 'Sample Data', value: 45.67 };

async function start(warehouse = new MemoryWarehouse(), shutdownGraceMs?: number, deadLetters?: DeadLetterRoute) {
  const logger = capturingLogger();
  const servers = await startLocalServers({ warehouse, settings: SETTINGS, port: 0, pubsubPort: 0, host: '127.0.0.1', logger, shutdownGraceMs, deadLetters });
  return { warehouse, servers, lines: logger.lines };
}

const postJson = (url: string, body: unknown) =>
  fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

describe('startLocalServers', () => {
  let running: LocalServers | undefined;
  afterEach(async () => {
    await running?.stop();
    running = undefined;
  });

  it('serves the API and the push subscriber at their own root paths over one warehouse', async () => {
    const { servers, warehouse, lines } = await start();
    running = servers;
    expect(servers.apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(servers.subscriberUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(servers.subscriberUrl).not.toBe(servers.apiUrl);

    const ingest = await postJson(servers.apiUrl, { data: RECORD });
    expect(await ingest.text()).toBe('{"success":true,"message":"Data inserted successfully!"}');
    const data = Buffer.from(JSON.stringify({ data: { ...RECORD, id: '124' } })).toString('base64');
    const push = await postJson(servers.subscriberUrl, { message: { data, messageId: 'm-1' }, subscription: 's' });
    expect(push.status).toBe(200);

    expect(warehouse.committedRows.map((row) => row.id).sort()).toEqual(['123', '124']);
    expect(lines.map((line) => [line.function, line.event, line.outcome])).toEqual([
      ['api', 'ingest', 'success'],
      ['subscriber', 'push', 'success'],
    ]);
  });

  it('publishes poison to the dead-letter route it is given before acknowledging it, and closes the route on stop', async () => {
    const pubsub = await PubSubStandIn.start();
    try {
      const topic = 'projects/local-project/topics/ingest-dead-letter';
      pubsub.createTopic(topic);
      const route = new PubSubDeadLetterTopic({ topic, apiEndpoint: pubsub.url });
      let closed = 0;
      const close = route.close.bind(route);
      route.close = () => {
        closed += 1;
        close();
      };
      const { servers, lines } = await start(new MemoryWarehouse(), undefined, route);
      const poison = await postJson(servers.subscriberUrl, { message: { data: Buffer.from('{}').toString('base64'), messageId: 'm-2' }, subscription: 's' });
      expect(poison.status).toBe(202);
      expect(pubsub.published(topic)).toEqual([expect.objectContaining({ data: Buffer.from('{}'), attributes: expect.objectContaining({ deadLetterMessageId: 'm-2' }) })]);
      expect(lines[0]).toMatchObject({ outcome: 'rejected', deadLetterMessageId: pubsub.published(topic)[0]!.messageId });
      await servers.stop();
      expect(closed).toBe(1);
    } finally {
      await pubsub.stop();
    }
  });

  it('lets an in-flight request finish before closing the warehouse, then refuses connections', async () => {
    const { servers, warehouse } = await start();
    const committedWhenClosed: number[] = [];
    const close = warehouse.close.bind(warehouse);
    warehouse.close = () => {
      committedWhenClosed.push(warehouse.committedRows.length);
      return close();
    };
    const release = warehouse.hold();
    const inFlight = postJson(servers.apiUrl, { data: RECORD });
    await warehouse.insertCallsReached(1);
    const stopped = servers.stop();
    release();
    const [response] = await Promise.all([inFlight, stopped]);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('{"success":true,"message":"Data inserted successfully!"}');
    expect(committedWhenClosed[0]).toBe(1);
    await expect(postJson(servers.apiUrl, { data: RECORD })).rejects.toThrow();
    await expect(postJson(servers.subscriberUrl, {})).rejects.toThrow();
  });

  it('cuts a request that outlives the grace period, and still closes the warehouse', async () => {
    const { servers, warehouse } = await start(new MemoryWarehouse(), 0);
    const release = warehouse.hold();
    const inFlight = postJson(servers.apiUrl, { data: RECORD });
    await warehouse.insertCallsReached(1);
    await servers.stop();
    await expect(inFlight).rejects.toThrow();
    expect(warehouse.closeCalls).toBeGreaterThan(0);
    release();
  });

  it("answers what Node's HTTP parser refuses with our JSON on both servers", async () => {
    const { servers } = await start();
    running = servers;
    for (const url of [servers.apiUrl, servers.subscriberUrl]) {
      const { hostname, port } = new URL(url);
      const connection = await RawConnection.open(hostname, Number(port));
      connection.write('CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n');
      const answer = await connection.nextAnswer();
      expect([answer.status, JSON.parse(answer.body.toString('utf8'))]).toEqual([
        501,
        { success: false, error: 'Not implemented', details: [{ field: 'request', message: expect.stringMatching(/^CONNECT is not implemented/) }] },
      ]);
      connection.close();
    }
  });

  it('returns the same stop promise on every call', async () => {
    const { servers } = await start();
    expect(servers.stop()).toBe(servers.stop());
    await servers.stop();
  });

  it('rejects when a port is in use', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    try {
      await expect(
        startLocalServers({ warehouse: new MemoryWarehouse(), settings: SETTINGS, port: 0, pubsubPort: port, host: '127.0.0.1', logger: capturingLogger() }),
      ).rejects.toThrow(/EADDRINUSE/);
    } finally {
      blocker.close();
    }
  });
});

describe('banner', () => {
  it("prints both URLs, the warehouse and the seed's curl against the API", () => {
    const text = banner({ apiUrl: 'http://127.0.0.1:8080/', subscriberUrl: 'http://127.0.0.1:8081/' }, 'duckdb at .data/warehouse.duckdb', 'none');
    expect(text).toContain('api (POST /):        http://127.0.0.1:8080/');
    expect(text).toContain('subscriber (push):   http://127.0.0.1:8081/');
    expect(text).toContain('duckdb at .data/warehouse.duckdb');
    expect(text).toContain(`curl -X POST http://127.0.0.1:8080 -H "Content-Type: application/json" -d '{
      "data": {
        "id": "123",
        "name": "Sample Data",
        "value": 45.67
      }
    }'`);
    expect(text).toContain('curl -X POST http://127.0.0.1:8081');
  });

  it('shows how to read and update the record it suggests posting', () => {
    const text = banner({ apiUrl: 'http://127.0.0.1:8080/', subscriberUrl: 'http://127.0.0.1:8081/' }, 'duckdb', 'none');
    expect(text).toContain('curl http://127.0.0.1:8080/records/123\n');
    expect(text).toContain(`curl -X PUT http://127.0.0.1:8080/records/123 -H "Content-Type: application/json" -d '{"data": {"name": "Renamed", "value": 1.5}}'`);
    expect(text).toContain("curl 'http://127.0.0.1:8080/records?limit=10'");
  });

  it('says where poison goes: published to the dead-letter topic, or acknowledged and logged only', () => {
    const servers = { apiUrl: 'http://127.0.0.1:8080/', subscriberUrl: 'http://127.0.0.1:8081/' };
    const none = banner(servers, 'duckdb', describeDeadLetters(undefined));
    expect(none).toContain('dead letters:        none: poison is acknowledged and logged only (set DEAD_LETTER_TOPIC to publish it)\n');
    const topic = new PubSubDeadLetterTopic({ topic: 'projects/local-project/topics/ingest-dead-letter', apiEndpoint: 'localhost:8085' });
    expect(banner(servers, 'duckdb', describeDeadLetters(topic))).toContain(
      'dead letters:        poison is published to projects/local-project/topics/ingest-dead-letter at http://localhost:8085, then acknowledged\n',
    );
  });
});
