/**
 * The Pub/Sub push subscriber: a push subscription POSTs
 * `{"message":{"data":"<base64>","messageId":"...",...},"subscription":"..."}`
 * where `data` is the same JSON as `POST /` takes.
 *
 * Pub/Sub acknowledges a message on 102, 200, 201, 202 or 204 and counts
 * anything else as a nack: it redelivers with backoff until the
 * subscription's `maxDeliveryAttempts`, then moves the message to the
 * dead-letter topic. So the status decides whether a message comes back:
 * - stored -> 200 (ack).
 * - poison, a delivery that no retry can store -> 202 (ack) once it is
 *   dead-lettered (below), nothing stored: a malformed envelope (not JSON,
 *   no message, a messageId that is missing, too long or not well-formed
 *   Unicode, data that is missing or not base64), data over the size limit,
 *   data that is not UTF-8 JSON within the shape limits, or not a valid
 *   payload. Nacking it would only bring it back until the attempts run
 *   out, each time as an error.
 * - poison that could not be dead-lettered -> 503 (nack), to come back.
 * - the warehouse failed -> 503 when a retry may succeed, else 500 (nack):
 *   the message is fine and the fault is ours (an outage, schema drift,
 *   permissions); it is retried, counted against availability and alerted
 *   on, and after the bounded attempts it waits in the dead-letter topic to
 *   be replayed once fixed.
 * Only a push delivery is acknowledged this way: a request that is not one
 * (another content type, method or path) gets its 4xx.
 *
 * Where poison goes: to the dead-letter topic (`deps.deadLetters`, from
 * `DEAD_LETTER_TOPIC`), beside what Pub/Sub dead-letters itself, and only
 * then is it acknowledged. The dead letter is the refused message as it came
 * (its data bytes and attributes; the request body as received when the
 * delivery held no readable message) plus attributes saying why
 * (`dead-letter/dead-letter.ts`), so the dead-letter alert sees it and its
 * runbook can replay it once the producer is fixed. A publish that fails is
 * answered 503 (nack, error class `dead_letter_unavailable`): Pub/Sub
 * redelivers, and after `maxDeliveryAttempts` moves the message to the
 * dead-letter topic itself. So poison is never dropped and never loops past
 * the bounded attempts. Without a dead-letter route (local runs without
 * `DEAD_LETTER_TOPIC`), poison is acknowledged at once.
 *
 * Either way its request log line records it: outcome `rejected` at
 * WARNING, whatever the 2xx status, an `errorClass` naming the kind of
 * poison (`invalid_message`, `invalid_json`, `json_too_complex`,
 * `invalid_input`, `payload_too_large`, `unreadable_body`), the reason, the
 * messageId, subscription, deliveryAttempt and publishTime, the dead
 * letter's id (`deadLetterMessageId`) when it was published, and the data's
 * size and SHA-256, with the data itself (base64) when it is at most
 * `MAX_LOGGED_POISON_DATA_BYTES`. And it is countable: 202 is the status
 * of poison and of nothing else, in these lines and in Cloud Run's own
 * `request_count` of the subscriber (`response_code` 202).
 *
 * Insert ids are `INSERT_IDS.pushMessage(messageId)`, so a redelivered
 * message stores nothing new, and no HTTP request can write a push
 * message's ids or the other way round.
 */
import { createHash } from 'node:crypto';
import { DEAD_LETTER_DATA, deadLetterOf, type DeadLetterData, type DeadLetterRoute } from '../dead-letter/dead-letter';
import { isStorableText, type FieldError } from '../record';
import { REQUEST_ERROR_CLASSES } from '../logging';
import { bounded, invalidInput, serverError, type Answer } from '../http/answer';
import { readJsonBody, refusedJson, tooLarge } from '../http/json-body';
import type { RequestScope, RouteHandler } from '../http/router';
import { JSON_SHAPE_LIMITS, parseJsonBytes, type JsonShapeLimits } from '../http/safe-json';
import { MAX_LOGGED_POISON_DATA_BYTES } from '../rules/limits';
import { parseIngestPayload } from './payload';
import { INSERT_IDS, RETRY_AFTER_SECONDS, storeRecords, type HandlerDependencies } from './store';

/** What the push handler needs: the handlers' dependencies, and where poison goes. */
export interface PushDependencies extends HandlerDependencies {
  /**
   * Where poison is published before it is acknowledged.
   * @default none: poison is acknowledged at once, its log line its only record
   */
  deadLetters?: DeadLetterRoute;
}

/**
 * Room for the envelope around the base64 data: up to 100 attributes of
 * 256-byte keys and 1024-byte values, ids, timestamps, subscription name.
 */
