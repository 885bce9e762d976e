import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, parse, resolve } from 'node:path';
import { buildSync } from 'esbuild';

/**
 * The runtime's own copy of the Functions Framework serves the function, and
 * its registry of `functions.http(...)` targets is module state: a second,
 * bundled copy would register the entry point where the runtime never looks.
 * So the framework stays outside the bundle and is the zip's only dependency,
 * installed by the Cloud Functions buildpack from the lockfile we ship.
 */
export const FUNCTIONS_FRAMEWORK = '@google-cloud/functions-framework';

/** What goes into a function bundle; every field is part of the cache key. */
export interface BundleRequest {
  /** Absolute path of the entry module. */
  readonly entry: string;
  /** Node.js major version the runtime runs, e.g. 24 for `nodejs24`. */
  readonly nodeMajor: number;
  /** Modules left as `require()` calls in the bundle. */
  readonly externalModules: readonly string[];
}

/** A built, zipped bundle on disk. */
export interface BuiltBundle {
  /** Absolute path of the zip (a content-addressed file in the OS temp directory). */
  readonly zipPath: string;
  /** SHA-256 (hex) of the zip's bytes. */
  readonly sha256: string;
  /** Names of the files in the zip, in zip order. */
  readonly files: readonly string[];
  /** Size of the bundled `index.js` in bytes. */
  readonly bundleBytes: number;
}

/** The esbuild target of a Node.js major version (`node24`). */
export function esbuildTarget(nodeMajor: number): string {
  return `node${nodeMajor}`;
}

const built = new Map<string, BuiltBundle>();

/**
 * Bundles, zips and caches one entry. The same request in one process (two
 * stacks sharing an entry, or two synths in a test) is built once.
 */
export function buildBundle(request: BundleRequest): BuiltBundle {
  const key = JSON.stringify(request);
  const cached = built.get(key);
  if (cached) return cached;
  const result = zipToCache(bundleFiles(request));
  built.set(key, result.bundle);
  return result.bundle;
}

interface BundleFile {
  readonly name: string;
  readonly contents: Buffer;
}

