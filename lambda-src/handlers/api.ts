/** The API function: its route table. */
import type { HttpFunction } from '@google-cloud/functions-framework';
import { FUNCTION_NAMES, REQUEST_EVENTS } from '../log-events';
import { createRoutedFunction } from '../http/router';
import { IdempotencyKeys } from './idempotency';
import { createIngestHandler } from './ingest';
import { createGetRecordHandler, createListRecordsHandler, createUpdateRecordHandler } from './records';
import type { HandlerDependencies } from './store';

export function createApiFunction(deps: HandlerDependencies): HttpFunction {
  const keys = new IdempotencyKeys(deps.clock);
  return createRoutedFunction({
    functionName: FUNCTION_NAMES.api,
    routes: [
      { path: '/', event: REQUEST_EVENTS.ingest, methods: { POST: createIngestHandler(deps, keys) } },
      { path: '/records', event: REQUEST_EVENTS.read, methods: { GET: createListRecordsHandler(deps) } },
      {
        path: '/records/:id',
        event: REQUEST_EVENTS.read,
        methodEvents: { PUT: REQUEST_EVENTS.update },
        methods: { GET: createGetRecordHandler(deps), PUT: createUpdateRecordHandler(deps, keys) },
      },
    ],
    unmatchedEvent: REQUEST_EVENTS.ingest,
    logger: deps.logger,
    clock: deps.clock,
  });
}
