/**
 * `Buffer.byteLength(JSON.stringify(value))` without building the JSON: the
 * group-commit batcher sizes every request it queues, and for the small rows
 * of a typical request the string it threw away cost it several times this
 * walk. Plain objects, arrays, strings, numbers, booleans, null and Dates
 * are measured directly; anything else (a `toJSON`, a class instance) is
 * measured by serializing it.
 */

/** Characters `JSON.stringify` escapes: quote, backslash, controls, and (lone) surrogates. */
const ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/;
/** Dates whose ISO form is the 24 characters `YYYY-MM-DDTHH:mm:ss.sssZ` (years 0 to 9999). */
const FOUR_DIGIT_YEARS = { from: Date.parse('0000-01-01T00:00:00.000Z'), to: Date.parse('9999-12-31T23:59:59.999Z') };

function stringJsonBytes(text: string): number {
  return ESCAPED.test(text) ? Buffer.byteLength(JSON.stringify(text)) : Buffer.byteLength(text) + 2;
}

/** What `JSON.stringify` leaves out of objects and writes as `null` in arrays. */
function isUnserializable(value: unknown): boolean {
  return value === undefined || typeof value === 'function' || typeof value === 'symbol';
}

export function jsonByteLength(value: unknown): number {
  switch (typeof value) {
    case 'string':
      return stringJsonBytes(value);
    case 'number':
      return Number.isFinite(value) ? String(value).length : 'null'.length;
    case 'boolean':
      return value ? 'true'.length : 'false'.length;
    case 'object':
      if (value === null) return 'null'.length;
      if (Array.isArray(value)) return arrayJsonBytes(value);
      if (value instanceof Date && !Object.hasOwn(value, 'toJSON')) return dateJsonBytes(value);
      if (Object.getPrototypeOf(value) === Object.prototype && !('toJSON' in value)) return objectJsonBytes(value as Record<string, unknown>);
      break;
  }
  return Buffer.byteLength(JSON.stringify(value) ?? '');
}

function arrayJsonBytes(items: readonly unknown[]): number {
  let bytes = items.length === 0 ? 2 : 1;
  for (const item of items) bytes += (isUnserializable(item) ? 'null'.length : jsonByteLength(item)) + 1;
  return bytes;
}

function objectJsonBytes(object: Record<string, unknown>): number {
  let bytes = 1;
  for (const key of Object.keys(object)) {
    const item = object[key];
    if (!isUnserializable(item)) bytes += stringJsonBytes(key) + 1 + jsonByteLength(item) + 1;
  }
  return bytes === 1 ? 2 : bytes;
}

function dateJsonBytes(date: Date): number {
  const time = date.getTime();
  if (Number.isNaN(time)) return 'null'.length;
  return time >= FOUR_DIGIT_YEARS.from && time <= FOUR_DIGIT_YEARS.to ? '"YYYY-MM-DDTHH:mm:ss.sssZ"'.length : Buffer.byteLength(JSON.stringify(date));
}
