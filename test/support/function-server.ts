/**
 * Serves an HTTP function exactly as the cloud does: registered with the
 * functions framework, with our changes to it installed (as each deployed
 * entry installs them), and wrapped by the framework's own server factory
 * (`getTestServer`).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as functions from '@google-cloud/functions-framework';
import type { HttpFunction } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { Clock } from '../../lambda-src/clock';
import { MAX_BODY_BYTES } from '../../lambda-src/rules/limits';
import { pushEnvelopeLimit } from '../../lambda-src/handlers/push';
import { installFunctionsFramework } from '../../lambda-src/http/framework';
import { createLogger, type Logger } from '../../lambda-src/logging';

let registrations = 0;

/**
 * Registers `fn` under a fresh name and returns the framework's server for it (not listening; supertest listens).
 * The framework reads bodies up to the largest any function may be configured to read; each function's own limit
 * is its handlers' to enforce.
 */
export function serveFunction(fn: HttpFunction): Server {
  installFunctionsFramework({ maxBodyBytes: pushEnvelopeLimit(MAX_BODY_BYTES.max) });
  registrations += 1;
  const name = `test-function-${registrations}`;
  functions.http(name, fn);
  return getTestServer(name);
}

/** A logger whose lines are kept, parsed, instead of written. */
export function capturingLogger(projectId = 'test-project'): Logger & { lines: Array<Record<string, any>> } {
  const lines: Array<Record<string, any>> = [];
  return Object.assign(createLogger({ projectId, write: (line) => lines.push(JSON.parse(line)) }), { lines });
}

/** Every `monotonicMs()` call advances by `stepMs`, so each request's latency is exactly `stepMs`. */
export function steppingClock(stepMs: number, now = new Date('2026-01-02T03:04:05.678Z')): Clock {
  let ms = 0;
  return {
    now: () => now,
    monotonicMs: () => (ms += stepMs),
  };
}

export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
}

/**
 * Sends exact bytes (supertest re-serializes Buffers given a JSON content
 * type): listens on 127.0.0.1:0 for the one request, then closes.
 */
export async function sendRaw(server: Server, method: string, headers: Record<string, string>, body?: Uint8Array): Promise<RawResponse> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const response = await fetch(`http://127.0.0.1:${port}/`, { method, headers, body });
    return { status: response.status, headers: response.headers, text: await response.text() };
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}
