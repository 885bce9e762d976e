/**
 * `npm run test:consumer`: the package tested as its users get it.
 *
 * Builds the package, packs it into a scratch directory, and installs it into
 * a copy of `examples/consumer` (a cdktf app with its own dependencies, its
 * own lockfile and the tsconfig of `cdktf init --template=typescript`): the
 * app's dependencies from its lockfile, then our fresh tarball (never the
 * registry's). Then it type-checks, synthesizes with the policy pack on, runs
 * the app's own checks, and checks what only this repository can: the
 * tarball's contents, that no DuckDB and no second `constructs` reach the
 * app, that our declarations need nothing past ES2018, and that each handler
 * zip the app deploys has the bytes this repository deploys.
 *
 * Ends with `test:consumer: N passed, M failed`; exits 1 when any failed.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import { DEFAULT_NODE_MAJOR } from '../../constructs/function-runtimes';
import { buildLibraryHandler, LIBRARY_HANDLERS } from '../../constructs/private/bundler';
import { build } from './build';

const ROOT = resolve(__dirname, '..', '..');
const CONSUMER = join(ROOT, 'examples', 'consumer');

/** What the tarball may hold; anything else (tests, sources, workflows, synth output) fails the run. */
const PACKED = [/^package\.json$/, /^README\.md$/, /^LICENSE$/, /^CHANGELOG\.md$/, /^dist\/.+\.(?:js|d\.ts)$/, /^dist\/handlers\/[a-z]+\/[a-z-]+\.json$/];

interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  files: { path: string }[];
}

/** The environment for nested npm and node runs: npm's own `npm_*` variables of this run would leak into them. */
function cleanEnvironment(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_')));
}

