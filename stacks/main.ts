/**
 * The cdktf app (run by `cdktf synth` through cdktf.json): one IngestStack
 * per environment, plus the bootstrap stack. `buildApp` is what the tests
 * synthesize, so they see exactly what `npm run synth` writes.
 */
import { App } from 'cdktf';
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
  /** Extra context (the CLI passes cdktf.json's context through `CDKTF_CONTEXT_JSON`). */
  readonly context?: Record<string, unknown>;
}

export interface IngestApp {
  readonly app: App;
  readonly stacks: Readonly<Record<string, IngestStack>>;
}

export function buildApp(options: BuildAppOptions = {}): IngestApp {
  // No stack traces in the output: they hold absolute paths of this machine.
  const app = new App({ outdir: options.outdir, stackTraces: false, context: options.context });
  const overrides = (app.node.tryGetContext(CONTEXT_KEY) ?? {}) as Record<string, unknown>;
  const env = options.env ?? process.env;
  const stacks = Object.fromEntries(
    ENVIRONMENTS.map((defaults) => [
      defaults.name,
      new IngestStack(app, resolveEnvironmentConfig(defaults, { env, context: overrides[defaults.name] })),
    ]),
  );
  return { app, stacks };
}

if (require.main === module) {
  buildApp().app.synth();
}
