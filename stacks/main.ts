/**
 * The cdktf app: one IngestStack per environment, plus the bootstrap stack,
 * of which it synthesizes the ones `STACKS` names (default `dev`, which needs
 * no configuration, so `npm run synth` works on a fresh clone; prod needs
 * somebody to page). `npm run synth` runs this file directly (the cdktf CLI
 * spends seconds starting up before it runs the app); `cdktf synth` runs it
 * through cdktf.json, and both write the same bytes. `buildApp` is what the
 * tests synthesize, so they see exactly what gets deployed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'cdktf';
import { CONTEXT_ENV } from 'cdktf/lib/app';
import { bootstrapConfigFromEnv } from './bootstrap-config';
import { BootstrapStack } from './bootstrap-stack';
import { ConfigurationError, resolveEnvironmentConfig } from './config';
import { ENVIRONMENTS } from './environments';
import { IngestStack } from './ingest-stack';

/** Context key holding per-environment overrides: `{ "ingest": { "dev": { "project": "…" } } }`. */
export const CONTEXT_KEY = 'ingest';

/** Environment variable naming the stacks to synthesize, comma-separated. */
export const STACKS_VARIABLE = 'STACKS';
const BOOTSTRAP_STACK = 'bootstrap';
const ALL_STACKS = 'all';
/** Every stack the app can synthesize, in synthesis order. */
export const STACK_NAMES: readonly string[] = [...ENVIRONMENTS.map((environment) => environment.name), BOOTSTRAP_STACK];
/** What `STACKS` means when unset or empty. */
export const DEFAULT_STACKS = 'dev';

/**
 * The stacks `STACKS` names (`dev`, `prod`, `bootstrap`, or `all`), in
 * synthesis order; throws one error listing the known names for an unknown one.
 */
export function selectedStacks(raw: string | undefined): readonly string[] {
  const requested = (raw ?? '').split(',').map((name) => name.trim()).filter(Boolean);
  const names = requested.length > 0 ? requested : [DEFAULT_STACKS];
  const unknown = names.filter((name) => name !== ALL_STACKS && !STACK_NAMES.includes(name));
  if (unknown.length > 0) {
    throw new ConfigurationError(
      `${STACKS_VARIABLE}: unknown stack ${unknown.map((name) => `"${name}"`).join(', ')}; known stacks: ${[...STACK_NAMES, ALL_STACKS].join(', ')}`,
    );
  }
  return names.includes(ALL_STACKS) ? STACK_NAMES : STACK_NAMES.filter((name) => names.includes(name));
}

export interface BuildAppOptions {
  /** Output directory. @default `CDKTF_OUTDIR` (set by the cdktf CLI) or `cdktf.out` */
  readonly outdir?: string;
  /** Environment variables to read `STACKS` and the overrides from. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Context. The cdktf CLI passes cdktf.json's `context` through
   * `CDKTF_CONTEXT_JSON`, which the App reads itself.
   * @default cdktf.json's `context` when not run by the CLI, so both runs see the same values
   */
  readonly context?: Record<string, unknown>;
}

function cdktfJsonContext(): Record<string, unknown> {
  const cdktfJson = JSON.parse(readFileSync(join(__dirname, '..', 'cdktf.json'), 'utf8')) as { context?: Record<string, unknown> };
  return cdktfJson.context ?? {};
}

export interface IngestApp {
  readonly app: App;
  /** The selected ingest stacks, by environment name. */
  readonly stacks: Readonly<Partial<Record<string, IngestStack>>>;
  /** The one-time foundation (state bucket, CI identities), applied by hand with local state, when selected. */
  readonly bootstrap?: BootstrapStack;
}

export function buildApp(options: BuildAppOptions = {}): IngestApp {
  // No stack traces in the output: they hold absolute paths of this machine.
  const context = options.context ?? (process.env[CONTEXT_ENV] === undefined ? cdktfJsonContext() : undefined);
  const app = new App({ outdir: options.outdir, stackTraces: false, context });
  const overrides = (app.node.tryGetContext(CONTEXT_KEY) ?? {}) as Record<string, unknown>;
  const env = options.env ?? process.env;
  const selected = selectedStacks(env[STACKS_VARIABLE]);
  const stacks = Object.fromEntries(
    ENVIRONMENTS.filter((defaults) => selected.includes(defaults.name)).map((defaults) => [
      defaults.name,
      new IngestStack(app, resolveEnvironmentConfig(defaults, { env, context: overrides[defaults.name] })),
    ]),
  );
  const bootstrap = selected.includes(BOOTSTRAP_STACK) ? new BootstrapStack(app, BOOTSTRAP_STACK, bootstrapConfigFromEnv(env)) : undefined;
  return { app, stacks, bootstrap };
}

if (require.main === module) {
  try {
    buildApp().app.synth();
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    console.error(error.message);
    process.exitCode = 1;
  }
}
