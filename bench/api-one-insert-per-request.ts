/**
 * The BigQuery benchmark's baseline: the deployed API function, configured
 * from the same environment, whose batcher sends every request as an insert
 * of its own (one row per batch, no linger) while keeping the same limit on
 * inserts in flight. It differs from the candidate only in coalescing, so the
 * ratio is what batching alone buys for the same number of concurrent
 * insertAll calls per instance.
 */
import * as functions from '@google-cloud/functions-framework';
import { createFunctionRuntime, functionSettingsFromEnv } from '../lambda-src/functions/runtime';
import { createApiFunction } from '../lambda-src/handlers/api';
import { installFunctionsFramework } from '../lambda-src/http/framework';
import { FUNCTION_NAMES } from '../lambda-src/log-events';
import { openWarehouse, warehouseConfigFromEnv } from '../lambda-src/warehouse/from-env';

/** Every benchmark request carries one record, so one-row batches never refuse a request. */
export const ONE_REQUEST_PER_INSERT = { maxBatchRows: 1, lingerMs: 0 } as const;

const warehouseConfig = warehouseConfigFromEnv();
const runtime = createFunctionRuntime({
  functionName: FUNCTION_NAMES.api,
  openWarehouse: () => openWarehouse(warehouseConfig),
  settings: functionSettingsFromEnv(),
  groupCommit: ONE_REQUEST_PER_INSERT,
});

installFunctionsFramework({ maxBodyBytes: runtime.maxBodyBytes, onShutdown: runtime.close });
functions.http(FUNCTION_NAMES.api, createApiFunction(runtime));
