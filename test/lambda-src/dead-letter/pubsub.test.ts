/** Dead letters published over Pub/Sub's REST API, to the local stand-in. */
import { createServer, type Server } from 'node:net';
import {
  deadLetterRouteFromEnv,
  emulatorEndpointFromEnv,
  GOOGLE_PUBSUB_ENDPOINT,
  PubSubDeadLetterTopic,
} from '../../../lambda-src/dead-letter/pubsub';
import { PubSubStandIn } from '../../../tools/pubsub-standin';

const TOPIC = 'projects/acme-ingest-dev/topics/records-dead-letter';
const LETTER = { data: Buffer.from('{"data":{"id":"1"}}'), attributes: { deadLetterReason: 'data.name: is required' } };

let standIn: PubSubStandIn;
const opened: PubSubDeadLetterTopic[] = [];

beforeAll(async () => {
  standIn = await PubSubStandIn.start();
  standIn.createTopic(TOPIC);
});

afterAll(async () => {
  for (const topic of opened) topic.close();
  await standIn.stop();
});

function topicAt(apiEndpoint: string, options: { topic?: string; timeoutMs?: number } = {}): PubSubDeadLetterTopic {
  const topic = new PubSubDeadLetterTopic({ topic: options.topic ?? TOPIC, apiEndpoint, timeoutMs: options.timeoutMs });
  opened.push(topic);
  return topic;
}

describe('PubSubDeadLetterTopic', () => {
  it('publishes the data byte for byte and the attributes, without credentials to an emulator, and answers the id', async () => {
    const before = standIn.published().length;
    const id = await topicAt(standIn.host).publish(LETTER);
    expect(standIn.published().slice(before)).toEqual([{ topic: TOPIC, messageId: id, data: LETTER.data, attributes: LETTER.attributes, authorization: undefined }]);
  });

  it('publishes a letter without data as attributes alone', async () => {
    const before = standIn.published().length;
    await topicAt(standIn.url).publish({ data: new Uint8Array(0), attributes: { deadLetterReason: 'no data' } });
    expect(standIn.published().slice(before)).toEqual([expect.objectContaining({ data: Buffer.alloc(0), attributes: { deadLetterReason: 'no data' } })]);
  });

  it('escapes the topic name into the URL path', async () => {
    const topic = 'projects/acme-ingest-dev/topics/records%2B~dead';
    standIn.createTopic(topic);
    await topicAt(standIn.url, { topic }).publish(LETTER);
    expect(standIn.published(topic)).toHaveLength(1);
  });

  it.each([
    ['an HTTP error', { kind: 'httpError', status: 403 } as const, /publishing to projects\/acme-ingest-dev\/topics\/records-dead-letter at http:\/\/127\.0\.0\.1:\d+ failed: HTTP 403: Scripted failure/],
    ['a dropped connection', { kind: 'destroySocket' } as const, /failed: socket hang up/],
  ])('rejects on %s, naming the topic and the failure', async (_case, failure, message) => {
    standIn.failNext(failure);
    await expect(topicAt(standIn.url).publish(LETTER)).rejects.toThrow(message);
  });

  it('rejects on a topic that does not exist', async () => {
    await expect(topicAt(standIn.url, { topic: 'projects/acme-ingest-dev/topics/nowhere' }).publish(LETTER)).rejects.toThrow(/HTTP 404/);
  });

  it('rejects when no answer comes within its timeout', async () => {
    const silent: Server = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as { port: number };
      await expect(topicAt(`127.0.0.1:${port}`, { timeoutMs: 50 }).publish(LETTER)).rejects.toThrow('no answer within 50 ms');
    } finally {
      silent.close();
    }
  });

  it('refuses a topic that is not a full topic name, and a bad timeout', () => {
    expect(() => new PubSubDeadLetterTopic({ topic: 'records-dead-letter' })).toThrow(/^topic must be a Pub\/Sub topic's full name, projects\/<project id>\/topics\/<topic name>/);
    expect(() => new PubSubDeadLetterTopic({ topic: TOPIC, timeoutMs: 0 })).toThrow('timeoutMs must be a positive number, got 0');
  });

  it("names Google's endpoint as its destination unless an emulator is given", () => {
    expect(new PubSubDeadLetterTopic({ topic: TOPIC }).destination).toBe(TOPIC);
    expect(topicAt('localhost:8085').destination).toBe(`${TOPIC} at http://localhost:8085`);
    expect(GOOGLE_PUBSUB_ENDPOINT).toBe('https://pubsub.googleapis.com');
  });
});

describe('deadLetterRouteFromEnv', () => {
  it('is undefined when DEAD_LETTER_TOPIC is unset or empty', () => {
    expect(deadLetterRouteFromEnv({})).toBeUndefined();
    expect(deadLetterRouteFromEnv({ DEAD_LETTER_TOPIC: ' ' })).toBeUndefined();
  });

  it('publishes to DEAD_LETTER_TOPIC through PUBSUB_EMULATOR_HOST', async () => {
    const route = deadLetterRouteFromEnv({ DEAD_LETTER_TOPIC: TOPIC, PUBSUB_EMULATOR_HOST: standIn.host })!;
    try {
      expect(route.destination).toBe(`${TOPIC} at ${standIn.url}`);
      const id = await route.publish(LETTER);
      expect(standIn.published().at(-1)).toMatchObject({ messageId: id, topic: TOPIC });
    } finally {
      route.close();
    }
  });

  it.each([
    [{ DEAD_LETTER_TOPIC: 'records-dead-letter' }, /^DEAD_LETTER_TOPIC must be a Pub\/Sub topic's full name.*, got "records-dead-letter"$/],
    [{ DEAD_LETTER_TOPIC: 'projects/acme/topics/dead' }, /^DEAD_LETTER_TOPIC must be/],
    [{ DEAD_LETTER_TOPIC: TOPIC, PUBSUB_EMULATOR_HOST: 'localhost:8085/v1' }, /^PUBSUB_EMULATOR_HOST must be host:port such as 127\.0\.0\.1:8085/],
    // Checked even without a topic: a typo there fails the deployment that has one.
    [{ PUBSUB_EMULATOR_HOST: 'ftp://localhost' }, /^PUBSUB_EMULATOR_HOST must be/],
  ])('refuses %j at load, naming the variable', (env, message) => {
    expect(() => deadLetterRouteFromEnv(env)).toThrow(message);
  });
});

describe('emulatorEndpointFromEnv', () => {
  it.each([
    ['localhost:8085', 'http://localhost:8085'],
    ['127.0.0.1:8085', 'http://127.0.0.1:8085'],
    ['http://[::1]:8085/', 'http://[::1]:8085'],
    ['https://pubsub.internal', 'https://pubsub.internal'],
  ])('reads %s as %s', (value, endpoint) => {
    expect(emulatorEndpointFromEnv({ PUBSUB_EMULATOR_HOST: value })).toBe(endpoint);
  });
});
