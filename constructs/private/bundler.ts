import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, parse, resolve } from 'node:path';
import { buildSync, version as esbuildVersion, type BuildOptions } from 'esbuild';
import { bundleCacheDirectory, cachedBuild as cachedOnDisk, cachedValue, sha256, writeAtomically } from './bundle-cache';

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

/** Builds once per key in this process (two stacks sharing a function, or two synths in a test). */
function cachedBuild(key: string, build: () => BuiltBundle): BuiltBundle {
  const cached = built.get(key);
  if (cached) return cached;
  const bundle = build();
  built.set(key, bundle);
  return bundle;
}

/** Bundles, zips and caches one entry. */
export function buildBundle(request: BundleRequest): BuiltBundle {
  return cachedBuild(JSON.stringify(request), () => zipToCache(bundleFiles(request)));
}

/** One file of a function zip. */
interface BundleFile {
  readonly name: string;
  readonly contents: Buffer;
}

/**
 * One of the library's own function handlers, named by the Functions
 * Framework target it registers (see `FUNCTION_NAMES` in
 * `lambda-src/log-events.ts`): `api`, the ingest and read API, or
 * `subscriber`, the Pub/Sub push subscriber.
 */
export type LibraryHandler = 'api' | 'subscriber';
/** Every {@link LibraryHandler}. */
export const LIBRARY_HANDLERS: readonly LibraryHandler[] = ['api', 'subscriber'];

/** What the library's handlers leave out of their bundles: the DuckDB adapter, which only local runs take. */
export const LIBRARY_HANDLER_EXTERNALS: readonly string[] = ['@duckdb/node-api'];

/**
 * The library's root: the repository (running from the TypeScript sources),
 * or the package's `dist/` (running from the compiled JavaScript).
 */
const LIBRARY_ROOT = join(__dirname, '..', '..');

/** The TypeScript source of a library handler; it exists in the repository, not in the published package. */
function libraryHandlerSource(handler: LibraryHandler): string {
  return join(LIBRARY_ROOT, 'lambda-src', 'functions', `${handler}.ts`);
}

/** The folder of the library's root (`dist/` once compiled) that holds the prebuilt handlers. */
export const PREBUILT_HANDLERS_FOLDER = 'handlers';

/**
 * Where `npm run build` writes the prebuilt handlers and the installed
 * package reads them: `<handler>/package.json` and `package-lock.json`, and
 * one `index.js` per distinct bundle, named by `<handler>/targets.json`
 * (`{ "node24": "index-<sha256>.js", … }`; most Node.js targets give the
 * same bytes, stored once).
 */
const PREBUILT_HANDLERS_DIRECTORY = join(LIBRARY_ROOT, PREBUILT_HANDLERS_FOLDER);

const TARGETS_FILE = 'targets.json';

/**
 * Bundles, zips and caches one of the library's handlers for a Node.js
 * major version: from its TypeScript source when that sits beside the
 * library (this repository), otherwise from the files that `npm run build`
 * bundled from the same source with the same code and shipped in the
 * package. Both give the same files, so the same zip bytes.
 */
export function buildLibraryHandler(handler: LibraryHandler, nodeMajor: number): BuiltBundle {
  const source = libraryHandlerSource(handler);
  if (existsSync(source)) return buildBundle({ entry: source, nodeMajor, externalModules: LIBRARY_HANDLER_EXTERNALS });
  return buildPrebuiltHandler(PREBUILT_HANDLERS_DIRECTORY, handler, nodeMajor);
}

/** Zips and caches a library handler from the files {@link writePrebuiltHandlers} wrote into `prebuiltDirectory`. */
export function buildPrebuiltHandler(prebuiltDirectory: string, handler: LibraryHandler, nodeMajor: number): BuiltBundle {
  return cachedBuild(JSON.stringify({ prebuiltDirectory, handler, nodeMajor }), () =>
    zipToCache(prebuiltHandlerFiles(join(prebuiltDirectory, handler), handler, nodeMajor)),
  );
}

function prebuiltHandlerFiles(directory: string, handler: LibraryHandler, nodeMajor: number): BundleFile[] {
  const targetsPath = join(directory, TARGETS_FILE);
  if (!existsSync(targetsPath)) {
    throw new Error(`the ${handler} handler is neither in ${libraryHandlerSource(handler)} nor prebuilt in ${directory}: reinstall the package, or run npm run build in its repository`);
  }
  const targets = JSON.parse(readFileSync(targetsPath, 'utf8')) as Record<string, string>;
  const code = targets[esbuildTarget(nodeMajor)];
  if (code === undefined) {
    throw new Error(`the ${handler} handler is prebuilt for ${Object.keys(targets).join(', ')}, not ${esbuildTarget(nodeMajor)}: choose a runtime of one of those Node.js versions`);
  }
  return [
    { name: 'index.js', contents: readFileSync(join(directory, code)) },
    ...['package-lock.json', 'package.json']
      .filter((name) => existsSync(join(directory, name)))
      .map((name) => ({ name, contents: readFileSync(join(directory, name)) })),
  ];
}

/**
 * Bundles every library handler for each of `nodeMajors` from its source and
 * writes the files into `outputDirectory` (emptied first), in the layout
 * {@link buildLibraryHandler} reads when the source is not there.
 */
