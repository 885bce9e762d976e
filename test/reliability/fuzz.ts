/**
 * Property-based fuzzing of one entry point, shared by the API and push
 * fuzz tests. Generated requests go, sixteen at a time, to the functions'
 * request pipeline as deployed (the framework's own server, in-process, long
 * lived, one keep-alive connection per request in flight) over an in-memory
 * warehouse that refuses, as DuckDB and BigQuery do, a row it cannot store
 * (text that is not well-formed Unicode, in a field or an insert id), so a
 * healthy warehouse answers the pipeline the way a real one would.
 *
 * For every input: no 5xx; a JSON answer (`success:true` only with 200, else
 * `success:false` with an error and details); no stack trace or source path
 * in the body; a 200 only for what the contract allows (`oracle.ts`), and
 * always for what it plainly requires; a 2xx for every push delivery sent as
 * Pub/Sub sends it (a nack would bring poison back); every push delivery
 * answered 202 (poison) published to the dead-letter topic exactly once, and
 * no other request published anything; every row the warehouse gained
 * belongs to a request answered 200, with exactly the record that request
 * sent.
 * After every run: no property added to `Object.prototype`. A crash or an
 * uncaught rejection fails the test through jest's own process handlers; at
 * the end the function must still store a valid request.
 */
import { resolve } from 'node:path';
import fc from 'fast-check';
import { isStorableText, parseRecord, type IngestRecord } from '../../lambda-src/record';
import { RowsRejectedError, type WarehouseRow } from '../../lambda-src/warehouse/warehouse';
import { MemoryWarehouse } from '../support/memory-warehouse';
import { FUZZ_INPUTS } from '../support/property-runs';
import { DEAD_LETTER_ATTRIBUTES } from '../../lambda-src/dead-letter/dead-letter';
import type { PubSubStandIn } from '../../tools/pubsub-standin';
import { serveHandlers, MAX_BODY_BYTES, type RunningFunctions } from './functions';
import { pushDelivery, SEED_SUCCESS, type RawReply } from './http-client';
import type { FuzzRequest, Verdict } from './oracle';

const IN_FLIGHT = 16;
/** Every batch is full, so a run sends `FUZZ_INPUTS` rounded up to a multiple of `IN_FLIGHT`. */
const BATCHES = Math.ceil(FUZZ_INPUTS / IN_FLIGHT);
const INPUTS = BATCHES * IN_FLIGHT;

const ROOT = resolve(__dirname, '../..');
/** What a leaked stack trace or internal detail would show. */
const LEAK = new RegExp(`\\bat .+:\\d+:\\d+|node_modules|lambda-src[/\\\\]|${ROOT.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`);

export type Target = 'api' | 'subscriber';

function prototypeShape(): string {
  return [Object.prototype, Array.prototype, Function.prototype]
    .map((prototype) => Reflect.ownKeys(prototype).map(String).sort().join(','))
    .join('|');
}

/** Refuses a batch holding a row no real warehouse could store, storing none of it (BigQuery: `invalid`, the rest `stopped`). */
class StorableRowsWarehouse extends MemoryWarehouse {
  override async insert(rows: readonly WarehouseRow[]): Promise<void> {
    const unstorable = rows.flatMap(({ insertId, ingestedAt: _ingestedAt, ...record }, index) =>
      isStorableText(insertId) && parseRecord(record).ok ? [] : [{ index, reason: 'invalid', message: 'not storable' }],
    );
    if (unstorable.length > 0) throw new RowsRejectedError(unstorable);
    return super.insert(rows);
  }
}

function checkAnswer(request: FuzzRequest, reply: RawReply, verdict: Verdict): void {
  const described = `${request.method} ${request.path} ${JSON.stringify(request.headers)} ${JSON.stringify(Buffer.from(request.body).toString('utf8').slice(0, 300))} -> ${reply.status} ${reply.text.slice(0, 300)}`;
  if (reply.status >= 500) throw new Error(`5xx: ${described}`);
  if (verdict.mustAcknowledge && (reply.status < 200 || reply.status > 299)) throw new Error(`nacked a push delivery, which Pub/Sub would redeliver: ${described}`);
  if (LEAK.test(reply.text)) throw new Error(`internal detail in the answer: ${described}`);
  if (reply.status === 200 && !verdict.mayAccept) throw new Error(`accepted what the contract refuses: ${described}`);
  if (reply.status !== 200 && verdict.mustAccept) throw new Error(`refused a plainly valid request: ${described}`);
  if (request.method === 'HEAD') return;
  if (reply.headers['content-type'] !== 'application/json; charset=utf-8') throw new Error(`not a JSON answer: ${described}`);
  const body = JSON.parse(reply.text) as { success?: unknown; error?: unknown; details?: unknown };
  if (reply.status === 200) {
    if (reply.text !== SEED_SUCCESS) throw new Error(`unexpected 200 body: ${described}`);
    return;
  }
  const details = body.details;
  const hasReason =
    Array.isArray(details) &&
    details.length > 0 &&
    details.every((detail: { field?: unknown; message?: unknown }) => typeof detail.field === 'string' && typeof detail.message === 'string' && detail.message !== '');
  if (body.success !== false || typeof body.error !== 'string' || body.error === '' || !hasReason) {
    throw new Error(`error answer without success:false, error and details: ${described}`);
  }
}

