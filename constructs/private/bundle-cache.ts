import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Environment variable naming a directory where bundles and zips are kept
 * across processes, so that several processes synthesizing the same
 * functions (jest's workers, each test file in its own module registry)
 * bundle each one once. Unset, every process builds its own (and memoizes
 * them in memory). `npm test` points it at the run's temporary directory.
 */
export const BUNDLE_CACHE_VARIABLE = 'GCP_INGEST_BUNDLE_CACHE';

/** The directory {@link BUNDLE_CACHE_VARIABLE} names, if any. */
export function bundleCacheDirectory(): string | undefined {
  return process.env[BUNDLE_CACHE_VARIABLE]?.trim() || undefined;
}

/** What a build made, and every file it read. */
export interface BuildOutput {
  readonly output: Buffer;
  /** Absolute paths of the files the build read (esbuild's metafile inputs). */
  readonly inputs: readonly string[];
}

/** Resolution reads these beside the files it finds, and up the tree from them. */
const RESOLUTION_CONFIG_FILES = new Set(['package.json', 'tsconfig.json', 'jsconfig.json']);
/** What resolution looks for in a directory above the inputs. */
const RESOLUTION_ENTRIES = new Set([...RESOLUTION_CONFIG_FILES, 'node_modules']);

/** The SHA-256 of `data`, in hex. */
export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function readOrUndefined(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

/** Writes aside, then renames: a concurrent reader sees the whole file or none, and concurrent writers the same bytes. */
export function writeAtomically(path: string, data: string | Buffer): void {
  mkdirSync(dirname(path), { recursive: true });
  const partial = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.partial`;
  writeFileSync(partial, data);
  renameSync(partial, path);
}

/**
 * A hash of everything that decides what a build that read `inputs` makes,
 * besides its options: each input's contents; the whole listing of each
 * directory holding an input, and of the one above it, where a new file may
 * be what an import now resolves to (a `foo.tsx` beside `foo.ts`, a
 * `util.ts` beside the `util/` whose index an import reached, a nearer
 * `node_modules`); and, in every directory above those up to the
 * file system's root, only what resolution looks for there: a
 * `node_modules`, and the package.json, tsconfig.json and jsconfig.json
 * files, with their contents (a changed `exports`, `main` or compiler
 * option). The rest of an ancestor's listing is left out: a shared
 * temporary directory or a home directory changes all the time, and no
 * import reads it. Undefined when the build cannot be known from these: an
 * input is gone, or a tsconfig extends another file.
 */
function fingerprint(inputs: readonly string[]): string | undefined {
  const hash = createHash('sha256');
  const directories = new Set<string>();
  const listedWhole = new Set(inputs.flatMap((input) => [dirname(input), dirname(dirname(input))]));
  for (const input of [...inputs].sort()) {
    const contents = readOrUndefined(input);
    if (contents === undefined) return undefined;
    hash.update(`file ${input} ${sha256(contents)}\n`);
    for (let directory = dirname(input); !directories.has(directory); directory = dirname(directory)) {
      directories.add(directory);
      if (dirname(directory) === directory) break;
    }
  }
  for (const directory of [...directories].sort()) {
    let entries;
    try {
      entries = readdirSync(directory, { withFileTypes: true });
    } catch (error) {
      hash.update(`directory ${directory} unreadable ${(error as NodeJS.ErrnoException).code}\n`);
      continue;
    }
    const whole = listedWhole.has(directory);
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (!whole && !RESOLUTION_ENTRIES.has(entry.name)) continue;
      const path = join(directory, entry.name);
      const kind = entry.isSymbolicLink() ? `link ${readlinkSync(path)}` : entry.isDirectory() ? 'directory' : 'file';
      hash.update(`entry ${path} ${kind}\n`);
      if (!RESOLUTION_CONFIG_FILES.has(entry.name) || entry.isDirectory()) continue;
      const contents = readOrUndefined(path);
      if (contents !== undefined && entry.name !== 'package.json' && contents.includes('"extends"')) return undefined;
      hash.update(`contents ${path} ${contents === undefined ? 'unreadable' : sha256(contents)}\n`);
    }
  }
  return hash.digest('hex');
}

/**
 * The output of `build` for `request` (everything the build is given: tool
 * version, options), from `directory` when a build of the same request whose
 * inputs still have the same {@link fingerprint} stored it there, else built
 * and stored. The inputs of the last build of a request are kept beside its
 * outputs, so a lookup knows which files to fingerprint. It assumes sources
 * hold still while a build reads them, as they do in a test or CI run.
 */
export function cachedBuild(directory: string, request: unknown, build: () => BuildOutput): Buffer {
  const requestKey = sha256(JSON.stringify(request));
  const inputsPath = join(directory, `${requestKey}.inputs.json`);
  const knownInputs = readOrUndefined(inputsPath);
  if (knownInputs !== undefined) {
    const print = fingerprint(JSON.parse(knownInputs.toString('utf8')) as string[]);
    const stored = print === undefined ? undefined : readOrUndefined(join(directory, `${requestKey}-${print}`));
    if (stored !== undefined) return stored;
  }
  const built = build();
  const print = fingerprint(built.inputs);
  if (print !== undefined) {
    writeAtomically(join(directory, `${requestKey}-${print}`), built.output);
    writeAtomically(inputsPath, JSON.stringify(built.inputs));
  }
  return built.output;
}

/** The output of `make`, a pure function of `key`, from `directory` when stored there, else made and stored. */
export function cachedValue(directory: string, key: unknown, make: () => Buffer): Buffer {
  const path = join(directory, sha256(JSON.stringify(key)));
  const stored = readOrUndefined(path);
  if (stored !== undefined) return stored;
  const made = make();
  writeAtomically(path, made);
  return made;
}
