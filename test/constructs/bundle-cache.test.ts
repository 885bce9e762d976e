/**
 * The bundler's cross-process cache (`GCP_INGEST_BUNDLE_CACHE`): a stored
 * bundle is reused while nothing that decides its bytes has changed, and
 * rebuilt as soon as anything has: an input, a file resolution could now
 * find first, a package.json on the way, the request itself.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE_CACHE_VARIABLE, cachedBuild, cachedValue } from '../../constructs/private/bundle-cache';
import type * as Bundler from '../../constructs/private/bundler';
import { scratchDirectory } from '../support/scratch-directory';

const scratch = scratchDirectory('bundle-cache-');

/** Writes `files` (path relative to `root` → contents) and returns `root`. */
function tree(root: string, files: Record<string, string>): string {
  for (const [path, contents] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), contents);
  }
  return root;
}

describe('cachedBuild', () => {
  let builds = 0;
  /** A build that reads `inputs` and concatenates them, counting its runs. */
  const concatenate = (inputs: readonly string[]) => () => {
    builds += 1;
    return { output: Buffer.from(inputs.map((input) => readFileSync(input, 'utf8')).join('|')), inputs };
  };
  let cache: string;
  let sources: string;
  let inputs: string[];
  beforeEach(() => {
    builds = 0;
    // Made first: made by the first store, it would be a new entry in a directory above the sources.
    cache = scratch.fresh('cache');
    mkdirSync(cache, { recursive: true });
    sources = tree(scratch.fresh('sources'), { 'package.json': '{"name":"sources"}', 'src/main.ts': 'main', 'src/util/greeting.ts': 'hello' });
    inputs = [join(sources, 'src', 'main.ts'), join(sources, 'src', 'util', 'greeting.ts')];
  });
  const cached = (request: unknown = { target: 'node24' }) => cachedBuild(cache, request, concatenate(inputs)).toString('utf8');

  it('reuses the stored output while the inputs and the directories they sit in are unchanged', () => {
    expect(cached()).toBe('main|hello');
    expect(cached()).toBe('main|hello');
    expect(builds).toBe(1);
  });

  it("rebuilds when an input's contents change, and again when they change back", () => {
    cached();
    writeFileSync(inputs[1]!, 'bonjour');
    expect(cached()).toBe('main|bonjour');
    writeFileSync(inputs[1]!, 'hello');
    expect(cached()).toBe('main|hello');
    expect(builds).toBe(2);
  });

  it.each([
    ['beside an input', 'src/util/greeting.tsx'],
    ['in a directory above one', 'src/greeting.ts'],
    ['as a nearer node_modules', 'src/node_modules/valibot/index.js'],
    ['beside the directory an input sits in', 'src.ts'],
  ])('rebuilds when a file appears %s (resolution may now find it first)', (_where, path) => {
    cached();
    tree(sources, { [path]: 'shadow' });
    cached();
    expect(builds).toBe(2);
  });

  it('reuses the stored output when something resolution never reads changes above the inputs', () => {
    cached();
    tree(join(sources, '..'), { 'another-test-scratch/file.txt': 'x' });
    cached();
    expect(builds).toBe(1);
  });

  it('rebuilds when a node_modules appears further up the tree', () => {
    cached();
    tree(join(sources, '..'), { 'node_modules/valibot/index.js': 'shadow' });
    cached();
    expect(builds).toBe(2);
  });

  it('rebuilds when a package.json or tsconfig.json up the tree changes', () => {
    cached();
    tree(sources, { 'package.json': '{"name":"sources","type":"module"}' });
    cached();
    tree(sources, { 'src/tsconfig.json': '{"compilerOptions":{"useDefineForClassFields":false}}' });
    cached();
    tree(sources, { 'src/tsconfig.json': '{"compilerOptions":{"useDefineForClassFields":true}}' });
    cached();
    expect(builds).toBe(4);
  });

  it('builds again for another request', () => {
    cached({ target: 'node24' });
    cached({ target: 'node22' });
    cached({ target: 'node24' });
    expect(builds).toBe(2);
  });

  it('never stores a build whose tsconfig extends another file, which it cannot follow', () => {
    tree(sources, { 'tsconfig.json': '{ "extends": "@tsconfig/node20/tsconfig.json" }' });
    cached();
    cached();
    expect(builds).toBe(2);
  });

  it('does not store a build whose input is gone by the time it is stored', () => {
    const vanishing = join(sources, 'src', 'generated.ts');
    const build = () => {
      builds += 1;
      return { output: Buffer.from('built'), inputs: [...inputs, vanishing] };
    };
    cachedBuild(cache, {}, build);
    cachedBuild(cache, {}, build);
    expect(builds).toBe(2);
  });
});

