/**
 * Our one integration point with the Functions Framework: everything we change
 * in it, installed once per process by `installFunctionsFramework` (called by
 * each deployed entry module and by the local server), and the check, at load,
 * that the installed framework is a version these changes were tested with.
 * No other file goes past the framework's public API (`http`,
 * `getTestServer`, types).
 *
 * The framework builds every server, under `functions-framework --target` and
 * in `getTestServer` alike, with its internal `getServer`; we wrap it, so each
 * server it builds:
 * - reads a body only up to the installed `maxBodyBytes` (after inflating),
 *   instead of the framework's 1 GB, and keeps JSON bodies as bytes
 *   (`req.rawBody`), which our functions parse themselves (`readJsonBody`);
 * - reads a JSON body itself, in place of body-parser's JSON parser, running
 *   the shape scan (`safe-json.ts`) over each chunk as it arrives, and stops
 *   reading at the first chunk past the byte limit or a shape limit: a
 *   hostile megabyte costs a chunk or two, not a megabyte read, buffered
 *   and concatenated before any of our code could look at it;
 * - hands a request whose body the framework could not read or refused
 *   (413, too complex, malformed, corrupt gzip, unsupported charset) to the
 *   function once more, with the failure on the request
 *   (`bodyReadFailureOf`), instead of Express's HTML error page, which
 *   carries the stack unless NODE_ENV=production (functions-framework-nodejs
 *   issue #686); what is left of a body not read whole is never read, and
 *   the connection closes after the function's answer;
 * - lets a path that is not valid percent-encoding reach the function
 *   (`undecodablePathOf`) instead of failing in Express's router;
 * - runs an HTTP function without the framework's per-request `domain`:
 *   creating one turns on async hooks that then cost every promise in the
 *   process CPU (docs/performance.md), for a service our router already
 *   gives (it turns every failure of a handler into a JSON 500), and which
 *   the wrapper taking its place gives for whatever a function still throws;
 * - gives no request an execution id, nor runs one in the framework's
 *   `AsyncLocalStorage` store of it. Only the framework's execution-id
 *   logging reads them, through the store; the Cloud Functions API turns it
 *   on for every function it deploys (`LOG_EXECUTION_ID=true`), and it then
 *   rewrites what a request writes to stdout or stderr: a write of several
 *   JSON log lines (ours are written once per event-loop turn) would become
 *   one text entry, lost to every log-based metric. With no store it leaves
 *   each write as it is. Our lines carry their own request id and trace,
 *   and a store would keep async hooks on for every promise too;
 * - sends `/favicon.ico` and `/robots.txt` to the function, not to the
 *   framework's empty 404;
 * - answers whatever Node's HTTP parser refuses (headers too large, a
 *   malformed request line, an unknown method, `CONNECT`, a missing `Host`,
 *   an unmet `Expect`) with our JSON error body, never an empty one;
 * - and can be drained (`drainServer`): in-flight answers carry
 *   `Connection: close` and idle keep-alive connections are closed, so
 *   clients see a clean close, never a reset.
 *
 * In the deployed runtime the framework's SIGTERM/SIGINT handler exits at
 * once, answering the latest request with a crash page and stranding the
 * rest. We replace it: drain the server while every `onShutdown` runs (which
 * flushes the group-commit batcher), then exit.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import type { Duplex, Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import type { HttpFunction, Request, Response } from '@google-cloud/functions-framework';
import { createLogger, REQUEST_ERROR_CLASSES } from '../logging';
import { encodeAnswer, protocolError, sendAnswer, serverError, type Answer } from './answer';
import { JSON_SHAPE_LIMITS, JsonShapeScanner, type JsonShapeLimits } from './safe-json';

export const FRAMEWORK_PACKAGE = '@google-cloud/functions-framework';

/**
 * The framework versions whose internals this file was tested against:
 * `from` inclusive, `before` exclusive, release versions only. To support
 * another, run the tests of this file against it and widen the range.
 */
export const SUPPORTED_FRAMEWORK_VERSIONS = { from: '5.0.5', before: '5.1.0' } as const;

/** Cloud Run's grace period between SIGTERM and SIGKILL. */
export const SHUTDOWN_GRACE_MS = 10_000;

export interface InstalledFramework {
  version: string;
  /** The package's directory (where its package.json is). */
  directory: string;
}

/**
 * The framework this process loads: its package.json, found by walking up
 * from the main entry that `require` resolves (the package's `exports` map
 * hides `package.json` itself from `require.resolve`).
 */
