/**
 * JSON parsing for untrusted bodies. `JSON.parse` itself stores a
 * `"__proto__"` key as an own property, but any later spread, merge or
 * property copy would turn it into a prototype change; refusing these keys
 * at parse time means no code downstream has to remember that.
 */
import type { FieldError } from '../record';

const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

const utf8 = new TextDecoder('utf-8', { fatal: true });

export type SafeJsonResult =
  | { ok: true; value: unknown }
  | { ok: false; kind: 'syntax'; errors: FieldError[] }
  | { ok: false; kind: 'forbidden_key'; errors: FieldError[] };

/**
 * Decodes UTF-8 bytes (a leading byte-order mark is dropped) and parses them
 * as JSON. `field` names the bytes in error details (`body`, `message.data`).
 */
export function parseJsonBytes(bytes: Uint8Array, field: string): SafeJsonResult {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, kind: 'syntax', errors: [{ field, message: 'is not valid UTF-8' }] };
  }
  return parseJsonText(text, field);
}

export function parseJsonText(text: string, field: string): SafeJsonResult {
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
