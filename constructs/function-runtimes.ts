/**
 * The Node.js runtimes of Cloud Run functions and their lifecycle, as data.
 *
 * Source: Google's runtime support schedule for Cloud Run functions
 * (https://cloud.google.com/run/docs/runtimes/function-runtimes, Node.js
 * table) and the lifecycle it follows
 * (https://cloud.google.com/functions/docs/runtime-support): from the
 * deprecation date a runtime still deploys but gets no more updates; from the
 * decommission date no function can be created or updated on it.
 */
import type { Construct } from 'constructs';
import type { PropProblem } from './private/validation';

/** Where the dates of {@link NODE_RUNTIME_LIFECYCLE} come from. */
export const RUNTIME_SUPPORT_SCHEDULE_URL = 'https://cloud.google.com/run/docs/runtimes/function-runtimes';

/** One Node.js runtime of Cloud Run functions. Dates are `YYYY-MM-DD`, the first day of each phase. */
export interface NodeRuntimeLifecycle {
  /** Node.js major version; the runtime id is `nodejs<major>` (see {@link nodeRuntimeId}). */
  readonly major: number;
  /** First day of deprecation: deploys still work, updates have stopped. */
  readonly deprecated: string;
  /** First day of decommission: no function can be created or updated on it. */
  readonly decommissioned: string;
}

/** Every Node.js runtime with published dates, newest first. */
export const NODE_RUNTIME_LIFECYCLE: readonly NodeRuntimeLifecycle[] = [
  { major: 24, deprecated: '2028-04-30', decommissioned: '2028-10-31' },
  { major: 22, deprecated: '2027-04-30', decommissioned: '2027-10-31' },
  { major: 20, deprecated: '2026-04-30', decommissioned: '2026-10-30' },
  { major: 18, deprecated: '2025-04-30', decommissioned: '2025-10-30' },
  { major: 16, deprecated: '2024-01-30', decommissioned: '2025-01-30' },
  { major: 14, deprecated: '2024-01-30', decommissioned: '2025-01-30' },
  { major: 12, deprecated: '2024-01-30', decommissioned: '2025-01-30' },
  { major: 10, deprecated: '2024-01-30', decommissioned: '2025-01-30' },
];

/** The runtime id Cloud Run functions uses for a Node.js major version, e.g. `nodejs24`. */
export function nodeRuntimeId(major: number): string {
  return `nodejs${major}`;
}

/** The Node.js major version of {@link DEFAULT_NODE_RUNTIME}. */
export const DEFAULT_NODE_MAJOR = 24;

/** The runtime functions get when they name none. */
export const DEFAULT_NODE_RUNTIME = nodeRuntimeId(DEFAULT_NODE_MAJOR);

/**
 * Context key that fixes the date runtimes are judged at (`YYYY-MM-DD`), e.g.
 * `app.node.setContext(RUNTIME_CHECK_DATE_CONTEXT, '2027-05-01')`. It only
 * changes which errors and warnings synthesis reports, never its output.
 * @default today (UTC)
 */
export const RUNTIME_CHECK_DATE_CONTEXT = 'gcp-ingest:runtimeCheckDate';

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

function isCalendarDate(value: string): boolean {
  const match = ISO_DATE.exec(value);
  if (!match) return false;
  const date = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
  return date.toISOString().slice(0, 10) === value;
}

/** The date `scope` judges runtimes at: the {@link RUNTIME_CHECK_DATE_CONTEXT} context value, or today (UTC). */
export function runtimeCheckDate(scope: Construct): { readonly date: string; readonly problem?: PropProblem } {
  const today = new Date().toISOString().slice(0, 10);
  const configured: unknown = scope.node.tryGetContext(RUNTIME_CHECK_DATE_CONTEXT);
  if (configured === undefined) return { date: today };
  if (typeof configured === 'string' && isCalendarDate(configured)) return { date: configured };
  return {
    date: today,
    problem: { prop: `context ${RUNTIME_CHECK_DATE_CONTEXT}`, message: `must be a date as YYYY-MM-DD, got ${JSON.stringify(configured)}` },
  };
}

/** What a runtime id means on a given date. */
export type RuntimeVerdict =
  | { readonly status: 'supported'; readonly lifecycle: NodeRuntimeLifecycle }
  | { readonly status: 'deprecated' | 'decommissioned'; readonly lifecycle: NodeRuntimeLifecycle; readonly message: string }
  | { readonly status: 'unknown'; readonly message: string };

/** What to move to on `date`: the newest runtime not yet deprecated, or where to look when the table has none. */
function advice(date: string): string {
  const recommended = NODE_RUNTIME_LIFECYCLE.find((runtime) => date < runtime.deprecated);
  if (recommended === undefined) {
    return `every runtime this library knows is deprecated on ${date}: add the newer ones to NODE_RUNTIME_LIFECYCLE from ${RUNTIME_SUPPORT_SCHEDULE_URL}`;
  }
  return `use ${nodeRuntimeId(recommended.major)} (supported until ${recommended.deprecated}, decommissioned ${recommended.decommissioned}); schedule: ${RUNTIME_SUPPORT_SCHEDULE_URL}`;
}

/** Judges `runtime` on `date` (`YYYY-MM-DD`): supported, deprecated, decommissioned or unknown, with what to do. */
export function runtimeVerdict(runtime: string, date: string): RuntimeVerdict {
  const whatToDo = advice(date);
  const lifecycle = NODE_RUNTIME_LIFECYCLE.find((candidate) => nodeRuntimeId(candidate.major) === runtime);
  if (lifecycle === undefined) {
    const known = NODE_RUNTIME_LIFECYCLE.map((candidate) => nodeRuntimeId(candidate.major)).join(', ');
    return { status: 'unknown', message: `'${runtime}' is not a Node.js runtime of Cloud Run functions; known runtimes: ${known}; ${whatToDo}` };
  }
  if (date >= lifecycle.decommissioned) {
    return {
      status: 'decommissioned',
      lifecycle,
      message: `${runtime} was decommissioned on ${lifecycle.decommissioned}: Cloud Run functions no longer creates or updates functions on it; ${whatToDo}`,
    };
  }
  if (date >= lifecycle.deprecated) {
    return {
      status: 'deprecated',
      lifecycle,
      message: `${runtime} is deprecated since ${lifecycle.deprecated} and is decommissioned on ${lifecycle.decommissioned}, after which no deploy can create or update it; ${whatToDo}`,
    };
  }
  return { status: 'supported', lifecycle };
}
