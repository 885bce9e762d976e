/**
 * `npm start` as its own process (node, not npm, so signals reach the server
 * itself) on ports the system picks, writing to a DuckDB file in a temporary
 * directory; and that file read back once the process is gone.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { DuckDBInstance } from '@duckdb/node-api';
import { DUCKDB_SCHEMA, DUCKDB_TABLE } from '../lambda-src/warehouse/duckdb';

const ROOT = resolve(__dirname, '..');
const SERVER = join(ROOT, 'lambda-src/local/server.ts');

export interface LocalProcess {
  child: ChildProcessByStdio<null, null, Readable>;
  apiUrl: string;
  subscriberUrl: string;
  databasePath: string;
  /** Exit code, or null when killed by a signal. */
  exited: Promise<number | null>;
  /** What it wrote on stderr so far. */
  stderr(): string;
  /** Kills it if still running and removes its directory. */
  cleanUp(): Promise<void>;
}

export async function startLocalProcess(env: Readonly<Record<string, string>> = {}): Promise<LocalProcess> {
  const directory = mkdtempSync(join(tmpdir(), 'ingest-process-'));
  const databasePath = join(directory, 'warehouse.duckdb');
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: '0', PUBSUB_PORT: '0', WAREHOUSE: 'duckdb', DUCKDB_PATH: databasePath, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<number | null>((resolveExit) => child.on('exit', (code) => resolveExit(code)));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const cleanUp = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    rmSync(directory, { recursive: true, force: true });
  };
  try {
    const [apiUrl, subscriberUrl] = await new Promise<[string, string]>((resolveUrls, reject) => {
      child.stderr.on('data', () => {
        const api = /^api \(POST \/\):\s+(\S+)$/m.exec(stderr)?.[1];
        const subscriber = /^subscriber \(push\):\s+(\S+)$/m.exec(stderr)?.[1];
        if (api && subscriber) resolveUrls([api, subscriber]);
      });
      void exited.then((code) => reject(new Error(`server exited (${code}) before listening:\n${stderr}`)));
    });
    return { child, apiUrl, subscriberUrl, databasePath, exited, stderr: () => stderr, cleanUp };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}

export interface StoredRow {
  id: string;
  insert_id: string;
}

/** Every row of the file, opened the way a restart would, so DuckDB first replays its write-ahead log. */
export async function readStoredRows(databasePath: string): Promise<StoredRow[]> {
  const instance = await DuckDBInstance.create(databasePath);
  try {
    const connection = await instance.connect();
    try {
      const reader = await connection.runAndReadAll(`SELECT id, insert_id FROM "${DUCKDB_SCHEMA}"."${DUCKDB_TABLE}"`);
      return reader.getRowObjectsJS() as unknown as StoredRow[];
    } finally {
      connection.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}
