/**
 * Snapshots of synthesized Terraform JSON that a reviewer can read: attributes
 * that hold JSON text (dashboards, IAM policies, table schemas) are printed
 * as the structures they hold, one field a line, and long strings are cut at
 * spaces into pieces joined with `+`, so a changed dashboard widget is a
 * changed line and no line reaches {@link MAX_SNAPSHOT_LINE}.
 *
 * Use: `expect.addSnapshotSerializer(terraformSnapshotSerializer)`, then
 * `expect(terraformSnapshot(parsedJson)).toMatchSnapshot()`.
 */
import { expandEmbeddedJson, isEmbeddedJson } from '../../tools/infra-review/embedded-json';

/** The longest line a snapshot may hold (a test checks every `.snap` file). */
export const MAX_SNAPSHOT_LINE = 200;
/** Strings longer than this are cut into pieces of at most this length. */
const PIECE = 100;
const SNAPSHOT = Symbol.for('gcp-ingest.terraform-snapshot');

interface TerraformSnapshot {
  readonly [SNAPSHOT]: unknown;
}

/** Wraps synthesized JSON (parsed) so that {@link terraformSnapshotSerializer} prints it. */
export function terraformSnapshot(json: unknown): TerraformSnapshot {
  return { [SNAPSHOT]: expandEmbeddedJson(json) };
}

/** Pieces of `text`, cut after spaces where it can, each at most {@link PIECE} characters. */
export function stringPieces(text: string): string[] {
  const pieces: string[] = [];
  let rest = text;
  while (rest.length > PIECE) {
    const space = rest.lastIndexOf(' ', PIECE - 1);
    const cut = space > PIECE / 2 ? space + 1 : PIECE;
    pieces.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  pieces.push(rest);
  return pieces;
}

function printString(text: string, indent: string): string {
  // A newline inside a string stays visible as \n, and ends its piece, so SQL and Markdown read line by line.
  const lines = text.split(/(?<=\n)/);
  const pieces = lines.flatMap(stringPieces).map((piece) => JSON.stringify(piece));
  return pieces.join(` +\n${indent}  `);
}

/** Prints `value` as indented JSON, embedded JSON marked `(JSON)` and long strings in pieces. */
export function printReadable(value: unknown, indent = ''): string {
  if (isEmbeddedJson(value)) return `(JSON) ${printReadable(value.embeddedJson, indent)}`;
  if (typeof value === 'string') return printString(value, indent);
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    const inner = `${indent}  `;
    return `[\n${value.map((item) => `${inner}${printReadable(item, inner)}`).join(',\n')}\n${indent}]`;
  }
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value);
    if (entries.length === 0) return '{}';
    const inner = `${indent}  `;
    return `{\n${entries.map(([key, child]) => `${inner}${JSON.stringify(key)}: ${printReadable(child, inner)}`).join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(value) ?? 'undefined';
}

/** The jest snapshot serializer for {@link terraformSnapshot} values. */
export const terraformSnapshotSerializer = {
  test: (value: unknown): boolean => typeof value === 'object' && value !== null && SNAPSHOT in value,
  serialize: (value: TerraformSnapshot): string => printReadable(value[SNAPSHOT]),
};
