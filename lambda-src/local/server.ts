/**
 * `npm start`: both functions in one process, each served by the functions
 * framework's own server factory at its own root path, as in the cloud: the
 * API on PORT (8080), the push subscriber on PUBSUB_PORT (8081). They share
 * one warehouse from the environment (DuckDB under `.data/` by default), so
 * nothing but `npm ci` is needed. SIGTERM or SIGINT drains in-flight
 * requests, closes the warehouse and exits 0.
 *
 * Poison pushed to the subscriber is acknowledged and logged; it is also
 * published to a dead-letter topic only when `DEAD_LETTER_TOPIC` names one
 * (through `PUBSUB_EMULATOR_HOST` to the Pub/Sub emulator, else to Google
 * with Application Default Credentials). The banner says which.
 *
 * Human-readable messages go to stderr; stdout carries only the JSON log
 * lines, as in the cloud, so `npm -s start | jq` works (without `-s`, npm
 * itself prints its `> npm start` lines on stdout first).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as functions from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { Clock } from '../clock';
import type { DeadLetterRoute } from '../dead-letter/dead-letter';
import { deadLetterRouteFromEnv } from '../dead-letter/pubsub';
import { createApiFunction } from '../handlers/api';
import { pushEnvelopeLimit } from '../handlers/push';
import { createSubscriberFunction } from '../handlers/subscriber';
import { drainServer, installFunctionsFramework, SHUTDOWN_GRACE_MS, withGracePeriod } from '../http/framework';
import { FUNCTION_NAMES } from '../log-events';
import type { Logger } from '../logging';
import { createFunctionRuntime, functionSettingsFromEnv, type FunctionSettings } from '../functions/runtime';
import { integerFromEnv } from '../rules/limits';
import { openWarehouse, warehouseConfigFromEnv, type WarehouseConfig } from '../warehouse/from-env';
import type { Warehouse } from '../warehouse/warehouse';

export const DEFAULT_PORT = 8080;
export const DEFAULT_PUBSUB_PORT = 8081;
const DEFAULT_HOST = '127.0.0.1';

export interface LocalServerOptions {
  /** The warehouse both functions write to, already open; `stop()` closes it. */
  warehouse: Warehouse;
  settings: FunctionSettings;
  /** API port; 0 picks a free one. @default 8080 */
  port?: number;
  /** Push subscriber port; 0 picks a free one. @default 8081 */
  pubsubPort?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** How long `stop()` lets in-flight requests finish before cutting their connections. @default 10000 (`SHUTDOWN_GRACE_MS`, Cloud Run's) */
  shutdownGraceMs?: number;
  /**
   * Where the subscriber publishes poison before acknowledging it; `stop()` closes it.
   * @default none: poison is acknowledged, its log line its only record
   */
  deadLetters?: DeadLetterRoute;
  logger?: Logger;
  clock?: Clock;
}

export interface LocalServers {
  /** Base URL of the API, e.g. `http://127.0.0.1:8080/`. */
  apiUrl: string;
  /** Base URL of the push subscriber. */
  subscriberUrl: string;
  /**
   * Stops accepting, waits for in-flight requests, flushes the batchers and
   * closes the warehouse; whatever still runs after the grace period is cut
   * off. Same promise on every call.
   */
  stop(): Promise<void>;
}

