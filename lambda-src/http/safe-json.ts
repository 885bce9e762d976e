/**
 * JSON parsing for untrusted bodies, in time proportional to what is read.
 *
 * Shape first: a linear scan of the bytes refuses JSON nested deeper, or
 * holding more array elements or object keys, or longer strings, than
 * `rules/limits.ts` allows, before the bytes are even decoded. A megabyte
 * of `[[[[…`, of `0,0,0,…` or of `\u00e9` escapes is then refused a few
 * bytes past the limit, instead of costing milliseconds to hundreds of
 * milliseconds of event-loop time (and every other request its latency) to
 * decode, parse and walk. The scan reads bytes because UTF-8 is
 * ASCII-transparent: no byte of a multi-byte character is a quote, bracket,
 * comma, colon or backslash.
 *
 * Then UTF-8, checked by `buffer.isUtf8` and decoded by `Buffer.toString`.
 *
 * Then keys: `JSON.parse` itself stores a `"__proto__"` key as an own
 * property, but any later spread, merge or property copy would turn it into
 * a prototype change; refusing these keys at parse time means no code
 * downstream has to remember that.
 */
import { isUtf8 } from 'node:buffer';
import type { FieldError } from '../record';
import { MAX_JSON_ARRAY_ELEMENTS, MAX_JSON_DEPTH, MAX_JSON_OBJECT_KEYS, MAX_JSON_STRING_BYTES } from '../rules/limits';

const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
const BYTE_ORDER_MARK = '\uFEFF';

export type SafeJsonResult =
  | { ok: true; value: unknown }
  | { ok: false; kind: 'syntax'; errors: FieldError[] }
  | { ok: false; kind: 'forbidden_key'; errors: FieldError[] }
  /** Deeper, or with more array elements or object keys, or longer strings, than the limits allow; `errors` names the limit. */
  | { ok: false; kind: 'too_complex'; errors: FieldError[] };

/**
 * Parses UTF-8 bytes as JSON (a leading byte-order mark is dropped), within
 * `limits`. `field` names the bytes in error details (`body`,
 * `message.data`).
 */
export function parseJsonBytes(bytes: Uint8Array, field: string, limits: Readonly<JsonShapeLimits> = JSON_SHAPE_LIMITS): SafeJsonResult {
  const overLimit = jsonShapeProblem(bytes, limits);
  if (overLimit !== undefined) return { ok: false, kind: 'too_complex', errors: [{ field, message: overLimit }] };
  if (!isUtf8(bytes)) return { ok: false, kind: 'syntax', errors: [{ field, message: 'is not valid UTF-8' }] };
  const decoded = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  const text = decoded.startsWith(BYTE_ORDER_MARK) ? decoded.slice(BYTE_ORDER_MARK.length) : decoded;
  if (text.trim() === '') return { ok: false, kind: 'syntax', errors: [{ field, message: 'is empty' }] };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, kind: 'syntax', errors: [{ field, message: describeSyntaxError(error) }] };
  }
  const forbidden = findForbiddenKeys(value);
  if (forbidden.length > 0) {
    return { ok: false, kind: 'forbidden_key', errors: forbidden.map((path) => ({ field: path, message: 'forbidden key' })) };
  }
  return { ok: true, value };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const COMMA = 0x2c;
const COLON = 0x3a;
const isJsonWhitespace = (code: number) => code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;

/** How much structure one JSON text may hold. */
export interface JsonShapeLimits {
  /** Levels of arrays and objects; a scalar is 0 deep, `[]` 1. */
  depth: number;
  /** Array elements, all arrays together. */
  elements: number;
  /** Object keys, all objects together (a repeated key counts each time). */
  keys: number;
  /** Bytes of the longest string (key or value) between its quotes, as sent: an escape counts all its bytes. */
  stringBytes: number;
}

/** The limits of a payload: a request body, or a push message's data. */
export const JSON_SHAPE_LIMITS: Readonly<JsonShapeLimits> = {
  depth: MAX_JSON_DEPTH,
  elements: MAX_JSON_ARRAY_ELEMENTS,
  keys: MAX_JSON_OBJECT_KEYS,
  stringBytes: MAX_JSON_STRING_BYTES,
};

