/**
 * Shared helpers for construct and stack tests: synthesize a scope to JSON
 * with cdktf's Testing helpers, read resources back, collect validation
 * errors, and synthesize the real app into a temporary directory.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AnnotationMetadataEntryType, Testing, TerraformStack } from 'cdktf';
import 'cdktf/lib/testing/adapters/jest';
import { GoogleProvider } from '@cdktf/provider-google/lib/provider';

Testing.setupJest();

/**
 * The environment the stack tests and snapshots synthesize the app with:
 * every stack, prod paging a real-looking address and an existing channel
 * (prod refuses to synthesize without a destination), and the GitHub
 * repository the bootstrap stack trusts (it has no default). Set explicitly,
 * so no test depends on the machine's variables.
 */
export const ALL_STACKS_ENV: Readonly<NodeJS.ProcessEnv> = {
  STACKS: 'all',
  PROD_ALERT_EMAILS: 'ingest-oncall@acme-data.io',
  PROD_ALERT_CHANNELS: '4817265390',
  BOOTSTRAP_GITHUB_OWNER: 'acme-data',
  BOOTSTRAP_GITHUB_REPOSITORY: 'ingest-pipeline',
  BOOTSTRAP_GITHUB_OWNER_ID: '73014412',
  BOOTSTRAP_GITHUB_REPOSITORY_ID: '902215577',
};

/** The synthesized Terraform JSON of a stack, parsed. */
export interface SynthesizedStack {
  readonly resource?: Record<string, Record<string, Record<string, unknown>>>;
  readonly data?: Record<string, Record<string, Record<string, unknown>>>;
  readonly output?: Record<string, { value: unknown; description?: string }>;
  readonly terraform?: Record<string, unknown>;
  readonly provider?: Record<string, unknown[]>;
}

/** A stack built by `build`, and its synthesized JSON (as text for the jest matchers, and parsed). */
export interface Synthesized<T> {
  readonly stack: TerraformStack;
  readonly built: T;
  readonly json: string;
  readonly parsed: SynthesizedStack;
}

/** Options of {@link synthesize}. */
export interface SynthesizeOptions {
  /** App context, e.g. `{ [RUNTIME_CHECK_DATE_CONTEXT]: '2027-05-01' }`. @default none */
  readonly context?: Record<string, unknown>;
}

/** Builds constructs into a fresh test stack (with a google provider) and synthesizes it once. */
export function synthesize<T>(build: (stack: TerraformStack) => T, options: SynthesizeOptions = {}): Synthesized<T> {
  const stack = new TerraformStack(Testing.app({ context: options.context }), 'test');
  new GoogleProvider(stack, 'google', { project: 'test-project', region: 'us-central1' });
  const built = build(stack);
  const json = Testing.synth(stack);
  return { stack, built, json, parsed: JSON.parse(json) as SynthesizedStack };
}

/** Every resource of `type` in `parsed`, by logical id. */
export function resourcesOf(parsed: SynthesizedStack, type: string): Record<string, Record<string, unknown>> {
  return parsed.resource?.[type] ?? {};
}

/** The values (configs) of every resource of `type`. */
export function resourceList(parsed: SynthesizedStack, type: string): Record<string, unknown>[] {
  return Object.values(resourcesOf(parsed, type));
}

/** The one resource of `type`; fails the test if there is not exactly one. */
export function onlyResource(parsed: SynthesizedStack, type: string): Record<string, unknown> {
  const all = resourceList(parsed, type);
  if (all.length !== 1) throw new Error(`expected exactly one ${type}, found ${all.length}`);
  return all[0]!;
}

/** Warning annotations of every construct under `stack` (what synth prints and lets pass). */
export function warnings(stack: TerraformStack): string[] {
  return stack.node
    .findAll()
    .flatMap((construct) => construct.node.metadata)
    .filter((entry) => entry.type === AnnotationMetadataEntryType.WARN)
    .map((entry) => String(entry.data));
}

/** Validation errors of every construct under `stack` (what synth would refuse with). */
export function validationErrors(stack: TerraformStack): string[] {
  return stack.node.findAll().flatMap((construct) => construct.node.validate());
}

/** Synthesizes `app` into a fresh temporary directory and returns it. */
export function freshOutdir(): string {
  return mkdtempSync(join(tmpdir(), 'cdktf-test-'));
}

/** Reads the synthesized `cdk.tf.json` of `stackName` under `outdir`. */
export function readStackJson(outdir: string, stackName: string): string {
  return readFileSync(join(outdir, 'stacks', stackName, 'cdk.tf.json'), 'utf8');
}