export function installedFramework(): InstalledFramework {
  const entry = require.resolve(FRAMEWORK_PACKAGE);
  for (let directory = dirname(entry); ; directory = dirname(directory)) {
    const manifestPath = join(directory, 'package.json');
    if (existsSync(manifestPath)) {
      const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { name?: unknown; version?: unknown };
      if (manifest.name === FRAMEWORK_PACKAGE) return { version: String(manifest.version), directory };
    }
    if (dirname(directory) === directory) throw new Error(`no package.json of ${FRAMEWORK_PACKAGE} above its entry ${entry}`);
  }
}

const RELEASE_VERSION = /^(\d+)\.(\d+)\.(\d+)$/;

function releaseParts(version: string): number[] | undefined {
  return RELEASE_VERSION.exec(version)?.slice(1).map(Number);
}

function compareReleases(left: number[], right: number[]): number {
  for (let index = 0; index < 3; index += 1) {
    if (left[index] !== right[index]) return left[index]! - right[index]!;
  }
  return 0;
}

/** Throws, saying what was found, what is supported and what to do, unless `found` is in `SUPPORTED_FRAMEWORK_VERSIONS`. */
export function checkFrameworkVersion(found: InstalledFramework): void {
  const parts = releaseParts(found.version);
  const { from, before } = SUPPORTED_FRAMEWORK_VERSIONS;
  if (parts && compareReleases(parts, releaseParts(from)!) >= 0 && compareReleases(parts, releaseParts(before)!) < 0) return;
  throw new Error(
    `${FRAMEWORK_PACKAGE} ${found.version} is installed (${found.directory}), but this code supports >=${from} <${before} only: ` +
      `it changes the framework's server, body parsers and signal handling, which are not its public API. ` +
      `Install a supported version (package.json pins one, and the function zip's package-lock.json makes Cloud Run's buildpack install the same), ` +
      `or run the tests of lambda-src/http/framework.ts against ${found.version} and widen SUPPORTED_FRAMEWORK_VERSIONS there.`,
  );
}

const framework = installedFramework();
checkFrameworkVersion(framework);

// ---------------------------------------------------------------------------------------------------------------
// The framework's internals we change, as the framework itself loads them.

interface FrameworkServerOptions {
  signatureType: string;
  /** `null`: the framework's default ignored routes (`/favicon.ico`, `/robots.txt`) for HTTP functions. */
  ignoredRoutes: string | null;
}
type GetServer = (userFunction: unknown, options: FrameworkServerOptions) => Server;
/** Turns a user function into the Express handler of its route, by signature type. */
type WrapUserFunction = (userFunction: unknown, signatureType: string) => Middleware;
interface FrameworkErrorHandler {
  /** The server the framework's `main` listens with. */
  server: Server;
  register(this: FrameworkErrorHandler): void;
}
/** What the framework passes each body-parser factory that we read: a media type and its `rawBody` saver. */
interface BodyParserOptions {
  type?: string;
  verify?: (req: IncomingMessage, res: ServerResponse, body: Buffer, encoding: string | null) => void;
}
type Middleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;
type BodyParserFactory = (options?: BodyParserOptions & Record<string, unknown>) => Middleware;
type BodyParser = Record<'json' | 'raw' | 'text' | 'urlencoded', BodyParserFactory>;
/** body-parser's own test of which requests a parser reads (`type-is`): by media type, and only those with a body. */
interface TypeIs {
  (req: IncomingMessage, types: string[]): string | false | null;
  hasBody(req: IncomingMessage): boolean;
}
/** The framework's Express app: a request listener that takes a final handler. */
type ExpressApp = (req: IncomingMessage, res: ServerResponse, done: FinalHandler) => void;
type FinalHandler = (error?: unknown) => void;

interface FrameworkInternals {
  server: { getServer: GetServer };
  invoker: { ErrorHandler: { prototype: FrameworkErrorHandler } };
  functionWrappers: { wrapUserFunction: WrapUserFunction };
  executionContext: { executionContextMiddleware: Middleware };
  asyncLocalStorage: { asyncLocalStorageMiddleware: Middleware };
  bodyParser: BodyParser;
  typeIs: TypeIs;
}

