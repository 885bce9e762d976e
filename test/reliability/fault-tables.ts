/**
 * The faults the fault tests inject, as data: what goes wrong, and what each
 * entry point must answer. docs/reliability.md quotes how many a run injects.
 */
import { RowsRejectedError, WarehouseError } from '../../lambda-src/warehouse/warehouse';
import type { ScriptedReply } from '../../tools/bigquery-standin';
import type { FaultMoment } from '../support/faulty-warehouse';
import { ENTRY_POINTS } from './fault-drill';

/** Records each entry point sends at once while faults strike their batches. */
export const LOAD_RECORDS = 40;

/**
 * How long the batcher lets a request wait for its commit, retries included, in the fault tests: long enough for
 * a few retries, short enough that a warehouse that stays down costs a test little.
 */
export const COMMIT_DEADLINE_MS = 1000;

export interface InjectedFault {
  name: string;
  error: unknown;
  moment: FaultMoment;
  /** The first send's answer: 200 when the batcher's retries absorb the fault. */
  status: 200 | 500 | 503;
  /** For a failure: the class it must name. */
  errorClass?: string;
  /** Text of the error that must not reach the client. */
  internalDetail: string;
  /** Strikes every attempt until the first answer (a warehouse that stays down), not only the first attempt. */
  persistent?: boolean;
}

const ioError = new WarehouseError('DuckDB insert failed: IO Error: No space left on device /srv/data', 'warehouse_unavailable', true);

/** DuckDB faults, one request each; a failed one is followed by the client's retry. */
export const DUCKDB_FAULTS: readonly InjectedFault[] = [
  { name: 'an I/O error before the commit', error: ioError, moment: 'beforeCommit', status: 200, internalDetail: 'No space left' },
  {
    name: 'a commit whose acknowledgement is lost',
    error: new WarehouseError('DuckDB insert failed: IO Error: Could not fsync /srv/data', 'warehouse_unavailable', true),
    moment: 'afterCommit',
    status: 200,
    internalDetail: 'fsync',
  },
  {
    name: 'a write conflict',
    error: new WarehouseError('DuckDB insert failed: TransactionContext Error: Catalog write-write conflict', 'warehouse_unavailable', true),
    moment: 'beforeCommit',
    status: 200,
    internalDetail: 'write-write',
  },
  {
    name: 'an I/O error on every attempt until the deadline',
    error: ioError,
    moment: 'beforeCommit',
    status: 503,
    errorClass: 'warehouse_unavailable',
    internalDetail: 'No space left',
    persistent: true,
  },
  {
    name: 'an unclassified driver error',
    error: new Error('INTERNAL Error: Attempted to access index 7 within vector of size 3 at /srv/secret/path'),
    moment: 'beforeCommit',
    status: 500,
    errorClass: 'warehouse_error',
    internalDetail: '/srv/secret/path',
  },
  {
    name: 'rows the warehouse refuses',
    error: new RowsRejectedError([{ index: 0, reason: 'invalid', message: 'CHECK constraint failed: records' }]),
    moment: 'beforeCommit',
    status: 500,
    errorClass: 'warehouse_rejected_rows',
    internalDetail: 'CHECK constraint',
  },
];

const diskHiccup = new WarehouseError('DuckDB insert failed: IO Error: disk hiccup', 'warehouse_unavailable', true);

/** DuckDB faults queued, in order, for the next inserts while `LOAD_RECORDS` records arrive at once. */
export const DUCKDB_LOAD_FAULTS: readonly { error: unknown; moment: FaultMoment }[] = [
  { error: diskHiccup, moment: 'beforeCommit' },
  { error: diskHiccup, moment: 'beforeCommit' },
  { error: diskHiccup, moment: 'afterCommit' },
  { error: diskHiccup, moment: 'afterCommit' },
  { error: new RowsRejectedError([{ index: 0, reason: 'invalid', message: 'refused' }]), moment: 'beforeCommit' },
  { error: new Error('unclassified'), moment: 'afterCommit' },
];

