/**
 * Reads the function zips the constructs write (stored entries, as
 * FunctionBundle writes them) and loads them the way the Cloud Functions
 * runtime does, so tests can check what would be deployed.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** One entry of a zip, with the raw header fields tests check. */
export interface ZipEntry {
  readonly name: string;
  /** 0 = stored, 8 = deflated. */
  readonly method: number;
  readonly dosTime: number;
  readonly dosDate: number;
  /** Unix mode (upper 16 bits of the external attributes). */
  readonly mode: number;
  /** Length of the central directory's extra field (0: no extended timestamp). */
  readonly extraLength: number;
  readonly data: Buffer;
}

const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const CENTRAL_FILE_HEADER = 0x02014b50;

/** Parses a zip's central directory; stored entries only (the only kind FunctionBundle writes). */
export function readZip(zip: Buffer): ZipEntry[] {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (end < 0 || zip.readUInt32LE(end) !== END_OF_CENTRAL_DIRECTORY) throw new Error('not a zip: no end of central directory');
  const count = zip.readUInt16LE(end + 10);
  let offset = zip.readUInt32LE(end + 16);
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(offset) !== CENTRAL_FILE_HEADER) throw new Error(`bad central directory header at ${offset}`);
    const method = zip.readUInt16LE(offset + 10);
    const dosTime = zip.readUInt16LE(offset + 12);
    const dosDate = zip.readUInt16LE(offset + 14);
    const compressedSize = zip.readUInt32LE(offset + 20);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    const mode = zip.readUInt32LE(offset + 38) >>> 16;
    const localOffset = zip.readUInt32LE(offset + 42);
    const name = zip.toString('utf8', offset + 46, offset + 46 + nameLength);
    const localDataStart = localOffset + 30 + zip.readUInt16LE(localOffset + 26) + zip.readUInt16LE(localOffset + 28);
    if (method !== 0) throw new Error(`${name} is compressed (method ${method}); FunctionBundle stores entries`);
    entries.push({ name, method, dosTime, dosDate, mode, extraLength, data: zip.subarray(localDataStart, localDataStart + compressedSize) });
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** Writes the zip's files into a new temporary directory and returns it. */
export function extractZip(zip: Buffer): string {
  const directory = mkdtempSync(join(tmpdir(), 'function-source-'));
  for (const entry of readZip(zip)) {
    const target = join(directory, entry.name);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, entry.data);
  }
  return directory;
}

const PROJECT_NODE_MODULES = join(__dirname, '..', 'node_modules');
// Not an exported subpath of the package, so it is required by file path; it is the runtime's own loader.
const FRAMEWORK_LOADER = join(PROJECT_NODE_MODULES, '@google-cloud', 'functions-framework', 'build', 'src', 'loader.js');

/**
 * Loads the extracted source in a fresh Node.js process the way the
 * runtime does: the Functions Framework's own loader reads `package.json`'s
 * `main`, requires it, and looks `target` up in the framework's registry. The
 * framework comes from the project's node_modules, standing in for the copy
 * the buildpack installs from the zip's lockfile. Resolves to the signature
 * type the target registered with; throws with the child's output otherwise.
 */
export function loadTargetInRuntime(sourceDirectory: string, target: string, env: Record<string, string> = {}): string {
  const script = `
    const { getUserFunction } = require(process.argv[3]);
    getUserFunction(process.argv[1], process.argv[2], 'http').then((found) => {
      if (!found) { console.error('target not registered: ' + process.argv[2]); process.exit(3); }
      process.stdout.write(found.signatureType);
      process.exit(0);
    }, (error) => { console.error(error); process.exit(4); });
  `;
  try {
    return execFileSync(process.execPath, ['-e', script, sourceDirectory, target, FRAMEWORK_LOADER], {
      cwd: sourceDirectory,
      env: { PATH: process.env.PATH ?? '', NODE_PATH: PROJECT_NODE_MODULES, ...env },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 20_000,
    });
  } catch (error) {
    const failed = error as { status?: number; stdout?: string; stderr?: string };
    throw new Error(`loading ${target} failed (exit ${failed.status}):\n${failed.stdout ?? ''}${failed.stderr ?? ''}`);
  }
}
