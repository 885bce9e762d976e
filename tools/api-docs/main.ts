/**
 * `npm run docs:api` regenerates the API reference in `docs/api/` from the
 * TSDoc of the package's entry point; `npm run docs:api -- --check` (what
 * `npm run docs:api:check` and CI run) fails when the committed reference
 * differs from what the sources generate, naming the stale pages.
 *
 * TypeDoc needs TypeScript's JavaScript API, which the project's TypeScript 7
 * (native) does not have, so it runs from this folder's own install
 * (TypeScript 6, pinned by this folder's lockfile). Its output holds no
 * dates, source links or absolute paths, so it is the same on any machine.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';

const HERE = __dirname;
const ROOT = resolve(HERE, '..', '..');
const API_DOCS = join(ROOT, 'docs', 'api');

function files(directory: string): Map<string, string> {
  const found = new Map<string, string>();
  if (!existsSync(directory)) return found;
  const visit = (current: string) => {
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      const path = join(current, entry.name);
      if (entry.isDirectory()) visit(path);
      else found.set(relative(directory, path), readFileSync(path, 'utf8'));
    }
  };
  visit(directory);
  return found;
}

/** Pages that differ between the committed reference and a fresh one: missing, stale or no longer generated. */
export function stalePages(committed: Map<string, string>, generated: Map<string, string>): string[] {
  const names = [...new Set([...committed.keys(), ...generated.keys()])].sort();
  return names.flatMap((name) => {
    if (!committed.has(name)) return [`${name} (missing)`];
    if (!generated.has(name)) return [`${name} (no longer generated)`];
    return committed.get(name) === generated.get(name) ? [] : [`${name} (stale)`];
  });
}

function generate(out: string): void {
  execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--silent'], { cwd: HERE, stdio: 'inherit' });
  rmSync(out, { recursive: true, force: true });
  execFileSync(join(HERE, 'node_modules', '.bin', 'typedoc'), ['--options', join(HERE, 'typedoc.json'), '--out', out, '--logLevel', 'Error'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
}

function main(): void {
  if (!process.argv.includes('--check')) {
    generate(API_DOCS);
    console.log(`wrote ${relative(ROOT, API_DOCS)}/`);
    return;
  }
  const scratch = mkdtempSync(join(tmpdir(), 'api-docs-'));
  try {
    generate(scratch);
    const stale = stalePages(files(API_DOCS), files(scratch));
    if (stale.length > 0) {
      console.error(`docs/api/ is out of date with the TSDoc; run npm run docs:api and commit the result:\n${stale.map((page) => `  ${page}`).join('\n')}`);
      process.exitCode = 1;
    } else {
      console.log('docs/api/ matches the TSDoc');
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

if (require.main === module) main();
