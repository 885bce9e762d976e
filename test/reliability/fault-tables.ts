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

export interface InjectedFault {
  name: string;
  error: unknown;
  moment: FaultMoment;
  status: 500 | 503;
  errorClass: string;
  /** Text of the error that must not reach the client. */
  internalDetail: string;
}

/** DuckDB faults, one per request, each followed by a retry. */
export const DUCKDB_FAULTS: readonly InjectedFault[] = [
  {
    name: 'an I/O error before the commit',
    error: new WarehouseError('DuckDB insert failed: IO Error: No space left on device /srv/data', 'warehouse_unavailable', true),
    moment: 'beforeCommit',
    status: 503,
    errorClass: 'warehouse_unavailable',
    internalDetail: 'No space left',
  },
  {
    name: 'a commit whose acknowledgement is lost',
    error: new WarehouseError('DuckDB insert failed: IO Error: Could not fsync /srv/data', 'warehouse_unavailable', true),
    moment: 'afterCommit',
    status: 503,
    errorClass: 'warehouse_unavailable',
    internalDetail: 'fsync',
  },
  {
    name: 'a write conflict',
    error: new WarehouseError('DuckDB insert failed: TransactionContext Error: Catalog write-write conflict', 'warehouse_unavailable', true),
    moment: 'beforeCommit',
    status: 503,
    errorClass: 'warehouse_unavailable',
    internalDetail: 'write-write',
  },
  {
    name: 'a full insert queue',
    error: new WarehouseError('warehouse insert queue is full (5000 of 5000 rows waiting)', 'warehouse_overloaded', true),
    moment: 'beforeCommit',
    status: 503,
    errorClass: 'warehouse_overloaded',
    internalDetail: 'queue is full',
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

/** The adapter's deadline for one insertAll; the function answers 503 once it passes. */
export const DEADLINE_MS = 500;
export const SLOW_REPLY_MS = 2 * DEADLINE_MS;

export interface ScriptedFault {
  name: string;
  reply: ScriptedReply;
  status: 500 | 503;
  errorClass: string;
  /** Whether the stand-in holds the row when the failure answer arrives (or soon after: a slow reply lands late). */
  storedAnyway: boolean;
}

/** BigQuery faults scripted on the stand-in, one per request, each followed by a retry; connection refused comes on top. */
export const BIGQUERY_FAULTS: readonly ScriptedFault[] = [
  { name: 'HTTP 500 backendError', reply: { outcome: { kind: 'httpError', status: 500 } }, status: 503, errorClass: 'warehouse_unavailable', storedAnyway: false },
  { name: 'HTTP 503', reply: { outcome: { kind: 'httpError', status: 503 } }, status: 503, errorClass: 'warehouse_unavailable', storedAnyway: false },
  { name: 'HTTP 429 rateLimitExceeded', reply: { outcome: { kind: 'httpError', status: 429 } }, status: 503, errorClass: 'warehouse_unavailable', storedAnyway: false },
  { name: 'connection dropped before storing', reply: { outcome: { kind: 'destroySocket' } }, status: 503, errorClass: 'warehouse_unavailable', storedAnyway: false },
  {
    name: 'connection dropped after storing',
    reply: { outcome: { kind: 'destroySocket', afterStoring: true } },
    status: 503,
    errorClass: 'warehouse_unavailable',
    storedAnyway: true,
  },
  { name: `reply slower than the ${DEADLINE_MS} ms deadline`, reply: { delayMs: SLOW_REPLY_MS }, status: 503, errorClass: 'warehouse_unavailable', storedAnyway: true },
  {
    name: 'per-row insertErrors',
    reply: { outcome: { kind: 'rejectRows', indices: [0], message: 'no such field: secret_column.' } },
    status: 500,
    errorClass: 'warehouse_rejected_rows',
    storedAnyway: false,
  },
  {
    name: 'HTTP 403 accessDenied',
    reply: { outcome: { kind: 'httpError', status: 403, reason: 'accessDenied', message: 'Access Denied: secret-service-account' } },
    status: 500,
    errorClass: 'warehouse_error',
    storedAnyway: false,
  },
];

/** The stand-in's next insertAll replies while `LOAD_RECORDS` records arrive at once; `{}` answers normally. */
export const BIGQUERY_LOAD_REPLIES: readonly ScriptedReply[] = [
  { outcome: { kind: 'httpError', status: 503 } },
  {},
  { outcome: { kind: 'destroySocket', afterStoring: true } },
  { outcome: { kind: 'rejectRows', indices: [0] } },
  { delayMs: SLOW_REPLY_MS },
  { outcome: { kind: 'httpError', status: 500 } },
  { outcome: { kind: 'destroySocket' } },
];

/** Scripted replies that are faults. */
export const BIGQUERY_LOAD_FAULTS = BIGQUERY_LOAD_REPLIES.filter((reply) => reply.outcome !== undefined || reply.delayMs !== undefined).length;

/** Faults one run of the fault tests injects, both warehouses, both entry points. */
export const FAULTS_PER_RUN =
  ENTRY_POINTS.length * (DUCKDB_FAULTS.length + DUCKDB_LOAD_FAULTS.length + BIGQUERY_FAULTS.length + 1 + BIGQUERY_LOAD_FAULTS);
