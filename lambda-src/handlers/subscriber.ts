/** The push subscriber function: Pub/Sub delivers to its root path. */
import type { HttpFunction } from '@google-cloud/functions-framework';
import { FUNCTION_NAMES, REQUEST_EVENTS } from '../log-events';
import { createRoutedFunction } from '../http/router';
import { createPushHandler, type PushDependencies } from './push';

export function createSubscriberFunction(deps: PushDependencies): HttpFunction {
  return createRoutedFunction({
    functionName: FUNCTION_NAMES.subscriber,
    routes: [{ path: '/', event: REQUEST_EVENTS.push, methods: { POST: createPushHandler(deps) } }],
    unmatchedEvent: REQUEST_EVENTS.push,
    logger: deps.logger,
    clock: deps.clock,
  });
}
