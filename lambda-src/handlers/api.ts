/** The API function: its route table. Later routes (`GET/PUT /records`) are rows added here. */
import type { HttpFunction } from '@google-cloud/functions-framework';
import { FUNCTION_NAMES, REQUEST_EVENTS } from '../log-events';
import { createRoutedFunction } from '../http/router';
import { createIngestHandler } from './ingest';
import type { HandlerDependencies } from './store';

export function createApiFunction(deps: HandlerDependencies): HttpFunction {
  return createRoutedFunction({
    functionName: FUNCTION_NAMES.api,
    routes: [{ path: '/', event: REQUEST_EVENTS.ingest, methods: { POST: createIngestHandler(deps) } }],
    unmatchedEvent: REQUEST_EVENTS.ingest,
    logger: deps.logger,
    clock: deps.clock,
  });
}
