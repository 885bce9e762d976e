/**
 * Worst-case JSON bodies of exactly a given size, one past each shape limit
 * of the JSON body reader (`lambda-src/http/safe-json.ts`): what the
 * hostile-bodies benchmark's senders send, and what the body-scan tests
 * refuse.
 */

/** The shape limit each body passes. */
export type HostileShape = 'depth' | 'keys' | 'elements' | 'string';

/** `text` padded with spaces inside its last `}` to exactly `bytes` bytes (whitespace is JSON too). */
function padded(text: string, bytes: number): string {
  if (text.length > bytes) throw new Error(`hostile body of ${text.length} bytes is over the ${bytes}-byte limit`);
  return `${text.slice(0, -1)}${' '.repeat(bytes - text.length)}}`;
}

/** One body of exactly `bytes` bytes (ASCII) per shape limit, by the limit it passes, deepest first. */
export function hostileBodies(bytes: number): Record<HostileShape, string> {
  const half = Math.floor(bytes / 2);
  const members: string[] = [];
  for (let index = 0, length = 2; length + 16 < bytes; index += 1) {
    const member = `"k${index}":0`;
    members.push(member);
    length += member.length + 1;
  }
  const elements = Math.floor((bytes - 12) / 2);
  const escapes = Math.floor((bytes - 48) / 6);
  return {
    depth: `${'['.repeat(half)}${']'.repeat(bytes - half)}`,
    keys: padded(`{${members.join(',')}}`, bytes),
    elements: padded(`{"data":[${'0,'.repeat(elements - 1)}0]}`, bytes),
    string: padded(`{"data":{"id":"x","name":"${'\\u00e9'.repeat(escapes)}","value":1}}`, bytes),
  };
}