function loadInternals(): FrameworkInternals {
  const sourceDirectory = join(framework.directory, 'build', 'src');
  const bodyParserPath = require.resolve('body-parser', { paths: [framework.directory] });
  const internals: FrameworkInternals = {
    server: require(join(sourceDirectory, 'server.js')),
    invoker: require(join(sourceDirectory, 'invoker.js')),
    functionWrappers: require(join(sourceDirectory, 'function_wrappers.js')),
    executionContext: require(join(sourceDirectory, 'execution_context.js')),
    asyncLocalStorage: require(join(sourceDirectory, 'async_local_storage.js')),
    bodyParser: require(bodyParserPath),
    typeIs: require(require.resolve('type-is', { paths: [dirname(bodyParserPath)] })),
  };
  const missing = [
    typeof internals.server.getServer !== 'function' && 'server.js getServer',
    typeof internals.invoker.ErrorHandler?.prototype?.register !== 'function' && 'invoker.js ErrorHandler.register',
    typeof internals.functionWrappers.wrapUserFunction !== 'function' && 'function_wrappers.js wrapUserFunction',
    typeof internals.executionContext.executionContextMiddleware !== 'function' && 'execution_context.js executionContextMiddleware',
    typeof internals.asyncLocalStorage.asyncLocalStorageMiddleware !== 'function' && 'async_local_storage.js asyncLocalStorageMiddleware',
    ...(['json', 'raw', 'text', 'urlencoded'] as const).map((kind) => typeof internals.bodyParser[kind] !== 'function' && `body-parser ${kind}`),
    (typeof internals.typeIs !== 'function' || typeof internals.typeIs.hasBody !== 'function') && 'type-is (body-parser\'s)',
  ].filter(Boolean);
  if (missing.length > 0) {
    throw new Error(`${FRAMEWORK_PACKAGE} ${framework.version} lacks what lambda-src/http/framework.ts changes: ${missing.join(', ')}`);
  }
  return internals;
}

// ---------------------------------------------------------------------------------------------------------------
// Installation.

export interface FunctionsFrameworkOptions {
  /**
   * Largest request body, in bytes after inflating, that this function reads
   * (for the push subscriber, its envelope). The framework's body parsers stop
   * there and the function gets a 413 body-read failure instead of the bytes;
   * with several functions in one process the largest declared applies.
   */
  readonly maxBodyBytes: number;
  /**
   * How much structure a JSON body this function reads may hold. The
   * framework scans each JSON body as it arrives and stops reading it at the
   * first chunk past one of these limits: the function gets a 400 body-read
   * failure naming the limit, and the connection closes after its answer.
   * The function checks its own limits again on the whole body it gets
   * (`readJsonBody`) where one of them is stricter than these, so these need
   * only be no stricter than those; equal ones spare that second scan. With
   * several functions in one process the loosest of each applies.
   * @default a payload's depth, element and key limits (`JSON_SHAPE_LIMITS`), and strings as long as `maxBodyBytes`: what every function reads, a push envelope with its base64 data included
   */
  readonly jsonShapeLimits?: Readonly<JsonShapeLimits>;
  /**
   * Called as soon as the deployed runtime (`functions-framework --target`)
   * gets SIGTERM or SIGINT, while the server drains; the process exits once
   * it has settled and every connection is closed. E.g. the runtime's
   * `close`, which sends the rows the group-commit batcher holds at once
   * (rather than after its linger), so the requests waiting on them are
   * answered, then closes the warehouse. A rejection makes the exit code 1.
   * Test servers and the local server have none of the framework's signal
   * handling and never call it.
   * @default nothing to call
   */
  readonly onShutdown?: () => Promise<void>;
}

/** What the framework reads of a body: bytes (after inflating), and the shape of a JSON one. */
interface BodyReadLimits {
  bytes: number;
  jsonShape: JsonShapeLimits;
}

interface Installation {
  bodyReadLimits: BodyReadLimits;
  shutdownHooks: Set<() => Promise<void>>;
}

let installation: Installation | undefined;

/**
 * Installs our changes to the framework, once per process; a second call
 * (another function in the same process) only adds its options. Call it
 * before the framework builds its server: at the top of the entry module,
 * which the framework loads first.
 */
export function installFunctionsFramework(options: FunctionsFrameworkOptions): void {
  if (!Number.isSafeInteger(options.maxBodyBytes) || options.maxBodyBytes < 1) {
    throw new Error(`installFunctionsFramework: maxBodyBytes must be a positive integer, got ${options.maxBodyBytes}`);
  }
  const jsonShape = options.jsonShapeLimits ?? { ...JSON_SHAPE_LIMITS, stringBytes: options.maxBodyBytes };
  for (const [name, value] of Object.entries(jsonShape)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new Error(`installFunctionsFramework: jsonShapeLimits.${name} must be a positive integer, got ${value}`);
    }
  }
  if (installation === undefined) {
    const internals = loadInternals();
    installation = { bodyReadLimits: { bytes: 0, jsonShape: { depth: 0, elements: 0, keys: 0, stringBytes: 0 } }, shutdownHooks: new Set() };
    wrapGetServer(internals, installation);
    replaceSignalHandling(internals, installation);
  }
  const installed = installation.bodyReadLimits;
  installed.bytes = Math.max(installed.bytes, options.maxBodyBytes);
  for (const name of Object.keys(installed.jsonShape) as Array<keyof JsonShapeLimits>) {
    installed.jsonShape[name] = Math.max(installed.jsonShape[name], jsonShape[name]);
  }
  if (options.onShutdown) installation.shutdownHooks.add(options.onShutdown);
}