describe('cachedValue', () => {
  it('makes a value once per key', () => {
    const cache = scratch.fresh('values');
    let made = 0;
    const make = (text: string) => () => {
      made += 1;
      return Buffer.from(text);
    };
    expect(cachedValue(cache, { files: ['a'] }, make('first')).toString()).toBe('first');
    expect(cachedValue(cache, { files: ['a'] }, make('second')).toString()).toBe('first');
    expect(cachedValue(cache, { files: ['b'] }, make('third')).toString()).toBe('third');
    expect(made).toBe(2);
  });
});

describe(`the bundler with ${BUNDLE_CACHE_VARIABLE} set`, () => {
  // Under the project, so the framework the zip's manifest pins resolves from node_modules; and in a directory of its
  // own, because the fingerprint lists the directory above the sources whole, and other tests write into .gen meanwhile.
  const testDirectory = join(__dirname, '..', '..', '.gen', `bundle-cache-${process.pid}`);
  const packageDirectory = join(testDirectory, 'package');
  const entry = join(packageDirectory, 'entry.ts');
  const previous = process.env[BUNDLE_CACHE_VARIABLE];
  beforeAll(() => {
    tree(packageDirectory, {
      'package.json': '{"name":"cached-entry","private":true}',
      'entry.ts': "import { greeting } from './greeting';\nconsole.log(greeting);\n",
      'greeting.ts': "export const greeting = 'from greeting.ts';\n",
    });
    process.env[BUNDLE_CACHE_VARIABLE] = scratch.fresh('bundles');
  });
  afterAll(() => {
    rmSync(testDirectory, { recursive: true, force: true });
    if (previous === undefined) delete process.env[BUNDLE_CACHE_VARIABLE];
    else process.env[BUNDLE_CACHE_VARIABLE] = previous;
  });

  /** Runs of esbuild, by every bundler {@link freshBundler} loads. */
  let esbuildRuns = 0;
  /** The bundler as a new process loads it: its in-memory memo is empty, the disk cache is not. */
  const freshBundler = (): typeof Bundler => {
    let loaded: typeof Bundler | undefined;
    jest.isolateModules(() => {
      jest.doMock('esbuild', () => {
        const esbuild = jest.requireActual<typeof import('esbuild')>('esbuild');
        return {
          ...esbuild,
          buildSync: (...args: Parameters<typeof esbuild.buildSync>) => {
            esbuildRuns += 1;
            return esbuild.buildSync(...args);
          },
        };
      });
      loaded = jest.requireActual<typeof Bundler>('../../constructs/private/bundler');
    });
    return loaded!;
  };
  const bundle = () => freshBundler().buildBundle({ entry, nodeMajor: 24, externalModules: [] });
  const code = (built: Bundler.BuiltBundle) => readFileSync(built.zipPath).toString('latin1');

  it('gives a new process the zip it would build itself, and builds anew once a source changes', () => {
    const first = bundle();
    expect(code(first)).toContain('from greeting.ts');
    // What other processes write higher up (here, other tests in .gen) is no reason to build again.
    const elsewhere = join(testDirectory, '..', `written-meanwhile-${process.pid}`);
    writeFileSync(elsewhere, '');
    try {
      expect(bundle().sha256).toBe(first.sha256);
    } finally {
      rmSync(elsewhere, { force: true });
    }
    expect(esbuildRuns).toBe(1);

    writeFileSync(join(packageDirectory, 'greeting.ts'), "export const greeting = 'changed';\n");
    const changed = bundle();
    expect(code(changed)).toContain('changed');
    expect(changed.sha256).not.toBe(first.sha256);

    // A greeting.tsx now wins esbuild's resolution of './greeting': the cache must see it although no input changed.
    writeFileSync(join(packageDirectory, 'greeting.tsx'), "export const greeting = 'from greeting.tsx';\n");
    expect(code(bundle())).toContain('from greeting.tsx');
    expect(esbuildRuns).toBe(3);
  });
});
