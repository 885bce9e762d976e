/**
 * The functions under test, each served in a child process of its own by the
 * Functions Framework's own CLI (`functions-framework --target`, what Cloud
 * Run functions starts), so the load generator and the server never share an
 * event loop.
 *
 * A bundled function is the deploy artifact: built and zipped by the same
 * bundler the `FunctionBundle` construct runs at synth, unzipped, and loaded
 * from the unzipped directory. The framework (and DuckDB, left out of cloud
 * bundles) come from the project's node_modules through NODE_PATH, standing
 * in for what the Cloud Functions buildpack installs from the zip's lockfile.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_NODE_MAJOR } from '../constructs/function-runtimes';
import { buildBundle, LIBRARY_HANDLER_EXTERNALS, type BuiltBundle } from '../constructs/private/bundler';
import { listeningPort, LOOPBACK_PRELOAD } from '../tools/loopback-port';
import { extractZip } from '../tools/synth-zip';

export const ROOT = resolve(__dirname, '..');
const FRAMEWORK_CLI = join(ROOT, 'node_modules', '.bin', 'functions-framework');
/** Far more than any function takes to start here, even from TypeScript source; only a bound. */
const START_TIMEOUT_MS = 60_000;

export const ENTRIES = {
  api: { entry: 'lambda-src/functions/api.ts', target: 'api' },
  subscriber: { entry: 'lambda-src/functions/subscriber.ts', target: 'subscriber' },
  noop: { entry: 'bench/noop-function.ts', target: 'noop' },
  apiOneInsertPerRequest: { entry: 'bench/api-one-insert-per-request.ts', target: 'api' },
} as const;
export type EntryName = keyof typeof ENTRIES;

/** What to start: a module (a directory with package.json `main`, or a file) and the target it registers. */
export interface FunctionSource {
  /** Shown in reports. */
  label: string;
  source: string;
  target: string;
  /** Loads TypeScript source through tsx. */
  typescript: boolean;
}

export interface Bundled extends FunctionSource {
  bundle: BuiltBundle;
  zipBytes: number;
}

/** Scratch directories of this run; `cleanUp` removes them. */
const scratch: string[] = [];

export function scratchDirectory(prefix: string): string {
  const directory = mkdtempSync(join(tmpdir(), `gcp-ingest-bench-${prefix}-`));
  scratch.push(directory);
  return directory;
}

export function cleanUp(): void {
  for (const directory of scratch.splice(0)) rmSync(directory, { recursive: true, force: true });
}

/** Builds the entry's deploy zip exactly as synth does and unzips it. */
export function bundled(name: EntryName): Bundled {
  const { entry, target } = ENTRIES[name];
  const bundle = buildBundle({ entry: join(ROOT, entry), nodeMajor: DEFAULT_NODE_MAJOR, externalModules: [...LIBRARY_HANDLER_EXTERNALS] });
  const zip = readFileSync(bundle.zipPath);
  const source = extractZip(zip);
  scratch.push(source);
  return { label: `${name} (bundled)`, source, target, typescript: false, bundle, zipBytes: zip.length };
}

/** The entry's TypeScript source, loaded through tsx. */
export function unbundled(name: EntryName): FunctionSource {
  const { entry, target } = ENTRIES[name];
  return { label: `${name} (unbundled source)`, source: join(ROOT, entry), target, typescript: true };
}

export interface ServedFunction {
  url: string;
  child: ChildProcess;
  /** Lines the function has written to stdout so far (its JSON log lines). */
  logLines(): number;
  /** `performance.now()` when the process was spawned. */
  spawnedAt: number;
  /** Terminates the instance (SIGTERM, as the platform does) and waits for it to exit. */
  stop(): Promise<void>;
}

export interface ServeOptions {
  /** Function environment (WAREHOUSE, DUCKDB_PATH, ...), added to PATH, NODE_PATH and NODE_ENV. */
  env?: Record<string, string>;
  /** Extra Node.js flags for the function's process, e.g. `--cpu-prof` when investigating a result. */
  execArgv?: readonly string[];
}

/**
 * Starts a child process serving `fn` on 127.0.0.1 and resolves once it
 * listens. Its stdout is a pipe that is read and counted, as the platform's
 * logging agent reads it (a file would make every DuckDB commit's fsync
 * flush the log's growth too, which the cloud never sees).
 */
export async function serve(fn: FunctionSource, options: ServeOptions = {}): Promise<ServedFunction> {
  const spawnedAt = performance.now();
  const child = spawn(
    process.execPath,
    [
      ...(options.execArgv ?? []),
      ...(fn.typescript ? ['--import', 'tsx'] : []),
      '--require',
      LOOPBACK_PRELOAD,
      FRAMEWORK_CLI,
      `--target=${fn.target}`,
      `--source=${fn.source}`,
    ],
    {
      cwd: fn.typescript ? ROOT : fn.source,
      env: {
        PATH: process.env.PATH ?? '',
        NODE_PATH: join(ROOT, 'node_modules'),
        // What the Cloud Functions Node.js runtime sets; port 0 lets the system pick one (tools/loopback-port.ts).
        NODE_ENV: 'production',
        PORT: '0',
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let logLines = 0;
  child.stdout!.on('data', (chunk: Buffer) => {
    for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) logLines += 1;
  });
  // 'close', not 'exit': the last log lines may still be in the pipe when the process exits.
  const exited = new Promise<void>((resolveExit) => child.once('close', () => resolveExit()));
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const port = await listeningPort(child, START_TIMEOUT_MS).catch((error: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${fn.label} ${error.message}:\n${stderr}`);
  });
  return {
    url: `http://127.0.0.1:${port}/`,
    child,
    logLines: () => logLines,
    spawnedAt,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