function packageRootOf(entry: string): string {
  for (let dir = dirname(entry); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above function entry ${entry}`);
  }
}

function bundleFiles(request: BundleRequest): BundleFile[] {
  if (!existsSync(request.entry)) throw new Error(`function entry ${request.entry} does not exist`);
  const root = packageRootOf(request.entry);
  const result = buildSync({
    entryPoints: [request.entry],
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    target: esbuildTarget(request.nodeMajor),
    format: 'cjs',
    minify: true,
    treeShaking: true,
    legalComments: 'none',
    sourcemap: false,
    charset: 'utf8',
    external: [FUNCTIONS_FRAMEWORK, ...request.externalModules],
    define: { 'process.env.NODE_ENV': '"production"' },
    write: false,
    outfile: join(root, 'index.js'),
    logLevel: 'silent',
  });
  if (result.errors.length > 0) {
    throw new Error(`bundling ${request.entry} failed:\n${result.errors.map((error) => error.text).join('\n')}`);
  }
  const code = Buffer.from(result.outputFiles[0]!.contents);
  return [
    { name: 'index.js', contents: code },
    ...runtimeManifests(root, parse(request.entry).name),
  ];
}

function json(value: unknown): Buffer {
  return Buffer.from(`${JSON.stringify(value, null, 2)}\n`);
}

interface LockEntry {
  readonly version?: string;
  readonly dependencies?: Record<string, string>;
  readonly optionalDependencies?: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
  readonly peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  readonly [field: string]: unknown;
}

/**
 * `package.json` naming the framework as the only dependency, pinned to the
 * version the project tests with, and a `package-lock.json` cut from the
 * project's lockfile (the framework and what it needs, nothing else), so the
 * buildpack's `npm ci` installs exactly the tree the tests ran against.
 */
function runtimeManifests(root: string, name: string): BundleFile[] {
  const lockPath = join(root, 'package-lock.json');
  const frameworkKey = `node_modules/${FUNCTIONS_FRAMEWORK}`;
  const lock = existsSync(lockPath)
    ? (JSON.parse(readFileSync(lockPath, 'utf8')) as { lockfileVersion?: number; packages?: Record<string, LockEntry> })
    : undefined;
  const packages = lock?.packages;
  const framework = packages?.[frameworkKey];
  const version =
    framework?.version ??
    (JSON.parse(readFileSync(require.resolve(`${FUNCTIONS_FRAMEWORK}/package.json`, { paths: [root] }), 'utf8')) as {
      version: string;
    }).version;
  const manifest = { name, version: '0.0.0', private: true, main: 'index.js', dependencies: { [FUNCTIONS_FRAMEWORK]: version } };
  const files = [{ name: 'package.json', contents: json(manifest) }];
  if (!packages || !framework || (lock.lockfileVersion ?? 0) < 2) return files;

  const closure = new Map<string, LockEntry>();
  const visit = (key: string) => {
    if (closure.has(key)) return;
    const entry = packages[key]!;
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...kept } = entry;
    closure.set(key, kept);
    const optionalPeers = new Set(
      Object.entries(entry.peerDependenciesMeta ?? {})
        .filter(([, meta]) => meta.optional)
        .map(([dependency]) => dependency),
    );
    const wanted = [
      ...Object.keys(entry.dependencies ?? {}),
      ...Object.keys(entry.optionalDependencies ?? {}),
      ...Object.keys(entry.peerDependencies ?? {}).filter((dependency) => !optionalPeers.has(dependency)),
    ];
    for (const dependency of wanted) {
      const found = resolveInLock(packages, key, dependency);
      if (found) visit(found);
      else if (!(dependency in (entry.optionalDependencies ?? {}))) {
        throw new Error(`${lockPath} has no '${dependency}' reachable from '${key}'; run npm install`);
      }
    }
  };
  visit(frameworkKey);
  const sortedPackages = Object.fromEntries([...closure.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const runtimeLock = {
    name,
    version: '0.0.0',
    lockfileVersion: 3,
    requires: true,
    packages: { '': { name, version: '0.0.0', dependencies: { [FUNCTIONS_FRAMEWORK]: version } }, ...sortedPackages },
  };
  return [...files, { name: 'package-lock.json', contents: json(runtimeLock) }];
}

/** Node's lookup: the nearest `node_modules/<dependency>` from `from` upwards. */
function resolveInLock(packages: Record<string, LockEntry>, from: string, dependency: string): string | undefined {
  let base = from;
  for (;;) {
    const candidate = `${base}/node_modules/${dependency}`;
    if (candidate in packages) return candidate;
    const parent = base.lastIndexOf('/node_modules/');
    if (parent < 0) break;
    base = base.slice(0, parent);
  }
  const hoisted = `node_modules/${dependency}`;
  return hoisted in packages ? hoisted : undefined;
}

/**
 * yazl writes zips through a stream fed by `setImmediate`, and construct code
 * runs synchronously, so the zip is written by yazl in a short-lived child
 * Node.js process. Entries are sorted, stored uncompressed (deflate output
 * differs between zlib builds and CPUs; stored bytes do not), with a fixed
 * DOS timestamp, a fixed mode and no extended timestamp field. The date is
 * built from local-time parts and DOS time is local time, so zips built in
 * any time zone carry the same bytes.
 */
const ZIP_SCRIPT = `
const yazl = require(process.argv[1]);
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const zip = new yazl.ZipFile();
const mtime = new Date(1980, 0, 1, 0, 0, 0);
for (const file of input.files) {
  zip.addBuffer(Buffer.from(file.base64, 'base64'), file.name, { mtime, mode: 0o100644, compress: false, forceDosTimestamp: true });
}
zip.outputStream.pipe(process.stdout);
zip.end();
`;

function zipToCache(files: BundleFile[]): { bundle: BuiltBundle } {
  const sorted = [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const input = JSON.stringify({
    files: sorted.map((file) => ({ name: file.name, base64: file.contents.toString('base64') })),
  });
  const zip = execFileSync(process.execPath, ['-e', ZIP_SCRIPT, require.resolve('yazl')], {
    input,
    maxBuffer: 512 * 1024 * 1024,
    env: {},
  });
  const sha256 = createHash('sha256').update(zip).digest('hex');
  const directory = join(tmpdir(), 'gcp-ingest-function-bundles', sha256);
  const zipPath = resolve(directory, 'function-source.zip');
  if (!existsSync(zipPath)) {
    mkdirSync(directory, { recursive: true });
    // Concurrent synths (jest workers) may write the same file: write aside, then rename atomically.
    const partial = `${zipPath}.${process.pid}.partial`;
    writeFileSync(partial, zip);
    renameSync(partial, zipPath);
  }
  const bundleBytes = sorted.find((file) => file.name === 'index.js')!.contents.length;
  return { bundle: { zipPath, sha256, files: sorted.map((file) => file.name), bundleBytes } };
}
