/** Request bodies the benchmarks send: valid, each with its own record id (and message id). */
import type { LoadRequest } from '../tools/bench/load';

function payload(id: string): string {
  return JSON.stringify({ data: { id, name: 'Sample Data', value: 45.67 } });
}

/** `POST /` of the API function: the seed's request with a unique record id. */
export function ingestRequest(id: string): LoadRequest {
  return { body: payload(id) };
}

/** A Pub/Sub push delivery of the same payload; the message id is the record id. */
export function pushRequest(messageId: string): LoadRequest {
  return {
    body: JSON.stringify({
      message: { data: Buffer.from(payload(messageId)).toString('base64'), messageId, publishTime: '2026-01-01T00:00:00Z' },
      subscription: 'projects/bench-project/subscriptions/ingest-push',
    }),
  };
}
