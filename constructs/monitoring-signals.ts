/**
 * What the pipeline is watched by: metric names, Cloud Logging and Cloud
 * Monitoring filters, and the panel list both dashboards draw. The Terraform
 * resources (monitoring-alerts.ts) and the Grafana JSON (grafana-dashboard.ts)
 * are two renderings of these definitions, so they cannot drift apart.
 */
import { FUNCTION_NAMES, INSERT_FAILED_EVENT, OUTCOMES, REQUEST_EVENTS } from '../lambda-src/log-events';
import { seconds } from '../lambda-src/rules/durations';
import { FUNCTION_NAME, nameProblem, type NameRule, PROJECT_ID, PUBSUB_NAME } from '../lambda-src/rules/naming';
import {
  AVAILABILITY_SLO,
  BURN_RATE_RULES,
  DEAD_LETTER_ALERT,
  INSERT_ERROR_ALERT,
  LATENCY_ALERT,
  LATENCY_PANEL_PERCENTILES,
} from './monitoring-policy';
import { isToken, problemIf, type PropProblem } from './private/validation';

/**
 * The deployed pieces of one pipeline, by the names Cloud Monitoring knows
 * them. A field may be a Terraform reference where the names only reach
 * Terraform; the Grafana dashboard file, written at synth, needs plain strings.
 */
export interface MonitoredPipeline {
  /** Google Cloud project id that runs the functions and holds the metrics. */
  readonly project: string;
  /**
   * Prefix of every name this library creates for the pipeline (log-based
   * metrics, SLO service, display names), e.g. `ingest-dev`.
   */
  readonly namePrefix: string;
  /** Cloud Run service name of the API function (a 2nd-gen function's name). */
  readonly apiServiceName: string;
  /** Cloud Run service name of the Pub/Sub subscriber function. */
  readonly subscriberServiceName: string;
  /**
   * Name of the dead-letter subscription (`IngestTopic.deadLetterSubscriptionName`),
   * not its `projects/…/subscriptions/…` id: the backlog metric labels it by name.
   */
  readonly deadLetterSubscriptionName: string;
}

const PIPELINE_FIELD_RULES: Record<keyof MonitoredPipeline, NameRule> = {
  project: PROJECT_ID,
  namePrefix: { pattern: /^[a-z][a-z0-9-]{0,30}[a-z0-9]$/, rule: 'must be 2-32 lowercase letters, digits and hyphens, starting with a letter' },
  apiServiceName: FUNCTION_NAME,
  subscriberServiceName: FUNCTION_NAME,
  deadLetterSubscriptionName: {
    pattern: PUBSUB_NAME.pattern,
    rule: 'must be a Pub/Sub subscription name (3-255 of [A-Za-z0-9-_.~+%], a letter first), not its projects/… id',
  },
};

/**
 * Every problem with a pipeline description, one per field. With
 * `plainStrings`, a Terraform reference is one too: the Grafana dashboard
 * file is written at synth, where nothing resolves references.
 */
export function monitoredPipelineProblems(pipeline: MonitoredPipeline, options: { readonly plainStrings: boolean }): PropProblem[] {
  const fields = Object.keys(PIPELINE_FIELD_RULES) as (keyof MonitoredPipeline)[];
  const problems = fields.map((field): PropProblem | undefined => {
    const value: unknown = pipeline[field];
    if (!isToken(value)) {
      const message = nameProblem(value, PIPELINE_FIELD_RULES[field]);
      return message === undefined ? undefined : { prop: field, message };
    }
    if (!options.plainStrings) return undefined;
    return {
      prop: field,
      message: 'must be a plain string, not a Terraform reference: the Grafana dashboard file is written at synth (or set grafanaDashboard: false)',
    };
  });
  problems.push(
    problemIf(
      'subscriberServiceName',
      typeof pipeline.apiServiceName === 'string' && pipeline.apiServiceName === pipeline.subscriberServiceName,
      `must name another service than apiServiceName (both are ${JSON.stringify(pipeline.apiServiceName)})`,
      [pipeline.apiServiceName],
    ),
  );
  return problems.filter((problem): problem is PropProblem => problem !== undefined);
}

