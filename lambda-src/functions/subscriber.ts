/**
 * Deployed entry point of the Pub/Sub push subscriber (`--target=subscriber`).
 * Configured by the environment (see docs/configuration.md); opens the
 * warehouse on the first delivery.
 */
import * as functions from '@google-cloud/functions-framework';
import { pushEnvelopeLimit } from '../handlers/push';
import { createSubscriberFunction } from '../handlers/subscriber';
import { installFunctionsFramework } from '../http/framework';
import { FUNCTION_NAMES } from '../log-events';
import { runtimeFromEnv } from './runtime';

/** This instance's runtime; `close()` flushes and releases the warehouse, which SIGTERM awaits before exit. */
export const runtime = runtimeFromEnv(FUNCTION_NAMES.subscriber);

installFunctionsFramework({ maxBodyBytes: pushEnvelopeLimit(runtime.maxBodyBytes), onShutdown: runtime.close });
functions.http(FUNCTION_NAMES.subscriber, createSubscriberFunction(runtime));
