/**
 * Dead letters published to a Pub/Sub topic: one `topics.publish` REST call
 * per letter (`POST /v1/{topic}:publish`, data in base64) through the shared
 * keep-alive client (`../google-rest.ts`), with a bearer token from
 * Application Default Credentials. `google-auth-library` is loaded on the
 * first publish, so a subscriber that never meets poison never loads it.
 * With `PUBSUB_EMULATOR_HOST` set (the Pub/Sub emulator, a test stand-in),
 * requests go there without credentials, as Google's client libraries do.
 *
 * A letter is published once per call, never re-sent here: the caller nacks
 * a failed publish and Pub/Sub redelivers the message. A publish whose
 * answer was lost may have stored the letter, so a message can be
 * dead-lettered twice; its `deadLetterMessageId` attribute tells.
 */
import type { GoogleAuth } from 'google-auth-library';
import { createRestClient, GoogleHttpError, type RestClient } from '../google-rest';
import { DEAD_LETTER_TOPIC, nameFromEnv, nameProblem, PUBSUB_TOPIC_PATH } from '../rules/naming';
import type { DeadLetter, DeadLetterRoute } from './dead-letter';

export const GOOGLE_PUBSUB_ENDPOINT = 'https://pubsub.googleapis.com';
/** The narrowest OAuth scope that lets a token publish. */
const PUBSUB_SCOPE = 'https://www.googleapis.com/auth/pubsub';
const PUBSUB_EMULATOR_HOST_VARIABLE = 'PUBSUB_EMULATOR_HOST';
const DEFAULT_PUBLISH_TIMEOUT_MS = 10_000;

export interface PubSubDeadLetterTopicOptions {
  /** The topic's full name, `projects/<project id>/topics/<topic name>`. */
  topic: string;
  /**
   * A Pub/Sub-compatible REST endpoint (the emulator, a test stand-in), as
   * `host:port` or a base URL. Requests to it carry no credentials, and
   * none are looked up. ({@link deadLetterRouteFromEnv} takes it from
   * `PUBSUB_EMULATOR_HOST`.)
   * @default https://pubsub.googleapis.com with Application Default Credentials
   */
  apiEndpoint?: string;
  /**
   * Longest wait for a publish's answer; past it the publish fails (the
   * letter may still have been stored).
   * @default 10000
   */
  timeoutMs?: number;
}

/**
 * The base URL of an endpoint given as Google's libraries take
 * `PUBSUB_EMULATOR_HOST`, `host:port`, or as an `http(s)://` URL of one.
 * `source` names where it came from, for the error.
 */
function normalizeEndpoint(value: string, source: string): string {
  const withScheme = /^https?:\/\//.test(value) ? value : `http://${value}`;
  const url = URL.canParse(withScheme) ? new URL(withScheme) : undefined;
  if (!url || url.hostname === '' || url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '') {
    throw new Error(`${source} must be host:port such as 127.0.0.1:8085 (or an http(s) URL of one), got ${JSON.stringify(value)}`);
  }
  return url.origin;
}

/** The endpoint `PUBSUB_EMULATOR_HOST` names, or undefined when it is unset or empty. */
export function emulatorEndpointFromEnv(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const value = env[PUBSUB_EMULATOR_HOST_VARIABLE]?.trim();
  return value ? normalizeEndpoint(value, PUBSUB_EMULATOR_HOST_VARIABLE) : undefined;
}

export class PubSubDeadLetterTopic implements DeadLetterRoute {
  readonly destination: string;
  private readonly publishUrl: string;
  private readonly apiEndpoint: string | undefined;
  private readonly timeoutMs: number;
  private readonly rest: RestClient = createRestClient();
  private auth?: Promise<GoogleAuth>;

  constructor(options: PubSubDeadLetterTopicOptions) {
    const problem = nameProblem(options.topic, PUBSUB_TOPIC_PATH);
    if (problem !== undefined) throw new Error(`topic ${problem}`);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS;
    if (!Number.isFinite(this.timeoutMs) || this.timeoutMs <= 0) throw new Error(`timeoutMs must be a positive number, got ${options.timeoutMs}`);
    this.apiEndpoint = options.apiEndpoint === undefined ? undefined : normalizeEndpoint(options.apiEndpoint, 'apiEndpoint');
    this.destination = this.apiEndpoint === undefined ? options.topic : `${options.topic} at ${this.apiEndpoint}`;
    const path = options.topic.split('/').map(encodeURIComponent).join('/');
    this.publishUrl = `${this.apiEndpoint ?? GOOGLE_PUBSUB_ENDPOINT}/v1/${path}:publish`;
  }

  async publish(letter: DeadLetter): Promise<string> {
    const message = letter.data.length > 0 ? { data: Buffer.from(letter.data).toString('base64'), attributes: letter.attributes } : { attributes: letter.attributes };
    const deadline = AbortSignal.timeout(this.timeoutMs);
    let answer: unknown;
    try {
      answer = await this.rest.postJson(this.publishUrl, { messages: [message] }, await this.authorization(), deadline);
    } catch (error) {
      const failure = deadline.aborted ? `no answer within ${this.timeoutMs} ms` : describeFailure(error);
      throw new Error(`publishing to ${this.destination} failed: ${failure}`, { cause: error });
    }
    const id = (answer as { messageIds?: unknown } | undefined)?.messageIds;
    if (!Array.isArray(id) || typeof id[0] !== 'string') {
      throw new Error(`publishing to ${this.destination} answered without a message id: ${JSON.stringify(answer).slice(0, 200)}`);
    }
    return id[0];
  }

  close(): void {
    this.rest.close();
  }

  /** A bearer token for Google's endpoint (the library caches and refreshes it); an emulator gets none. */
  private async authorization(): Promise<Record<string, string>> {
    if (this.apiEndpoint !== undefined) return {};
    this.auth ??= import('google-auth-library').then(({ GoogleAuth }) => new GoogleAuth({ scopes: [PUBSUB_SCOPE] }));
    return Object.fromEntries(await (await this.auth).getRequestHeaders());
  }
}

function describeFailure(error: unknown): string {
  if (error instanceof GoogleHttpError) return `HTTP ${error.code}: ${error.message}`;
  // Node's network errors, and the auth library's, may come from another realm than this module's `Error`.
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(error);
}

/**
 * The dead-letter route a deployed subscriber's environment names:
 * `DEAD_LETTER_TOPIC` (a topic's full name), through `PUBSUB_EMULATOR_HOST`
 * when set. Undefined when `DEAD_LETTER_TOPIC` is unset or empty. Both are
 * checked now, at load, so a misconfigured deployment fails to start with
 * the variable named.
 */
export function deadLetterRouteFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): PubSubDeadLetterTopic | undefined {
  const apiEndpoint = emulatorEndpointFromEnv(env);
  const topic = nameFromEnv(env, DEAD_LETTER_TOPIC);
  return topic === undefined ? undefined : new PubSubDeadLetterTopic({ topic, apiEndpoint });
}