// ---------------------------------------------------------------- names

export const CLOUD_RUN_REVISION = 'cloud_run_revision';
export const PUBSUB_SUBSCRIPTION = 'pubsub_subscription';
export const REQUEST_COUNT_METRIC = 'run.googleapis.com/request_count';
export const REQUEST_LATENCIES_METRIC = 'run.googleapis.com/request_latencies';
export const UNDELIVERED_MESSAGES_METRIC = 'pubsub.googleapis.com/subscription/num_undelivered_messages';

/** Label keys of the log-based metrics (metric.label.<key>), each extracted from the request line. */
export const LOG_METRIC_LABELS = {
  function: { key: 'function', extractor: 'EXTRACT(jsonPayload.function)', description: 'Function that wrote the line' },
  errorClass: { key: 'error_class', extractor: 'EXTRACT(jsonPayload.errorClass)', description: 'Failure class of the insert' },
  outcome: { key: 'outcome', extractor: 'EXTRACT(jsonPayload.outcome)', description: 'success, rejected or failed' },
} as const;

export type LogMetricKey = 'insertErrors' | 'rowsIngested' | 'ingestLatency';

/** Names of the log-based metrics (`google_logging_metric.name`). */
export function logMetricNames(pipeline: MonitoredPipeline): Record<LogMetricKey, string> {
  return {
    insertErrors: `${pipeline.namePrefix}/warehouse_insert_errors`,
    rowsIngested: `${pipeline.namePrefix}/rows_ingested`,
    ingestLatency: `${pipeline.namePrefix}/ingest_latency_ms`,
  };
}

/** A log-based metric's Cloud Monitoring metric type. */
export function logMetricType(name: string): string {
  return `logging.googleapis.com/user/${name}`;
}

/**
 * A Cloud Monitoring metric type as PromQL spells it: the first `/` becomes
 * `:`, every other character PromQL does not allow becomes `_`.
 */
export function promQlMetricName(metricType: string): string {
  const slash = metricType.indexOf('/');
  const domain = metricType.slice(0, slash).replace(/[^A-Za-z0-9_]/g, '_');
  const path = metricType.slice(slash + 1).replace(/[^A-Za-z0-9_]/g, '_');
  return `${domain}:${path}`;
}

/** Ids of the API's SLO service and its availability SLO. */
export function sloIds(pipeline: MonitoredPipeline): { serviceId: string; sloId: string } {
  return { serviceId: `${pipeline.namePrefix}-api`, sloId: 'availability' };
}

/** Display names of the SLO service and the SLO, shared by Terraform and Grafana. */
export function sloDisplayNames(pipeline: MonitoredPipeline): { service: string; slo: string } {
  return {
    service: `${pipeline.namePrefix} API`,
    slo: `API availability ${AVAILABILITY_SLO.goal * 100}% over ${AVAILABILITY_SLO.rollingPeriodDays} days`,
  };
}

/** Full resource name of the availability SLO, as the `select_slo_*` selectors take it. */
export function sloResourceName(pipeline: MonitoredPipeline): string {
  const { serviceId, sloId } = sloIds(pipeline);
  return `projects/${pipeline.project}/services/${serviceId}/serviceLevelObjectives/${sloId}`;
}

// ---------------------------------------------------------------- Cloud Logging filters

const quoted = (value: string): string => JSON.stringify(value);
// Cloud Logging gives OR a higher precedence than AND; disjunctions are always parenthesized so the filters read as written.
const anyOf = (field: string, values: readonly string[]): string =>
  values.length === 1 ? `${field}=${quoted(values[0])}` : `(${values.map((value) => `${field}=${quoted(value)}`).join(' OR ')})`;

/** The ingest paths: HTTP `POST /` on the API and Pub/Sub push deliveries to the subscriber. */
export const INGEST_EVENTS = [REQUEST_EVENTS.ingest, REQUEST_EVENTS.push] as const;