function run(command: string, args: readonly string[], cwd: string): string {
  try {
    return execFileSync(command, args, { cwd, env: { ...cleanEnvironment(), CHECKPOINT_DISABLE: '1' }, encoding: 'utf8', stdio: 'pipe', maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${failed.stdout ?? ''}${failed.stderr ?? ''}`.trimEnd());
  }
}

const results: { name: string; error?: string }[] = [];

function check(name: string, body: () => void): void {
  try {
    body();
    results.push({ name });
    console.log(`ok    ${name}`);
  } catch (error) {
    results.push({ name, error: (error as Error).message });
    console.log(`FAIL  ${name}\n${(error as Error).message.replace(/^/gm, '      ')}`);
  }
}

function ensure(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

/** Every installed copy of `name` under `nodeModules`, at any depth. */
function installedCopies(nodeModules: string, name: string): string[] {
  const found: string[] = [];
  const visit = (directory: string) => {
    if (existsSync(join(directory, name, 'package.json'))) found.push(join(directory, name));
    for (const entry of readdirSync(directory, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const child = join(directory, entry.name);
      if (entry.name.startsWith('@')) {
        for (const scoped of readdirSync(child, { withFileTypes: true })) {
          if (scoped.isDirectory() && existsSync(join(child, scoped.name, 'node_modules'))) visit(join(child, scoped.name, 'node_modules'));
        }
      } else if (existsSync(join(child, 'node_modules'))) {
        visit(join(child, 'node_modules'));
      }
    }
  };
  visit(nodeModules);
  return found;
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function main(): void {
  const scratch = mkdtempSync(join(tmpdir(), 'gcp-ingest-consumer-'));
  try {
    build();
    const pack = (JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', scratch], ROOT)) as PackResult[])[0]!;
    const tarball = join(scratch, pack.filename);
    console.log(`packed ${pack.filename}: ${pack.size} bytes packed, ${pack.unpackedSize} unpacked, ${pack.files.length} files`);

    check('the tarball holds dist/ JavaScript and declarations, the prebuilt handlers, README, LICENSE, CHANGELOG and package.json alone', () => {
      const stray = pack.files.map((file) => file.path).filter((path) => !PACKED.some((pattern) => pattern.test(path)));
      ensure(stray.length === 0, `unexpected files in the tarball: ${stray.join(', ')}`);
      for (const required of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'dist/constructs/index.js', 'dist/constructs/index.d.ts']) {
        ensure(pack.files.some((file) => file.path === required), `the tarball has no ${required}`);
      }
    });

    const app = join(scratch, 'consumer');
    cpSync(CONSUMER, app, {
      recursive: true,
      filter: (source) => !/(?:^|\/)(?:node_modules|cdktf\.out)(?:\/|$)|\.js$|\.d\.ts$|\.tsbuildinfo$/.test(relative(CONSUMER, source)),
    });
    const lockedVersions = (JSON.parse(readFileSync(join(app, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> }).packages;
    // The app's own dependencies exactly as its lockfile pins them, then our tarball, as a user would add it.
    run('npm', ['ci', '--no-audit', '--no-fund'], app);
    run('npm', ['install', '--no-audit', '--no-fund', tarball], app);
    const nodeModules = join(app, 'node_modules');

    check("the app keeps its own locked versions of the peer dependencies, and has one copy of each", () => {
      for (const peer of ['cdktf', 'constructs', '@cdktf/provider-google', '@cdktf/provider-time']) {
        const copies = installedCopies(nodeModules, peer);
        ensure(copies.length === 1, `${peer} is installed ${copies.length} times: ${copies.map((copy) => relative(app, copy)).join(', ')}`);
        const installed = (JSON.parse(readFileSync(join(copies[0]!, 'package.json'), 'utf8')) as { version: string }).version;
        const locked = lockedVersions[`node_modules/${peer}`]?.version;
        ensure(installed === locked, `${peer} ${installed} is installed, the app's lockfile pins ${locked}`);
      }
    });

    check('no DuckDB (nor any other dependency only our app and tests need) reaches the app', () => {
      for (const devOnly of ['@duckdb/node-api', '@google-cloud/functions-framework', '@google-cloud/bigquery', 'tsx']) {
        const copies = installedCopies(nodeModules, devOnly);
        ensure(copies.length === 0, `${devOnly} is installed: ${copies.map((copy) => relative(app, copy)).join(', ')}`);
      }
    });

    check("the app type-checks and compiles with cdktf init's tsconfig", () => {
      run(join(nodeModules, '.bin', 'tsc'), ['-p', 'tsconfig.json'], app);
    });

    check('our declarations type-check on their own against ES2018 and no @types (skipLibCheck off)', () => {
      const tsconfig = {
        compilerOptions: { target: 'ES2018', lib: ['es2018'], module: 'CommonJS', strict: true, noEmit: true, skipLibCheck: false, types: [] },
        files: [join(nodeModules, 'gcp-ingest-cdktf', 'dist', 'constructs', 'index.d.ts')],
      };
      writeFileSync(join(app, 'tsconfig.declarations.json'), JSON.stringify(tsconfig));
      run(join(nodeModules, '.bin', 'tsc'), ['-p', 'tsconfig.declarations.json'], app);
    });

    check('the app synthesizes with the policy pack on, and its own checks pass', () => {
      run(process.execPath, ['main.js'], app);
      process.stdout.write(`      ${run(process.execPath, ['check-synth.js'], app)}`);
    });

    check("each handler zip the app deploys has the bytes this repository's bundles have", () => {
      const stackDirectory = join(app, 'cdktf.out', 'stacks', 'orders');
      const stack = JSON.parse(readFileSync(join(stackDirectory, 'cdk.tf.json'), 'utf8')) as {
        resource: { google_storage_bucket_object: Record<string, { name: string; source: string }> };
      };
      const objects = Object.values(stack.resource.google_storage_bucket_object);
      for (const handler of LIBRARY_HANDLERS) {
        const object = objects.find((candidate) => candidate.name.startsWith(`orders-${handler}/`));
        ensure(object !== undefined, `the app deploys no ${handler} zip`);
        const repository = buildLibraryHandler(handler, DEFAULT_NODE_MAJOR);
        const consumerSha = sha256(join(stackDirectory, object!.source));
        ensure(consumerSha === repository.sha256, `${handler}: the app's zip has sha256 ${consumerSha}, this repository's ${repository.sha256}`);
        ensure(basename(object!.name, '.zip') === repository.sha256, `${handler}: the object is named ${object!.name}`);
      }
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const failed = results.filter((result) => result.error !== undefined).length;
  console.log(`test:consumer: ${results.length - failed} passed, ${failed} failed`);
  if (failed > 0 || results.length === 0) process.exitCode = 1;
}

main();