const PUSH_ENVELOPE_OVERHEAD_BYTES = 256 * 1024;
const MAX_MESSAGE_ID_LENGTH = 256;
/** `projects/<30>/subscriptions/<255>` fits; a longer value is not Pub/Sub's and only bloats the log. */
const MAX_LOGGED_SUBSCRIPTION_LENGTH = 320;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Largest push body whose decoded data can still be within `maxBodyBytes`. */
export function pushEnvelopeLimit(maxBodyBytes: number): number {
  return 4 * Math.ceil(maxBodyBytes / 3) + PUSH_ENVELOPE_OVERHEAD_BYTES;
}

type LogContext = Record<string, string | number>;

interface PushMessage {
  messageId: string;
  data: Buffer;
  /** As delivered; carried over to the message's dead letter. */
  attributes: unknown;
}

/** Of a delivery, what its dead letter carries: the message's data (or the request body) and attributes. */
interface Undeliverable {
  data: Uint8Array;
  source: DeadLetterData;
  attributes: unknown;
}

/**
 * `context`: what the log line says of the delivery (messageId, subscription,
 * deliveryAttempt), even when it is malformed. `message`, when malformed:
 * the message's data and attributes if its data is readable (absent or
 * base64), for its dead letter.
 */
type EnvelopeResult =
  | { ok: true; message: PushMessage; context: LogContext }
  | { ok: false; errors: FieldError[]; context: LogContext; message?: Omit<Undeliverable, 'source'> };

/** A delivery no retry can store: the refusal, its log context, and what its dead letter carries. */
interface Poison {
  refusal: Answer;
  context: LogContext;
  undeliverable: Undeliverable;
}

const UNSUPPORTED_MEDIA_TYPE = 415;
const NO_BYTES = new Uint8Array(0);

/** An envelope is not a payload: its base64 `data` string may be as long as the envelope. Its data is one, parsed with a payload's limits. */
function envelopeShapeLimits(envelopeLimit: number): JsonShapeLimits {
  return { ...JSON_SHAPE_LIMITS, stringBytes: envelopeLimit };
}

export function createPushHandler(deps: PushDependencies): RouteHandler {
  const envelopeLimit = pushEnvelopeLimit(deps.maxBodyBytes);
  const envelopeShape = envelopeShapeLimits(envelopeLimit);
  // Not `async`: without a dead-letter route, poison is answered without a promise (see `createRoutedFunction`).
  return (req, scope) => {
    const refuse = (poison: Poison) => routePoison(poison, deps.deadLetters, scope);
    const body = readJsonBody(req, envelopeLimit, envelopeShape);
    if (!body.ok) {
      if (body.answer.status === UNSUPPORTED_MEDIA_TYPE) return body.answer;
      return refuse({ refusal: body.answer, context: {}, undeliverable: requestBody(req.rawBody ?? NO_BYTES) });
    }
    const envelope = parsePushEnvelope(body.value);
    if (!envelope.ok) {
      const undeliverable = envelope.message === undefined ? requestBody(body.raw) : { ...envelope.message, source: DEAD_LETTER_DATA.message };
      return refuse({ refusal: invalidInput(envelope.errors, REQUEST_ERROR_CLASSES.invalidMessage), context: envelope.context, undeliverable });
    }

    const { messageId, data, attributes } = envelope.message;
    const poison = (refusal: Answer) =>
      refuse({ refusal, context: { ...envelope.context, ...dataContext(data) }, undeliverable: { data, source: DEAD_LETTER_DATA.message, attributes } });
    if (data.length > deps.maxBodyBytes) return poison(tooLarge(deps.maxBodyBytes, 'message.data'));
    const parsed = parseJsonBytes(data, 'message.data');
    if (!parsed.ok) return poison(refusedJson(parsed));
    const payload = parseIngestPayload(parsed.value);
    if (!payload.ok) return poison(invalidInput(payload.errors, REQUEST_ERROR_CLASSES.invalidInput, payload.rows));
    return storeRecords(payload.records, INSERT_IDS.pushMessage(messageId), deps, scope).then((answer) => ({
      ...answer,
      logContext: envelope.context,
    }));
  };
}

/** A delivery with no readable message: its dead letter carries the request body as received. */
function requestBody(raw: Uint8Array): Undeliverable {
  return { data: raw, source: DEAD_LETTER_DATA.requestBody, attributes: undefined };
}

/**
 * Poison's answer: published to `deadLetters`, then acknowledged (202, the
 * refusal's body and error class, the log context); nacked (503) when the
 * publish fails; acknowledged at once when there is no route.
 */
