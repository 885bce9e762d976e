/**
 * The `pageToken` of `GET /records`: where the next page starts, and the
 * read window the listing was started with. Paging is keyset paging on `id`
 * (never OFFSET) within a window fixed at the first page, so a token holds
 * the last id of the page it follows and that window's start, as base64url
 * of `{"v":2,"after":"<id>","since":"<RFC 3339, UTC, milliseconds>"}`.
 *
 * Clients must treat it as opaque; it is not a secret and not signed. A token
 * someone builds by hand can only make paging start after another id, or
 * look back to another instant, which reveals nothing a caller of this API
 * cannot read anyway. Anything that is not exactly a token this module could
 * have issued (bad base64url, bad JSON, other fields, another version, an id
 * the record schema refuses, a non-canonical spelling) is refused, so a
 * damaged token is a 400, never a 500 and never a silently different page.
 */
import * as v from 'valibot';
import { parseJsonBytes } from '../http/safe-json';
import { RecordSchema } from '../record';
import { ID_MAX_LENGTH } from '../rules/limits';

/** Version 2 tokens carry the read window; a version 1 token, issued before there was one, is refused like any stranger. */
const TOKEN_VERSION = 2;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** Where a listing continues. */
export interface PageCursor {
  /** The last id of the page the token follows. */
  afterId: string;
  /** The start of the listing's read window, fixed at its first page. */
  since: Date;
}

/** A `since` as tokens spell it: `Date.toISOString()`, 24 characters for the years 0001 to 9999 a window can start in. */
const isCanonicalInstant = (text: unknown): text is string =>
  typeof text === 'string' && /^(?!0000)\d{4}-/.test(text) && !Number.isNaN(Date.parse(text)) && new Date(text).toISOString() === text;

const ENVELOPE_LENGTH = JSON.stringify({ v: TOKEN_VERSION, after: '', since: new Date(0).toISOString() }).length;
/** The longest token an id can produce: every character JSON-escaped to six bytes (`\u0000`), plus the envelope. */
export const MAX_PAGE_TOKEN_LENGTH = Math.ceil((ID_MAX_LENGTH * 6 + ENVELOPE_LENGTH) / 3) * 4;

export function encodePageToken({ afterId, since }: PageCursor): string {
  return Buffer.from(JSON.stringify({ v: TOKEN_VERSION, after: afterId, since: since.toISOString() }), 'utf8').toString('base64url');
}

/** Where a token says to continue, or undefined when it is not a token this API issued. */
export function decodePageToken(token: string): PageCursor | undefined {
  if (token.length > MAX_PAGE_TOKEN_LENGTH || !BASE64URL.test(token)) return undefined;
  const parsed = parseJsonBytes(Buffer.from(token, 'base64url'), 'pageToken');
  if (!parsed.ok || parsed.value === null || typeof parsed.value !== 'object') return undefined;
  const { v: version, after, since, ...rest } = parsed.value as Record<string, unknown>;
  if (version !== TOKEN_VERSION || Object.keys(rest).length > 0 || !v.is(RecordSchema.entries.id, after) || !isCanonicalInstant(since)) {
    return undefined;
  }
  const cursor = { afterId: after, since: new Date(since) };
  // Only the exact bytes we issue: no padding, reordered keys, whitespace or trailing garbage base64url would forgive.
  return encodePageToken(cursor) === token ? cursor : undefined;
}
