import { resolve } from 'node:path';
import { Construct } from 'constructs';
import { Annotations, AssetType, TerraformAsset } from 'cdktf';
import { DEFAULT_NODE_RUNTIME, NODE_RUNTIME_LIFECYCLE, runtimeCheckDate, runtimeVerdict } from './function-runtimes';
import { buildBundle, buildLibraryHandler, esbuildTarget, LIBRARY_HANDLER_EXTERNALS, LIBRARY_HANDLERS, type LibraryHandler } from './private/bundler';
import { validateProps } from './private/validation';

export type { LibraryHandler };

/**
 * Code of your own: an entry module bundled with esbuild at synth. Give
 * either this or {@link HandlerCode}.
 */
export interface EntryCode {
  /**
   * Entry module of the function (TypeScript or JavaScript), absolute or
   * relative to the current directory. It registers its targets with
   * `functions.http(name, handler)` from `@google-cloud/functions-framework`,
   * which the entry's package must depend on.
   */
  readonly entry: string;
  /**
   * Modules left out of the bundle, for code paths the cloud never takes.
   * `@google-cloud/functions-framework` is always left out and installed by
   * the runtime (see {@link FunctionBundle}).
   * @default ['@duckdb/node-api'] (the local-only DuckDB warehouse adapter)
   */
  readonly externalModules?: string[];
  /** Not with `entry`: see {@link HandlerCode}. */
  readonly handler?: never;
}

/**
 * One of this library's own handlers, which store records in the
 * {@link WarehouseTable} that `warehouseEnvironment` names: `api` (the
 * ingest and read API, target `api`) or `subscriber` (the Pub/Sub push
 * subscriber, target `subscriber`). It works the same from this repository
 * and from an installed package, and gives the same zip in both. Give either
 * this or {@link EntryCode}.
 */
export interface HandlerCode {
  /** The library handler to deploy. */
  readonly handler: LibraryHandler;
  /** Not with `handler`: see {@link EntryCode}. */
  readonly entry?: never;
  /** Not with `handler`: the library's handlers leave out `@duckdb/node-api`, which only local runs use. */
  readonly externalModules?: never;
}

/** Which code a function runs: an entry of yours, or a handler of this library. */
export type FunctionCode = EntryCode | HandlerCode;

/** Props of {@link FunctionBundle} besides the code. */
export interface FunctionBundleOptions {
  /**
   * Cloud Run functions runtime the bundle is built for; esbuild targets the
   * same Node.js version (`nodejs24` → `node24`). Synthesis fails for a
   * decommissioned or unknown runtime and warns for a deprecated one (see
   * `NODE_RUNTIME_LIFECYCLE`).
   * @default 'nodejs24'
   */
  readonly runtime?: string;
}

/** Props of {@link FunctionBundle}: the code (`entry` or `handler`) and the options. */
export type FunctionBundleProps = FunctionBundleOptions & FunctionCode;

/**
 * Refuses a code choice that TypeScript would have refused (from JavaScript,
 * or through a cast) before anything is bundled: bundling runs in the constructor.
 */
function refuseUnclearCode(scope: Construct, code: FunctionCode): void {
  const given = code as { entry?: unknown; handler?: unknown };
  let problem: string | undefined;
  if (given.handler !== undefined && given.entry !== undefined) problem = 'handler: give either handler (a library handler) or entry (your own code), not both';
  else if (given.handler === undefined && given.entry === undefined) problem = 'entry: give an entry module of yours, or a library handler';
  else if (given.handler !== undefined && !(LIBRARY_HANDLERS as readonly unknown[]).includes(given.handler)) {
    problem = `handler: must be one of ${LIBRARY_HANDLERS.map((name) => `'${name}'`).join(', ')}, got ${JSON.stringify(given.handler)}`;
  }
  if (problem !== undefined) throw new Error(`[${scope.node.path}] ${problem}`);
}

/**
 * A function's source as a reproducible zip, built during synthesis.
 *
 * esbuild bundles `entry` (or the library `handler`) into one minified, tree-shaken CommonJS `index.js`
 * (no source map, no legal comments, no absolute paths). The zip also holds a
 * `package.json` (`main: index.js`) whose only dependency is the Functions
 * Framework, pinned with a lockfile cut from the project's own: the runtime's
 * framework copy is the one that must see the `functions.http` registrations,
 * so it cannot live inside the bundle. Zip entries are sorted, stored with a
 * fixed timestamp and mode, so the same sources always give the same bytes
 * and the same {@link sha256}. A library `handler` is bundled from its
 * source when that sits beside the library (its repository); an installed
 * package ships the same files, bundled by the same code at its build, and
 * zips those. The zip reaches the synthesized stack as a
 * `FILE` asset at a relative path (`assets/<id>/<hash>/function-source.zip`).
 */
export class FunctionBundle extends Construct {
  /** The Terraform asset holding the zip; reference it through {@link assetPath}. */
  public readonly asset: TerraformAsset;
  /** SHA-256 (hex) of the zip's bytes: changes exactly when the deployed code would. */
  public readonly sha256: string;
  /** Path of the zip relative to the synthesized stack directory. */
  public readonly assetPath: string;
  /** Files inside the zip, in zip order. */
  public readonly files: readonly string[];
  /** Size in bytes of the bundled `index.js`. */
  public readonly bundleBytes: number;
  /** Cloud Run functions runtime the bundle is for. */
  public readonly runtime: string;
  /** esbuild target the code was compiled for, the runtime's Node.js version (`node24` for `nodejs24`). */
  public readonly target: string;

  constructor(scope: Construct, id: string, props: FunctionBundleProps) {
    super(scope, id);
    this.runtime = props.runtime ?? DEFAULT_NODE_RUNTIME;
    const checkDate = runtimeCheckDate(this);
    const verdict = runtimeVerdict(this.runtime, checkDate.date);
    validateProps(this, [
      checkDate.problem,
      verdict.status === 'unknown' || verdict.status === 'decommissioned' ? { prop: 'runtime', message: verdict.message } : undefined,
    ]);
    if (verdict.status === 'deprecated') Annotations.of(this).addWarning(`runtime: ${verdict.message}`);
    // An unknown or decommissioned runtime fails synthesis anyway; bundling for the newest one keeps a second,
    // confusing error away (an installed package ships no library handler for a decommissioned runtime).
    const nodeMajor = verdict.status === 'supported' || verdict.status === 'deprecated' ? verdict.lifecycle.major : NODE_RUNTIME_LIFECYCLE[0]!.major;
    this.target = esbuildTarget(nodeMajor);
    refuseUnclearCode(this, props);
    const bundle =
      props.handler === undefined
        ? buildBundle({ entry: resolve(props.entry), nodeMajor, externalModules: [...(props.externalModules ?? LIBRARY_HANDLER_EXTERNALS)].sort() })
        : buildLibraryHandler(props.handler, nodeMajor);
    this.sha256 = bundle.sha256;
    this.files = bundle.files;
    this.bundleBytes = bundle.bundleBytes;
    this.asset = new TerraformAsset(this, 'zip', { path: bundle.zipPath, type: AssetType.FILE, assetHash: bundle.sha256 });
    this.assetPath = this.asset.path;
  }
}
