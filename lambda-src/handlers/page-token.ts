/**
 * The `pageToken` of `GET /records`: where the next page starts. Paging is
 * keyset paging on `id` (never OFFSET), so a token only holds the last id of
 * the page it follows, as base64url of `{"v":1,"after":"<id>"}`.
 *
 * Clients must treat it as opaque; it is not a secret and not signed. A token
 * someone builds by hand can only make paging start after another id, which
 * reveals nothing a caller of this API cannot read anyway. Anything that is
 * not exactly a token this module could have issued (bad base64url, bad
 * JSON, other fields, another version, an id the record schema refuses, a
 * non-canonical spelling) is refused, so a damaged token is a 400, never a
 * 500 and never a silently different page.
 */
import * as v from 'valibot';
import { parseJsonBytes } from '../http/safe-json';
import { ID_MAX_LENGTH, RecordSchema } from '../record';

const TOKEN_VERSION = 1;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** The longest token an id can produce: every character JSON-escaped to six bytes (`\u0000`), plus the envelope. */
export const MAX_PAGE_TOKEN_LENGTH = Math.ceil((ID_MAX_LENGTH * 6 + 32) / 3) * 4;

export function encodePageToken(afterId: string): string {
  return Buffer.from(JSON.stringify({ v: TOKEN_VERSION, after: afterId }), 'utf8').toString('base64url');
}

/** The id a token says to continue after, or undefined when it is not a token this API issued. */
export function decodePageToken(token: string): string | undefined {
  if (token.length > MAX_PAGE_TOKEN_LENGTH || !BASE64URL.test(token)) return undefined;
  const parsed = parseJsonBytes(Buffer.from(token, 'base64url'), 'pageToken');
  if (!parsed.ok || parsed.value === null || typeof parsed.value !== 'object') return undefined;
  const { v: version, after, ...rest } = parsed.value as Record<string, unknown>;
  if (version !== TOKEN_VERSION || Object.keys(rest).length > 0 || !v.is(RecordSchema.entries.id, after)) return undefined;
  // Only the exact bytes we issue: no padding, reordered keys, whitespace or trailing garbage base64url would forgive.
  return encodePageToken(after) === token ? after : undefined;
}
