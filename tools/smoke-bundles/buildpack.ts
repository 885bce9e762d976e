/**
 * A function zip built and started the way Google's Node.js buildpack and
 * Cloud Run functions do it, on a given Node.js binary:
 *
 * - build: the source must have a `package.json` whose `main` (or
 *   `index.js`) exists and passes `node --check`, and which depends on
 *   `@google-cloud/functions-framework` (otherwise the buildpack injects a
 *   framework copy of its own choosing); with a lockfile the buildpack runs
 *   `npm ci` with NODE_ENV=production, so dev dependencies are left out;
 * - launch: `node_modules/.bin/functions-framework` from the source's own
 *   install, with FUNCTION_TARGET (the buildpack's launch environment),
 *   NODE_ENV=production, Cloud Run's PORT and K_SERVICE,
 *   LOG_EXECUTION_ID=true (which the Cloud Functions API sets on every
 *   function it deploys, unless the function sets it), and the function's
 *   environment variables; SIGTERM on shutdown, which must end the process
 *   cleanly within Cloud Run's ten seconds.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FUNCTIONS_FRAMEWORK } from '../../constructs/private/bundler';
import { listeningPort, LOOPBACK_PRELOAD } from '../loopback-port';
import { npmEnvironmentOn, type NodeBinary } from './node-release';

const run = promisify(execFile);

const INSTALL_TIMEOUT_MS = 5 * 60_000;
const START_TIMEOUT_MS = 30_000;
/** Cloud Run sends SIGKILL this long after SIGTERM. */
const SHUTDOWN_GRACE_MS = 10_000;
/** Most of a process's output kept for an error message. */
const OUTPUT_LIMIT = 16 * 1024;

interface PackageJson {
  main?: string;
  dependencies?: Record<string, string>;
  scripts?: Record<string, string>;
}

function failure(message: string, error: unknown): Error {
  const failed = error as { message?: string; stdout?: string; stderr?: string };
  return new Error(`${message}: ${failed.message ?? String(error)}\n${failed.stdout ?? ''}${failed.stderr ?? ''}`.trimEnd());
}

/**
 * Checks what the buildpack needs in the unpacked source at `directory`
 * and installs its dependencies as the buildpack does, all on `node`.
 */
export async function buildLikeBuildpack(directory: string, node: NodeBinary): Promise<void> {
  const manifestPath = join(directory, 'package.json');
  if (!existsSync(manifestPath)) throw new Error('the zip has no package.json: the buildpack cannot tell the function or its dependencies');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as PackageJson;
  const main = manifest.main ?? 'index.js';
  if (!existsSync(join(directory, main))) throw new Error(`the zip has no ${main} (package.json main): the buildpack fails with "${main} does not exist"`);
  if (manifest.dependencies?.[FUNCTIONS_FRAMEWORK] === undefined) {
    throw new Error(`the zip's package.json does not depend on ${FUNCTIONS_FRAMEWORK}: the buildpack would inject a framework version of its own`);
  }
  if (!existsSync(join(directory, 'package-lock.json'))) {
    throw new Error('the zip has no package-lock.json: the buildpack would resolve dependency versions at deploy time instead of running npm ci');
  }
  // The buildpack runs these with dev dependencies installed, before pruning; nothing here imitates that.
  const buildScript = ['gcp-build', 'build'].find((script) => manifest.scripts?.[script] !== undefined);
  if (buildScript) throw new Error(`the zip's package.json has a "${buildScript}" script, which the buildpack runs and this smoke does not`);

  const env = { ...npmEnvironmentOn(node), NODE_ENV: 'production' };
  try {
    await run(node.path, ['--check', main], { cwd: directory, env, timeout: 60_000 });
  } catch (error) {
    throw failure(`node ${node.version} --check ${main} failed, as the buildpack's syntax check would`, error);
  }
  try {
    await run('npm', ['ci', '--omit=dev', '--quiet', '--no-fund', '--no-audit'], { cwd: directory, env, timeout: INSTALL_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    throw failure(`npm ci --omit=dev on node ${node.version} failed`, error);
  }
  if (!existsSync(frameworkBin(directory))) throw new Error(`npm ci installed no node_modules/.bin/functions-framework`);
}

function frameworkBin(directory: string): string {
  return join(directory, 'node_modules', '.bin', 'functions-framework');
}

export interface ServedFunction {
  readonly url: string;
  /** `node --version` of the binary the serving process runs. */
  readonly nodeVersion: string;
  /** The process's stdout and stderr so far (the start and end of it when long). */
  output(): string;
  /** SIGTERM, as Cloud Run sends it; fails unless the process exits 0 within the grace period. */
  stop(): Promise<void>;
}

export interface LaunchOptions {
  readonly directory: string;
  readonly node: NodeBinary;
  /** `build_config.entry_point`. */
  readonly entryPoint: string;
  /** The function's name (Cloud Run's K_SERVICE). */
  readonly serviceName: string;
  /** The function's own environment variables, plus any the caller adds. */
  readonly environment: Readonly<Record<string, string>>;
}

/** Every function process still running, so an interrupted smoke leaves none behind. */
const running = new Set<ChildProcess>();

/** Kills every function process still running (for an interrupted smoke). */
export function stopEveryFunction(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** Launches the built source as Cloud Run functions does and waits until it accepts connections. */
export async function launchLikeCloudRun(options: LaunchOptions): Promise<ServedFunction> {
  const child = spawn(frameworkBin(options.directory), [], {
    cwd: options.directory,
    env: {
      PATH: `${join(options.node.path, '..')}:/usr/bin:/bin`,
      LOG_EXECUTION_ID: 'true',
      ...options.environment,
      NODE_ENV: 'production',
      FUNCTION_TARGET: options.entryPoint,
      K_SERVICE: options.serviceName,
      PORT: '0',
      // Binding to loopback (the framework has no host option) is the one difference from a deployed launch.
      NODE_OPTIONS: `--require "${LOOPBACK_PRELOAD}"`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    if (output.length > 2 * OUTPUT_LIMIT) output = `${output.slice(0, OUTPUT_LIMIT)}\n[…]\n${output.slice(-OUTPUT_LIMIT)}`;
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  running.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  try {
    const port = await listeningPort(child, START_TIMEOUT_MS).catch((error: Error) => {
      throw new Error(`the function ${error.message}`);
    });
    assertRunsOn(child, options.node);
    return {
      url: `http://127.0.0.1:${port}/`,
      nodeVersion: options.node.version,
      output: () => output,
      stop: () => stopWithSigterm(child, exited),
    };
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    throw new Error(`${(error as Error).message}\n${output}`.trimEnd());
  }
}

/** The framework's bin is a `#!/usr/bin/env node` script, so its process must have become the chosen binary. */
function assertRunsOn(child: ChildProcess, node: NodeBinary): void {
  const executable = readlinkSync(`/proc/${child.pid}/exe`);
  if (executable !== realpathSync(node.path)) throw new Error(`the function runs on ${executable}, not on ${node.path}`);
}

async function stopWithSigterm(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the function had already exited (${child.exitCode ?? child.signalCode})`);
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([exited, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), SHUTDOWN_GRACE_MS)))]);
  clearTimeout(timer);
  if (code === 'timeout') {
    child.kill('SIGKILL');
    await exited;
    throw new Error(`the function did not exit within ${SHUTDOWN_GRACE_MS / 1000} s of SIGTERM (Cloud Run would SIGKILL it)`);
  }
  if (code !== 0) throw new Error(`the function exited ${code} after SIGTERM, expected 0`);
}
