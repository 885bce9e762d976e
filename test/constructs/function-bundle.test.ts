import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Testing, TerraformStack } from 'cdktf';
import { FunctionBundle, type FunctionBundleProps } from '../../constructs/function-bundle';
import { buildBundle, buildPrebuiltHandler, LIBRARY_HANDLERS, writePrebuiltHandlers } from '../../constructs/private/bundler';
import { synthesize } from '../support/synth';
import { extractZip, loadTargetInRuntime, readZip } from '../../tools/synth-zip';

const entry = join(__dirname, '..', 'fixtures', 'functions', 'hello.ts');
const projectRoot = join(__dirname, '..', '..');

describe('FunctionBundle', () => {
  const stack = new TerraformStack(Testing.app(), 'bundle-test');
  const bundle = new FunctionBundle(stack, 'hello', { entry });
  const outdir = Testing.fullSynth(stack);
  const zipPath = join(outdir, 'stacks', 'bundle-test', bundle.assetPath);
  const zip = readFileSync(zipPath);
  const entries = readZip(zip);
  const byName = Object.fromEntries(entries.map((e) => [e.name, e]));

  it('writes the zip as a FILE asset at a relative, content-addressed path', () => {
    expect(bundle.assetPath).toBe(`assets/hello_zip_${bundle.assetPath.split('/')[1]!.split('_').pop()}/${bundle.sha256}/function-source.zip`);
    expect(bundle.assetPath.startsWith('/')).toBe(false);
    expect(existsSync(zipPath)).toBe(true);
    expect(createHash('sha256').update(zip).digest('hex')).toBe(bundle.sha256);
  });

  it('holds index.js, package.json and package-lock.json, sorted, stored, 1980-01-01, mode 0644, no extra fields', () => {
    expect(entries.map((e) => e.name)).toEqual(['index.js', 'package-lock.json', 'package.json']);
    expect(bundle.files).toEqual(['index.js', 'package-lock.json', 'package.json']);
    for (const e of entries) {
      expect(e.method).toBe(0);
      expect(e.dosDate).toBe((1980 - 1980) * 512 + 1 * 32 + 1);
      expect(e.dosTime).toBe(0);
      expect(e.mode).toBe(0o100644);
      expect(e.extraLength).toBe(0);
    }
    expect(bundle.bundleBytes).toBe(byName['index.js']!.data.length);
  });

  it('bundles minified code with no absolute paths, the framework and DuckDB left external', () => {
    const code = byName['index.js']!.data.toString('utf8');
    expect(code).not.toContain(projectRoot);
    expect(code).not.toMatch(/\/(?:home|root|tmp|work|Users)\//);
    expect(code).toContain('require("@google-cloud/functions-framework")');
    expect(code).toContain('must be a non-empty string');
    expect(code.split('\n').length).toBeLessThan(5);
  });

  it('declares the framework as the only dependency, pinned to the tested version, with a lockfile cut from the project', () => {
    const manifest = JSON.parse(byName['package.json']!.data.toString('utf8'));
    const installed = JSON.parse(readFileSync(join(projectRoot, 'node_modules/@google-cloud/functions-framework/package.json'), 'utf8'));
    expect(manifest).toEqual({
      name: 'hello',
      version: '0.0.0',
      private: true,
      main: 'index.js',
      dependencies: { '@google-cloud/functions-framework': installed.version },
    });
    const lock = JSON.parse(byName['package-lock.json']!.data.toString('utf8'));
    const projectLock = JSON.parse(readFileSync(join(projectRoot, 'package-lock.json'), 'utf8'));
    expect(lock.packages['']).toEqual({ name: 'hello', version: '0.0.0', dependencies: manifest.dependencies });
    expect(lock.packages['node_modules/@google-cloud/functions-framework'].version).toBe(installed.version);
    expect(lock.packages['node_modules/express']).toBeDefined();
    for (const [path, entryInLock] of Object.entries<{ integrity?: string }>(lock.packages)) {
      if (path === '') continue;
      expect(projectLock.packages[path].integrity).toBe(entryInLock.integrity);
    }
    expect(lock.packages).not.toHaveProperty(['node_modules/cdktf']);
    expect(lock.packages).not.toHaveProperty(['node_modules/@duckdb/node-api']);
  });

  it('registers its target with the runtime copy of the Functions Framework', () => {
    expect(loadTargetInRuntime(extractZip(zip), 'hello')).toBe('http');
  });

  it('is built once per entry and options, and gives the same bytes every time', () => {
    const again = new FunctionBundle(new TerraformStack(Testing.app(), 'other'), 'hello', { entry });
    expect(again.sha256).toBe(bundle.sha256);
    const otherOptions = new FunctionBundle(new TerraformStack(Testing.app(), 'third'), 'hello', { entry, externalModules: ['valibot'] });
    expect(otherOptions.sha256).not.toBe(bundle.sha256);
  });

  it('fails clearly when the entry does not exist', () => {
    expect(() => synthesize((s) => new FunctionBundle(s, 'b', { entry: join(__dirname, 'missing.ts') }))).toThrow(/function entry .*missing\.ts does not exist/);
  });
});

describe('FunctionBundle of a library handler', () => {
  const handlerSource = (name: string) => join(projectRoot, 'lambda-src', 'functions', `${name}.ts`);
  const prebuilt = mkdtempSync(join(tmpdir(), 'prebuilt-handlers-'));
  beforeAll(() => writePrebuiltHandlers(prebuilt, [22, 24]));
  afterAll(() => rmSync(prebuilt, { recursive: true, force: true }));

  it.each(LIBRARY_HANDLERS)('bundles %s from its source beside the library, as an entry of it would be', (handler) => {
    const bundle = new FunctionBundle(new TerraformStack(Testing.app(), `handler-${handler}`), 'code', { handler });
    const fromEntry = buildBundle({ entry: handlerSource(handler), nodeMajor: 24, externalModules: ['@duckdb/node-api'] });
    expect(bundle.sha256).toBe(fromEntry.sha256);
    expect(bundle.files).toEqual(['index.js', 'package-lock.json', 'package.json']);
  });

  it.each(LIBRARY_HANDLERS)('zips the prebuilt %s files to the same bytes as its source', (handler) => {
    for (const nodeMajor of [22, 24]) {
      const fromSource = buildBundle({ entry: handlerSource(handler), nodeMajor, externalModules: ['@duckdb/node-api'] });
      expect(buildPrebuiltHandler(prebuilt, handler, nodeMajor).sha256).toBe(fromSource.sha256);
    }
  });

  it('stores a bundle that several Node.js targets share once', () => {
    const targets = JSON.parse(readFileSync(join(prebuilt, 'api', 'targets.json'), 'utf8')) as Record<string, string>;
    expect(Object.keys(targets)).toEqual(['node22', 'node24']);
    const codeFiles = readdirSync(join(prebuilt, 'api')).filter((name) => name.startsWith('index-'));
    expect(codeFiles.sort()).toEqual([...new Set(Object.values(targets))].sort());
  });

  it('names the targets it was prebuilt for when asked for another', () => {
    expect(() => buildPrebuiltHandler(prebuilt, 'api', 20)).toThrow(/api handler is prebuilt for node22, node24, not node20: choose a runtime/);
  });

  it('says how to get the prebuilt files when they are missing', () => {
    expect(() => buildPrebuiltHandler(join(prebuilt, 'nowhere'), 'subscriber', 24)).toThrow(/subscriber handler is neither in .* nor prebuilt in .*: reinstall the package/);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['both codes', { handler: 'api', entry }, /\[code-test\/b\] handler: give either handler .* or entry .*, not both/],
    ['no code', {}, /\[code-test\/b\] entry: give an entry module of yours, or a library handler/],
    ['an unknown handler', { handler: 'worker' }, /\[code-test\/b\] handler: must be one of 'api', 'subscriber', got "worker"/],
  ])('refuses %s before bundling anything', (_, props, message) => {
    const stack = new TerraformStack(Testing.app(), 'code-test');
    expect(() => new FunctionBundle(stack, 'b', props as unknown as FunctionBundleProps)).toThrow(message);
  });
});

describe('FunctionBundle of an entry in a package without a lockfile', () => {
  const packageDirectory = join(projectRoot, '.gen', 'bundle-without-lockfile');
  beforeAll(() => {
    rmSync(packageDirectory, { recursive: true, force: true });
    mkdirSync(packageDirectory, { recursive: true });
    writeFileSync(join(packageDirectory, 'package.json'), JSON.stringify({ name: 'no-lock', private: true }));
    writeFileSync(
      join(packageDirectory, 'fn.ts'),
      "import * as functions from '@google-cloud/functions-framework';\nfunctions.http('fn', (_request, response) => { response.send('ok'); });\n",
    );
  });
  afterAll(() => rmSync(packageDirectory, { recursive: true, force: true }));

  it("pins the framework's installed version, found through its public entry point (its exports map hides package.json)", () => {
    const noLockStack = new TerraformStack(Testing.app(), 'no-lock');
    const bundle = new FunctionBundle(noLockStack, 'fn', { entry: join(packageDirectory, 'fn.ts') });
    const installed = JSON.parse(readFileSync(join(projectRoot, 'node_modules/@google-cloud/functions-framework/package.json'), 'utf8'));
    const zipEntries = readZip(readFileSync(join(Testing.fullSynth(noLockStack), 'stacks', 'no-lock', bundle.assetPath)));
    expect(zipEntries.map((e) => e.name)).toEqual(['index.js', 'package.json']);
    const manifest = JSON.parse(zipEntries.find((e) => e.name === 'package.json')!.data.toString('utf8'));
    expect(manifest.dependencies).toEqual({ '@google-cloud/functions-framework': installed.version });
  });
});