const sameRecord = (a: IngestRecord, b: IngestRecord) => a.id === b.id && a.name === b.name && Object.is(a.value, b.value);

interface FuzzStats {
  inputs: number;
  byStatus: Record<number, number>;
  rowsStored: number;
  deadLetters: number;
}

/**
 * Declares the fuzz test of `target`. `verdictOf` is the oracle for its
 * inputs; `healthyRequest` must be stored at the end.
 */
export function describeFuzz(target: Target, requests: fc.Arbitrary<FuzzRequest>, verdictOf: (request: FuzzRequest, maxBodyBytes: number) => Verdict): void {
  let functions: RunningFunctions & { deadLetters: PubSubStandIn };
  const warehouse = new StorableRowsWarehouse();
  const stats: FuzzStats = { inputs: 0, byStatus: {}, rowsStored: 0, deadLetters: 0 };

  beforeAll(async () => {
    functions = await serveHandlers(warehouse);
  });
  afterAll(async () => {
    await functions?.stop();
  });

  it(`answers ${INPUTS} generated requests with no 5xx, leak, prototype change or row for an invalid record`, async () => {
    const prototypeBefore = prototypeShape();
    const known = new Set<string>();
    let insertCallsSeen = 0;
    let lettersSeen = 0;

    /** The request ids the dead letters published since the last call name. */
    const takeNewLetters = () => {
      const letters = functions.deadLetters.published().slice(lettersSeen);
      lettersSeen += letters.length;
      return letters.map((letter) => letter.attributes[DEAD_LETTER_ATTRIBUTES.requestId]);
    };

    /** Insert ids stored so far, and how many insert calls have been looked at. */
    const takeNewRows = () => {
      const calls = warehouse.insertCalls.slice(insertCallsSeen);
      insertCallsSeen = warehouse.insertCalls.length;
      const fresh = calls.flat().filter((row) => !known.has(row.insertId) && warehouse.rows.has(row.insertId));
      for (const row of fresh) known.add(row.insertId);
      return fresh;
    };

    const property = fc.asyncProperty(fc.array(requests, { minLength: IN_FLIGHT, maxLength: IN_FLIGHT }), async (batch) => {
      // A run that failed half-way (while shrinking) left rows and letters nobody checked; they are not this run's.
      takeNewRows();
      takeNewLetters();
      const replies = await Promise.all(batch.map((request) => functions[target].send(request)));
      const poisonIds = replies.filter((reply) => reply.status === 202).map((reply) => String(reply.headers['x-request-id']));
      const letterIds = takeNewLetters();
      stats.deadLetters += letterIds.length;
      if (JSON.stringify([...letterIds].sort()) !== JSON.stringify([...poisonIds].sort())) {
        throw new Error(`dead letters for requests ${JSON.stringify(letterIds)}, expected one for each request answered 202: ${JSON.stringify(poisonIds)}`);
      }
      const claimed = new Map<string, IngestRecord[]>();
      batch.forEach((request, index) => {
        const reply = replies[index]!;
        const verdict = verdictOf(request, MAX_BODY_BYTES);
        checkAnswer(request, reply, verdict);
        stats.inputs += 1;
        stats.byStatus[reply.status] = (stats.byStatus[reply.status] ?? 0) + 1;
        if (reply.status !== 200) return;
        for (const row of verdict.rows(String(reply.headers['x-request-id']))) {
          const stored = warehouse.rows.get(row.insertId);
          if (!stored) throw new Error(`answered 200 but insert id ${row.insertId} is not stored`);
          claimed.set(row.insertId, [...(claimed.get(row.insertId) ?? []), row.record]);
        }
      });
      for (const row of takeNewRows()) {
        stats.rowsStored += 1;
        const candidates = claimed.get(row.insertId);
        const stored = warehouse.rows.get(row.insertId)!;
        if (!candidates?.some((record) => sameRecord(record, stored))) {
          throw new Error(`row ${JSON.stringify(stored)} stored for no request answered 200 with that record`);
        }
      }
      if (prototypeShape() !== prototypeBefore || ({} as Record<string, unknown>).polluted !== undefined) {
        throw new Error('a built-in prototype changed');
      }
    });
    await fc.assert(property, { numRuns: BATCHES });

    expect(stats.inputs).toBe(INPUTS);
    // The generators must keep both sides of the contract busy, or the property proves little.
    expect(stats.byStatus[200] ?? 0).toBeGreaterThan(INPUTS * 0.15);
    expect(INPUTS - (stats.byStatus[200] ?? 0)).toBeGreaterThan(INPUTS * 0.3);
    expect(stats.rowsStored).toBeGreaterThan(0);
    process.stderr.write(`fuzz ${target}: ${JSON.stringify(stats)}\n`);

    const healthy =
      target === 'api'
        ? await functions.api.postJson({ data: { id: 'after-fuzz', name: 'healthy', value: 1 } })
        : await functions.subscriber.postJson(pushDelivery({ data: { id: 'after-fuzz', name: 'healthy', value: 1 } }, 'after-fuzz'));
    expect([healthy.status, healthy.text]).toEqual([200, SEED_SUCCESS]);
  }, 120_000);
}
