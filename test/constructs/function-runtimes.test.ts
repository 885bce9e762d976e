import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Testing } from 'cdktf';
import { FunctionBundle } from '../../constructs/function-bundle';
import {
  DEFAULT_NODE_RUNTIME,
  NODE_RUNTIME_LIFECYCLE,
  nodeRuntimeId,
  RUNTIME_CHECK_DATE_CONTEXT,
  RUNTIME_SUPPORT_SCHEDULE_URL,
  runtimeVerdict,
} from '../../constructs/function-runtimes';
import { HttpIngestFunction } from '../../constructs/http-ingest-function';
import { onlyResource, synthesize, validationErrors, warnings } from '../support/synth';

const entry = join(__dirname, '..', 'fixtures', 'functions', 'hello.ts');
const projectRoot = join(__dirname, '..', '..');

/** A bundle of `runtime` judged on `date`: its validation errors, warnings and synthesized JSON. */
function bundleOn(runtime: string | undefined, date: string | undefined) {
  const { stack, built, json } = synthesize((s) => new FunctionBundle(s, 'bundle', { entry, runtime }), {
    context: date === undefined ? undefined : { [RUNTIME_CHECK_DATE_CONTEXT]: date },
  });
  return { bundle: built, errors: validationErrors(stack), warnings: warnings(stack), json };
}

describe('the runtime lifecycle table', () => {
  it("holds Google's published dates for the runtimes the issue names", () => {
    const rows = Object.fromEntries(NODE_RUNTIME_LIFECYCLE.map((row) => [nodeRuntimeId(row.major), row]));
    expect(rows.nodejs24).toEqual({ major: 24, deprecated: '2028-04-30', decommissioned: '2028-10-31' });
    expect(rows.nodejs22).toEqual({ major: 22, deprecated: '2027-04-30', decommissioned: '2027-10-31' });
    expect(rows[nodeRuntimeId(20)]).toMatchObject({ decommissioned: '2026-10-30' });
  });

  it('is newest first, each runtime deprecated before it is decommissioned', () => {
    const majors = NODE_RUNTIME_LIFECYCLE.map((row) => row.major);
    expect(majors).toEqual([...majors].sort((a, b) => b - a));
    for (const row of NODE_RUNTIME_LIFECYCLE) expect(row.deprecated < row.decommissioned).toBe(true);
  });

  it('is the only place an unsupported Node.js runtime is named in constructs/ and stacks/', () => {
    const files = ['constructs', 'stacks'].flatMap((folder) =>
      readdirSync(join(projectRoot, folder), { recursive: true, encoding: 'utf8' })
        .filter((file) => file.endsWith('.ts'))
        .map((file) => join(folder, file)),
    );
    const named = files.filter((file) => /nodejs(1[0-9]|20)\b/.test(readFileSync(join(projectRoot, file), 'utf8')));
    expect(named).toEqual([]);
  });
});

describe('runtimeVerdict', () => {
  it.each([
    // [runtime, date, status]: each side of each boundary.
    [nodeRuntimeId(20), '2026-04-29', 'supported'],
    [nodeRuntimeId(20), '2026-04-30', 'deprecated'],
    [nodeRuntimeId(20), '2026-10-29', 'deprecated'],
    [nodeRuntimeId(20), '2026-10-30', 'decommissioned'],
    ['nodejs22', '2027-04-29', 'supported'],
    ['nodejs22', '2027-04-30', 'deprecated'],
    ['nodejs22', '2027-10-30', 'deprecated'],
    ['nodejs22', '2027-10-31', 'decommissioned'],
    ['nodejs24', '2028-04-29', 'supported'],
    ['nodejs24', '2028-04-30', 'deprecated'],
    ['nodejs24', '2028-10-30', 'deprecated'],
    ['nodejs24', '2028-10-31', 'decommissioned'],
  ])('%s on %s is %s', (runtime, date, status) => {
    expect(runtimeVerdict(runtime, date).status).toBe(status);
  });

  it('tells what to use instead: the newest runtime not yet deprecated', () => {
    const verdict = runtimeVerdict('nodejs22', '2027-05-01');
    expect(verdict.status === 'deprecated' && verdict.message).toContain('use nodejs24 (supported until 2028-04-30');
  });

  it('says so when every known runtime is deprecated, instead of recommending one of them', () => {
    const verdict = runtimeVerdict('nodejs24', '2028-05-01');
    expect(verdict.status === 'deprecated' && verdict.message).toContain('every runtime this library knows is deprecated on 2028-05-01');
  });

  it('refuses an unknown id, listing the known ones', () => {
    const verdict = runtimeVerdict('python312', '2026-12-03');
    expect(verdict.status).toBe('unknown');
    expect(verdict.status === 'unknown' && verdict.message).toContain(`known runtimes: ${NODE_RUNTIME_LIFECYCLE.map((row) => nodeRuntimeId(row.major)).join(', ')}`);
  });
});

