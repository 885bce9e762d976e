/**
 * Cloud Run sends SIGTERM and allows about ten seconds before SIGKILL. The
 * functions framework's own signal handler, registered once its server
 * listens, answers the latest request with a crash response and exits at
 * once, which would strand requests whose rows wait in the group-commit
 * batcher (their rows would be neither committed nor answered). We let the
 * framework register its handlers, then swap its signal listeners for one
 * that flushes first and exits once the requests in flight have been
 * answered (a request's answer leaves a few ticks after its rows commit, and
 * the framework's exit hook answers any request still open with a 500).
 *
 * Only the framework's own `main` (the deployed runtime, `functions-framework
 * --target`) calls `ErrorHandler.register`; test servers and `npm start` do
 * not, and keep their own signal handling.
 */
import type { Server, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { finished } from 'node:stream/promises';

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

interface FrameworkErrorHandler {
  /** The server the framework's `main` listens with. */
  server: Server;
  register(this: FrameworkErrorHandler): void;
}

const flushers = new Set<() => Promise<void>>();
let patched = false;

function frameworkErrorHandler(): FrameworkErrorHandler {
  const frameworkDir = dirname(require.resolve('@google-cloud/functions-framework'));
  const invoker = require(join(frameworkDir, 'invoker.js')) as { ErrorHandler: { prototype: FrameworkErrorHandler } };
  return invoker.ErrorHandler.prototype;
}

function flushAllThenExit(answering: ReadonlySet<ServerResponse>): void {
  void Promise.allSettled([...flushers].map((flush) => flush())).then(async (results) => {
    await Promise.allSettled([...answering].map((res) => finished(res)));
    process.exit(results.every((result) => result.status === 'fulfilled') ? 0 : 1);
  });
}

/** On SIGTERM/SIGINT in the deployed runtime, await `flush` (e.g. `runtime.close`) before the process exits. */
export function flushBeforeExit(flush: () => Promise<void>): void {
  flushers.add(flush);
  if (patched) return;
  patched = true;
  const errorHandler = frameworkErrorHandler();
  const register = errorHandler.register;
  errorHandler.register = function registerThenFlushOnSignal() {
    const before = new Map(SIGNALS.map((signal) => [signal, process.listeners(signal)]));
    register.call(this);
    const answering = new Set<ServerResponse>();
    this.server.on('request', (_req, res: ServerResponse) => {
      answering.add(res);
      res.on('close', () => answering.delete(res));
    });
    let exiting = false;
    for (const signal of SIGNALS) {
      for (const listener of process.listeners(signal)) {
        if (!before.get(signal)?.includes(listener)) process.removeListener(signal, listener);
      }
      process.on(signal, () => {
        if (exiting) return;
        exiting = true;
        flushAllThenExit(answering);
      });
    }
  };
}
