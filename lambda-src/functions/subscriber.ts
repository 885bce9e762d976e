/**
 * Deployed entry point of the Pub/Sub push subscriber (`--target=subscriber`).
 * Configured by the environment (see README, Configuration); opens the
 * warehouse on the first delivery.
 */
import { createSubscriberFunction } from '../handlers/subscriber';
import { registerHttpFunction } from '../http/framework';
import { FUNCTION_NAMES } from '../log-events';
import { runtimeFromEnv } from './runtime';
import { flushBeforeExit } from './shutdown';

/** This instance's runtime; `close()` flushes and releases the warehouse, which SIGTERM awaits before exit. */
export const runtime = runtimeFromEnv(FUNCTION_NAMES.subscriber);

registerHttpFunction(FUNCTION_NAMES.subscriber, createSubscriberFunction(runtime));
flushBeforeExit(runtime.close);