/** Cloud Logging filters of the log-based metrics. */
export function logMetricFilters(pipeline: MonitoredPipeline): Record<LogMetricKey, string> {
  const ourFunctions = [
    `resource.type=${quoted(CLOUD_RUN_REVISION)}`,
    anyOf('resource.labels.service_name', [pipeline.apiServiceName, pipeline.subscriberServiceName]),
    anyOf('jsonPayload.function', Object.values(FUNCTION_NAMES)),
  ];
  return {
    insertErrors: [...ourFunctions, anyOf('jsonPayload.event', [INSERT_FAILED_EVENT]), 'jsonPayload.errorClass:*'].join(' AND '),
    rowsIngested: [...ourFunctions, anyOf('jsonPayload.event', INGEST_EVENTS), anyOf('jsonPayload.outcome', [OUTCOMES.success]), 'jsonPayload.rows:*'].join(' AND '),
    ingestLatency: [...ourFunctions, anyOf('jsonPayload.event', INGEST_EVENTS), 'jsonPayload.latencyMs:*'].join(' AND '),
  };
}

/** The API's request lines that ended in a failure of ours (5xx), for runbook links. */
export function failedApiRequestsLogFilter(pipeline: MonitoredPipeline): string {
  return [
    `resource.type=${quoted(CLOUD_RUN_REVISION)}`,
    `resource.labels.service_name=${quoted(pipeline.apiServiceName)}`,
    `jsonPayload.outcome=${quoted(OUTCOMES.failed)}`,
  ].join(' AND ');
}

// ---------------------------------------------------------------- Cloud Monitoring time series

/** One label condition of a time-series selection; `=~` is a full-match regular expression. */
export interface LabelCondition {
  readonly key: string;
  readonly op: '=' | '!=' | '=~';
  readonly value: string;
}

/** A metric on a monitored resource, narrowed by label conditions. */
export interface TimeSeriesSelection {
  readonly metricType: string;
  readonly resourceType: string;
  readonly labels: readonly LabelCondition[];
}

/** The Monitoring API filter of a selection. */
export function monitoringFilter(selection: TimeSeriesSelection): string {
  const labelClause = ({ key, op, value }: LabelCondition): string =>
    op === '=~' ? `${key}=monitoring.regex.full_match(${quoted(value)})` : `${key}${op}${quoted(value)}`;
  return [
    `metric.type=${quoted(selection.metricType)}`,
    `resource.type=${quoted(selection.resourceType)}`,
    ...selection.labels.map(labelClause),
  ].join(' AND ');
}

const serviceLabel = (serviceName: string): LabelCondition => ({ key: 'resource.label.service_name', op: '=', value: serviceName });

/** Every request the API served. */
export function apiRequests(pipeline: MonitoredPipeline): TimeSeriesSelection {
  return { metricType: REQUEST_COUNT_METRIC, resourceType: CLOUD_RUN_REVISION, labels: [serviceLabel(pipeline.apiServiceName)] };
}

/** Cloud Run's answer when it refuses a request for lack of capacity (and what a shedding handler would send). */
const TOO_MANY_REQUESTS = '429';

/**
 * The API requests that count as good for availability: anything but a 5xx
 * or a 429. (`request_count` does not see requests Cloud Run turns away
 * before they reach an instance, e.g. at the instance limit.)
 */
export function apiGoodRequests(pipeline: MonitoredPipeline): TimeSeriesSelection {
  const total = apiRequests(pipeline);
  return {
    ...total,
    labels: [
      ...total.labels,
      { key: 'metric.label.response_code_class', op: '!=', value: '5xx' },
      { key: 'metric.label.response_code', op: '!=', value: TOO_MANY_REQUESTS },
    ],
  };
}

/** The API's request latency distribution (ms), every route: ingest, reads, health checks, errors. */
export function apiLatencies(pipeline: MonitoredPipeline): TimeSeriesSelection {
  return { metricType: REQUEST_LATENCIES_METRIC, resourceType: CLOUD_RUN_REVISION, labels: [serviceLabel(pipeline.apiServiceName)] };
}