export async function startLocalServers(options: LocalServerOptions): Promise<LocalServers> {
  const host = options.host ?? DEFAULT_HOST;
  const runtimeOf = (functionName: (typeof FUNCTION_NAMES)[keyof typeof FUNCTION_NAMES]) =>
    createFunctionRuntime({
      functionName,
      openWarehouse: async () => options.warehouse,
      settings: options.settings,
      logger: options.logger,
      clock: options.clock,
    });
  const runtimes = { api: runtimeOf(FUNCTION_NAMES.api), subscriber: runtimeOf(FUNCTION_NAMES.subscriber) };
  // The push envelope is the larger of the two bodies read here.
  installFunctionsFramework({ maxBodyBytes: pushEnvelopeLimit(options.settings.maxBodyBytes) });
  functions.http(FUNCTION_NAMES.api, createApiFunction(runtimes.api));
  functions.http(FUNCTION_NAMES.subscriber, createSubscriberFunction({ ...runtimes.subscriber, deadLetters: options.deadLetters }));

  const api = getTestServer(FUNCTION_NAMES.api);
  const subscriber = getTestServer(FUNCTION_NAMES.subscriber);
  try {
    await listen(api, options.port ?? DEFAULT_PORT, host);
    await listen(subscriber, options.pubsubPort ?? DEFAULT_PUBSUB_PORT, host);
  } catch (error) {
    await Promise.all([api, subscriber].map((server) => drainServer(server, Promise.resolve())));
    throw error;
  }

  let stopping: Promise<void> | undefined;
  const graceMs = options.shutdownGraceMs ?? SHUTDOWN_GRACE_MS;
  const stop = async () => {
    try {
      await withGracePeriod(graceMs, async (deadline) => {
        await Promise.all([drainServer(api, deadline), drainServer(subscriber, deadline)]);
        // Flushes what the batchers hold; a warehouse call that hangs past the grace period is abandoned.
        await Promise.race([Promise.all([runtimes.api.close(), runtimes.subscriber.close()]), deadline]);
      });
    } finally {
      options.deadLetters?.close();
      await options.warehouse.close();
    }
  };
  return {
    apiUrl: urlOf(api),
    subscriberUrl: urlOf(subscriber),
    stop: () => (stopping ??= stop()),
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function urlOf(server: Server): string {
  const { address, port } = server.address() as AddressInfo;
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}/`;
}

const SEED_BODY = `{
      "data": {
        "id": "123",
        "name": "Sample Data",
        "value": 45.67
      }
    }`;

/** What the banner says of poison: published to `deadLetters`, or only acknowledged and logged. */
export function describeDeadLetters(deadLetters: DeadLetterRoute | undefined): string {
  return deadLetters === undefined
    ? 'none: poison is acknowledged and logged only (set DEAD_LETTER_TOPIC to publish it)'
    : `poison is published to ${deadLetters.destination}, then acknowledged`;
}

/** The startup message: where each function listens, where poison goes, and requests to try. */
export function banner(servers: Pick<LocalServers, 'apiUrl' | 'subscriberUrl'>, warehouse: string, deadLetters: string): string {
  const pushBody = JSON.stringify({
    message: { data: Buffer.from(JSON.stringify({ data: { id: '124', name: 'Pushed', value: 1.5 } })).toString('base64'), messageId: 'local-1' },
    subscription: 'projects/local/subscriptions/ingest-push',
  });
  const api = servers.apiUrl.replace(/\/$/, '');
  return [
    `api (POST /):        ${servers.apiUrl}`,
    `subscriber (push):   ${servers.subscriberUrl}`,
    `warehouse:           ${warehouse}`,
    `dead letters:        ${deadLetters}`,
    '',
    'Try:',
    `curl -X POST ${api} -H "Content-Type: application/json" -d '${SEED_BODY}'`,
    '',
    `curl ${api}/records/123`,
    `curl -X PUT ${api}/records/123 -H "Content-Type: application/json" -d '{"data": {"name": "Renamed", "value": 1.5}}'`,
    `curl '${api}/records?limit=10'`,
    '',
    `curl -X POST ${servers.subscriberUrl.replace(/\/$/, '')} -H "Content-Type: application/json" -d '${pushBody}'`,
    '',
    'Ctrl-C (or SIGTERM) drains in-flight requests and closes the warehouse.',
    '',
  ].join('\n');
}

function describeWarehouse(config: WarehouseConfig): string {
  if (config.kind === 'duckdb') return `DuckDB file ${config.path}`;
  const table = `BigQuery ${config.projectId}.${config.dataset}.${config.table}`;
  return config.apiEndpoint === undefined ? table : `${table} at ${config.apiEndpoint}`;
}

async function main(): Promise<void> {
  const env = process.env;
  const settings = functionSettingsFromEnv(env);
  const port = integerFromEnv(env, { variable: 'PORT', min: 0, max: 65535, default: DEFAULT_PORT });
  const pubsubPort = integerFromEnv(env, { variable: 'PUBSUB_PORT', min: 0, max: 65535, default: DEFAULT_PUBSUB_PORT });
  const host = env.HOST || DEFAULT_HOST;
  const warehouseConfig = warehouseConfigFromEnv(env);
  const deadLetters = deadLetterRouteFromEnv(env);
  const warehouse = await openWarehouse(warehouseConfig);
  let servers: LocalServers;
  try {
    servers = await startLocalServers({ warehouse, settings, port, pubsubPort, host, deadLetters });
  } catch (error) {
    deadLetters?.close();
    await warehouse.close();
    throw error;
  }
  process.stderr.write(banner(servers, describeWarehouse(warehouseConfig), describeDeadLetters(deadLetters)));

  // Ctrl-C signals the whole foreground process group, so `| jq` is gone while the drain still logs: its lines are
  // lost, the drain goes on.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    // npm forwards the SIGINT of a Ctrl-C that this process also got from the terminal: a repeat is not a second request.
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${signal}: draining in-flight requests, then closing the warehouse\n`);
    servers.stop().then(
      () => {
        process.stderr.write('stopped cleanly\n');
        process.exit(0);
      },
      (error: unknown) => {
        process.stderr.write(`shutdown failed: ${error instanceof Error ? error.stack : String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`npm start failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
