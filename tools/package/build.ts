/**
 * `npm run build`: the published package's contents in `dist/`.
 *
 * - `tsc -p tsconfig.build.json` compiles the construct library (and the
 *   `lambda-src` modules it imports: the record schema, log event names) to
 *   CommonJS with `.d.ts`;
 * - the library's own function handlers are bundled by the very code that
 *   bundles them at synth (`writePrebuiltHandlers`) into `dist/handlers`, for
 *   every Node.js runtime not yet decommissioned, because their TypeScript
 *   sources are not published: an installed package zips these files and
 *   deploys the same bytes as this repository.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { NODE_RUNTIME_LIFECYCLE, nodeRuntimeId, runtimeVerdict } from '../../constructs/function-runtimes';
import { PREBUILT_HANDLERS_FOLDER, writePrebuiltHandlers } from '../../constructs/private/bundler';

const ROOT = resolve(__dirname, '..', '..');
const DIST = join(ROOT, 'dist');

/** Node.js majors of the runtimes that still deploy today: a decommissioned one fails synth before it would need a bundle. */
function deployableNodeMajors(date: string): number[] {
  return NODE_RUNTIME_LIFECYCLE.filter((runtime) => runtimeVerdict(nodeRuntimeId(runtime.major), date).status !== 'decommissioned').map(
    (runtime) => runtime.major,
  );
}

export function build(): void {
  rmSync(DIST, { recursive: true, force: true });
  execFileSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'inherit' });
  const majors = deployableNodeMajors(new Date().toISOString().slice(0, 10));
  // The compiled library's root is dist/, so this is where it looks for them.
  writePrebuiltHandlers(join(DIST, PREBUILT_HANDLERS_FOLDER), majors);
  console.log(`built dist/: the construct library, and its handlers for ${majors.map((major) => `node${major}`).join(', ')}`);
}

if (require.main === module) build();
