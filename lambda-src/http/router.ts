/**
 * A function's routes as a table (path -> method -> handler), and the one
 * place that answers and logs every request: handlers return an `Answer`,
 * the router sends it and writes the request's single log line. A thrown
 * error becomes a JSON 500, never the framework's plain-text crash answer.
 *
 * A path segment written `:name` matches any one non-empty segment, which
 * the handler gets percent-decoded in `scope.params.name`; a segment that is
 * not valid percent-encoding (e.g. `%E0%A4%A`) is a 400, never a crash.
 */
import { randomUUID } from 'node:crypto';
import type { HttpFunction, Request } from '@google-cloud/functions-framework';
import type { Clock } from '../clock';
import type { FunctionName, RequestEvent } from '../log-events';
import { REQUEST_ERROR_CLASSES, type Logger } from '../logging';
import { clientError, invalidInput, sendAnswer, serverError, type Answer } from './answer';
import { undecodablePathOf } from './framework';

/** What a handler knows about the request it serves besides `req`. */
export interface RequestScope {
  /** Server-generated; returned in `X-Request-Id` and 5xx bodies, logged on every line. */
  requestId: string;
  functionName: FunctionName;
  /** The route's `:name` path segments, percent-decoded. */
  params: Readonly<Record<string, string>>;
}

/** May answer at once (a refused request) or promise the answer; a throw or rejection becomes a JSON 500. */
export type RouteHandler = (req: Request, scope: RequestScope) => Answer | Promise<Answer>;

export interface Route {
  /** Request path, e.g. `/` or `/records/:id`. */
  path: string;
  /** `event` of this route's log lines. */
  event: RequestEvent;
  /** `event` of one method's log lines, where it differs from `event` (a write on a read route). */
  methodEvents?: Readonly<Partial<Record<string, RequestEvent>>>;
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

interface CompiledRoute {
  route: Route;
  pattern: RegExp;
  paramNames: string[];
}

const PARAM_SEGMENT = /^:([A-Za-z_][A-Za-z0-9_]*)$/;

function compileRoute(route: Route): CompiledRoute {
  const paramNames: string[] = [];
  const segments = route.path.split('/').map((segment) => {
    const param = PARAM_SEGMENT.exec(segment)?.[1];
    if (param === undefined) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    paramNames.push(param);
    return '([^/]+)';
  });
  return { route, pattern: new RegExp(`^${segments.join('/')}$`), paramNames };
}

interface RouteMatch {
  route: Route;
  /** The `:name` segments as they appear in the URL, still percent-encoded. */
  rawParams: Record<string, string>;
}

function matchRoute(routes: readonly CompiledRoute[], path: string): RouteMatch | undefined {
  for (const { route, pattern, paramNames } of routes) {
    const match = pattern.exec(path);
    if (match) return { route, rawParams: Object.fromEntries(paramNames.map((name, index) => [name, match[index + 1]!])) };
  }
  return undefined;
}

// Not `async`, and `then` rather than `await`: each promise on a request's path costs CPU the ingest benchmark
// shows (docs/performance.md, "Choices kept"), and an answer known without waiting (404, 405, a refused body) needs none.
export function createRoutedFunction(options: RoutedFunctionOptions): HttpFunction {
  const { functionName, unmatchedEvent, logger, clock } = options;
  const routes = options.routes.map(compileRoute);
  return (req, res): Promise<void> | undefined => {
    const startedMs = clock.monotonicMs();
    const requestId = randomUUID();
    const path = undecodablePathOf(req) ?? req.path;
    const match = matchRoute(routes, path);
    const route = match?.route;
    const respond = (answer: Answer): void => {
      sendAnswer(res, answer, requestId);
      logger.request({
        function: functionName,
        event: route === undefined ? unmatchedEvent : (route.methodEvents?.[req.method] ?? route.event),
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
    const respondFailed = (error: unknown): void => {
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      respond(serverError(500, REQUEST_ERROR_CLASSES.internalError, requestId, reason, 0));
    };
    let answer: Answer | Promise<Answer>;
    try {
      answer = answerRequest(match, path, req, requestId, functionName);
    } catch (error) {
      respondFailed(error);
      return undefined;
    }
    if (answer instanceof Promise) return answer.then(respond, respondFailed);
    respond(answer);
    return undefined;
  };
}

/** The answer, or the handler's promise of it; throws whatever a handler throws. */
function answerRequest(
  match: RouteMatch | undefined,
  path: string,
  req: Request,
  requestId: string,
  functionName: FunctionName,
): Answer | Promise<Answer> {
  if (match === undefined) return clientError(404, `no route for path ${JSON.stringify(path)}`);
  const { route, rawParams } = match;
  const handler = route.methods[req.method];
  if (handler === undefined) {
    const allowed = Object.entries(route.methods)
      .filter(([, methodHandler]) => methodHandler !== undefined)
      .map(([method]) => method)
      .join(', ');
    return clientError(405, `method ${req.method} is not allowed on ${route.path}; allowed: ${allowed}`, { Allow: allowed });
  }
  const params: Record<string, string> = {};
  for (const [name, raw] of Object.entries(rawParams)) {
    try {
      params[name] = decodeURIComponent(raw);
    } catch {
      return invalidInput([{ field: `path.${name}`, message: 'is not valid percent-encoding (UTF-8 bytes as %XX)' }]);
    }
  }
  return handler(req, { requestId, functionName, params });
}

function requestUrl(req: Request): string {
  const host = req.get('host');
  return host === undefined ? req.originalUrl : `${req.protocol}://${host}${req.originalUrl}`;
}
