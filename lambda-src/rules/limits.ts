/**
 * Limits the runtime enforces and the constructs and stacks check at synth,
 * so a configuration that synthesizes is one the functions accept at load.
 * A function setting is an {@link IntegerSetting}: the runtime reads it with
 * {@link integerFromEnv}, and synth checks a value, given as a number or as
 * the variable's text, with {@link integerProblem} and
 * {@link integerTextProblem}; the three share one rule and one message.
 */

import { DAY_MS, HOUR_SECONDS } from './durations';

const MIB = 1024 * 1024;

/** A whole-number setting of a function, read from an environment variable. */
export interface IntegerSetting {
  /** The environment variable the function reads it from. */
  readonly variable: string;
  /** Smallest value accepted. */
  readonly min: number;
  /** Largest value accepted. */
  readonly max: number;
  /**
   * The value when the variable is unset or empty.
   * @default none: the caller decides
   */
  readonly default?: number;
}

/** Records in one request or Pub/Sub message, and rows in one warehouse insert: BigQuery's recommended insertAll ceiling. */
export const MAX_RECORDS_PER_INSERT = 500;

/** Bytes of row JSON in one warehouse insert: half of BigQuery's 10 MB insertAll limit, leaving room for the client's per-row envelope. */
export const MAX_INSERT_BYTES = 5_000_000;

/**
 * Largest request body (and decoded push data) a function accepts. A full
 * request must fit one insert ({@link MAX_INSERT_BYTES}) with room for the
 * insert id and timestamp added to each row.
 */
export const MAX_BODY_BYTES = { variable: 'MAX_BODY_BYTES', min: 1, max: 4 * MIB, default: MIB } as const satisfies IntegerSetting;

/**
 * How far back a read looks when the client names no `since`, in hours. A
 * year at most: a default window longer than that is surely a typo, and a
 * read meant to reach further names its `since`.
 */
export const READ_WINDOW_HOURS = { variable: 'READ_WINDOW_HOURS', min: 1, max: 24 * 365, default: 24 } as const satisfies IntegerSetting;

/**
 * Most bytes one BigQuery read query may bill. BigQuery bills at least
 * 10 MiB per table a query reads, so a lower cap would refuse every read.
 * The default, 1 GiB, is about $0.006 on demand, and room for a read window
 * of roughly ten million short rows (see docs/reads.md).
 */
export const READ_MAX_BYTES_BILLED = {
  variable: 'BIGQUERY_MAX_BYTES_BILLED',
  min: 10 * MIB,
  max: Number.MAX_SAFE_INTEGER,
  default: 1024 * MIB,
} as const satisfies IntegerSetting;

/**
 * How long the group-commit batcher holds the first queued row for company,
 * in milliseconds; unset leaves the warehouse's own default. A linger of a
 * minute already makes every request slow: more is surely a typo.
 */
export const GROUP_COMMIT_LINGER_MS = { variable: 'GROUP_COMMIT_LINGER_MS', min: 0, max: 60_000 } as const satisfies IntegerSetting;

/** The longest Cloud Run lets a function run one request: the largest request timeout it takes, in seconds. */
export const MAX_REQUEST_TIMEOUT_SECONDS = HOUR_SECONDS;

/**
 * How long the group-commit batcher may keep retrying a request's rows
 * against a failing warehouse before the request answers 503, in
 * milliseconds; unset leaves the batcher's default. At most
 * {@link MAX_REQUEST_TIMEOUT_SECONDS}: a deadline past it would never be
 * reached.
 */
export const GROUP_COMMIT_DEADLINE_MS = {
  variable: 'GROUP_COMMIT_DEADLINE_MS',
  min: 1,
  max: MAX_REQUEST_TIMEOUT_SECONDS * 1000,
} as const satisfies IntegerSetting;

/** Every integer setting a function reads, for the checks that cover them all. */
export const INTEGER_SETTINGS: readonly IntegerSetting[] = [
  MAX_BODY_BYTES,
  READ_WINDOW_HOURS,
  READ_MAX_BYTES_BILLED,
  GROUP_COMMIT_LINGER_MS,
  GROUP_COMMIT_DEADLINE_MS,
];

/** Longest record `id`, in characters (the BigQuery column's `maxLength` too). */
export const ID_MAX_LENGTH = 256;
/** Longest record `name`, in characters. */
export const NAME_MAX_LENGTH = 1024;

