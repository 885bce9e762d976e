/** The BigQuery stand-in as a child process (see `standin-server.ts`), and how to talk to it. */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { TableRef } from '../tools/bigquery-standin';

/** The table every benchmark function writes to; matches the environment `standInEnv` gives them. */
export const BENCH_TABLE: TableRef = { projectId: 'bench-project', datasetId: 'ingest', tableId: 'records' };

export interface StandInStats {
  /** insertAll requests received. */
  insertAllCalls: number;
  /** Rows across all insertAll requests, re-sends included. */
  rowsReceived: number;
  /** Rows in the table (a repeated insert id is stored once). */
  storedRows: number;
  /** Distinct insert ids among the stored rows. */
  distinctInsertIds: number;
}

export type StandInMessage = { type: 'ready'; url: string } | { type: 'stats'; stats?: StandInStats };

export interface StandInProcess {
  url: string;
  /** The function environment that points the BigQuery warehouse at this stand-in. */
  env: Record<string, string>;
  stats(): Promise<StandInStats>;
  stop(): Promise<void>;
}

export async function startStandIn(latencyMs: number): Promise<StandInProcess> {
  const child: ChildProcess = fork(join(__dirname, 'standin-server.ts'), [String(latencyMs)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (message: StandInMessage) => (message.type === 'ready' ? resolve(message.url) : reject(new Error('stand-in did not start'))));
    child.once('exit', (code) => reject(new Error(`stand-in exited (${code}) before it was ready`)));
  });
  return {
    url,
    env: {
      WAREHOUSE: 'bigquery',
      BIGQUERY_EMULATOR_HOST: url,
      GOOGLE_CLOUD_PROJECT: BENCH_TABLE.projectId,
      BIGQUERY_DATASET: BENCH_TABLE.datasetId,
      BIGQUERY_TABLE: BENCH_TABLE.tableId,
    },
    stats: () =>
      new Promise((resolve) => {
        child.once('message', (message: StandInMessage) => {
          if (message.type === 'stats' && message.stats) resolve(message.stats);
        });
        child.send({ type: 'stats' } satisfies StandInMessage);
      }),
    stop: async () => {
      child.disconnect();
      await exited;
    },
  };
}