function wrapGetServer(internals: FrameworkInternals, installed: Installation): void {
  const frameworkGetServer = internals.server.getServer;
  internals.server.getServer = (userFunction, options) => {
    const http = options.signatureType === 'http';
    const server = withOurChanges(internals, installed.bodyReadLimits, () =>
      frameworkGetServer(userFunction, {
        ...options,
        // The empty string means no ignored routes, so the function answers every path with our JSON.
        ignoredRoutes: http && options.ignoredRoutes === null ? '' : options.ignoredRoutes,
      }),
    );
    takeOverRequests(server);
    return server;
  };
}

/**
 * The framework's wrapper of an HTTP function, without the `domain` it
 * creates for every request. What the function throws or rejects with (our
 * router answers every failure itself, so only a function that is not ours
 * would) is answered as a framework failure is: our JSON 500.
 */
function withoutDomain(fn: HttpFunction): Middleware {
  return (req, res) => {
    let result: unknown;
    try {
      result = fn(req as Request, res as Response);
    } catch (error) {
      failRequest(req, res, error);
      return;
    }
    if (result instanceof Promise) result.catch((error: unknown) => failRequest(req, res, error));
  };
}

/** What body-parser's JSON parser reads unless told a `type`. */
const JSON_MEDIA_TYPE = 'application/json';

/**
 * Runs `build` (the framework's `getServer`) with our changes to what it
 * builds from, restored after, so no other user of body-parser or of the
 * framework's wrappers sees them:
 * - body-parser's factories limited to `limits.bytes`, its JSON one
 *   replaced by `scanningJsonReader`;
 * - each parser passing over a request whose body was refused
 *   (`finalHandler` runs the app once more for it, its body unread), or
 *   was read by our JSON reader (body-parser would find it read, and pass
 *   it on after a few checks of its own);
 * - HTTP functions wrapped by `withoutDomain`;
 * - no execution id per request, and no store of it.
 */
function withOurChanges<T>(
  { bodyParser, typeIs, functionWrappers, executionContext, asyncLocalStorage }: FrameworkInternals,
  installed: Readonly<BodyReadLimits>,
  build: () => T,
): T {
  // The limits installed when the server is built are its limits.
  const limits: BodyReadLimits = { bytes: installed.bytes, jsonShape: { ...installed.jsonShape } };
  const factories = { ...bodyParser };
  const frameworkWrap = functionWrappers.wrapUserFunction;
  const frameworkExecutionId = executionContext.executionContextMiddleware;
  const frameworkStore = asyncLocalStorage.asyncLocalStorageMiddleware;
  const limited = (factory: BodyParserFactory): BodyParserFactory => (options) => passingSettledBodies(factory({ ...options, limit: limits.bytes }));
  bodyParser.raw = limited(factories.raw);
  bodyParser.text = limited(factories.text);
  bodyParser.urlencoded = limited(factories.urlencoded);
  bodyParser.json = (options) => passingSettledBodies(scanningJsonReader(typeIs, options?.type ?? JSON_MEDIA_TYPE, options?.verify, limits));
  functionWrappers.wrapUserFunction = (userFunction, signatureType) =>
    signatureType === 'http' ? withoutDomain(userFunction as HttpFunction) : frameworkWrap(userFunction, signatureType);
  executionContext.executionContextMiddleware = passOn;
  asyncLocalStorage.asyncLocalStorageMiddleware = passOn;
  try {
    return build();
  } finally {
    Object.assign(bodyParser, factories);
    functionWrappers.wrapUserFunction = frameworkWrap;
    executionContext.executionContextMiddleware = frameworkExecutionId;
    asyncLocalStorage.asyncLocalStorageMiddleware = frameworkStore;
  }
}

/** A middleware in place of one of the framework's that we leave out. */
const passOn: Middleware = (_req, _res, next) => next();

function passingSettledBodies(parser: Middleware): Middleware {
  return (req, res, next) => {
    const marked = req as MarkedRequest;
    if (marked[BODY_READ_FAILURE] === undefined && marked[JSON_SHAPE_SCAN] === undefined) parser(req, res, next);
    else next();
  };
}

/** A body refused while it was read, as body-parser fails one (an error with a 4xx `status`), with the JSON shape limit it passed if that is why. */
class BodyRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly jsonShapeProblem?: string,
  ) {
    super(message);
  }
}