/** The adapter's deadline for one insertAll in the fault tests (fixed: its lower and upper bound). */
export const INSERT_TIMEOUT_MS = 300;
export const SLOW_REPLY_MS = 2 * INSERT_TIMEOUT_MS;

export interface ScriptedFault {
  name: string;
  reply: ScriptedReply;
  /** The first send's answer: 200 when the batcher's retries absorb the fault. */
  status: 200 | 500 | 503;
  /** For a failure: the class it must name. */
  errorClass?: string;
  /** Strikes every call until the first answer, not only the first call. */
  persistent?: boolean;
}

const http = (status: number, reason?: string, message?: string): ScriptedReply => ({ outcome: { kind: 'httpError', status, reason, message } });

/** BigQuery faults on the stand-in, one request each; a failed one is followed by the client's retry. Connection refused comes on top. */
export const BIGQUERY_FAULTS: readonly ScriptedFault[] = [
  { name: 'HTTP 500 backendError', reply: http(500), status: 200 },
  { name: 'HTTP 503', reply: http(503), status: 200 },
  { name: 'HTTP 429 rateLimitExceeded', reply: http(429), status: 200 },
  { name: 'HTTP 403 rateLimitExceeded', reply: http(403, 'rateLimitExceeded', 'Exceeded rate limits: too many api requests per user'), status: 200 },
  { name: 'HTTP 403 quotaExceeded', reply: http(403, 'quotaExceeded', 'Quota exceeded: Your table exceeded quota for streaming bytes'), status: 200 },
  { name: 'connection dropped before storing', reply: { outcome: { kind: 'destroySocket' } }, status: 200 },
  { name: 'connection dropped after storing', reply: { outcome: { kind: 'destroySocket', afterStoring: true } }, status: 200 },
  { name: `reply slower than the ${INSERT_TIMEOUT_MS} ms insertAll deadline`, reply: { delayMs: SLOW_REPLY_MS }, status: 200 },
  { name: 'a call that never answers, after storing', reply: { outcome: { kind: 'hang', afterStoring: true } }, status: 200 },
  { name: 'HTTP 503 on every call until the deadline', reply: http(503), status: 503, errorClass: 'warehouse_unavailable', persistent: true },
  {
    name: 'HTTP 403 quotaExceeded on every call until the deadline',
    reply: http(403, 'quotaExceeded', 'Quota exceeded: secret-project streaming bytes'),
    status: 503,
    errorClass: 'warehouse_unavailable',
    persistent: true,
  },
  { name: 'every call hanging until the deadline', reply: { outcome: { kind: 'hang' } }, status: 503, errorClass: 'warehouse_unavailable', persistent: true },
  {
    name: 'per-row insertErrors',
    reply: { outcome: { kind: 'rejectRows', indices: [0], message: 'no such field: secret_column.' } },
    status: 500,
    errorClass: 'warehouse_rejected_rows',
  },
  {
    name: 'HTTP 403 accessDenied',
    reply: http(403, 'accessDenied', 'Access Denied: secret-service-account'),
    status: 500,
    errorClass: 'warehouse_error',
  },
];

/** The stand-in's next insertAll replies while `LOAD_RECORDS` records arrive at once; `{}` answers normally. */
export const BIGQUERY_LOAD_REPLIES: readonly ScriptedReply[] = [
  http(503),
  {},
  { outcome: { kind: 'destroySocket', afterStoring: true } },
  { outcome: { kind: 'rejectRows', indices: [0] } },
  { delayMs: SLOW_REPLY_MS },
  http(500),
  { outcome: { kind: 'destroySocket' } },
];

/** Scripted replies that are faults. */
export const BIGQUERY_LOAD_FAULTS = BIGQUERY_LOAD_REPLIES.filter((reply) => reply.outcome !== undefined || reply.delayMs !== undefined).length;

/** Faults one run of the fault tests injects (the load and throughput runs of `faults-bigquery-load.test.ts` aside), both warehouses, both entry points. */
export const FAULTS_PER_RUN =
  ENTRY_POINTS.length * (DUCKDB_FAULTS.length + DUCKDB_LOAD_FAULTS.length + BIGQUERY_FAULTS.length + 1 + BIGQUERY_LOAD_FAULTS);
