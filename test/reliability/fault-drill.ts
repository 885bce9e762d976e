/**
 * What the fault tests do to both entry points, whatever the warehouse: send
 * one record under a retry key (the API's `Idempotency-Key`, the push
 * message's `messageId`), check a failure answer, and retry the way clients
 * and Pub/Sub do until the record is acknowledged.
 */
import type { RunningFunctions } from './functions';
import { pushDelivery, SEED_SUCCESS, type RawReply } from './http-client';

export type EntryPoint = 'api' | 'subscriber';
export const ENTRY_POINTS: readonly EntryPoint[] = ['api', 'subscriber'];

export const recordOf = (id: string) => ({ id, name: `record ${id}`, value: id.length + 0.5 });

/** The record `id`, sent with `id` as its retry key: a client's retry or a Pub/Sub redelivery sends exactly this again. */
export function sendRecord(functions: RunningFunctions, entryPoint: EntryPoint, id: string): Promise<RawReply> {
  return entryPoint === 'api'
    ? functions.api.postJson({ data: recordOf(id) }, { 'Idempotency-Key': id })
    : functions.subscriber.postJson(pushDelivery({ data: recordOf(id) }, id));
}

/** A failure answer: our JSON, the class and request id to quote, no internals, `Retry-After` exactly when retrying may help. */
export function expectFailure(reply: RawReply, status: 500 | 503, errorClass: string, internalDetail?: string): void {
  expect(reply.status).toBe(status);
  const body = JSON.parse(reply.text);
  const requestId = reply.headers['x-request-id'];
  expect(body).toEqual({ success: false, error: expect.stringContaining(`(${errorClass}, request id ${requestId})`), requestId });
  expect(reply.headers['retry-after']).toBe(status === 503 ? '1' : undefined);
  if (internalDetail !== undefined) expect(reply.text).not.toContain(internalDetail);
}

export function expectStored(reply: RawReply): void {
  expect([reply.status, reply.text]).toEqual([200, SEED_SUCCESS]);
}

export interface RetryOutcome {
  /** Answers before the 200, by status. */
  failures: number[];
}

/**
 * Sends the record until it is acknowledged, as a client honouring 5xx
 * retries (and Pub/Sub redelivering a nack) would; `isStored` is checked
 * after every 2xx, so an acknowledgement for a record that is not stored
 * fails at once. Any 4xx fails: these records are valid.
 */
export async function retryUntilStored(
  functions: RunningFunctions,
  entryPoint: EntryPoint,
  id: string,
  isStored: (id: string) => Promise<boolean>,
  maxAttempts = 20,
): Promise<RetryOutcome> {
  const failures: number[] = [];
  for (let attempt = 0; attempt < maxAttempts; attempt += 1) {
    const reply = await sendRecord(functions, entryPoint, id);
    if (reply.status >= 200 && reply.status < 300) {
      if (!(await isStored(id))) throw new Error(`${entryPoint} acknowledged ${id} (${reply.status}) but it is not stored`);
      return { failures };
    }
    if (reply.status < 500) throw new Error(`${entryPoint} refused valid record ${id}: ${reply.status} ${reply.text}`);
    failures.push(reply.status);
  }
  throw new Error(`${id} still not stored after ${maxAttempts} attempts: ${failures.join(', ')}`);
}

export async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let attempt = 0; attempt < 400; attempt += 1) {
    if (await condition()) return;
    await new Promise((wake) => setTimeout(wake, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export interface LoadAnswer {
  id: string;
  status: number;
  /** Milliseconds from sending to the answer. */
  latencyMs: number;
}

export interface LoadRun {
  answers: LoadAnswer[];
  /** Milliseconds from the first send to the last answer. */
  elapsedMs: number;
}

/**
 * Sends each id once through `clients` concurrent senders, each sending its
 * next record as soon as the previous one is answered (a closed loop, as a
 * fleet of producers does): what the answers were, and how long it all took.
 */
export async function closedLoop(ids: readonly string[], clients: number, send: (id: string) => Promise<RawReply>): Promise<LoadRun> {
  const answers: LoadAnswer[] = [];
  let next = 0;
  const startedAt = performance.now();
  const client = async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      const sentAt = performance.now();
      const reply = await send(id);
      answers.push({ id, status: reply.status, latencyMs: performance.now() - sentAt });
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
  return { answers, elapsedMs: performance.now() - startedAt };
}

/**
 * Sends each id once, one every `intervalMs` whatever the answers (an open
 * loop: new requests keep arriving while earlier ones wait), and waits for
 * every answer.
 */
export async function openLoop(ids: readonly string[], intervalMs: number, send: (id: string) => Promise<RawReply>): Promise<LoadRun> {
  const answers: LoadAnswer[] = [];
  const startedAt = performance.now();
  const sent: Promise<void>[] = [];
  for (const [index, id] of ids.entries()) {
    const wait = startedAt + index * intervalMs - performance.now();
    if (wait >= 1) await new Promise((wake) => setTimeout(wake, wait));
    const sentAt = performance.now();
    sent.push(send(id).then((reply) => void answers.push({ id, status: reply.status, latencyMs: performance.now() - sentAt })));
  }
  await Promise.all(sent);
  return { answers, elapsedMs: performance.now() - startedAt };
}