/** The content codings body-parser inflates (zstd where Node has it), and with what. */
const DECOMPRESSORS: ReadonlyMap<string, () => NodeJS.ReadWriteStream> = new Map(
  Object.entries({
    deflate: zlib.createInflate,
    gzip: zlib.createGunzip,
    br: zlib.createBrotliDecompress,
    zstd: (zlib as { createZstdDecompress?: () => NodeJS.ReadWriteStream }).createZstdDecompress,
  }).filter((entry): entry is [string, () => NodeJS.ReadWriteStream] => entry[1] !== undefined),
);

/**
 * body-parser's JSON parser, replaced: reads a body of `mediaType` as bytes
 * (`req.body`, and `req.rawBody` through the framework's `verify`),
 * inflating it as body-parser would, and feeds each chunk to the shape scan
 * as it arrives. At the first chunk past the byte limit or a shape limit it
 * stops and fails, without reading the rest of the body first as
 * body-parser would.
 */
function scanningJsonReader(typeIs: TypeIs, mediaType: string, verify: BodyParserOptions['verify'], limits: Readonly<BodyReadLimits>): Middleware {
  return (req, res, next) => {
    const withBody = req as IncomingMessage & { body?: unknown };
    if (!('body' in withBody)) withBody.body = undefined;
    if (req.readableEnded || !typeIs.hasBody(req) || !hasMediaType(typeIs, req, mediaType)) {
      next();
      return;
    }
    readScanningJson(req, limits, (refusal, body) => {
      if (refusal !== undefined) {
        next(refusal);
        return;
      }
      verify?.(req, res, body!, null);
      withBody.body = body;
      (req as MarkedRequest)[JSON_SHAPE_SCAN] = { bytes: body!, limits: limits.jsonShape };
      next();
    });
  };
}

/** `typeIs(req, [mediaType])`, without parsing the header nearly every JSON request carries. */
function hasMediaType(typeIs: TypeIs, req: IncomingMessage, mediaType: string): boolean {
  return req.headers['content-type'] === JSON_MEDIA_TYPE ? mediaType === JSON_MEDIA_TYPE : Boolean(typeIs(req, [mediaType]));
}

/** Reads `req`'s body, inflated, scanning each chunk; `done` gets the bytes, or the refusal as soon as there is one. */
function readScanningJson(req: IncomingMessage, limits: Readonly<BodyReadLimits>, done: (refusal: BodyRefusal | undefined, body?: Buffer) => void): void {
  const tooLarge = () => new BodyRefusal(413, `request entity too large: more than ${limits.bytes} bytes`);
  const coding = (req.headers['content-encoding'] || 'identity').toLowerCase();
  let stream: Readable = req;
  if (coding !== 'identity') {
    const decompressor = DECOMPRESSORS.get(coding);
    if (decompressor === undefined) {
      done(new BodyRefusal(415, `unsupported content encoding "${coding}"`));
      return;
    }
    stream = req.pipe(decompressor()) as unknown as Readable;
  } else if (Number(req.headers['content-length']) > limits.bytes) {
    done(tooLarge());
    return;
  }
  const scanner = new JsonShapeScanner(limits.jsonShape);
  const chunks: Buffer[] = [];
  let received = 0;
  const settle = (refusal?: BodyRefusal) => {
    stream.off('data', onData).off('end', onEnd).off('error', onError);
    req.off('close', onClose);
    if (stream !== req) {
      req.unpipe(stream as unknown as NodeJS.WritableStream);
      // A decompressor fed no more may still report the input it had; nobody listens any more.
      stream.on('error', () => {});
      stream.destroy();
    }
    if (refusal !== undefined) {
      stopReading(req);
      done(refusal);
      return;
    }
    // Bytes after the end of a compressed body: read off, as body-parser does, so the request can end.
    if (stream !== req) req.resume();
    done(undefined, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, received));
  };
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (received > limits.bytes) {
      settle(tooLarge());
      return;
    }
    chunks.push(chunk);
    const problem = scanner.feed(chunk);
    if (problem !== undefined) settle(new BodyRefusal(400, problem, problem));
  };
  const onEnd = () => settle();
  const onError = (error: Error) => settle(new BodyRefusal(400, error.message));
  // The client went away before the whole body came: `finalHandler` answers nobody.
  const onClose = () => {
    if (!req.complete) settle(new BodyRefusal(400, 'request aborted'));
  };
  stream.on('data', onData).on('end', onEnd).on('error', onError);
  req.on('close', onClose);
}

// ---------------------------------------------------------------------------------------------------------------
// Requests: what reaches the function, and what Node's HTTP layer answers on its own.

/** Framework failures belong to no function; they are logged process-wide. */
const frameworkLogger = createLogger({ projectId: process.env.GOOGLE_CLOUD_PROJECT });

