/**
 * The Pub/Sub push subscriber: a push subscription POSTs
 * `{"message":{"data":"<base64>","messageId":"...",...},"subscription":"..."}`
 * where `data` is the same JSON as `POST /` takes.
 *
 * Pub/Sub counts any answer but 102/200/201/202/204 as a nack and redelivers
 * with backoff until the subscription's `maxDeliveryAttempts`, then moves the
 * message to the dead-letter topic. So the status code decides what the
 * numbers say, not whether a message loops forever:
 * - committed -> 200 (ack);
 * - a malformed or invalid message -> 4xx (outcome `rejected`, logged with its
 *   messageId and reason): it can never succeed, it counts against the
 *   sender, not our availability, and the dead-letter topic keeps it;
 * - warehouse unavailable -> 503 (a retry may succeed);
 * - any other warehouse failure, including rows the warehouse refuses after
 *   our validation accepted them -> 500: the message is fine and the fault is
 *   ours (schema drift, permissions); it is retried, counted against
 *   availability and alerted on, and after the bounded attempts it waits in
 *   the dead-letter topic to be replayed once fixed, never silently dropped.
 *
 * Insert ids are `INSERT_IDS.pushMessage(messageId)`, so a redelivered
 * message stores nothing new, and no HTTP request can write a push message's
 * ids or the other way round.
 */
import type { FieldError } from '../record';
import { REQUEST_ERROR_CLASSES } from '../logging';
import { invalidInput, type Answer } from '../http/answer';
import { readJsonBody, refusedJson, tooLarge } from '../http/json-body';
import type { RouteHandler } from '../http/router';
import { parseJsonBytes } from '../http/safe-json';
import { parseIngestPayload } from './payload';
import { INSERT_IDS, storeRecords, type HandlerDependencies } from './store';

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
}

type EnvelopeResult = { ok: true; message: PushMessage; context: LogContext } | { ok: false; errors: FieldError[]; context: LogContext };

export function createPushHandler(deps: HandlerDependencies): RouteHandler {
  const envelopeLimit = pushEnvelopeLimit(deps.maxBodyBytes);
  return async (req, scope) => {
    const body = readJsonBody(req, envelopeLimit);
    if (!body.ok) return body.answer;
    const envelope = parsePushEnvelope(body.value);
    const withContext = (answer: Answer): Answer => ({ ...answer, logContext: envelope.context });
    if (!envelope.ok) return withContext(invalidInput(envelope.errors, REQUEST_ERROR_CLASSES.invalidMessage));

    const { messageId, data } = envelope.message;
    if (data.length > deps.maxBodyBytes) return withContext(tooLarge(deps.maxBodyBytes, 'message.data'));
    const parsed = parseJsonBytes(data, 'message.data');
    if (!parsed.ok) return withContext(refusedJson(parsed));
    const payload = parseIngestPayload(parsed.value);
    if (!payload.ok) return withContext(invalidInput(payload.errors, REQUEST_ERROR_CLASSES.invalidInput, payload.rows));
    return withContext(await storeRecords(payload.records, INSERT_IDS.pushMessage(messageId), deps, scope));
  };
}

/** Checks the push envelope; collects the log context (messageId, subscription, deliveryAttempt) even when invalid. */
export function parsePushEnvelope(value: unknown): EnvelopeResult {
  const context: LogContext = {};
  if (!isObject(value)) return { ok: false, errors: [{ field: 'body', message: 'must be a JSON object' }], context };
  if (typeof value.subscription === 'string') context.subscription = value.subscription.slice(0, MAX_LOGGED_SUBSCRIPTION_LENGTH);
  if (typeof value.deliveryAttempt === 'number') context.deliveryAttempt = value.deliveryAttempt;
  const message = value.message;
  if (!isObject(message)) {
    return { ok: false, errors: [{ field: 'message', message: message === undefined ? 'is required' : 'must be an object' }], context };
  }

  const messageId = validMessageId(message.messageId ?? message.message_id);
  const data = typeof message.data === 'string' && BASE64.test(message.data) ? message.data : undefined;
  const errors: FieldError[] = [];
  if (messageId === undefined) {
    errors.push({ field: 'message.messageId', message: `must be a non-empty string of at most ${MAX_MESSAGE_ID_LENGTH} characters` });
  } else {
    context.messageId = messageId;
  }
  if (data === undefined) {
    errors.push({ field: 'message.data', message: message.data === undefined ? 'is required' : 'must be a base64 string' });
  }
  if (messageId === undefined || data === undefined) return { ok: false, errors, context };
  return { ok: true, message: { messageId, data: Buffer.from(data, 'base64') }, context };
}

function validMessageId(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' && value.length <= MAX_MESSAGE_ID_LENGTH ? value : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