export function writePrebuiltHandlers(outputDirectory: string, nodeMajors: readonly number[]): void {
  rmSync(outputDirectory, { recursive: true, force: true });
  for (const handler of LIBRARY_HANDLERS) {
    const directory = join(outputDirectory, handler);
    mkdirSync(directory, { recursive: true });
    const targets: Record<string, string> = {};
    for (const nodeMajor of [...nodeMajors].sort((a, b) => a - b)) {
      const files = bundleFiles({ entry: libraryHandlerSource(handler), nodeMajor, externalModules: LIBRARY_HANDLER_EXTERNALS });
      for (const file of files) {
        if (file.name !== 'index.js') {
          // The manifest and lockfile name the handler and the framework, not the target: every target writes the same bytes.
          writeFileSync(join(directory, file.name), file.contents);
          continue;
        }
        const name = `index-${sha256(file.contents)}.js`;
        writeFileSync(join(directory, name), file.contents);
        targets[esbuildTarget(nodeMajor)] = name;
      }
    }
    writeFileSync(join(directory, TARGETS_FILE), `${JSON.stringify(targets, null, 2)}\n`);
  }
}

function packageRootOf(entry: string): string {
  for (let dir = dirname(entry); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above function entry ${entry}`);
  }
}

/** The files of an entry's zip: its esbuild bundle as `index.js`, the framework's manifest and lockfile. */
function bundleFiles(request: BundleRequest): BundleFile[] {
  if (!existsSync(request.entry)) throw new Error(`function entry ${request.entry} does not exist`);
  const root = packageRootOf(request.entry);
  return [
    { name: 'index.js', contents: bundledCode(request, root) },
    ...runtimeManifests(root, parse(request.entry).name),
  ];
}

/** The entry's esbuild bundle: from the cross-process cache when one is configured and holds it, else built. */
function bundledCode(request: BundleRequest, root: string): Buffer {
  const options: BuildOptions = {
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
    outfile: join(root, 'index.js'),
    logLevel: 'silent',
  };
  const build = () => {
    const result = buildSync({ ...options, write: false, metafile: true });
    if (result.errors.length > 0) {
      throw new Error(`bundling ${request.entry} failed:\n${result.errors.map((error) => error.text).join('\n')}`);
    }
    return {
      output: Buffer.from(result.outputFiles[0]!.contents),
      inputs: Object.keys(result.metafile.inputs).map((input) => resolve(root, input)),
    };
  };
  const cacheDirectory = bundleCacheDirectory();
  if (cacheDirectory === undefined) return build().output;
  return cachedOnDisk(join(cacheDirectory, 'esbuild'), { esbuild: esbuildVersion, options }, build);
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
  const version = framework?.version ?? installedFrameworkVersion(root);
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

/**
 * The version of the framework installed for `root`, found through its
 * public entry point: its `exports` map refuses `…/package.json`, so this
 * resolves the main module and walks up to the package that holds it.
 */
function installedFrameworkVersion(root: string): string {
  let main: string;
  try {
    main = require.resolve(FUNCTIONS_FRAMEWORK, { paths: [root] });
  } catch {
    throw new Error(`${FUNCTIONS_FRAMEWORK} is not installed for ${root}: the function's entry imports it, so add it to that package's dependencies`);
  }
  for (let dir = dirname(main); dirname(dir) !== dir; dir = dirname(dir)) {
    const manifestPath = join(dir, 'package.json');
    if (!existsSync(manifestPath)) continue;
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { name?: string; version?: string };
    if (manifest.name === FUNCTIONS_FRAMEWORK && manifest.version) return manifest.version;
  }
  throw new Error(`no package.json of ${FUNCTIONS_FRAMEWORK} above ${main}`);
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

/** Zips the sorted files in a child process, with {@link ZIP_SCRIPT}. */
function zipInChildProcess(sorted: readonly BundleFile[]): Buffer {
  const input = JSON.stringify({
    files: sorted.map((file) => ({ name: file.name, base64: file.contents.toString('base64') })),
  });
  return execFileSync(process.execPath, ['-e', ZIP_SCRIPT, require.resolve('yazl')], {
    input,
    maxBuffer: 512 * 1024 * 1024,
    env: {},
  });
}

/** The zip of the sorted files: from the cross-process cache when one is configured and holds it, else made. */
function zipOf(sorted: readonly BundleFile[]): Buffer {
  const cacheDirectory = bundleCacheDirectory();
  if (cacheDirectory === undefined) return zipInChildProcess(sorted);
  const yazlManifest = JSON.parse(readFileSync(join(dirname(require.resolve('yazl')), 'package.json'), 'utf8')) as { version: string };
  // The zip's bytes depend on the files, the script, yazl and Node.js, nothing else.
  const key = {
    script: ZIP_SCRIPT,
    yazl: yazlManifest.version,
    node: process.version,
    files: sorted.map((file) => [file.name, sha256(file.contents)]),
  };
  return cachedValue(join(cacheDirectory, 'zip'), key, () => zipInChildProcess(sorted));
}

function zipToCache(files: BundleFile[]): BuiltBundle {
  const sorted = [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const zip = zipOf(sorted);
  const zipHash = sha256(zip);
  const zipPath = resolve(tmpdir(), 'gcp-ingest-function-bundles', zipHash, 'function-source.zip');
  // Concurrent synths (jest workers) may write the same file.
  if (!existsSync(zipPath)) writeAtomically(zipPath, zip);
  const bundleBytes = sorted.find((file) => file.name === 'index.js')!.contents.length;
  return { zipPath, sha256: zipHash, files: sorted.map((file) => file.name), bundleBytes };
}
