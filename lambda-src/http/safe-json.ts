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
 * comma, colon or backslash. It is a state machine fed chunk by chunk
 * (`JsonShapeScanner`), so the framework integration (`framework.ts`) runs
 * it over a body as it arrives and stops reading at the first chunk past a
 * limit; a function scans the whole body again only if one of its own
 * limits is stricter than the framework's.
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
 * `message.data`). `scannedWithin`: limits these very bytes were already
 * found within by a shape scan (the framework's, as they arrived); when none
 * of them is looser than `limits`, the verdict is known and the scan is not
 * run again.
 */
export function parseJsonBytes(
  bytes: Uint8Array,
  field: string,
  limits: Readonly<JsonShapeLimits> = JSON_SHAPE_LIMITS,
  scannedWithin?: Readonly<JsonShapeLimits>,
): SafeJsonResult {
  if (scannedWithin === undefined || !noLooserThan(scannedWithin, limits)) {
    const overLimit = jsonShapeProblem(bytes, limits);
    if (overLimit !== undefined) return { ok: false, kind: 'too_complex', errors: [{ field, message: overLimit }] };
  }
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

/** A text within `scanned` is within `limits` too: what the scan counts does not depend on the limits, and none of these is larger. */
function noLooserThan(scanned: Readonly<JsonShapeLimits>, limits: Readonly<JsonShapeLimits>): boolean {
  return scanned.depth <= limits.depth && scanned.elements <= limits.elements && scanned.keys <= limits.keys && scanned.stringBytes <= limits.stringBytes;
}

/**
 * Which shape limit the JSON in `bytes` exceeds, or undefined: the whole
 * text fed to a {@link JsonShapeScanner} as one chunk.
 */
export function jsonShapeProblem(bytes: Uint8Array, limits: Readonly<JsonShapeLimits>): string | undefined {
  return new JsonShapeScanner(limits).feed(bytes);
}

/**
 * The shape scan as a state machine fed a JSON text chunk by chunk, as it
 * arrives: any split of a text gives the verdict the whole text gives, and
 * after each chunk the verdict of the bytes so far, so a reader can stop at
 * the first chunk that passes a limit. One pass, stopping at the first
 * limit passed; it counts what valid JSON would hold and leaves syntax to
 * `JSON.parse` (text that is not JSON may be refused by either). Keys are
 * counted by their colons, array elements by the values that open an array
 * and the commas that separate its elements; strings are measured and
 * skipped, so brackets and colons inside them count for nothing.
 */
export class JsonShapeScanner {
  /** 1 where the container at that depth is an array; the scan stops before the stack outgrows the depth limit. */
  private readonly arrayAt: Uint8Array;
  private depth = 0;
  private elements = 0;
  private keys = 0;
  /** The last structural character was `[`: the next value is the array's first element. */
  private arrayJustOpened = false;
  private inString = false;
  /** Inside a string, the last byte was a backslash: the next byte is escaped, whatever it is. */
  private escaping = false;
  /** Bytes of the open string so far (when `escaping`, without the escaped byte still to come). */
  private stringBytes = 0;
  private found: string | undefined;

  constructor(private readonly limits: Readonly<JsonShapeLimits>) {
    this.arrayAt = new Uint8Array(limits.depth + 1);
  }

  /** The limit the bytes fed so far exceed, or undefined. */
  get problem(): string | undefined {
    return this.found;
  }

  /** Scans the next bytes of the text; returns the limit the text so far exceeds (from then on, whatever is fed), or undefined. */
  feed(bytes: Uint8Array): string | undefined {
    if (this.found !== undefined) return this.found;
    const limits = this.limits;
    const arrayAt = this.arrayAt;
    // The state in locals while scanning: the loop is the hot path of every body.
    let { depth, elements, keys, arrayJustOpened, inString, escaping, stringBytes } = this;
    let found: string | undefined;
    const length = bytes.length;
    let at = 0;
    while (at < length) {
      if (inString) {
        // Where, in this chunk, the byte past the longest string allowed is.
        const overAt = at - stringBytes + limits.stringBytes;
        // A backslash ending the last chunk was measured with the byte it escapes, this chunk's first.
        if (escaping) at += 1;
        escaping = false;
        let tooLong = false;
        for (; at < length; at++) {
          const inside = bytes[at]!;
          if (inside === QUOTE) break;
          if (inside === BACKSLASH) at += 1;
          if (at >= overAt) {
            tooLong = true;
            break;
          }
        }
        if (tooLong) {
          found = `holds a string longer than the limit of ${limits.stringBytes} bytes`;
          break;
        }
        if (at >= length) {
          // The chunk ends inside the string (perhaps with a backslash, whose escaped byte comes next).
          escaping = at > length;
          stringBytes = length - (overAt - limits.stringBytes);
          break;
        }
        inString = false;
        at += 1;
        continue;
      }
      const code = bytes[at]!;
      at += 1;
      if (isJsonWhitespace(code)) continue;
      if (arrayJustOpened && code !== CLOSE_ARRAY) elements += 1;
      arrayJustOpened = false;
      if (code === QUOTE) {
        inString = true;
        stringBytes = 0;
      } else if (code === OPEN_ARRAY || code === OPEN_OBJECT) {
        if (depth === limits.depth) {
          found = `nests arrays and objects deeper than the limit of ${limits.depth} levels`;
          break;
        }
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
      if (elements > limits.elements) {
        found = `holds more array elements than the limit of ${limits.elements}`;
        break;
      }
      if (keys > limits.keys) {
        found = `holds more object keys than the limit of ${limits.keys}`;
        break;
      }
    }
    this.depth = depth;
    this.elements = elements;
    this.keys = keys;
    this.arrayJustOpened = arrayJustOpened;
    this.inString = inString;
    this.escaping = escaping;
    this.stringBytes = stringBytes;
    this.found = found;
    return found;
  }
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
