import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A temporary directory for one test file, made before its tests and removed after them. */
export interface ScratchDirectory {
  /** The directory itself; only once the file's tests have started. */
  readonly path: string;
  /** A path inside it that no earlier call returned, ending in `leaf` (e.g. `warehouse.duckdb`) when given. */
  fresh(leaf?: string): string;
}

export function scratchDirectory(prefix: string): ScratchDirectory {
  let path: string | undefined;
  let made = 0;
  beforeAll(() => {
    path = mkdtempSync(join(tmpdir(), prefix));
  });
  afterAll(() => {
    if (path) rmSync(path, { recursive: true, force: true });
  });
  const root = () => {
    if (!path) throw new Error('scratchDirectory: used before the tests started');
    return path;
  };
  return {
    get path() {
      return root();
    },
    fresh(leaf) {
      made += 1;
      const directory = join(root(), `${made}`);
      return leaf === undefined ? directory : join(directory, leaf);
    },
  };
}