const BODY_READ_FAILURE = Symbol('bodyReadFailure');
const UNDECODABLE_PATH = Symbol('undecodablePath');
const JSON_SHAPE_SCAN = Symbol('jsonShapeScan');

/** The framework could not read the body, or refused it as it read; `status` is the one it chose (400, 413, 415). */
export interface BodyReadFailure {
  status: number;
  message: string;
  /** The JSON shape limit the body passed, when that is why it was refused. */
  jsonShapeProblem?: string;
}

/** A JSON body the framework read whole, and the shape limits its scan found it within. */
export interface JsonShapeScan {
  /** The bytes scanned, after inflating: the buffer `req.rawBody` holds. */
  bytes: Buffer;
  limits: Readonly<JsonShapeLimits>;
}

type MarkedRequest = IncomingMessage & {
  [BODY_READ_FAILURE]?: BodyReadFailure;
  [JSON_SHAPE_SCAN]?: JsonShapeScan;
  [UNDECODABLE_PATH]?: string;
  originalUrl?: string;
};

/** Why the framework could not read this request's body, if it could not. */
export function bodyReadFailureOf(req: Request): BodyReadFailure | undefined {
  return (req as MarkedRequest)[BODY_READ_FAILURE];
}

/** The framework's shape scan of this request's JSON body, if it read one whole: the function need not scan again with limits no stricter. */
export function jsonShapeScanOf(req: Request): JsonShapeScan | undefined {
  return (req as MarkedRequest)[JSON_SHAPE_SCAN];
}

/** The path as sent, when it is not valid percent-encoding (`req.path` then holds it with every `%` escaped). */
export function undecodablePathOf(req: Request): string | undefined {
  return (req as MarkedRequest)[UNDECODABLE_PATH];
}

interface ServedConnections {
  /** Responses not yet finished. */
  inFlight: Set<ServerResponse>;
  draining: boolean;
}

const servedConnections = new WeakMap<Server, ServedConnections>();
/** Responses under way per socket (pipelined requests queue theirs): a parser error there cannot be answered without corrupting one. */
const responsesUnderWay = new WeakMap<Socket, number>();

/**
 * Sends the server's requests through `serve` (the framework's app, with our
 * final handler), and answers with our JSON what Node's HTTP layer would
 * otherwise answer itself with a bare status line, or not at all.
 */
function takeOverRequests(server: Server): void {
  const listeners = server.listeners('request');
  if (listeners.length !== 1) {
    throw new Error(`${FRAMEWORK_PACKAGE} ${framework.version}: expected its server to have one request listener (its Express app), found ${listeners.length}`);
  }
  const app = listeners[0] as ExpressApp;
  server.removeAllListeners('request');
  const served: ServedConnections = { inFlight: new Set(), draining: false };
  servedConnections.set(server, served);
  // Node would answer a missing Host with an empty 400 before any listener runs; `serve` answers it instead.
  (server as Server & { requireHostHeader: boolean }).requireHostHeader = false;
  server.on('request', (req: MarkedRequest, res: ServerResponse) => {
    served.inFlight.add(res);
    responsesUnderWay.set(req.socket, (responsesUnderWay.get(req.socket) ?? 0) + 1);
    res.once('close', () => {
      served.inFlight.delete(res);
      responsesUnderWay.set(req.socket, responsesUnderWay.get(req.socket)! - 1);
    });
    if (served.draining) res.setHeader('Connection', 'close');
    serve(app, req, res);
  });
  server.on('clientError', answerParserError);
  server.on('connect', (req: IncomingMessage, socket: Duplex) => {
    endWithAnswer(socket, protocolError(501, `${req.method} is not implemented: this server is no proxy`));
  });
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('Connection', 'close');
    sendAnswer(res, protocolError(417, `Expect: ${req.headers.expect} cannot be met; only 100-continue is supported`), randomUUID());
  });
}

