/**
 * Snapshots are reviewed in pull requests: a line too long to read there
 * (a dashboard as one escaped string) hides what changed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { MAX_SNAPSHOT_LINE, printReadable, stringPieces } from './support/terraform-snapshot';
import { expandEmbeddedJson } from '../tools/infra-review/embedded-json';

function snapshotFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return snapshotFiles(path);
    return entry.name.endsWith('.snap') ? [path] : [];
  });
}

describe('snapshot files', () => {
  const files = snapshotFiles(__dirname);

  it('exist for the stacks and the constructs', () => {
    expect(files.map((file) => relative(__dirname, file)).sort()).toEqual(
      expect.arrayContaining(['constructs/__snapshots__/snapshots.test.ts.snap', 'stacks/__snapshots__/ingest-stack.test.ts.snap']),
    );
  });

  it.each(files.map((file) => [relative(__dirname, file), file]))(`%s has no line of ${MAX_SNAPSHOT_LINE} characters or more`, (_, file) => {
    const long = readFileSync(file, 'utf8')
      .split('\n')
      .map((line, index) => ({ line: index + 1, length: line.length }))
      .filter(({ length }) => length >= MAX_SNAPSHOT_LINE);
    expect(long).toEqual([]);
  });
});

describe('the snapshot printer', () => {
  it('prints attributes that hold JSON text as the structure they hold, one field a line', () => {
    const dashboard = JSON.stringify({ displayName: 'ingest', tiles: [{ widget: { title: 'Requests' } }] });
    expect(printReadable(expandEmbeddedJson({ dashboard_json: dashboard, filter: 'not {json' }))).toBe(
      [
        '{',
        '  "dashboard_json": (JSON) {',
        '    "displayName": "ingest",',
        '    "tiles": [',
        '      {',
        '        "widget": {',
        '          "title": "Requests"',
        '        }',
        '      }',
        '    ]',
        '  },',
        '  "filter": "not {json"',
        '}',
      ].join('\n'),
    );
  });

  it('cuts long strings after a space, and at newlines, into pieces that join back to the string', () => {
    const text = `${'word '.repeat(60)}\n${'x'.repeat(250)}`;
    const pieces = text.split(/(?<=\n)/).flatMap(stringPieces);
    expect(pieces.join('')).toBe(text);
    for (const piece of pieces) expect(piece.length).toBeLessThanOrEqual(100);
    expect(pieces[0]!.endsWith(' ')).toBe(true);
    const printed = printReadable({ query: text });
    expect(printed.split('\n').every((line) => line.length < MAX_SNAPSHOT_LINE)).toBe(true);
  });
});
