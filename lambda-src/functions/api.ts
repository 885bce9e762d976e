/**
 * Deployed entry point of the API function (`--target=api`): `POST /`, the
 * seed's ingest contract. Configured by the environment (see README,
 * Configuration); opens the warehouse on the first request.
 */
import { createApiFunction } from '../handlers/api';
import { registerHttpFunction } from '../http/framework';
import { FUNCTION_NAMES } from '../log-events';
import { runtimeFromEnv } from './runtime';
import { flushBeforeExit } from './shutdown';

/** This instance's runtime; `close()` flushes and releases the warehouse, which SIGTERM awaits before exit. */
export const runtime = runtimeFromEnv(FUNCTION_NAMES.api);

registerHttpFunction(FUNCTION_NAMES.api, createApiFunction(runtime));
flushBeforeExit(runtime.close);