/** Messages waiting in the dead-letter subscription. */
export function deadLetterBacklog(pipeline: MonitoredPipeline): TimeSeriesSelection {
  return {
    metricType: UNDELIVERED_MESSAGES_METRIC,
    resourceType: PUBSUB_SUBSCRIPTION,
    labels: [{ key: 'resource.label.subscription_id', op: '=', value: pipeline.deadLetterSubscriptionName }],
  };
}

/** One of the pipeline's log-based metrics. */
export function logMetricSeries(pipeline: MonitoredPipeline, metric: LogMetricKey): TimeSeriesSelection {
  return { metricType: logMetricType(logMetricNames(pipeline)[metric]), resourceType: CLOUD_RUN_REVISION, labels: [] };
}

/** Handler latency (ms) of the ingest requests (`POST /`, Pub/Sub pushes) that succeeded: what the latency alert watches. */
export function successfulIngestLatencies(pipeline: MonitoredPipeline): TimeSeriesSelection {
  return {
    ...logMetricSeries(pipeline, 'ingestLatency'),
    labels: [{ key: `metric.label.${LOG_METRIC_LABELS.outcome.key}`, op: '=', value: OUTCOMES.success }],
  };
}

/** `select_slo_burn_rate("<slo>", "<lookback>s")`, the filter of a burn-rate condition. */
export function burnRateFilter(pipeline: MonitoredPipeline, lookbackSeconds: number): string {
  return `select_slo_burn_rate(${quoted(sloResourceName(pipeline))}, ${quoted(seconds(lookbackSeconds))})`;
}

// ---------------------------------------------------------------- dashboard panels

/** An aggregated Cloud Monitoring time series. */
export interface TimeSeriesQuery {
  readonly kind: 'timeSeries';
  readonly selection: TimeSeriesSelection;
  readonly alignmentSeconds: number;
  readonly aligner: string;
  readonly reducer: string;
  readonly groupBy: readonly string[];
  /** Fixed series name; when absent each series is named by its group-by labels. */
  readonly seriesName?: string;
}

/** A PromQL query over Cloud Monitoring metrics. */
export interface PromQlQuery {
  readonly kind: 'promql';
  readonly expr: string;
}

export type SloSelector = 'select_slo_compliance' | 'select_slo_budget_fraction' | 'select_slo_burn_rate';

/** A `select_slo_*` time series of the availability SLO. */
export interface SloQuery {
  readonly kind: 'slo';
  readonly selector: SloSelector;
  readonly lookbackSeconds?: number;
  readonly seriesName: string;
}

export type PanelQuery = TimeSeriesQuery | PromQlQuery | SloQuery;

/** A horizontal line drawn at an alert or SLO threshold. */
export interface ThresholdLine {
  readonly value: number;
  readonly label: string;
  /** Which side of the line is bad. */
  readonly badSide: 'above' | 'below';
}

export type PanelKey =
  | 'requests'
  | 'apiLatency'
  | 'ingestLatency'
  | 'insertErrors'
  | 'rowsIngested'
  | 'deadLetters'
  | 'sloCompliance'
  | 'errorBudget'
  | 'burnRate';

/** One chart, as both dashboards draw it. */
export interface PanelSpec {
  readonly key: PanelKey;
  readonly title: string;
  readonly description: string;
  /** Grafana unit id; the Cloud Monitoring dashboard shows `axisLabel` instead. */
  readonly unit: 'reqps' | 'ms' | 'short' | 'percentunit';
  readonly axisLabel: string;
  readonly queries: readonly PanelQuery[];
  readonly thresholds: readonly ThresholdLine[];
}

const percentile = (p: number) => ({ aligner: 'ALIGN_DELTA', reducer: `REDUCE_PERCENTILE_${String(p).padStart(2, '0')}`, seriesName: `p${p}` });

