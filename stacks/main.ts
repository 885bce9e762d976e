/**
 * The cdktf app: one IngestStack per environment, plus the bootstrap stack,
 * of which it synthesizes the ones `STACKS` names (default `dev`, which needs
 * no configuration, so `npm run synth` works on a fresh clone; prod needs
 * somebody to page). `npm run synth` runs this file directly (the cdktf CLI
 * spends seconds starting up before it runs the app); `cdktf synth` runs it
 * through cdktf.json, and both write the same bytes. `buildApp` is what the
 * tests synthesize, so they see exactly what gets deployed.
 *
 * A configuration error ends the run with every problem of every selected
 * stack, one line each, and no stack trace: the config fields (named with
 * the variable that sets them) of each stack whose config is invalid, and the
 * props the constructs of the others refuse (`[<construct path>] <prop>: …`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'cdktf';
import type { IConstruct } from 'constructs';
import { CONTEXT_ENV } from 'cdktf/lib/app';
import { bootstrapConfigFromEnv } from './bootstrap-config';
import { BootstrapStack } from './bootstrap-stack';
import { resolveEnvironmentConfig } from './config';
import { ConfigurationError, isPlainObject } from './config-checks';
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
 * synthesis order, and a problem listing the known names if it names others
 * (the known ones it names are still checked, so that their problems are
 * reported with it).
 */
export function selectedStacks(raw: string | undefined): { stacks: readonly string[]; problems: string[] } {
  const requested = (raw ?? '').split(',').map((name) => name.trim()).filter(Boolean);
  const names = requested.length > 0 ? requested : [DEFAULT_STACKS];
  const unknown = names.filter((name) => name !== ALL_STACKS && !STACK_NAMES.includes(name));
  return {
    stacks: names.includes(ALL_STACKS) ? STACK_NAMES : STACK_NAMES.filter((name) => names.includes(name)),
    problems:
      unknown.length === 0
        ? []
        : [`${STACKS_VARIABLE}: unknown stack ${unknown.map((name) => `"${name}"`).join(', ')}; known stacks: ${[...STACK_NAMES, ALL_STACKS].join(', ')}`],
  };
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

/** Runs `build`, collecting the problems of a `ConfigurationError` instead of stopping at it. */
function collecting<T>(problems: string[], build: () => T): T | undefined {
  try {
    return build();
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    problems.push(...error.problems);
    return undefined;
  }
}

/**
 * The per-environment overrides of the `ingest` context; a key naming no
 * environment (a typo such as `prd`) would be ignored without a word, so it
 * is a problem.
 */
function contextOverrides(context: unknown, problems: string[]): Record<string, unknown> {
  if (context === undefined) return {};
  if (!isPlainObject(context)) {
    problems.push(`${CONTEXT_KEY}: the context must be an object of environments, got ${JSON.stringify(context)}`);
    return {};
  }
  const names = ENVIRONMENTS.map(({ name }) => name);
  for (const key of Object.keys(context).filter((key) => !names.includes(key))) {
    problems.push(`${CONTEXT_KEY}.${key}: is not an environment; environments: ${names.join(', ')}`);
  }
  return context;
}

/** What synthesis would refuse in the constructs under `scope`, one line each: `[<construct path>] <prop>: <why>`. */
function constructProblems(scope: IConstruct): string[] {
  return scope.node.findAll().flatMap((construct) => construct.node.validate().map((message) => `[${construct.node.path}] ${message}`));
}

/**
 * The app with the stacks `STACKS` selects, checked. Throws one
 * `ConfigurationError` holding every problem: the config problems of every
 * selected stack, then what the constructs of the others refuse (cdktf's
 * own check at synth stops at the first stack that fails).
 */
export function buildApp(options: BuildAppOptions = {}): IngestApp {
  // No stack traces in the output: they hold absolute paths of this machine.
  const context = options.context ?? (process.env[CONTEXT_ENV] === undefined ? cdktfJsonContext() : undefined);
  const app = new App({ outdir: options.outdir, stackTraces: false, context });
  const env = options.env ?? process.env;
  const { stacks: selected, problems } = selectedStacks(env[STACKS_VARIABLE]);
  const overrides = contextOverrides(app.node.tryGetContext(CONTEXT_KEY), problems);
  const stacks: Record<string, IngestStack> = {};
  for (const defaults of ENVIRONMENTS.filter(({ name }) => selected.includes(name))) {
    const stack = collecting(problems, () => new IngestStack(app, resolveEnvironmentConfig(defaults, { env, context: overrides[defaults.name] })));
    if (stack !== undefined) stacks[defaults.name] = stack;
  }
  const bootstrap = selected.includes(BOOTSTRAP_STACK)
    ? collecting(problems, () => new BootstrapStack(app, BOOTSTRAP_STACK, bootstrapConfigFromEnv(env)))
    : undefined;
  problems.push(...constructProblems(app));
  if (problems.length > 0) throw new ConfigurationError(problems);
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