/** An inclusive range of whole numbers. */
export interface IntegerRange {
  readonly min: number;
  readonly max: number;
}

const rangeRule = ({ min, max }: IntegerRange): string => `must be an integer from ${min} to ${max}`;

/** Why `value` is not an integer in `range` (to follow the setting's name), or undefined when it is. */
export function integerProblem(value: unknown, range: IntegerRange): string | undefined {
  if (typeof value === 'number' && Number.isInteger(value) && value >= range.min && value <= range.max) return undefined;
  return `${rangeRule(range)}, got ${JSON.stringify(value)}`;
}

/** Digits, perhaps padded with spaces: the only text a setting's variable may hold. */
const WHOLE_NUMBER_TEXT = /^\s*\d+\s*$/;

/** Why `raw`, the text of `setting`'s variable, is refused (to follow the variable's name), or undefined when it is accepted. */
export function integerTextProblem(raw: string, setting: IntegerSetting): string | undefined {
  const value = Number(raw);
  if (WHOLE_NUMBER_TEXT.test(raw) && value >= setting.min && value <= setting.max) return undefined;
  return `${rangeRule(setting)}, got ${JSON.stringify(raw)}`;
}

/**
 * Reads `setting` from `env`: its default when the variable is unset or
 * empty, else the number it holds. Anything else throws, naming the variable.
 */
export function integerFromEnv<S extends IntegerSetting>(
  env: Readonly<Record<string, string | undefined>>,
  setting: S,
): S extends { readonly default: number } ? number : number | undefined;
export function integerFromEnv(env: Readonly<Record<string, string | undefined>>, setting: IntegerSetting): number | undefined {
  const raw = env[setting.variable];
  if (raw === undefined || raw.trim() === '') return setting.default;
  const problem = integerTextProblem(raw, setting);
  if (problem !== undefined) throw new Error(`${setting.variable} ${problem}`);
  return Number(raw);
}

/**
 * The shape of a JSON body (a request's, or a push message's data), checked
 * by a linear scan before it is parsed, so a hostile body is refused in time
 * proportional to its bytes. The largest valid payload, 500 records of three
 * fields (`{"data":[{...},...]}`), nests 3 deep with 500 array elements and
 * 1501 object keys; a push envelope nests 3 deep with up to 100 attribute
 * keys. The limits leave several times that room.
 */
export const MAX_JSON_DEPTH = 16;
/** Array elements in one body, all arrays together. */
export const MAX_JSON_ARRAY_ELEMENTS = 10_000;
/** Object keys in one body, all objects together. */
export const MAX_JSON_OBJECT_KEYS = 10_000;
/**
 * Bytes of one string in a body, between its quotes as sent. The longest
 * string of a valid payload is a 1024-character name: 6 KiB even if every
 * character is sent as a `\u` escape. A push envelope's base64 data is not
 * a payload and has no such limit.
 */
export const MAX_JSON_STRING_BYTES = 16 * 1024;

/**
 * How long, and how many, `Idempotency-Key`s one API instance remembers
 * (see handlers/idempotency.ts for what remembering buys and what it
 * cannot). A day, as clients retry within minutes and hours; ten thousand
 * keys of at most 255 characters and their answers are a few megabytes.
 */
export const IDEMPOTENCY_KEY_TTL_MS = DAY_MS;
export const MAX_REMEMBERED_IDEMPOTENCY_KEYS = 10_000;

/**
 * Largest push message data (decoded bytes) an acknowledged poison message's
 * log line carries whole, as base64: every single record and batches of
 * about a hundred, while the line stays far below Cloud Logging's 256 KB
 * entry limit. Larger data is logged by size and SHA-256 only.
 */
export const MAX_LOGGED_POISON_DATA_BYTES = 16 * 1024;

/**
 * What Pub/Sub accepts in one published message
 * (https://cloud.google.com/pubsub/quotas#resource_limits): at most 100
 * attributes, each key at most 256 UTF-8 bytes and not starting with
 * `goog`, each value at most 1024 bytes. A dead letter carries the refused
 * message's attributes and the subscriber's own within these.
 */
export const PUBSUB_MESSAGE_LIMITS = {
  attributes: 100,
  attributeKeyBytes: 256,
  attributeValueBytes: 1024,
  reservedKeyPrefix: 'goog',
} as const;
