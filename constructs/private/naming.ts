import { createHash } from 'node:crypto';
import { kebab, type NameRule } from '../../lambda-src/rules/naming';

/** First `length` hex characters of the SHA-256 of `text`: a stable, short disambiguator. */
export function shortHash(text: string, length = 8): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

/**
 * Fits `base` into `maxLength` characters. A name that is too long keeps its
 * start and gets a hash of the full name, so two long names that share a
 * prefix still differ.
 */
export function fitName(base: string, maxLength: number): string {
  if (base.length <= maxLength) return base;
  const hash = shortHash(base, 6);
  return `${base.slice(0, maxLength - hash.length - 1).replace(/-+$/, '')}-${hash}`;
}

/** Service account ids: 6-30 characters, a lowercase letter first, `[a-z0-9-]`, no trailing hyphen. */
export const SERVICE_ACCOUNT_ID: NameRule = {
  pattern: /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/,
  rule: 'must be 6-30 lowercase letters, digits or hyphens, starting with a letter',
};

/** A valid service account id made from `base` and a role `suffix` (e.g. `-fn`, `-push`). */
export function serviceAccountId(base: string, suffix: string): string {
  const stem = kebab(base).replace(/^[^a-z]+/, '') || 'sa';
  return fitName(`${stem}${suffix}`.padEnd(6, '0'), 30);
}