function routePoison(poison: Poison, deadLetters: DeadLetterRoute | undefined, scope: RequestScope): Answer | Promise<Answer> {
  const acknowledged = (context: LogContext): Answer => ({ ...poison.refusal, status: 202, logContext: context });
  if (deadLetters === undefined) return acknowledged(poison.context);
  const { refusal, context, undeliverable } = poison;
  const letter = deadLetterOf({
    ...undeliverable,
    reason: refusal.reason ?? '',
    errorClass: refusal.errorClass ?? '',
    requestId: scope.requestId,
    messageId: stringField(context.messageId),
    subscription: stringField(context.subscription),
    deliveryAttempt: typeof context.deliveryAttempt === 'number' ? context.deliveryAttempt : undefined,
    publishTime: stringField(context.publishTime),
  });
  return deadLetters.publish(letter).then(
    (deadLetterMessageId) => acknowledged({ ...context, deadLetterMessageId }),
    (error: unknown) => deadLetterUnavailable(poison, error, scope),
  );
}

/**
 * 503 for poison whose dead letter could not be published: Pub/Sub brings
 * it back. The log line says why the publish failed and why the message
 * was refused (`refusedAs`: the refusal's error class).
 */
function deadLetterUnavailable(poison: Poison, error: unknown, scope: RequestScope): Answer {
  const failure = error instanceof Error ? error.message : String(error);
  const answer = serverError(
    503,
    REQUEST_ERROR_CLASSES.deadLetterUnavailable,
    scope.requestId,
    `${failure}; the message was refused: ${poison.refusal.reason}`,
    poison.refusal.rows,
    { 'Retry-After': String(RETRY_AFTER_SECONDS) },
  );
  return { ...answer, logContext: { ...poison.context, refusedAs: poison.refusal.errorClass ?? '' } };
}

function stringField(value: string | number | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** The data of a poison message, for its log line: whole when small, else its size and hash to match it by. */
function dataContext(data: Buffer): LogContext {
  const context: LogContext = { messageDataBytes: data.length, messageDataSha256: createHash('sha256').update(data).digest('hex') };
  if (data.length <= MAX_LOGGED_POISON_DATA_BYTES) context.messageData = data.toString('base64');
  return context;
}

/** Checks the push envelope; collects the log context (messageId, subscription, deliveryAttempt, publishTime) even when invalid. */
function parsePushEnvelope(value: unknown): EnvelopeResult {
  const context: LogContext = {};
  if (!isObject(value)) return { ok: false, errors: [{ field: 'body', message: 'must be a JSON object' }], context };
  if (typeof value.subscription === 'string') context.subscription = value.subscription.slice(0, MAX_LOGGED_SUBSCRIPTION_LENGTH);
  if (typeof value.deliveryAttempt === 'number') context.deliveryAttempt = value.deliveryAttempt;
  const message = value.message;
  if (!isObject(message)) {
    return { ok: false, errors: [{ field: 'message', message: message === undefined ? 'is required' : 'must be an object' }], context };
  }
  const publishTime = message.publishTime ?? message.publish_time;
  if (typeof publishTime === 'string') context.publishTime = bounded(publishTime);

  const messageId = validMessageId(message.messageId ?? message.message_id);
  const data = typeof message.data === 'string' && BASE64.test(message.data) ? message.data : undefined;
  const attributes = message.attributes;
  const errors: FieldError[] = [];
  if (messageId === undefined) {
    errors.push({ field: 'message.messageId', message: `must be a non-empty string of at most ${MAX_MESSAGE_ID_LENGTH} characters of well-formed Unicode` });
  } else {
    context.messageId = messageId;
  }
  if (data === undefined) {
    errors.push({ field: 'message.data', message: message.data === undefined ? 'is required' : 'must be a base64 string' });
  }
  if (messageId === undefined || data === undefined) {
    // A message without data (Pub/Sub delivers one published with attributes only) is still a message to dead-letter as it is.
    const readable = data !== undefined || message.data === undefined;
    return { ok: false, errors, context, message: readable ? { data: data === undefined ? NO_BYTES : Buffer.from(data, 'base64'), attributes } : undefined };
  }
  return { ok: true, message: { messageId, data: Buffer.from(data, 'base64'), attributes }, context };
}

/** A messageId the warehouse can store as part of an insert id: a lone UTF-16 surrogate has no UTF-8 form. */
function validMessageId(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' && value.length <= MAX_MESSAGE_ID_LENGTH && isStorableText(value) ? value : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
