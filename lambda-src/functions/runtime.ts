/**
 * What a deployed function (and the local server) is built from: settings
 * read from the environment, and each function's warehouse stack
 * (group-commit batcher over the insert-failure log over the adapter).
 */
import { systemClock, type Clock } from '../clock';
import { InsertFailureLogWarehouse } from '../handlers/insert-failure-log';
import { lazyWarehouse, type HandlerDependencies } from '../handlers/store';
import type { FunctionName } from '../log-events';
import { createLogger, type Logger } from '../logging';
import { GROUP_COMMIT_DEADLINE_MS, GROUP_COMMIT_LINGER_MS, integerFromEnv, MAX_BODY_BYTES, READ_WINDOW_HOURS } from '../rules/limits';
import { openWarehouse, warehouseConfigFromEnv, type WarehouseConfig } from '../warehouse/from-env';
import { GroupCommitWarehouse, type GroupCommitOptions } from '../warehouse/group-commit';
import type { Warehouse } from '../warehouse/warehouse';

export interface FunctionSettings {
  /** `MAX_BODY_BYTES` (see `MAX_BODY_BYTES` in rules/limits.ts): largest request body (and decoded push data) accepted. */
  maxBodyBytes: number;
  /** `GOOGLE_CLOUD_PROJECT`: qualifies trace ids in the logs. */
  projectId: string | undefined;
  /**
   * `READ_WINDOW_HOURS` (see rules/limits.ts): how far back reads look when
   * the client names no `since`; on BigQuery what one read bills grows with
   * it (see docs/reads.md).
   * @default `READ_WINDOW_HOURS.default`
   */
  readWindowHours?: number;
  /**
   * `GROUP_COMMIT_LINGER_MS` (see rules/limits.ts): how long the batcher holds the
   * first queued row for company. Raising it keeps rows pending in the
   * batcher, which is how the drain test catches them there at SIGTERM;
   * production wants the default.
   * @default the warehouse's (`GROUP_COMMIT_FOR_WAREHOUSE`: 0 for DuckDB, the batcher's 2 ms for BigQuery)
   */
  groupCommitLingerMs?: number;
  /**
   * `GROUP_COMMIT_DEADLINE_MS` (see rules/limits.ts): how long a request's rows may
   * take to commit, retries included, before it is answered 503 (or nacked).
   * Keep it under the function's timeout.
   * @default the batcher's (`GROUP_COMMIT_DEFAULTS.deadlineMs`, 10 s)
   */
  groupCommitDeadlineMs?: number;
}

type Env = Readonly<Record<string, string | undefined>>;

export function functionSettingsFromEnv(env: Env = process.env): FunctionSettings {
  return {
    maxBodyBytes: integerFromEnv(env, MAX_BODY_BYTES),
    projectId: env.GOOGLE_CLOUD_PROJECT || undefined,
    groupCommitLingerMs: integerFromEnv(env, GROUP_COMMIT_LINGER_MS),
    groupCommitDeadlineMs: integerFromEnv(env, GROUP_COMMIT_DEADLINE_MS),
    readWindowHours: integerFromEnv(env, READ_WINDOW_HOURS),
  };
}

export interface FunctionRuntimeOptions {
  functionName: FunctionName;
  /** Opens (or returns) the adapter; called on the first request, again after a failed open. */
  openWarehouse: () => Promise<Warehouse>;
  settings: FunctionSettings;
  logger?: Logger;
  clock?: Clock;
  /**
   * Options of the group-commit batcher, or `false` for none: each request
   * then makes its own warehouse insert (the benchmarks' baseline).
   * @default {} (group commit with its defaults)
   */
  groupCommit?: GroupCommitOptions | false;
}

export interface FunctionRuntime extends HandlerDependencies {
  /** Flushes the batcher (if any) and closes the warehouse under it, if it was opened. */
  close(): Promise<void>;
}

export function createFunctionRuntime(options: FunctionRuntimeOptions): FunctionRuntime {
  const logger = options.logger ?? createLogger({ projectId: options.settings.projectId });
  const { groupCommitLingerMs: lingerMs, groupCommitDeadlineMs: deadlineMs } = options.settings;
  const groupCommit = options.groupCommit ?? {};
  let opened: Warehouse | undefined;
  const warehouse = lazyWarehouse(async () => {
    const logged = new InsertFailureLogWarehouse(await options.openWarehouse(), logger, options.functionName);
    opened =
      groupCommit === false
        ? logged
        : new GroupCommitWarehouse(logged, {
            ...groupCommit,
            ...(lingerMs === undefined ? {} : { lingerMs }),
            ...(deadlineMs === undefined ? {} : { deadlineMs }),
          });
    return opened;
  });
  return {
    warehouse,
    maxBodyBytes: options.settings.maxBodyBytes,
    readWindowHours: options.settings.readWindowHours,
    logger,
    clock: options.clock ?? systemClock,
    close: async () => {
      await opened?.close();
    },
  };
}

export const GROUP_COMMIT_SETTINGS = ['on', 'off'] as const;

/**
 * Group-commit tuning per warehouse. DuckDB runs one write at a time on its
 * one connection, so a second batch in flight would only wait there, smaller
 * than if it had kept gathering rows in the batcher's queue. And a DuckDB
 * commit takes about a millisecond, so rows gather behind the one in flight
 * anyway: a batch sent at the end of the event-loop turn its rows arrived in
 * (linger 0), rather than after a 2 ms timer, leaves the process idle less
 * often with every request parked in the batcher (in `npm run bench`, HTTP
 * ingest gained 0.01-0.06 of the no-op's throughput in each of three
 * alternating A/B runs).
 */
export const GROUP_COMMIT_FOR_WAREHOUSE: Readonly<Record<WarehouseConfig['kind'], GroupCommitOptions>> = {
  duckdb: { maxInFlightBatches: 1, lingerMs: 0 },
  bigquery: {},
};

/**
 * `GROUP_COMMIT`: `on` (default) coalesces concurrent requests' rows into one
 * warehouse insert; `off` makes one insert per request, which only the
 * benchmarks' baseline and debugging want.
 */
export function groupCommitFromEnv(env: Env = process.env): GroupCommitOptions | false {
  const raw = env.GROUP_COMMIT;
  if (raw === undefined || raw.trim() === '' || raw === 'on') return {};
  if (raw === 'off') return false;
  throw new Error(`GROUP_COMMIT must be one of ${GROUP_COMMIT_SETTINGS.join(', ')}, got ${JSON.stringify(raw)}`);
}

/**
 * A deployed function's runtime, from its environment. Settings and warehouse
 * configuration are checked now, at load, so a misconfigured deployment fails
 * to start with the variable named; the warehouse itself opens on the first
 * request (no network I/O at load).
 */
export function runtimeFromEnv(functionName: FunctionName, env: Env = process.env): FunctionRuntime {
  const settings = functionSettingsFromEnv(env);
  const warehouseConfig = warehouseConfigFromEnv(env);
  const groupCommit = groupCommitFromEnv(env);
  return createFunctionRuntime({
    functionName,
    openWarehouse: () => openWarehouse(warehouseConfig),
    settings,
    groupCommit: groupCommit && { ...GROUP_COMMIT_FOR_WAREHOUSE[warehouseConfig.kind], ...groupCommit },
  });
}
