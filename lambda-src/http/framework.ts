/**
 * Registration of our HTTP functions with the functions framework, plus the
 * one thing the framework (5.0.5) does not let a function do: answer a body
 * it failed to read.
 *
 * The framework runs body-parser before the function. A malformed JSON body,
 * an unsupported charset or a corrupt gzip stream makes body-parser call
 * `next(err)`, which skips the function and lands in Express's default final
 * handler: an HTML page that, unless NODE_ENV=production, carries the stack
 * trace (functions-framework-nodejs issue #686, no hook upstream). We replace
 * that final handler: a body-reading failure (a 4xx from the framework) is
 * remembered on the request and the request is dispatched to the app once
 * more, after its body has been drained, so the function itself answers it
 * (with our JSON, status and request log line). Anything else still gets a
 * JSON answer, never HTML.
 *
 * Express 5 also fails a request before any function runs when it cannot
 * percent-decode the path (`/records/%E0%A4%A`, `/%`): that is a 400 of the
 * URL, not the body. Such a request goes on with every `%` of its path
 * escaped, and the path as sent is remembered on the request
 * (`undecodablePathOf`), so the function's router matches and answers it.
 *
 * The framework's body parsers also read (and JSON-parse) any body of up to
 * 1 GB before a function sees it, inflating a compressed one first: Cloud Run
 * caps a request at 32 MiB on the wire, but a gzip body inflates without
 * bound, and every request in flight holds its bytes. Functions declare the
 * largest body they read (`acceptBodiesUpTo`) and the parsers stop at the
 * largest size declared in the process, with a 413 the function answers.
 * The JSON parsers then only keep the bytes, which our functions parse.
 *
 * The patches go on the `express` and `body-parser` that the framework itself
 * loads, before the framework builds its app (the framework loads the
 * function module first, both in `functions-framework --target` and in
 * `getTestServer`).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import { finished } from 'node:stream';
import * as functions from '@google-cloud/functions-framework';
import type { HttpFunction, Request } from '@google-cloud/functions-framework';
import { createLogger, REQUEST_ERROR_CLASSES } from '../logging';
import { sendAnswer, serverError } from './answer';

type FinalHandler = (error?: unknown) => void;
type AppHandle = (this: unknown, req: IncomingMessage, res: ServerResponse, done?: FinalHandler) => void;
interface ExpressApplication {
  handle: AppHandle;
  [PATCHED]?: true;
}

/** Framework failures belong to no function; they are logged process-wide. */
const frameworkLogger = createLogger({ projectId: process.env.GOOGLE_CLOUD_PROJECT });

const PATCHED = Symbol.for('gcp-ingest.frameworkBodyErrors');
const BODY_LIMITED = Symbol.for('gcp-ingest.frameworkBodyLimit');
const BODY_READ_FAILURE = Symbol.for('gcp-ingest.bodyReadFailure');
const UNDECODABLE_PATH = Symbol.for('gcp-ingest.undecodablePath');

/** The framework could not read the body; `status` is the one it chose (400, 413, 415). */
export interface BodyReadFailure {
  status: number;
  message: string;
}

type MarkedRequest = IncomingMessage & {
  [BODY_READ_FAILURE]?: BodyReadFailure;
  [UNDECODABLE_PATH]?: string;
  originalUrl?: string;
};

/** Why the framework could not read this request's body, if it could not. */
export function bodyReadFailureOf(req: Request): BodyReadFailure | undefined {
  return (req as MarkedRequest)[BODY_READ_FAILURE];
}

/** The path as sent, when it is not valid percent-encoding (`req.path` then holds it with every `%` escaped). */
export function undecodablePathOf(req: Request): string | undefined {
  return (req as MarkedRequest)[UNDECODABLE_PATH];
}

function escapeUndecodablePath(req: MarkedRequest): void {
  const url = req.url ?? '/';
  const queryStart = url.indexOf('?');
  const path = queryStart < 0 ? url : url.slice(0, queryStart);
  try {
    decodeURIComponent(path);
    return;
  } catch {
    req[UNDECODABLE_PATH] = path;
    // Express keeps an originalUrl it finds set: logs and query parsing see the URL as sent.
    req.originalUrl = url;
    req.url = `${path.replaceAll('%', '%25')}${queryStart < 0 ? '' : url.slice(queryStart)}`;
  }
}

/**
 * `functions.http(name, fn)`, with framework body-reading errors routed to
 * `fn`, and `fn` run outside the framework's per-request `domain`.
 *
 * The framework runs every request inside a `domain` to turn an exception
 * thrown in the request's callbacks into a crash answer. Its async hooks
 * make each promise and await on the request's path cost about 5 µs of CPU,
 * a tenth of the API's own work. Our functions do not need it: the router
 * turns any error a handler throws or rejects with into our JSON 500 and
 * the request's log line, and the framework still catches a rejection of
 * the promise `fn` returns.
 */
