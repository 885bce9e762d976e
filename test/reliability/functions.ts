/**
 * Both functions served for the reliability tests, in-process on 127.0.0.1
 * ports chosen by the system, over a warehouse the test holds.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock } from '../../lambda-src/clock';
import { PubSubDeadLetterTopic } from '../../lambda-src/dead-letter/pubsub';
import type { FunctionSettings } from '../../lambda-src/functions/runtime';
import { createApiFunction } from '../../lambda-src/handlers/api';
import type { HandlerDependencies } from '../../lambda-src/handlers/store';
import { createSubscriberFunction } from '../../lambda-src/handlers/subscriber';
import { startLocalServers } from '../../lambda-src/local/server';
import type { Warehouse } from '../../lambda-src/warehouse/warehouse';
import { PubSubStandIn } from '../../tools/pubsub-standin';
import { capturingLogger, serveFunction } from '../support/function-server';
import { HttpTarget } from './http-client';

export const MAX_BODY_BYTES = 1024 * 1024;

export interface RunningFunctions {
  api: HttpTarget;
  subscriber: HttpTarget;
  /** Parsed request log lines of both functions. */
  logLines: Array<Record<string, any>>;
  /** Drains, flushes and closes the warehouse, like SIGTERM. */
  stop(): Promise<void>;
}

/**
 * As `npm start` and the deployed runtime build them: the framework's own
 * server, our registration, the group-commit batcher over the insert-failure
 * log over `warehouse`.
 */
export async function startFunctions(warehouse: Warehouse, settings: Partial<FunctionSettings> = {}): Promise<RunningFunctions> {
  const logger = capturingLogger();
  const servers = await startLocalServers({
    warehouse,
    settings: { maxBodyBytes: MAX_BODY_BYTES, projectId: 'demo-project', ...settings },
    port: 0,
    pubsubPort: 0,
    logger,
  });
  const api = new HttpTarget(servers.apiUrl);
  const subscriber = new HttpTarget(servers.subscriberUrl);
  return {
    api,
    subscriber,
    logLines: logger.lines,
    stop: async () => {
      api.close();
      subscriber.close();
      await servers.stop();
    },
  };
}

/** The dead-letter topic `serveHandlers` publishes poison to, on the Pub/Sub stand-in. */
export const DEAD_LETTER_TOPIC = 'projects/demo-project/topics/ingest-dead-letter';

/**
 * The request pipeline alone (the framework's own server, our registration,
 * router and handlers) writing straight to `warehouse`, without the batcher's
 * linger: for the fuzz tests, whose subject is input handling, and whose ten
 * thousand requests would otherwise spend seconds waiting for company. The
 * subscriber publishes poison to {@link DEAD_LETTER_TOPIC} on `deadLetters`.
 */
export async function serveHandlers(warehouse: Warehouse): Promise<RunningFunctions & { deadLetters: PubSubStandIn }> {
  const logger = capturingLogger();
  const deadLetters = await PubSubStandIn.start();
  deadLetters.createTopic(DEAD_LETTER_TOPIC);
  const route = new PubSubDeadLetterTopic({ topic: DEAD_LETTER_TOPIC, apiEndpoint: deadLetters.url });
  const deps: HandlerDependencies = { warehouse: async () => warehouse, maxBodyBytes: MAX_BODY_BYTES, logger, clock: systemClock };
  const servers = [serveFunction(createApiFunction(deps)), serveFunction(createSubscriberFunction({ ...deps, deadLetters: route }))];
  const [api, subscriber] = await Promise.all(servers.map(listen));
  return {
    api: api!,
    subscriber: subscriber!,
    logLines: logger.lines,
    deadLetters,
    stop: async () => {
      api!.close();
      subscriber!.close();
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
      route.close();
      await deadLetters.stop();
    },
  };
}

async function listen(server: Server): Promise<HttpTarget> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return new HttpTarget(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
}
