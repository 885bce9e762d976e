import { resolve } from 'node:path';
import { Construct } from 'constructs';
import { Annotations, AssetType, TerraformAsset } from 'cdktf';
import { DEFAULT_NODE_RUNTIME, NODE_RUNTIME_LIFECYCLE, runtimeCheckDate, runtimeVerdict } from './function-runtimes';
import { buildBundle, esbuildTarget } from './private/bundler';
import { validateProps } from './private/validation';

/** Props of {@link FunctionBundle}. */
export interface FunctionBundleProps {
  /**
   * Entry module of the function (TypeScript or JavaScript), absolute or
   * relative to the current directory. It registers its targets with
   * `functions.http(name, handler)` from `@google-cloud/functions-framework`.
   */
  readonly entry: string;
  /**
   * Cloud Run functions runtime the bundle is built for; esbuild targets the
   * same Node.js version (`nodejs24` → `node24`). Synthesis fails for a
   * decommissioned or unknown runtime and warns for a deprecated one (see
   * `NODE_RUNTIME_LIFECYCLE`).
   * @default 'nodejs24'
   */
  readonly runtime?: string;
  /**
   * Modules left out of the bundle, for code paths the cloud never takes.
   * `@google-cloud/functions-framework` is always left out and installed by
   * the runtime (see the class documentation).
   * @default ['@duckdb/node-api'] (the local-only DuckDB warehouse adapter)
   */
  readonly externalModules?: string[];
}

/**
 * A function's source as a reproducible zip, built during synthesis.
 *
 * esbuild bundles `entry` into one minified, tree-shaken CommonJS `index.js`
 * (no source map, no legal comments, no absolute paths). The zip also holds a
 * `package.json` (`main: index.js`) whose only dependency is the Functions
 * Framework, pinned with a lockfile cut from the project's own: the runtime's
 * framework copy is the one that must see the `functions.http` registrations,
 * so it cannot live inside the bundle. Zip entries are sorted, stored with a
 * fixed timestamp and mode, so the same sources always give the same bytes
 * and the same {@link sha256}. The zip reaches the synthesized stack as a
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
    // An unknown runtime fails synthesis anyway; bundling for the newest one keeps a second, confusing error away.
    const nodeMajor = verdict.status === 'unknown' ? NODE_RUNTIME_LIFECYCLE[0]!.major : verdict.lifecycle.major;
    this.target = esbuildTarget(nodeMajor);
    const bundle = buildBundle({
      entry: resolve(props.entry),
      nodeMajor,
      externalModules: [...(props.externalModules ?? ['@duckdb/node-api'])].sort(),
    });
    this.sha256 = bundle.sha256;
    this.files = bundle.files;
    this.bundleBytes = bundle.bundleBytes;
    this.asset = new TerraformAsset(this, 'zip', { path: bundle.zipPath, type: AssetType.FILE, assetHash: bundle.sha256 });
    this.assetPath = this.asset.path;
  }
}
