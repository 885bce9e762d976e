/**
 * Deployed entry point of the API function (`--target=api`): `POST /`, the
 * seed's ingest contract. Configured by the environment (see README,
 * Configuration); opens the warehouse on the first request.
 */
import { createApiFunction } from '../handlers/api';
import { registerHttpFunction } from '../http/framework';
import { FUNCTION_NAMES } from '../log-events';
import { runtimeFromEnv } from './runtime';

/** This instance's runtime; `close()` flushes and releases the warehouse (tests, or a host with a shutdown hook). */
export const runtime = runtimeFromEnv(FUNCTION_NAMES.api);

registerHttpFunction(FUNCTION_NAMES.api, createApiFunction(runtime));