function serve(app: ExpressApp, req: MarkedRequest, res: ServerResponse): void {
  // Node's own rule (RFC 9112 section 3.2), which `requireHostHeader` applied.
  if (req.httpVersionMajor === 1 && req.httpVersionMinor === 1 && req.headers.host === undefined) {
    res.setHeader('Connection', 'close');
    sendAnswer(res, protocolError(400, 'an HTTP/1.1 request must carry a Host header'), randomUUID());
    return;
  }
  escapeUndecodablePath(req);
  app(req, res, finalHandler(app, req, res));
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
 * Express's final handler, reached when the framework's middleware fails: a
 * body-reading failure (a 4xx) is remembered on the request, which goes to
 * the app once more (every body parser skips it then), so the function
 * answers it. Whatever of the body is still unread is never read: the
 * socket stops reading, and the connection closes after the answer. A
 * client that went away is not answered. Anything else is our JSON 500.
 */
function finalHandler(app: ExpressApp, req: MarkedRequest, res: ServerResponse): FinalHandler {
  return (error) => {
    const status = clientErrorStatus(error);
    if (!res.headersSent && status !== undefined && req[BODY_READ_FAILURE] === undefined) {
      if (req.socket.destroyed) return;
      const jsonShapeProblem = error instanceof BodyRefusal ? error.jsonShapeProblem : undefined;
      req[BODY_READ_FAILURE] = { status, message: error instanceof Error ? error.message : String(error), ...(jsonShapeProblem && { jsonShapeProblem }) };
      // The one rule for every refused body, whether or not it had all arrived.
      res.setHeader('Connection', 'close');
      stopReading(req);
      app(req, res, finalHandler(app, req, res));
      return;
    }
    failRequest(req, res, error);
  };
}

function clientErrorStatus(error: unknown): number | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  const status = (error as { status?: unknown; statusCode?: unknown }).status ?? (error as { statusCode?: unknown }).statusCode;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}

/** Sockets that read no more. */
const stoppedSockets = new WeakSet<Socket>();

/**
 * How long a connection stays open, reading nothing, after the answer to a
 * request whose body was left unread: for the client to read the answer
 * before the close, which with the client's bytes unread is a reset. A
 * client still writing its body may otherwise meet the reset on its next
 * write, before it reads the answer, and see only an error. Short, because
 * each lingering connection holds a receive buffer of unread bytes, and a
 * flood of refused bodies keeps as many lingering as it gets answered in
 * this time.
 */
const UNREAD_BODY_LINGER_MS = 100;

/**
 * What the client still sends of this request is left unread: the socket
 * stops reading for good, and once answered (`Connection: close`) lingers
 * half-closed for `UNREAD_BODY_LINGER_MS`. Node's HTTP server starts and
 * stops reading a socket on its `resume` and `pause` events, and a resume
 * asked for (by the request stream, when it wants more) lands a tick later;
 * a pause before it would be undone, and a second pause emits nothing. So
 * the socket is paused after the ticks already queued, and again whenever
 * it resumes. Node closes a connection whose answer said `Connection:
 * close` with its `destroySoon()`, at once; here it ends it instead, and
 * destroys it after the linger.
 */
function stopReading(req: IncomingMessage): void {
  req.pause();
  const socket = req.socket as Socket & { destroySoon(): void };
  if (stoppedSockets.has(socket)) return;
  stoppedSockets.add(socket);
  socket.on('resume', () => socket.pause());
  process.nextTick(() => socket.pause());
  socket.destroySoon = () => {
    socket.end();
    setTimeout(() => socket.destroy(), UNREAD_BODY_LINGER_MS).unref();
  };
}

/**
 * Reached only if the framework fails other than reading the body, or fails
 * it twice, or a function lets a failure out: still JSON, no internals. Same
 * as Express, a response already under way cannot be replaced: its
 * connection is cut. One the function had already ended is left to reach
 * the client whole (cutting it would drop what is still buffered); either
 * way the failure is logged.
 */
function failRequest(req: IncomingMessage, res: ServerResponse, error: unknown): void {
  const requestId = randomUUID();
  const reason = error === undefined ? 'no function answered' : error instanceof Error ? error.message : String(error);
  const failed = { requestId, method: req.method ?? '', url: req.url ?? '', reason };
  if (res.headersSent) {
    frameworkLogger.frameworkFailure({ ...failed, status: res.statusCode });
    if (!res.writableEnded) req.socket.destroy();
    return;
  }
  const answer = serverError(500, REQUEST_ERROR_CLASSES.internalError, requestId, reason, 0);
  frameworkLogger.frameworkFailure({ ...failed, status: answer.status });
  sendAnswer(res, answer, requestId);
}

/** A method token (RFC 9110 section 9.1) and the space after it: a well-formed request line whose method the parser does not know. */
const UNKNOWN_METHOD = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) /;

interface ParserError extends Error {
  code?: string;
  reason?: string;
  rawPacket?: Buffer;
}

/** The status Node itself gives each parser error (`_http_server.js`), except that an unknown method is a 501. */
function parserErrorAnswer(error: ParserError): Answer {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return protocolError(431, 'the request line and headers are larger than the server accepts');
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return protocolError(413, 'the chunk extensions are larger than the server accepts');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return protocolError(408, 'the request was not received in time');
  }
  const method = error.code === 'HPE_INVALID_METHOD' ? UNKNOWN_METHOD.exec(error.rawPacket?.toString('latin1') ?? '')?.[1] : undefined;
  if (method !== undefined) return protocolError(501, `method ${JSON.stringify(method)} is not implemented`);
  return protocolError(400, `malformed HTTP request: ${error.reason ?? error.message}`);
}

