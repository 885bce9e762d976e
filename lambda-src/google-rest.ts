/**
 * One JSON POST to a Google REST API over Node's own `http`/`https`, on a
 * keep-alive agent: BigQuery inserts and the subscriber's dead-letter
 * publishes go this way rather than through Google's client libraries.
 * Loading `@google-cloud/bigquery` and its HTTP stack took about as long as
 * the functions framework's whole start, and the first insert of every new
 * instance waited for it.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** A non-2xx answer, with what Google's error body says (`error.errors[].reason`, `error.message`). */
export class GoogleHttpError extends Error {
  override readonly name = 'GoogleHttpError';

  constructor(
    /** The HTTP status, as `code` like the client library's errors, so one classifier reads both. */
    readonly code: number,
    message: string,
    readonly errors: readonly { reason?: string; message?: string }[],
  ) {
    super(message);
  }
}

export interface RestClient {
  /** POSTs `body` as JSON to `url` and resolves with the parsed JSON answer; rejects on a non-2xx status or a network error. */
  postJson(url: string, body: unknown, headers: Readonly<Record<string, string>>, signal: AbortSignal): Promise<unknown>;
  /** Closes idle connections; calls after this open new ones. */
  close(): void;
}

export function createRestClient(): RestClient {
  const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };
  return {
    postJson: (url, body, headers, signal) =>
      new Promise((resolve, reject) => {
        const payload = Buffer.from(JSON.stringify(body));
        const secure = url.startsWith('https:');
        const send = secure ? httpsRequest : httpRequest;
        const request = send(url, {
          method: 'POST',
          agent: secure ? agents.https : agents.http,
          signal,
          headers: { ...headers, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': payload.length },
        });
        request.once('error', reject);
        request.once('response', (response) => readAnswer(response).then(resolve, reject));
        request.end(payload);
      }),
    close: () => {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

async function readAnswer(response: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  const status = response.statusCode ?? 0;
  const json = parseJson(text);
  if (status >= 200 && status < 300) {
    if (json === undefined) throw new Error(`answered HTTP ${status} with a body that is not JSON: ${text.slice(0, 100)}`);
    return json;
  }
  const error = (json as { error?: { message?: unknown; errors?: unknown } } | undefined)?.error;
  const errors = Array.isArray(error?.errors) ? (error.errors as { reason?: string; message?: string }[]) : [];
  const message = typeof error?.message === 'string' ? error.message : text.slice(0, 300) || `HTTP ${status}`;
  throw new GoogleHttpError(status, message, errors);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