describe('FunctionBundle runtime', () => {
  it('defaults to nodejs24, and the esbuild target follows the runtime', () => {
    expect(DEFAULT_NODE_RUNTIME).toBe('nodejs24');
    const { bundle } = bundleOn(undefined, '2027-01-01');
    expect(bundle.runtime).toBe('nodejs24');
    expect(bundle.target).toBe('node24');
    expect(bundleOn('nodejs22', '2027-01-01').bundle.target).toBe('node22');
  });

  it('fails synthesis for a decommissioned runtime, naming it, its decommission date and the runtime to use', () => {
    const decommissioned = nodeRuntimeId(20);
    expect(bundleOn(decommissioned, '2026-10-29').errors).toEqual([]);
    const { errors } = bundleOn(decommissioned, '2026-10-30');
    expect(errors).toEqual([
      `runtime: ${decommissioned} was decommissioned on 2026-10-30: Cloud Run functions no longer creates or updates functions on it; use nodejs24 (supported until 2028-04-30, decommissioned 2028-10-31); schedule: ${RUNTIME_SUPPORT_SCHEDULE_URL}`,
    ]);
    expect(bundleOn('nodejs22', '2027-10-31').errors).toEqual([expect.stringMatching(/^runtime: nodejs22 was decommissioned on 2027-10-31: .*use nodejs24 /)]);
  });

  it('warns for a deprecated runtime with the same facts, and lets synthesis pass', () => {
    expect(bundleOn('nodejs22', '2027-04-29').warnings).toEqual([]);
    const { warnings: found, errors } = bundleOn('nodejs22', '2027-04-30');
    expect(errors).toEqual([]);
    expect(found).toEqual([
      `runtime: nodejs22 is deprecated since 2027-04-30 and is decommissioned on 2027-10-31, after which no deploy can create or update it; use nodejs24 (supported until 2028-04-30, decommissioned 2028-10-31); schedule: ${RUNTIME_SUPPORT_SCHEDULE_URL}`,
    ]);
  });

  it('judges at today when no date is injected', () => {
    const today = new Date().toISOString().slice(0, 10);
    const expected = runtimeVerdict(nodeRuntimeId(20), today);
    const { errors } = bundleOn(nodeRuntimeId(20), undefined);
    expect(errors).toEqual(expected.status === 'decommissioned' || expected.status === 'unknown' ? [`runtime: ${expected.message}`] : []);
  });

  it('never lets the date change the synthesized JSON', () => {
    expect(bundleOn('nodejs22', '2027-05-01').json).toBe(bundleOn('nodejs22', '2026-01-01').json);
  });

  it('refuses an unknown runtime and a malformed date, naming the prop or the context key', () => {
    expect(bundleOn('go122', '2027-01-01').errors).toEqual([expect.stringMatching(/^runtime: 'go122' is not a Node.js runtime of Cloud Run functions; known runtimes: nodejs24, /)]);
    expect(bundleOn('nodejs24', '2027-02-30').errors).toEqual([`context ${RUNTIME_CHECK_DATE_CONTEXT}: must be a date as YYYY-MM-DD, got "2027-02-30"`]);
  });
});

describe('HttpIngestFunction runtime', () => {
  it('deploys the runtime its bundle was built for', () => {
    const { parsed, built } = synthesize(
      (s) => new HttpIngestFunction(s, 'fn', { entry, entryPoint: 'hello', region: 'us-central1', maxInstanceCount: 1, runtime: 'nodejs22' }),
      { context: { [RUNTIME_CHECK_DATE_CONTEXT]: '2027-01-01' } },
    );
    expect((onlyResource(parsed, 'google_cloudfunctions2_function').build_config as { runtime: string }).runtime).toBe('nodejs22');
    expect(built.bundle.target).toBe('node22');
  });

  it('fails synthesis through its bundle when the runtime is decommissioned', () => {
    const { stack } = synthesize(
      (s) => new HttpIngestFunction(s, 'fn', { entry, entryPoint: 'hello', region: 'us-central1', maxInstanceCount: 1 }),
      { context: { [RUNTIME_CHECK_DATE_CONTEXT]: '2028-10-31' } },
    );
    expect(() => Testing.synth(stack, true)).toThrow(/runtime: nodejs24 was decommissioned on 2028-10-31/);
  });
});
