/**
 * A local stand-in for the one Pub/Sub REST method the pipeline calls,
 * `projects.topics.publish` (v1), so the subscriber's dead-letter publishes
 * can be exercised without Google Cloud: point `PUBSUB_EMULATOR_HOST` (or a
 * publisher's `apiEndpoint`) at `host`. It listens on 127.0.0.1, keeps the
 * topics it was told exist, checks each request the way Pub/Sub does (an
 * unknown topic is 404; a message needs data or attributes; data is
 * base64; attributes are UTF-8 strings within Pub/Sub's limits), records every
 * well-formed publish, and can be told to fail the next ones.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text } from 'node:stream/consumers';
import { PUBSUB_MESSAGE_LIMITS } from '../lambda-src/rules/limits';

/** A message as the topic stored it. */
export interface PublishedMessage {
  /** The full name of the topic it was published to. */
  readonly topic: string;
  /** The id the stand-in assigned, as Pub/Sub answers it. */
  readonly messageId: string;
  readonly data: Buffer;
  readonly attributes: Readonly<Record<string, string>>;
  /** The publish request's `Authorization` header, if it had one. */
  readonly authorization: string | undefined;
}

/** How a scripted publish is answered instead of being stored. */
export type PublishFailure =
  /** Google's JSON error body with this status; nothing is stored. */
  | { kind: 'httpError'; status: number }
  /** The connection is dropped without a reply; nothing is stored. */
  | { kind: 'destroySocket' };

interface JsonReply {
  status: number;
  body: unknown;
}

const STATUS_NAMES: Record<number, string> = { 400: 'INVALID_ARGUMENT', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 500: 'INTERNAL', 503: 'UNAVAILABLE' };

function googleError(status: number, message: string): JsonReply {
  return { status, body: { error: { code: status, message, status: STATUS_NAMES[status] ?? 'UNKNOWN' } } };
}

const PUBLISH_PATH = /^\/v1\/projects\/(?<project>[^/]+)\/topics\/(?<topic>[^/]+):publish$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Why Pub/Sub would refuse this message, or undefined when it would store it. */
function messageProblem(message: unknown, index: number): string | undefined {
  const where = `messages[${index}]`;
  if (!isObject(message)) return `${where} must be an object`;
  const unknownKey = Object.keys(message).find((key) => key !== 'data' && key !== 'attributes' && key !== 'orderingKey');
  if (unknownKey !== undefined) return `${where}.${unknownKey} must not be set by a publisher`;
  if (message.data !== undefined && !(typeof message.data === 'string' && BASE64.test(message.data))) return `${where}.data must be base64`;
  const attributes = message.attributes ?? {};
  if (!isObject(attributes)) return `${where}.attributes must be a map of strings`;
  const entries = Object.entries(attributes);
  const limits = PUBSUB_MESSAGE_LIMITS;
  if (entries.length > limits.attributes) return `${where} has ${entries.length} attributes, more than ${limits.attributes}`;
  for (const [key, value] of entries) {
    if (typeof value !== 'string') return `${where}.attributes.${key} must be a string`;
    // Pub/Sub's strings are UTF-8: an unpaired \ud800-\udfff escape in the JSON has no UTF-8 form.
    if (!key.isWellFormed() || !value.isWellFormed()) return `${where}.attributes hold a string that is not valid UTF-8`;
    if (key === '' || Buffer.byteLength(key) > limits.attributeKeyBytes) return `${where} has an attribute key of ${Buffer.byteLength(key)} bytes`;
    if (key.startsWith(limits.reservedKeyPrefix)) return `${where} has an attribute key starting with ${limits.reservedKeyPrefix}: ${key}`;
    if (Buffer.byteLength(value) > limits.attributeValueBytes) return `${where}.attributes.${key} is ${Buffer.byteLength(value)} bytes long`;
  }
  if ((message.data === undefined || message.data === '') && entries.length === 0) return `${where} must have non-empty data or at least one attribute`;
  return undefined;
}

export class PubSubStandIn {
  /** Base URL, for a publisher's `apiEndpoint`. */
  readonly url: string;
  /** `127.0.0.1:<port>`, for `PUBSUB_EMULATOR_HOST`. */
  readonly host: string;
  private readonly topics = new Set<string>();
  private readonly stored: PublishedMessage[] = [];
  private readonly failures: PublishFailure[] = [];
  private nextId = 1;

  private constructor(private readonly server: Server) {
    const { port } = server.address() as AddressInfo;
    this.host = `127.0.0.1:${port}`;
    this.url = `http://${this.host}`;
  }

  static async start(): Promise<PubSubStandIn> {
    let standIn: PubSubStandIn | undefined;
    const server = createServer((request, response) => {
      standIn!.handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) PubSubStandIn.send(response, googleError(500, String(error)));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    standIn = new PubSubStandIn(server);
    return standIn;
  }

  /** Makes a topic exist, by full name (`projects/<p>/topics/<t>`); publishing to any other answers 404. */
  createTopic(topic: string): void {
    this.topics.add(topic);
  }

  /** Every message stored so far, in order; of one topic when named. */
  published(topic?: string): PublishedMessage[] {
    return this.stored.filter((message) => topic === undefined || message.topic === topic);
  }

  /** The next well-formed publishes fail, one failure each, in order. */
  failNext(...failures: PublishFailure[]): void {
    this.failures.push(...failures);
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private static send(response: ServerResponse, reply: JsonReply): void {
    const body = JSON.stringify(reply.body);
    response.writeHead(reply.status, { 'Content-Type': 'application/json; charset=UTF-8', 'Content-Length': Buffer.byteLength(body) });
    response.end(body);
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const requestText = await text(request);
    const path = new URL(request.url ?? '/', this.url).pathname;
    const match = request.method === 'POST' ? PUBLISH_PATH.exec(path) : null;
    if (!match) {
      PubSubStandIn.send(response, googleError(404, `The stand-in has no ${request.method} ${path}`));
      return;
    }
    const topic = `projects/${decodeURIComponent(match.groups!.project!)}/topics/${decodeURIComponent(match.groups!.topic!)}`;
    let body: unknown;
    try {
      body = JSON.parse(requestText);
    } catch {
      PubSubStandIn.send(response, googleError(400, 'Invalid JSON payload received.'));
      return;
    }
    const messages = isObject(body) && Array.isArray(body.messages) ? (body.messages as unknown[]) : undefined;
    if (messages === undefined || messages.length === 0) {
      PubSubStandIn.send(response, googleError(400, 'The request must have at least one message.'));
      return;
    }
    const problem = messages.map(messageProblem).find((found) => found !== undefined);
    if (problem !== undefined) {
      PubSubStandIn.send(response, googleError(400, problem));
      return;
    }
    if (!this.topics.has(topic)) {
      PubSubStandIn.send(response, googleError(404, `Resource not found (resource=${topic}).`));
      return;
    }
    const failure = this.failures.shift();
    if (failure?.kind === 'destroySocket') {
      request.socket.destroy();
      return;
    }
    if (failure?.kind === 'httpError') {
      PubSubStandIn.send(response, googleError(failure.status, `Scripted failure: HTTP ${failure.status}`));
      return;
    }
    const messageIds = (messages as { data?: string; attributes?: Record<string, string> }[]).map((message) => {
      const messageId = String(this.nextId++);
      this.stored.push({
        topic,
        messageId,
        data: Buffer.from(message.data ?? '', 'base64'),
        attributes: { ...message.attributes },
        authorization: request.headers.authorization,
      });
      return messageId;
    });
    PubSubStandIn.send(response, { status: 200, body: { messageIds } });
  }
}
