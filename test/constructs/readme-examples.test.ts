/**
 * The documentation's construct examples are code: each ```ts block after
 * the `<!-- section: constructs -->` marker of README.md and
 * docs/constructs.md is type-checked against the library and synthesized,
 * so the documentation fails the build the day it stops being true.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { TerraformStack } from 'cdktf';
import { synthesize, validationErrors } from '../support/synth';

const projectRoot = join(__dirname, '..', '..');
const PACKAGE_IMPORT = 'gcp-ingest-cdktf';

const DOCUMENTS = ['README.md', join('docs', 'constructs.md')];
const MARKER = '<!-- section: constructs -->';

/** From the marker to the next section marker, or to the end of the document. */
function constructsSection(document: string, text: string): string {
  const start = text.indexOf(MARKER);
  if (start < 0) throw new Error(`${document} has no ${MARKER} marker`);
  const end = text.indexOf('<!-- section:', start + MARKER.length);
  return text.slice(start, end < 0 ? undefined : end);
}

const examples = DOCUMENTS.flatMap((document) =>
  [...constructsSection(document, readFileSync(join(projectRoot, document), 'utf8')).matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!),
);

const directory = join(projectRoot, '.gen', 'readme-examples');
const constructsImport = relative(directory, join(projectRoot, 'constructs')).split('\\').join('/');

/** Turns an example (imports, then statements using `stack`) into a module exporting `example(stack)`. */
function toModule(source: string): string {
  const lines = source.trimEnd().split('\n');
  const imports = lines.filter((line) => line.startsWith('import '));
  const body = lines.filter((line) => !line.startsWith('import '));
  return [
    ...imports.map((line) => line.replace(`'${PACKAGE_IMPORT}'`, `'${constructsImport}'`)),
    "import type { TerraformStack } from 'cdktf';",
    '',
    'export function example(stack: TerraformStack): void {',
    ...body.map((line) => (line ? `  ${line}` : line)),
    '}',
    '',
  ].join('\n');
}

beforeAll(() => {
  rmSync(directory, { recursive: true, force: true });
  mkdirSync(directory, { recursive: true });
  examples.forEach((source, index) => writeFileSync(join(directory, `example-${index}.ts`), toModule(source)));
  writeFileSync(
    join(directory, 'tsconfig.json'),
    JSON.stringify({ extends: '../../tsconfig.json', include: ['*.ts'], exclude: [] }, null, 2),
  );
});

describe('construct examples in README.md and docs/constructs.md', () => {
  it('exist, and import the library the way another app would', () => {
    expect(examples.length).toBeGreaterThanOrEqual(5);
    for (const source of examples) expect(source).toContain(`from '${PACKAGE_IMPORT}'`);
  });

  it('type-check against the library', () => {
    const tsc = join(projectRoot, 'node_modules', '.bin', 'tsc');
    try {
      execFileSync(tsc, ['--noEmit', '-p', join(directory, 'tsconfig.json')], { cwd: projectRoot, stdio: 'pipe', encoding: 'utf8' });
    } catch (error) {
      const failed = error as { stdout?: string; stderr?: string };
      throw new Error(`documentation examples do not type-check:\n${failed.stdout ?? ''}${failed.stderr ?? ''}`);
    }
  }, 60_000);

  it.each(examples.map((source, index) => [index, source.split('\n').find((line) => line.includes('new ')) ?? '']))(
    'example %i synthesizes with no validation error (%s)',
    (index) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { example } = require(join(directory, `example-${index}.ts`)) as { example: (stack: TerraformStack) => void };
      const { stack, parsed } = synthesize((scope) => example(scope));
      expect(validationErrors(stack)).toEqual([]);
      expect(Object.keys(parsed.resource ?? {}).length).toBeGreaterThan(0);
    },
  );
});