export function registerHttpFunction(name: string, fn: HttpFunction): void {
  routeBodyReadFailuresToFunctions();
  functions.http(name, (req, res) => {
    (process as { domain?: { exit(): void } }).domain?.exit();
    return fn(req, res);
  });
}

/** A module as the framework itself resolves it (not necessarily the project's copy). */
function frameworkModule<Module>(name: string): Module {
  const frameworkDir = dirname(require.resolve('@google-cloud/functions-framework'));
  return require(require.resolve(name, { paths: [frameworkDir] })) as Module;
}

function frameworkExpressApplication(): ExpressApplication {
  return frameworkModule<{ application: ExpressApplication }>('express').application;
}

/** The framework's body parsers besides JSON, which only get the read limit. */
const LIMITED_BODY_PARSERS = ['raw', 'text', 'urlencoded'] as const;
/** What body-parser's JSON parser reads unless told a `type`. */
const JSON_MEDIA_TYPE = 'application/json';
type BodyParserModule = Record<'json' | (typeof LIMITED_BODY_PARSERS)[number], (options?: Record<string, unknown>) => unknown> & {
  [BODY_LIMITED]?: true;
};

/** Largest body, in bytes after inflating, a function of this process declared it reads. */
let bodyReadLimitBytes = 0;

/**
 * Declares that a function of this process reads request bodies of up to
 * `bytes` (after inflating). Call it before the framework builds its server
 * (when creating the function): the framework's body parsers built after
 * that stop reading past the largest size declared, and the function gets a
 * body-read failure with status 413 instead of the bytes.
 */
export function acceptBodiesUpTo(bytes: number): void {
  bodyReadLimitBytes = Math.max(bodyReadLimitBytes, bytes);
  const bodyParser = frameworkModule<BodyParserModule>('body-parser');
  if (bodyParser[BODY_LIMITED]) return;
  const readRaw = bodyParser.raw;
  for (const kind of LIMITED_BODY_PARSERS) {
    const build = bodyParser[kind];
    bodyParser[kind] = (options) => build({ ...options, limit: bodyReadLimitBytes });
  }
  // Our functions parse the bytes themselves (`readJsonBody`), so the framework's JSON parsers only read and keep
  // them (`req.rawBody`): decoding and parsing every body twice cost a few µs of each request's CPU.
  bodyParser.json = (options) => readRaw({ type: JSON_MEDIA_TYPE, ...options, limit: bodyReadLimitBytes });
  bodyParser[BODY_LIMITED] = true;
}

function routeBodyReadFailuresToFunctions(): void {
  const application = frameworkExpressApplication();
  if (application[PATCHED]) return;
  const frameworkHandle = application.handle;
  application.handle = function handle(req, res, done) {
    escapeUndecodablePath(req);
    frameworkHandle.call(this, req, res, done ?? finalHandler(this, frameworkHandle, req, res));
  };
  application[PATCHED] = true;
}

function finalHandler(app: unknown, frameworkHandle: AppHandle, req: MarkedRequest, res: ServerResponse): FinalHandler {
  return (error) => {
    if (res.headersSent) {
      // Same as Express: a response already under way cannot be replaced.
      req.socket.destroy();
      return;
    }
    const status = clientErrorStatus(error);
    if (status !== undefined && req[BODY_READ_FAILURE] === undefined) {
      req[BODY_READ_FAILURE] = { status, message: error instanceof Error ? error.message : String(error) };
      afterBodyDrained(req, () => frameworkHandle.call(app, req, res, finalHandler(app, frameworkHandle, req, res)));
      return;
    }
    answerUnhandled(req, res, error);
  };
}

function clientErrorStatus(error: unknown): number | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  const status = (error as { status?: unknown; statusCode?: unknown }).status ?? (error as { statusCode?: unknown }).statusCode;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}

/** body-parser skips a request whose body stream has ended, so the second pass reaches the function. */
function afterBodyDrained(req: IncomingMessage, then: () => void): void {
  if (req.readableEnded) {
    then();
    return;
  }
  finished(req, (error) => (error ? req.socket.destroy() : then()));
  req.resume();
}

/**
 * Reached only if the framework fails for a reason other than reading the
 * body, or nothing answered after the second pass: still JSON, still no
 * internals.
 */
function answerUnhandled(req: IncomingMessage, res: ServerResponse, error: unknown): void {
  const requestId = randomUUID();
  const reason = error === undefined ? 'no function answered' : error instanceof Error ? error.message : String(error);
  const answer = serverError(500, REQUEST_ERROR_CLASSES.internalError, requestId, reason, 0);
  frameworkLogger.frameworkFailure({ requestId, method: req.method ?? '', url: req.url ?? '', status: answer.status, reason });
  sendAnswer(res, answer, requestId);
}
