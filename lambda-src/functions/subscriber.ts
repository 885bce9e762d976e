/**
 * Deployed entry point of the Pub/Sub push subscriber (`--target=subscriber`).
 * Configured by the environment (see docs/configuration.md); opens the
 * warehouse on the first delivery.
 * Poison goes to the topic `DEAD_LETTER_TOPIC` names (through
 * `PUBSUB_EMULATOR_HOST` when set), checked at load with the rest.
 */
import * as functions from '@google-cloud/functions-framework';
import { deadLetterRouteFromEnv } from '../dead-letter/pubsub';
import { pushEnvelopeLimit } from '../handlers/push';
import { createSubscriberFunction } from '../handlers/subscriber';
import { installFunctionsFramework } from '../http/framework';
import { FUNCTION_NAMES } from '../log-events';
import { runtimeFromEnv } from './runtime';

/** This instance's runtime; `close()` flushes and releases the warehouse, which SIGTERM awaits before exit. */
export const runtime = runtimeFromEnv(FUNCTION_NAMES.subscriber);
/** Where poison goes; checked now, at load, like the runtime's settings. */
const deadLetters = deadLetterRouteFromEnv();

installFunctionsFramework({
  maxBodyBytes: pushEnvelopeLimit(runtime.maxBodyBytes),
  onShutdown: async () => {
    await runtime.close();
    deadLetters?.close();
  },
});
functions.http(FUNCTION_NAMES.subscriber, createSubscriberFunction({ ...runtime, deadLetters }));
