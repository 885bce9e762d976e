/**
 * Dead letters: messages the push subscriber can never store ("poison"),
 * sent to the pipeline's dead-letter topic beside those Pub/Sub itself moves
 * there after `maxDeliveryAttempts`. A dead letter is the refused message as
 * it came (its data bytes, its attributes) plus attributes saying why it was
 * refused, so whoever reads the dead-letter subscription can tell what went
 * wrong, fix the producer and republish, without the logs.
 *
 * `DeadLetterRoute` is the only thing the handlers know about where dead
 * letters go; `pubsub.ts` publishes them to a Pub/Sub topic.
 */
import { PUBSUB_MESSAGE_LIMITS } from '../rules/limits';

/**
 * The attributes the subscriber adds to a dead letter. (Pub/Sub adds its own
 * `CloudPubSubDeadLetter*` attributes to the messages it moves; those have
 * none of these.)
 */
export const DEAD_LETTER_ATTRIBUTES = {
  /** Why the message was refused: the fields at fault and what is wrong with each. */
  reason: 'deadLetterReason',
  /** The kind of refusal, as the subscriber's log line names it (`invalid_json`, `invalid_input`, …). */
  errorClass: 'deadLetterErrorClass',
  /** What the data is: one of {@link DEAD_LETTER_DATA}. */
  data: 'deadLetterData',
  /** The refused message's id, when it had a well-formed one. */
  messageId: 'deadLetterMessageId',
  /** The subscription that delivered it. */
  subscription: 'deadLetterSubscription',
  /** Pub/Sub's count of deliveries of the message, this one included. */
  deliveryAttempt: 'deadLetterDeliveryAttempt',
  /** When the message was first published. */
  publishTime: 'deadLetterPublishTime',
  /** The request id of the subscriber's log line for the delivery. */
  requestId: 'deadLetterRequestId',
  /** How many of the message's own attributes could not be carried over (malformed, or past Pub/Sub's limit of 100 with ours). */
  omittedAttributes: 'deadLetterOmittedAttributes',
} as const;

/** What a dead letter's data is: the values of its `deadLetterData` attribute. */
export const DEAD_LETTER_DATA = {
  /** The refused message's own data, byte for byte: republishing it reproduces the message. */
  message: 'message',
  /** The delivery held no readable message: the data is the request body as received. */
  requestBody: 'request-body',
} as const;

export type DeadLetterData = (typeof DEAD_LETTER_DATA)[keyof typeof DEAD_LETTER_DATA];

/** A message as it is published to the dead-letter topic. */
export interface DeadLetter {
  /** Published as the message's data, byte for byte. */
  readonly data: Uint8Array;
  readonly attributes: Readonly<Record<string, string>>;
}

/** Where dead letters go. */
export interface DeadLetterRoute {
  /** Where the letters land, for logs and the local banner (e.g. a topic's full name). */
  readonly destination: string;
  /**
   * Sends one letter; resolves with its id there once it is stored. Rejects,
   * with a message that says why, when it may not have arrived.
   */
  publish(letter: DeadLetter): Promise<string>;
  /** Closes idle connections; later publishes open new ones. */
  close(): void;
}

/** A delivery the subscriber refused, and why: what {@link deadLetterOf} makes a letter of. */
export interface RefusedDelivery {
  /** The refused message's data as decoded, or the request body as received when there was no readable message (see `source`). */
  readonly data: Uint8Array;
  readonly source: DeadLetterData;
  /** The message's `attributes`, as delivered (anything: a malformed delivery may hold anything there). */
  readonly attributes: unknown;
  readonly reason: string;
  readonly errorClass: string;
  readonly requestId: string;
  readonly messageId?: string;
  readonly subscription?: string;
  readonly deliveryAttempt?: number;
  readonly publishTime?: string;
}

const ELLIPSIS = '…';

/** `text` as well-formed Unicode, cut to at most `maxBytes` UTF-8 bytes at a character boundary, with an ellipsis when cut. */
function attributeText(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text.toWellFormed(), 'utf8');
  if (bytes.length <= maxBytes) return bytes.toString('utf8');
  let end = maxBytes - Buffer.byteLength(ELLIPSIS);
  // Back up to the first byte of a character: UTF-8 continuation bytes are 10xxxxxx.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end -= 1;
  return `${bytes.subarray(0, end).toString('utf8')}${ELLIPSIS}`;
}

/** A key and value Pub/Sub accepts as a message attribute as they are. */
function isPublishableAttribute(key: string, value: unknown): value is string {
  const limits = PUBSUB_MESSAGE_LIMITS;
  return (
    typeof value === 'string' &&
    key !== '' &&
    key.isWellFormed() &&
    value.isWellFormed() &&
    !key.startsWith(limits.reservedKeyPrefix) &&
    Buffer.byteLength(key) <= limits.attributeKeyBytes &&
    Buffer.byteLength(value) <= limits.attributeValueBytes
  );
}

/**
 * The dead letter of a refused delivery: its data as it came, the message's
 * own attributes (those Pub/Sub accepts, as many as fit beside ours), and
 * {@link DEAD_LETTER_ATTRIBUTES} saying why. Where a message attribute has
 * one of our keys, ours wins: it describes this refusal.
 */
export function deadLetterOf(refused: RefusedDelivery): DeadLetter {
  const ours: Record<string, string> = {};
  const add = (key: string, value: string | number | undefined) => {
    if (value !== undefined) ours[key] = attributeText(String(value), PUBSUB_MESSAGE_LIMITS.attributeValueBytes);
  };
  const names = DEAD_LETTER_ATTRIBUTES;
  add(names.reason, refused.reason);
  add(names.errorClass, refused.errorClass);
  add(names.data, refused.source);
  add(names.messageId, refused.messageId);
  add(names.subscription, refused.subscription);
  add(names.deliveryAttempt, refused.deliveryAttempt);
  add(names.publishTime, refused.publishTime);
  add(names.requestId, refused.requestId);

  const given = isObject(refused.attributes) ? Object.entries(refused.attributes) : [];
  const carried = given.filter(([key, value]) => isPublishableAttribute(key, value) && !(key in ours)) as [string, string][];
  const room = PUBSUB_MESSAGE_LIMITS.attributes - Object.keys(ours).length;
  // When any attribute is left behind, one place goes to saying how many.
  const kept = carried.length === given.length && carried.length <= room ? carried : carried.slice(0, room - 1);
  const omitted = given.length - kept.length;
  const attributes: Record<string, string> = { ...Object.fromEntries(kept), ...ours };
  if (omitted > 0) attributes[names.omittedAttributes] = String(omitted);
  return { data: refused.data, attributes };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
