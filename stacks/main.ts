/**
 * The cdktf app: one IngestStack per environment, plus the bootstrap stack.
 * `npm run synth` runs this file directly (the cdktf CLI spends seconds
 * starting up before it runs the app); `cdktf synth` runs it through
 * cdktf.json, and both write the same bytes. `buildApp` is what the tests
 * synthesize, so they see exactly what gets deployed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'cdktf';
import { CONTEXT_ENV } from 'cdktf/lib/app';
import { bootstrapConfigFromEnv } from './bootstrap-config';
import { BootstrapStack } from './bootstrap-stack';
import { resolveEnvironmentConfig } from './config';
import { ENVIRONMENTS } from './environments';
import { IngestStack } from './ingest-stack';

/** Context key holding per-environment overrides: `{ "ingest": { "dev": { "project": "…" } } }`. */
export const CONTEXT_KEY = 'ingest';

export interface BuildAppOptions {
  /** Output directory. @default `CDKTF_OUTDIR` (set by the cdktf CLI) or `cdktf.out` */
  readonly outdir?: string;
  /** Environment variables to read overrides from. @default process.env */
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
  /** The ingest stacks, by environment name. */
  readonly stacks: Readonly<Record<string, IngestStack>>;
  /** The one-time foundation (state bucket, CI identities), applied by hand with local state. */
  readonly bootstrap: BootstrapStack;
}

export function buildApp(options: BuildAppOptions = {}): IngestApp {
  // No stack traces in the output: they hold absolute paths of this machine.
  const context = options.context ?? (process.env[CONTEXT_ENV] === undefined ? cdktfJsonContext() : undefined);
  const app = new App({ outdir: options.outdir, stackTraces: false, context });
  const overrides = (app.node.tryGetContext(CONTEXT_KEY) ?? {}) as Record<string, unknown>;
  const env = options.env ?? process.env;
  const stacks = Object.fromEntries(
    ENVIRONMENTS.map((defaults) => [
      defaults.name,
      new IngestStack(app, resolveEnvironmentConfig(defaults, { env, context: overrides[defaults.name] })),
    ]),
  );
  const bootstrap = new BootstrapStack(app, 'bootstrap', bootstrapConfigFromEnv(env));
  return { app, stacks, bootstrap };
}

if (require.main === module) {
  buildApp().app.synth();
}
