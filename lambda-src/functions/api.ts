/**
 * Deployed entry point of the API function (`--target=api`): `POST /`, the
 * seed's ingest contract. Configured by the environment (see
 * docs/configuration.md); opens the warehouse on the first request.
 */
import * as functions from '@google-cloud/functions-framework';
import { createApiFunction } from '../handlers/api';
import { installFunctionsFramework } from '../http/framework';
import { JSON_SHAPE_LIMITS } from '../http/safe-json';
import { FUNCTION_NAMES } from '../log-events';
import { runtimeFromEnv } from './runtime';

/** This instance's runtime; `close()` flushes and releases the warehouse, which SIGTERM awaits before exit. */
export const runtime = runtimeFromEnv(FUNCTION_NAMES.api);

// The API reads payloads only, so the framework may stop reading a body at a payload's limits (strings included).
installFunctionsFramework({ maxBodyBytes: runtime.maxBodyBytes, jsonShapeLimits: JSON_SHAPE_LIMITS, onShutdown: runtime.close });
functions.http(FUNCTION_NAMES.api, createApiFunction(runtime));