/**
 * Which shape limit the JSON in `bytes` exceeds, or undefined. One pass,
 * stopping at the first limit passed; it counts what valid JSON would hold
 * and leaves syntax to `JSON.parse` (text that is not JSON may be refused by
 * either). Keys are counted by their colons, array elements by the values
 * that open an array and the commas that separate its elements; strings are
 * measured and skipped, so brackets and colons inside them count for
 * nothing.
 */
export function jsonShapeProblem(bytes: Uint8Array, limits: Readonly<JsonShapeLimits>): string | undefined {
  /** 1 where the container at that depth is an array; the scan stops before the stack outgrows the depth limit. */
  const arrayAt = new Uint8Array(limits.depth + 1);
  let depth = 0;
  let elements = 0;
  let keys = 0;
  /** The last structural character was `[`: the next value is the array's first element. */
  let arrayJustOpened = false;
  for (let at = 0; at < bytes.length; at++) {
    const code = bytes[at]!;
    if (isJsonWhitespace(code)) continue;
    if (arrayJustOpened && code !== CLOSE_ARRAY) elements += 1;
    arrayJustOpened = false;
    if (code === QUOTE) {
      /** Where the closing quote of the longest string allowed would be. */
      const longest = at + 1 + limits.stringBytes;
      for (at += 1; at < bytes.length; at++) {
        const inString = bytes[at]!;
        if (inString === BACKSLASH) at += 1;
        else if (inString === QUOTE) break;
        if (at >= longest) return `holds a string longer than the limit of ${limits.stringBytes} bytes`;
      }
    } else if (code === OPEN_ARRAY || code === OPEN_OBJECT) {
      if (depth === limits.depth) return `nests arrays and objects deeper than the limit of ${limits.depth} levels`;
      depth += 1;
      arrayAt[depth] = code === OPEN_ARRAY ? 1 : 0;
      arrayJustOpened = code === OPEN_ARRAY;
    } else if (code === CLOSE_ARRAY || code === CLOSE_OBJECT) {
      if (depth > 0) depth -= 1;
    } else if (code === COMMA) {
      if (arrayAt[depth] === 1) elements += 1;
    } else if (code === COLON) {
      keys += 1;
    }
    if (elements > limits.elements) return `holds more array elements than the limit of ${limits.elements}`;
    if (keys > limits.keys) return `holds more object keys than the limit of ${limits.keys}`;
  }
  return undefined;
}

/** V8's message echoes part of the input; only the position is worth returning to the client. */
function describeSyntaxError(error: unknown): string {
  const position = error instanceof Error ? /at position (\d+)/.exec(error.message)?.[1] : undefined;
  return position === undefined ? 'is not valid JSON' : `is not valid JSON (error at position ${position})`;
}

/**
 * Paths (`data.__proto__`, `data[2].constructor`) of every forbidden key, at
 * any depth. Walks with an explicit stack: a body of deeply nested arrays must
 * not be able to overflow the call stack.
 */
function findForbiddenKeys(root: unknown): string[] {
  const found: string[] = [];
  const pending: Array<{ value: unknown; path: string }> = [{ value: root, path: '' }];
  while (pending.length > 0) {
    const { value, path } = pending.pop()!;
    if (value === null || typeof value !== 'object') continue;
    const children: Array<{ value: unknown; path: string }> = [];
    if (Array.isArray(value)) {
      value.forEach((item, index) => children.push({ value: item, path: `${path}[${index}]` }));
    } else {
      for (const [key, item] of Object.entries(value)) {
        const itemPath = path === '' ? key : `${path}.${key}`;
        if (FORBIDDEN_KEYS.has(key)) found.push(itemPath);
        else children.push({ value: item, path: itemPath });
      }
    }
    // Pushed last-first so siblings are visited in document order (and no spread: arrays may be huge).
    for (let index = children.length - 1; index >= 0; index -= 1) pending.push(children[index]);
  }
  return found;
}
