import { resolve } from 'node:path';
import { Construct } from 'constructs';
import { AssetType, TerraformAsset } from 'cdktf';
import { buildBundle } from './private/bundler';
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
   * Cloud Functions runtime the bundle is built for; esbuild targets the
   * same Node.js version (`nodejs20` → `node20`).
   * @default 'nodejs20'
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

const RUNTIME_PATTERN = /^nodejs(\d+)$/;

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
  /** Cloud Functions runtime the bundle targets. */
  public readonly runtime: string;

  constructor(scope: Construct, id: string, props: FunctionBundleProps) {
    super(scope, id);
    this.runtime = props.runtime ?? 'nodejs20';
    const runtimeMatch = RUNTIME_PATTERN.exec(this.runtime);
    validateProps(this, [
      runtimeMatch ? undefined : { prop: 'runtime', message: `must be a Node.js runtime such as 'nodejs20', got '${this.runtime}'` },
    ]);
    const bundle = buildBundle({
      entry: resolve(props.entry),
      nodeMajor: runtimeMatch ? Number(runtimeMatch[1]) : 20,
      externalModules: [...(props.externalModules ?? ['@duckdb/node-api'])].sort(),
    });
    this.sha256 = bundle.sha256;
    this.files = bundle.files;
    this.bundleBytes = bundle.bundleBytes;
    this.asset = new TerraformAsset(this, 'zip', { path: bundle.zipPath, type: AssetType.FILE, assetHash: bundle.sha256 });
    this.assetPath = this.asset.path;
  }
}
