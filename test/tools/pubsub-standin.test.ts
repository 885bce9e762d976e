/**
 * The stand-in must answer like Pub/Sub's `topics.publish`, or the
 * dead-letter tests prove nothing: these talk to it over plain HTTP.
 */
import { PubSubStandIn } from '../../tools/pubsub-standin';

const TOPIC = 'projects/acme-ingest-dev/topics/records-dead-letter';

let standIn: PubSubStandIn;

beforeAll(async () => {
  standIn = await PubSubStandIn.start();
  standIn.createTopic(TOPIC);
});

afterAll(async () => {
  await standIn.stop();
});

async function publish(body: unknown, topic = TOPIC): Promise<{ status: number; body: any }> {
  const response = await fetch(`${standIn.url}/v1/${topic}:publish`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: 'Bearer t' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

test('stores each message with its data and attributes, and answers its id', async () => {
  const before = standIn.published().length;
  const answer = await publish({ messages: [{ data: Buffer.from('hi').toString('base64'), attributes: { a: '1' } }, { attributes: { only: 'attributes' } }] });
  expect(answer.status).toBe(200);
  expect(answer.body.messageIds).toHaveLength(2);
  expect(standIn.published(TOPIC).slice(before)).toEqual([
    { topic: TOPIC, messageId: answer.body.messageIds[0], data: Buffer.from('hi'), attributes: { a: '1' }, authorization: 'Bearer t' },
    { topic: TOPIC, messageId: answer.body.messageIds[1], data: Buffer.alloc(0), attributes: { only: 'attributes' }, authorization: 'Bearer t' },
  ]);
});

test.each([
  ['no messages', { messages: [] }],
  ['a message with neither data nor attributes', { messages: [{}] }],
  ['data that is not base64', { messages: [{ data: '***' }] }],
  ['an attribute that is not a string', { messages: [{ attributes: { a: 1 } }] }],
  ['an attribute value over 1024 bytes', { messages: [{ attributes: { a: 'é'.repeat(513) } }] }],
  ['an attribute key over 256 bytes', { messages: [{ attributes: { ['k'.repeat(257)]: 'v' } }] }],
  ['an attribute key starting with goog', { messages: [{ attributes: { googKey: 'v' } }] }],
  ['101 attributes', { messages: [{ attributes: Object.fromEntries(Array.from({ length: 101 }, (_, index) => [`k${index}`, 'v'])) }] }],
  ['a message id set by the publisher', { messages: [{ data: 'aGk=', messageId: '1' }] }],
  ['an attribute holding a lone surrogate', '{"messages":[{"attributes":{"a":"\\ud800"}}]}'],
  ['a body that is not JSON', '{'],
])('refuses %s with 400, storing nothing', async (_case, body) => {
  const before = standIn.published().length;
  expect((await publish(body)).status).toBe(400);
  expect(standIn.published()).toHaveLength(before);
});

test('answers 404 for a topic that does not exist', async () => {
  const answer = await publish({ messages: [{ data: 'aGk=' }] }, 'projects/acme-ingest-dev/topics/nowhere');
  expect(answer).toEqual({ status: 404, body: { error: expect.objectContaining({ code: 404, status: 'NOT_FOUND' }) } });
});

test('fails the next publishes as scripted, then stores again', async () => {
  const before = standIn.published().length;
  standIn.failNext({ kind: 'httpError', status: 503 }, { kind: 'destroySocket' });
  expect((await publish({ messages: [{ data: 'aGk=' }] })).status).toBe(503);
  await expect(publish({ messages: [{ data: 'aGk=' }] })).rejects.toThrow();
  expect((await publish({ messages: [{ data: 'aGk=' }] })).status).toBe(200);
  expect(standIn.published()).toHaveLength(before + 1);
});