/** The panels of the pipeline's dashboards, in display order. */
export function dashboardPanels(pipeline: MonitoredPipeline): PanelSpec[] {
  const { burnRate: seedBurn, lookbackSeconds: [seedLookback] } = BURN_RATE_RULES.seedAvailability;
  const { burnRate: fastBurn } = BURN_RATE_RULES.fastPage;
  const { burnRate: slowBurn, lookbackSeconds: [slowLookback] } = BURN_RATE_RULES.slowPage;
  const rowsSum = `${promQlMetricName(logMetricType(logMetricNames(pipeline).rowsIngested))}_sum`;
  return [
    {
      key: 'requests',
      title: 'Requests processed by response class',
      description: 'Requests served by each function (Cloud Run request_count), per second, split by response class.',
      unit: 'reqps',
      axisLabel: 'requests/s',
      queries: [
        {
          kind: 'timeSeries',
          selection: {
            metricType: REQUEST_COUNT_METRIC,
            resourceType: CLOUD_RUN_REVISION,
            labels: [{ key: 'resource.label.service_name', op: '=~', value: `${pipeline.apiServiceName}|${pipeline.subscriberServiceName}` }],
          },
          alignmentSeconds: 60,
          aligner: 'ALIGN_RATE',
          reducer: 'REDUCE_SUM',
          groupBy: ['resource.label.service_name', 'metric.label.response_code_class'],
        },
      ],
      thresholds: [],
    },
    {
      key: 'ingestLatency',
      title: 'Ingest latency p50 / p95 / p99 (HTTP and Pub/Sub)',
      description: `Handler latency of successful ingest requests only (POST / and Pub/Sub pushes; reads, health checks and refused or failed requests excluded), from the latencyMs field of the request log lines. The latency alert opens when p${LATENCY_ALERT.percentile} of either function stays above ${LATENCY_ALERT.thresholdMs} ms for ${LATENCY_ALERT.durationSeconds / 60} minutes.`,
      unit: 'ms',
      axisLabel: 'ms',
      queries: LATENCY_PANEL_PERCENTILES.map((p) => ({
        kind: 'timeSeries' as const,
        selection: successfulIngestLatencies(pipeline),
        alignmentSeconds: LATENCY_ALERT.alignmentSeconds,
        groupBy: [],
        ...percentile(p),
      })),
      thresholds: [{ value: LATENCY_ALERT.thresholdMs, label: `alert: p${LATENCY_ALERT.percentile} > ${LATENCY_ALERT.thresholdMs} ms`, badSide: 'above' }],
    },
    {
      key: 'apiLatency',
      title: 'API latency p50 / p95 / p99 (every request)',
      description: 'Cloud Run request latency of every API request: ingest, paged reads, health checks and errors. For context only: the latency alert watches successful ingest requests (panel Ingest latency).',
      unit: 'ms',
      axisLabel: 'ms',
      queries: LATENCY_PANEL_PERCENTILES.map((p) => ({
        kind: 'timeSeries' as const,
        selection: apiLatencies(pipeline),
        alignmentSeconds: LATENCY_ALERT.alignmentSeconds,
        groupBy: ['resource.label.service_name'],
        ...percentile(p),
      })),
      thresholds: [],
    },
    {
      key: 'insertErrors',
      title: `Warehouse insert errors per ${INSERT_ERROR_ALERT.windowSeconds / 60} min`,
      description: `Failed BigQuery insert calls by error class. The alert opens above ${INSERT_ERROR_ALERT.maxErrorsPerWindow} in ${INSERT_ERROR_ALERT.windowSeconds / 60} minutes.`,
      unit: 'short',
      axisLabel: `errors / ${INSERT_ERROR_ALERT.windowSeconds / 60} min`,
      queries: [
        {
          kind: 'timeSeries',
          selection: logMetricSeries(pipeline, 'insertErrors'),
          alignmentSeconds: INSERT_ERROR_ALERT.windowSeconds,
          aligner: 'ALIGN_DELTA',
          reducer: 'REDUCE_SUM',
          groupBy: [`metric.label.${LOG_METRIC_LABELS.errorClass.key}`],
        },
      ],
      thresholds: [{ value: INSERT_ERROR_ALERT.maxErrorsPerWindow, label: `alert: > ${INSERT_ERROR_ALERT.maxErrorsPerWindow} per ${INSERT_ERROR_ALERT.windowSeconds / 60} min`, badSide: 'above' }],
    },
    {
      key: 'rowsIngested',
      title: 'Rows ingested per second',
      description: 'Rows committed to the warehouse by each function (sum of the rows field of successful ingest lines).',
      unit: 'short',
      axisLabel: 'rows/s',
      queries: [{ kind: 'promql', expr: `sum by (${LOG_METRIC_LABELS.function.key}) (rate(${rowsSum}[5m]))` }],
      thresholds: [],
    },
    {
      key: 'deadLetters',
      title: 'Dead-letter messages waiting',
      description: 'Undelivered messages in the dead-letter subscription. Each one is a record that never reached the warehouse.',
      unit: 'short',
      axisLabel: 'messages',
      queries: [
        {
          kind: 'timeSeries',
          selection: deadLetterBacklog(pipeline),
          alignmentSeconds: DEAD_LETTER_ALERT.alignmentSeconds,
          aligner: 'ALIGN_MAX',
          reducer: 'REDUCE_SUM',
          groupBy: ['resource.label.subscription_id'],
        },
      ],
      thresholds: [{ value: DEAD_LETTER_ALERT.maxUndeliveredMessages, label: `alert: > ${DEAD_LETTER_ALERT.maxUndeliveredMessages}`, badSide: 'above' }],
    },
    {
      key: 'sloCompliance',
      title: `API availability over ${AVAILABILITY_SLO.rollingPeriodDays} days`,
      description: `Share of API requests answered with neither a 5xx nor a 429 over the rolling ${AVAILABILITY_SLO.rollingPeriodDays}-day window; the SLO goal is ${AVAILABILITY_SLO.goal * 100}%.`,
      unit: 'percentunit',
      axisLabel: 'availability',
      queries: [{ kind: 'slo', selector: 'select_slo_compliance', seriesName: 'availability' }],
      thresholds: [{ value: AVAILABILITY_SLO.goal, label: `SLO goal ${AVAILABILITY_SLO.goal * 100}%`, badSide: 'below' }],
    },
    {
      key: 'errorBudget',
      title: 'Error budget remaining',
      description: `Fraction of the ${AVAILABILITY_SLO.rollingPeriodDays}-day error budget (${Number(((1 - AVAILABILITY_SLO.goal) * 100).toFixed(3))}% of requests) still unspent.`,
      unit: 'percentunit',
      axisLabel: 'budget left',
      queries: [{ kind: 'slo', selector: 'select_slo_budget_fraction', seriesName: 'budget remaining' }],
      thresholds: [{ value: 0, label: 'budget exhausted', badSide: 'below' }],
    },
    {
      key: 'burnRate',
      title: 'Error budget burn rate',
      description: `How many times faster than sustainable the budget burns. Alerts: ${seedBurn}× over 1 h (the seed's 99.5% floor), ${fastBurn}× over 1 h and 5 min (page), ${slowBurn}× over 6 h and 30 min (page).`,
      unit: 'short',
      axisLabel: 'burn rate',
      queries: [
        { kind: 'slo', selector: 'select_slo_burn_rate', lookbackSeconds: seedLookback, seriesName: 'burn rate 1 h' },
        { kind: 'slo', selector: 'select_slo_burn_rate', lookbackSeconds: slowLookback, seriesName: 'burn rate 6 h' },
      ],
      thresholds: [
        { value: seedBurn, label: `alert: ${seedBurn}× over 1 h`, badSide: 'above' },
        { value: slowBurn, label: `page: ${slowBurn}× over 6 h`, badSide: 'above' },
        { value: fastBurn, label: `page: ${fastBurn}× over 1 h`, badSide: 'above' },
      ],
    },
  ];
}

/** The Monitoring API filter of a `select_slo_*` query. */
export function sloSelectorFilter(pipeline: MonitoredPipeline, query: SloQuery): string {
  const args = [quoted(sloResourceName(pipeline))];
  if (query.lookbackSeconds !== undefined) args.push(quoted(seconds(query.lookbackSeconds)));
  return `${query.selector}(${args.join(', ')})`;
}
