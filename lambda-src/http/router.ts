/**
 * A function's routes as a table (path -> method -> handler), and the one
 * place that answers and logs every request: handlers return an `Answer`,
 * the router sends it and writes the request's single log line. A thrown
 * error becomes a JSON 500, never the framework's plain-text crash answer.
 */
import { randomUUID } from 'node:crypto';
import type { HttpFunction, Request } from '@google-cloud/functions-framework';
import type { Clock } from '../clock';
import type { FunctionName, RequestEvent } from '../log-events';
import { REQUEST_ERROR_CLASSES, type Logger } from '../logging';
import { clientError, sendAnswer, serverError, type Answer } from './answer';

/** What a handler knows about the request it serves besides `req`. */
export interface RequestScope {
  /** Server-generated; returned in `X-Request-Id` and 5xx bodies, logged on every line. */
  requestId: string;
  functionName: FunctionName;
}

export type RouteHandler = (req: Request, scope: RequestScope) => Promise<Answer>;

export interface Route {
  /** Exact request path. */
  path: string;
  /** `event` of this route's log lines. */
  event: RequestEvent;
  /** Handler per HTTP method; other methods get 405 with an `Allow` header. */
  methods: Readonly<Partial<Record<string, RouteHandler>>>;
}

export interface RoutedFunctionOptions {
  functionName: FunctionName;
  routes: readonly Route[];
  /** `event` logged for a path that matches no route (404). */
  unmatchedEvent: RequestEvent;
  logger: Logger;
  clock: Clock;
}

export function createRoutedFunction(options: RoutedFunctionOptions): HttpFunction {
  const { functionName, routes, unmatchedEvent, logger, clock } = options;
  return async (req, res) => {
    const startedMs = clock.monotonicMs();
    const requestId = randomUUID();
    const route = routes.find((candidate) => candidate.path === req.path);
    let answer: Answer;
    try {
      answer = await answerRequest(route, req, { requestId, functionName });
    } catch (error) {
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      answer = serverError(500, REQUEST_ERROR_CLASSES.internalError, requestId, reason, 0);
    }
    sendAnswer(res, answer, requestId);
    logger.request({
      function: functionName,
      event: route?.event ?? unmatchedEvent,
      requestId,
      method: req.method,
      url: requestUrl(req),
      status: answer.status,
      latencyMs: clock.monotonicMs() - startedMs,
      userAgent: req.get('user-agent'),
      traceContext: req.get('x-cloud-trace-context'),
      rows: answer.rows,
      errorClass: answer.errorClass,
      reason: answer.reason,
      context: answer.logContext,
    });
  };
}

async function answerRequest(route: Route | undefined, req: Request, scope: RequestScope): Promise<Answer> {
  if (route === undefined) return clientError(404, `no route for path ${JSON.stringify(req.path)}`);
  const handler = route.methods[req.method];
  if (handler === undefined) {
    const allowed = Object.entries(route.methods)
      .filter(([, methodHandler]) => methodHandler !== undefined)
      .map(([method]) => method)
      .join(', ');
    return clientError(405, `method ${req.method} is not allowed on ${route.path}; allowed: ${allowed}`, { Allow: allowed });
  }
  return handler(req, scope);
}

function requestUrl(req: Request): string {
  const host = req.get('host');
  return host === undefined ? req.originalUrl : `${req.protocol}://${host}${req.originalUrl}`;
}
