/**
 * A raw HTTP client for the reliability tests: exact bytes, any method, any
 * (or no) Content-Type, over keep-alive connections to one server. `fetch`
 * and supertest cannot send some of what these tests need (no Content-Type
 * at all, a body that is not UTF-8, a body on GET) and supertest opens a new
 * server per request, too slow for ten thousand fuzz inputs.
 */
import { Agent, request } from 'node:http';

export interface RawRequest {
  /** @default 'POST' */
  method?: string;
  /** Path and query. @default '/' */
  path?: string;
  /** Sent as given; no Content-Type is added, and Content-Length only when no Transfer-Encoding is given. */
  headers?: Readonly<Record<string, string>>;
  body?: string | Uint8Array;
}

export interface RawReply {
  status: number;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  text: string;
}

export class HttpTarget {
  private readonly url: URL;
  private readonly agent: Agent;

  /** `maxSockets` bounds the connections, hence the requests the server sees at once. */
  constructor(baseUrl: string, maxSockets = 8) {
    this.url = new URL(baseUrl);
    this.agent = new Agent({ keepAlive: true, maxSockets });
  }

  send(raw: RawRequest): Promise<RawReply> {
    const body = raw.body === undefined ? undefined : typeof raw.body === 'string' ? Buffer.from(raw.body, 'utf8') : raw.body;
    const headers: Record<string, string | number> = { ...raw.headers };
    const chunked = Object.keys(headers).some((name) => name.toLowerCase() === 'transfer-encoding');
    if (body !== undefined && !chunked) headers['Content-Length'] = body.length;
    return new Promise((resolve, reject) => {
      const outgoing = request(
        {
          host: this.url.hostname,
          port: this.url.port,
          method: raw.method ?? 'POST',
          path: raw.path ?? '/',
          headers,
          agent: this.agent,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolve({ status: response.statusCode!, headers: response.headers, text: Buffer.concat(chunks).toString('utf8') }),
          );
          response.on('error', reject);
        },
      );
      outgoing.on('error', reject);
      outgoing.end(body);
    });
  }

  /** POSTs `body` as `application/json`. */
  postJson(body: unknown, headers: Readonly<Record<string, string>> = {}): Promise<RawReply> {
    return this.send({ headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** A Pub/Sub push delivery of `payload` (serialized as JSON unless already a string or bytes). */
export function pushDelivery(payload: unknown, messageId: string): Record<string, unknown> {
  const bytes = typeof payload === 'string' || payload instanceof Uint8Array ? payload : JSON.stringify(payload);
  return {
    message: { data: Buffer.from(bytes).toString('base64'), messageId, publishTime: '2026-01-02T03:04:05.678Z' },
    subscription: 'projects/demo/subscriptions/ingest-push',
  };
}

/** The seed README's curl body, byte for byte. */
export const SEED_BODY = `{
      "data": {
        "id": "123",
        "name": "Sample Data",
        "value": 45.67
      }
    }`;

/** The seed's success answer, byte for byte. */
export const SEED_SUCCESS = '{"success":true,"message":"Data inserted successfully!"}';