/** Node reports a parser error again for bytes that arrive after the first; a socket is answered once. */
const answeredParserErrors = new WeakSet<Duplex>();

function answerParserError(error: ParserError, socket: Duplex): void {
  if (answeredParserErrors.has(socket)) return;
  answeredParserErrors.add(socket);
  if (error.code === 'ECONNRESET' || !socket.writable || (responsesUnderWay.get(socket as Socket) ?? 0) > 0) {
    socket.destroy();
    return;
  }
  endWithAnswer(socket, parserErrorAnswer(error));
}

/** How long a connection whose request was refused stays half-open for the client to read the answer and close its side. */
const REFUSED_CONNECTION_LINGER_MS = 1000;

/**
 * Writes `answer` as a whole HTTP response on a socket no `ServerResponse`
 * owns, then ends it. Destroying it at once, as Node does, would reset a
 * connection whose client is still sending before the client reads the
 * answer; so it is destroyed only after a moment, if the client has not
 * closed it by then.
 */
function endWithAnswer(socket: Duplex, answer: Answer): void {
  const { json, headers } = encodeAnswer(answer, randomUUID());
  const head = [`HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status]}`];
  for (const [name, value] of Object.entries({ ...headers, Connection: 'close' })) head.push(`${name}: ${value}`);
  socket.end(`${head.join('\r\n')}\r\n\r\n${json}`);
  socket.on('error', () => socket.destroy());
  setTimeout(() => socket.destroy(), REFUSED_CONNECTION_LINGER_MS).unref();
}

// ---------------------------------------------------------------------------------------------------------------
// Draining and shutdown.

/**
 * Stops `server` (built by the framework after `installFunctionsFramework`)
 * accepting connections, tells every response still in flight to close its
 * connection, closes idle keep-alive connections at once (`server.close()`
 * does, since Node 19), and resolves when every connection is closed; those
 * still open when `deadline` resolves are cut.
 */
export async function drainServer(server: Server, deadline: Promise<void>): Promise<void> {
  const served = servedConnections.get(server);
  if (served === undefined) throw new Error('drainServer: this server was not built by the functions framework after installFunctionsFramework()');
  if (!server.listening) return;
  served.draining = true;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  for (const res of served.inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
  void deadline.then(() => server.closeAllConnections());
  await closed;
}

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/**
 * The framework's `main` (only it) calls `ErrorHandler.register` once its
 * server listens; we keep the crash handlers it registers and swap its
 * signal listeners for ours.
 */
function replaceSignalHandling(internals: FrameworkInternals, installed: Installation): void {
  const errorHandler = internals.invoker.ErrorHandler.prototype;
  const frameworkRegister = errorHandler.register;
  errorHandler.register = function registerDrainingSignalHandler() {
    const before = new Map(SIGNALS.map((signal) => [signal, process.listeners(signal)]));
    frameworkRegister.call(this);
    let exiting = false;
    const server = this.server;
    for (const signal of SIGNALS) {
      for (const listener of process.listeners(signal)) {
        if (!before.get(signal)?.includes(listener)) process.removeListener(signal, listener);
      }
      process.on(signal, () => {
        if (exiting) return;
        exiting = true;
        void shutDown(server, installed).then((code) => process.exit(code));
      });
    }
  };
}

/**
 * Runs `shutdown` with a deadline that resolves when `graceMs` have passed
 * (what `drainServer` cuts connections at), and stops the clock once it ends.
 */
export async function withGracePeriod<T>(graceMs: number, shutdown: (deadline: Promise<void>) => Promise<T>): Promise<T> {
  let graceOver!: () => void;
  const deadline = new Promise<void>((resolve) => (graceOver = resolve));
  const timer = setTimeout(graceOver, graceMs);
  try {
    return await shutdown(deadline);
  } finally {
    clearTimeout(timer);
  }
}

/** Drains the server while the shutdown hooks run; 0 if both finished well within the grace period. */
function shutDown(server: Server, installed: Installation): Promise<number> {
  return withGracePeriod(SHUTDOWN_GRACE_MS, (deadline) => {
    const orderly = Promise.all([drainServer(server, deadline), Promise.allSettled([...installed.shutdownHooks].map((hook) => hook()))]).then(
      ([, results]) => (results.every((result) => result.status === 'fulfilled') ? 0 : 1),
    );
    return Promise.race([orderly, deadline.then(() => 1)]);
  });
}
