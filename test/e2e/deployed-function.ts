/**
 * A function entry as Cloud Run runs it: bundled and zipped by the real
 * bundler, unzipped, and served by the Functions Framework's own `main`
 * (`functions-framework --target=<target>`) on a port of 127.0.0.1 the
 * system picks (`tools/loopback-port.ts`). The framework and
 * DuckDB come from the project's node_modules through NODE_PATH, standing in
 * for what the buildpack installs from the zip's lockfile.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { DEFAULT_NODE_MAJOR } from '../../constructs/function-runtimes';
import { buildBundle, LIBRARY_HANDLER_EXTERNALS } from '../../constructs/private/bundler';
import { installedFramework } from '../../lambda-src/http/framework';
import { listeningPort, LOOPBACK_PRELOAD } from '../../tools/loopback-port';
import { extractZip } from '../../tools/synth-zip';

const ROOT = resolve(__dirname, '../..');
const PROJECT_NODE_MODULES = join(ROOT, 'node_modules');
const HOST = '127.0.0.1';

export interface DeployedFunctionOptions {
  /** The function's environment, besides PATH, NODE_PATH and PORT. */
  env: Readonly<Record<string, string>>;
  /**
   * A `node_modules` directory searched before the project's, holding another
   * copy of the framework, whose `main` then serves the function.
   * @default the project's framework
   */
  frameworkNodeModules?: string;
}

export interface DeployedFunction {
  url: string;
  host: string;
  port: number;
  child: ChildProcessByStdio<null, Readable, Readable>;
  /** Exit code, or null when killed by a signal. */
  exited: Promise<number | null>;
  stderr(): string;
  /** Kills it if still running and removes the unzipped source. */
  cleanUp(): Promise<void>;
}

/** Far more than a bundled function takes to start here; only a bound. */
const START_TIMEOUT_MS = 30_000;

/** Starts the entry (a path under the project root) and resolves once it listens; rejects with its output if it exits first. */
export async function startDeployedFunction(entry: string, target: string, options: DeployedFunctionOptions): Promise<DeployedFunction> {
  const bundle = buildBundle({ entry: join(ROOT, entry), nodeMajor: DEFAULT_NODE_MAJOR, externalModules: [...LIBRARY_HANDLER_EXTERNALS] });
  const directory = extractZip(readFileSync(bundle.zipPath));
  const frameworkDirectory = options.frameworkNodeModules
    ? join(options.frameworkNodeModules, '@google-cloud', 'functions-framework')
    : installedFramework().directory;
  const child = spawn(process.execPath, ['--require', LOOPBACK_PRELOAD, join(frameworkDirectory, 'build', 'src', 'main.js'), `--target=${target}`, `--source=${directory}`], {
    cwd: directory,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_PATH: [options.frameworkNodeModules, PROJECT_NODE_MODULES].filter(Boolean).join(delimiter),
      PORT: '0',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  child.stdout.resume();
  const exited = new Promise<number | null>((resolveExit) => child.on('exit', (code) => resolveExit(code)));
  const cleanUp = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    rmSync(directory, { recursive: true, force: true });
  };
  let port: number;
  try {
    port = await listeningPort(child, START_TIMEOUT_MS);
  } catch (error) {
    await cleanUp();
    throw new Error(`${target} ${(error as Error).message}:\n${stderr}`);
  }
  return { url: `http://${HOST}:${port}/`, host: HOST, port, child, exited, stderr: () => stderr, cleanUp };
}
