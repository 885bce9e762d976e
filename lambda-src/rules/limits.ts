/**
 * Limits the runtime enforces and the constructs and stacks check at synth,
 * so a configuration that synthesizes is one the functions accept at load.
 */

/** How far back a read looks when the client names no `since`, in hours (`READ_WINDOW_HOURS`). */
export const DEFAULT_READ_WINDOW_HOURS = 24;
/** A year: a default window longer than that is surely a typo, and a read meant to reach further names its `since`. */
export const MAX_READ_WINDOW_HOURS = 24 * 365;

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
export const IDEMPOTENCY_KEY_TTL_MS = 24 * 60 * 60 * 1000;
export const MAX_REMEMBERED_IDEMPOTENCY_KEYS = 10_000;

/**
 * Largest push message data (decoded bytes) an acknowledged poison message's
 * log line carries whole, as base64: every single record and batches of
 * about a hundred, while the line stays far below Cloud Logging's 256 KB
 * entry limit. Larger data is logged by size and SHA-256 only.
 */
export const MAX_LOGGED_POISON_DATA_BYTES = 16 * 1024;
