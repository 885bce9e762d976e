/**
 * `MonitoringAlerts`: everything that watches one pipeline against the seed's
 * metrics, alert rules and SLO.
 *
 * - log-based metrics over the functions' structured request lines: warehouse
 *   insert errors (counter by function and error class), rows ingested and
 *   ingest latency (distributions);
 * - the API's availability SLO (99.9% of requests neither 5xx nor 429, rolling 28 days);
 * - alert policies, each with a markdown runbook: p99 latency of successful
 *   ingest requests, insert errors, the seed's availability floor and the SRE
 *   workbook's two multi-window burn-rate pages, dead letters. A policy that
 *   reads a log-based metric is created after the metric and after a wait for
 *   it to propagate, so a first deploy does not fail on "cannot find metric";
 * - notification channels from config, plus existing channels by id;
 * - a Cloud Monitoring dashboard, and the same dashboard for Grafana written
 *   at synth to `<outdir>/grafana/<stack>-dashboard.json` with a provisioning
 *   file beside it.
 *
 * Thresholds come from monitoring-policy.ts; metric names and filters from
 * monitoring-signals.ts, which build the log filters from lambda-src/log-events.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LoggingMetric, type LoggingMetricConfig } from '@cdktf/provider-google/lib/logging-metric';
import {
  MonitoringAlertPolicy,
  type MonitoringAlertPolicyConditions,
  type MonitoringAlertPolicyDocumentationLinks,
} from '@cdktf/provider-google/lib/monitoring-alert-policy';
import { MonitoringCustomService } from '@cdktf/provider-google/lib/monitoring-custom-service';
import { MonitoringDashboard } from '@cdktf/provider-google/lib/monitoring-dashboard';
import type { MonitoringNotificationChannel } from '@cdktf/provider-google/lib/monitoring-notification-channel';
import { MonitoringSlo } from '@cdktf/provider-google/lib/monitoring-slo';
import { type ITerraformDependable, TerraformStack } from 'cdktf';
import { Sleep } from '@cdktf/provider-time/lib/sleep';
import { addCustomSynthesis } from 'cdktf/lib/synthesize/synthesizer';
import { Construct } from 'constructs';
import { DEAD_LETTER_ATTRIBUTES, DEAD_LETTER_DATA } from '../lambda-src/dead-letter/dead-letter';
import { OUTCOMES, REQUEST_EVENTS } from '../lambda-src/log-events';
import { seconds } from '../lambda-src/rules/durations';
import { MAX_RECORDS_PER_INSERT } from '../lambda-src/rules/limits';
import { DEAD_LETTER_TOPIC, kebab } from '../lambda-src/rules/naming';
import { REQUEST_ERROR_CLASSES } from '../lambda-src/logging';
import type { WarehouseErrorClass } from '../lambda-src/rules/warehouse-errors';
import { grafanaDashboardJson, grafanaDashboardUid, grafanaProvisioningYaml } from './grafana-dashboard';
import {
  addNotificationChannels,
  type NotificationChannelConfig,
  notificationChannelIdProblems,
  notificationChannelName,
  notificationChannelProblems,
} from './monitoring-channels';
import { cloudMonitoringDashboard } from './monitoring-dashboard';
import {
  AVAILABILITY_SLO,
  BURN_RATE_RULES,
  type BurnRateRule,
  DEAD_LETTER_ALERT,
  INGEST_LATENCY_BUCKET_BOUNDS_MS,
  INSERT_ERROR_ALERT,
  LATENCY_ALERT,
  LOG_METRIC_PROPAGATION_SECONDS,
  ROWS_PER_REQUEST_BUCKET_BOUNDS,
} from './monitoring-policy';
import {
  apiGoodRequests,
  apiRequests,
  burnRateFilter,
  dashboardPanels,
  deadLetterBacklog,
  failedApiRequestsLogFilter,
  LOG_METRIC_LABELS,
  type LogMetricKey,
  logMetricFilters,
  logMetricNames,
  logMetricSeries,
  type MonitoredPipeline,
  monitoredPipelineProblems,
  monitoringFilter,
  type PanelKey,
  sloDisplayNames,
  sloIds,
  successfulIngestLatencies,
} from './monitoring-signals';
import { ensureTimeProvider } from './private/time-provider';
import { isToken, labelProblems, type PropProblem, validateProps } from './private/validation';

/**
 * Where the Grafana provisioning file expects the dashboards: mount
 * `cdktf.out/grafana/` there in the Grafana container.
 */
export const GRAFANA_DASHBOARDS_MOUNT = '/var/lib/grafana/dashboards/gcp-ingest';

export interface MonitoringAlertsProps extends MonitoredPipeline {
  /**
   * Channels this construct creates, which every policy notifies. Empty is
   * allowed (incidents still open in the console) but means nobody is told;
   * stack config refuses that for prod. E-mail addresses at reserved domains
   * (`example.com`, `*.test`, …) are refused: nobody would read the pages.
   * @default [] no channel
   */
  readonly notificationChannels?: readonly NotificationChannelConfig[];
  /**
   * Existing notification channels (made elsewhere: a Slack or PagerDuty
   * channel, a team's e-mail channel) that every policy notifies too, each as
   * `projects/<project>/notificationChannels/<id>` or as the numeric id of a
   * channel in `project`.
   * @default [] none
   */
  readonly notificationChannelIds?: readonly string[];
  /**
   * Labels put on the alert policies, the SLO service, the SLO and the
   * notification channels (Google label rules: lowercase keys and values).
   * @default {}
   */
  readonly userLabels?: Record<string, string>;
  /**
   * Write the Grafana dashboard (`<outdir>/grafana/<stack>-dashboard.json`)
   * and its provisioning file (`<outdir>/grafana/provisioning/dashboards.yaml`)
   * when the app synthesizes. The file is written at synth, so the
   * pipeline's names must then be plain strings, not Terraform references.
   * @default true
   */
  readonly grafanaDashboard?: boolean;
}

/** The alert policies, by what they watch. */
export type AlertKey = 'ingestLatency' | 'insertErrors' | 'availability' | 'fastBurn' | 'slowBurn' | 'deadLetters';

/** The warehouse's failure classes the insert-errors runbook explains (checked against the port's type). */
const WAREHOUSE_ERROR_CLASSES = {
  unavailable: 'warehouse_unavailable',
  rejectedRows: 'warehouse_rejected_rows',
  other: 'warehouse_error',
} as const satisfies Record<string, WarehouseErrorClass>;

const STACK_FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

/** What a runbook says: the meaning, the panels to open and the first steps, in order. */
interface Runbook {
  readonly meaning: string;
  readonly panels: readonly PanelKey[];
  readonly firstSteps: readonly string[];
  readonly links: readonly MonitoringAlertPolicyDocumentationLinks[];
}

interface PolicyDefinition {
  readonly displayName: string;
  readonly severity: 'CRITICAL' | 'ERROR' | 'WARNING';
  readonly conditions: MonitoringAlertPolicyConditions[];
  readonly runbook: Runbook;
  /** The log-based metrics the conditions read: the policy waits for them to exist and propagate. */
  readonly logMetrics: readonly LogMetricKey[];
  /** Other resources the conditions read. */
  readonly dependsOn: ITerraformDependable[];
}

/** `undefined` for an empty list, so no empty `depends_on` is synthesized. */
function orNone<T>(items: T[]): T[] | undefined {
  return items.length > 0 ? items : undefined;
}

export class MonitoringAlerts extends Construct {
  /** The log-based metrics, by what they count. */
  readonly logMetrics: Record<LogMetricKey, LoggingMetric>;
  /** The custom service the API's SLO belongs to. */
  readonly sloService: MonitoringCustomService;
  /** The API availability SLO (goal 0.999 over a rolling 28 days). */
  readonly slo: MonitoringSlo;
  /** The notification channels this construct created. */
  readonly notificationChannels: MonitoringNotificationChannel[];
  /** Full names of every channel the policies notify: the ones created here, then the existing ones. */
  readonly notificationChannelNames: readonly string[];
  /**
   * The wait between creating the log-based metrics that alerts read and
   * creating those alerts (created once; again only when such a metric is new).
   */
  readonly logMetricPropagation: Sleep;
  /** The alert policies, by what they watch. */
  readonly alertPolicies: Record<AlertKey, MonitoringAlertPolicy>;
  /** The Cloud Monitoring dashboard. */
  readonly dashboard: MonitoringDashboard;
  /** Path of the Grafana dashboard file relative to the synth outdir, when one is written. */
  readonly grafanaDashboardFile?: string;

  private readonly pipeline: MonitoredPipeline;
  private readonly userLabels: Record<string, string> | undefined;
  private readonly dashboardName: string;

  constructor(scope: Construct, id: string, props: MonitoringAlertsProps) {
    super(scope, id);
    const writesGrafana = props.grafanaDashboard ?? true;
    const userLabels = props.userLabels ?? {};
    this.userLabels = Object.keys(userLabels).length > 0 ? { ...userLabels } : undefined;
    validateProps(this, [
      ...monitoredPipelineProblems(props, { plainStrings: writesGrafana }),
      ...notificationChannelProblems(props.notificationChannels ?? []),
      ...notificationChannelIdProblems(props.notificationChannelIds ?? []),
      ...labelProblems('userLabels', props.userLabels),
      ...(writesGrafana ? this.grafanaFileProblems() : []),
    ]);

    const { project, namePrefix, apiServiceName, subscriberServiceName, deadLetterSubscriptionName } = props;
    this.pipeline = { project, namePrefix, apiServiceName, subscriberServiceName, deadLetterSubscriptionName };
    this.dashboardName = `${namePrefix} ingest pipeline`;

    this.logMetrics = this.addLogMetrics();
    const slo = this.addAvailabilitySlo();
    this.sloService = slo.service;
    this.slo = slo.slo;
    this.notificationChannels = addNotificationChannels(this, {
      project,
      namePrefix,
      channels: props.notificationChannels ?? [],
      userLabels: this.userLabels,
    });
    this.notificationChannelNames = [
      ...this.notificationChannels.map((channel) => channel.name),
      ...(props.notificationChannelIds ?? []).map((channelId) => notificationChannelName(project, channelId)),
    ];
    const definitions = this.alertPolicyDefinitions();
    this.logMetricPropagation = this.addLogMetricPropagation(Object.values(definitions));
    this.alertPolicies = Object.fromEntries(
      (Object.entries(definitions) as [AlertKey, PolicyDefinition][]).map(([key, definition]) => [key, this.addPolicy(key, definition)]),
    ) as Record<AlertKey, MonitoringAlertPolicy>;
    this.dashboard = new MonitoringDashboard(this, 'dashboard', {
      project,
      dashboardJson: JSON.stringify(cloudMonitoringDashboard(this.pipeline, this.dashboardName)),
      dependsOn: [...Object.values(this.logMetrics), this.slo],
    });

    if (writesGrafana) this.grafanaDashboardFile = this.writeGrafanaAtSynth();
  }

  private addLogMetrics(): Record<LogMetricKey, LoggingMetric> {
    const { project } = this.pipeline;
    const names = logMetricNames(this.pipeline);
    const filters = logMetricFilters(this.pipeline);
    const labels = (...keys: (keyof typeof LOG_METRIC_LABELS)[]) => ({
      labels: keys.map((key) => ({ key: LOG_METRIC_LABELS[key].key, valueType: 'STRING', description: LOG_METRIC_LABELS[key].description })),
      extractors: Object.fromEntries(keys.map((key) => [LOG_METRIC_LABELS[key].key, LOG_METRIC_LABELS[key].extractor])),
    });
    const metric = (id: string, key: LogMetricKey, config: Omit<LoggingMetricConfig, 'project' | 'name' | 'filter'>) =>
      new LoggingMetric(this, id, { project, name: names[key], filter: filters[key], ...config });

    const insertErrorLabels = labels('function', 'errorClass');
    const rowsLabels = labels('function');
    const latencyLabels = labels('function', 'outcome');
    return {
      insertErrors: metric('insert-errors-metric', 'insertErrors', {
        description: 'Failed warehouse (BigQuery) insert calls, one per failed call, by function and error class.',
        metricDescriptor: { metricKind: 'DELTA', valueType: 'INT64', unit: '1', displayName: 'Warehouse insert errors', labels: insertErrorLabels.labels },
        labelExtractors: insertErrorLabels.extractors,
      }),
      // A log-based metric that sums a field must be a DISTRIBUTION; its sum is the row count.
      rowsIngested: metric('rows-ingested-metric', 'rowsIngested', {
        description: 'Rows committed per successful ingest request (HTTP POST / and Pub/Sub push); the distribution sum is rows ingested.',
        metricDescriptor: { metricKind: 'DELTA', valueType: 'DISTRIBUTION', unit: '1', displayName: 'Rows ingested', labels: rowsLabels.labels },
        labelExtractors: rowsLabels.extractors,
        valueExtractor: 'EXTRACT(jsonPayload.rows)',
        bucketOptions: { explicitBuckets: { bounds: [...ROWS_PER_REQUEST_BUCKET_BOUNDS] } },
      }),
      ingestLatency: metric('ingest-latency-metric', 'ingestLatency', {
        description: 'Handler latency of the ingest paths only (HTTP POST / and Pub/Sub push), milliseconds, by function and outcome.',
        metricDescriptor: { metricKind: 'DELTA', valueType: 'DISTRIBUTION', unit: 'ms', displayName: 'Ingest latency', labels: latencyLabels.labels },
        labelExtractors: latencyLabels.extractors,
        valueExtractor: 'EXTRACT(jsonPayload.latencyMs)',
        bucketOptions: { explicitBuckets: { bounds: [...INGEST_LATENCY_BUCKET_BOUNDS_MS] } },
      }),
    };
  }

  private addAvailabilitySlo(): { service: MonitoringCustomService; slo: MonitoringSlo } {
    const { project } = this.pipeline;
    const ids = sloIds(this.pipeline);
    const names = sloDisplayNames(this.pipeline);
    const service = new MonitoringCustomService(this, 'api-service', {
      project,
      serviceId: ids.serviceId,
      displayName: names.service,
      userLabels: this.userLabels,
    });
    const slo = new MonitoringSlo(this, 'availability-slo', {
      project,
      service: service.serviceId,
      sloId: ids.sloId,
      displayName: names.slo,
      goal: AVAILABILITY_SLO.goal,
      rollingPeriodDays: AVAILABILITY_SLO.rollingPeriodDays,
      requestBasedSli: {
        goodTotalRatio: {
          goodServiceFilter: monitoringFilter(apiGoodRequests(this.pipeline)),
          totalServiceFilter: monitoringFilter(apiRequests(this.pipeline)),
        },
      },
      userLabels: this.userLabels,
    });
    return { service, slo };
  }

  /**
   * A `time_sleep` after the log-based metrics the policies read. Its
   * triggers name those metrics, so it runs once when they are created and
   * again only when one of them is new or replaced, never on later applies.
   */
  private addLogMetricPropagation(definitions: readonly PolicyDefinition[]): Sleep {
    ensureTimeProvider(this);
    const names = logMetricNames(this.pipeline);
    const read = [...new Set(definitions.flatMap((definition) => definition.logMetrics))].sort();
    return new Sleep(this, 'log-metric-propagation', {
      createDuration: seconds(LOG_METRIC_PROPAGATION_SECONDS),
      triggers: Object.fromEntries(read.map((key) => [names[key], this.logMetrics[key].id])),
      dependsOn: read.map((key) => this.logMetrics[key]),
    });
  }

  private alertPolicyDefinitions(): Record<AlertKey, PolicyDefinition> {
    const p = this.pipeline;
    const logs = (filter: string) => ({
      displayName: 'Logs Explorer: matching lines',
      // A filter that names a Terraform reference cannot be URL-encoded at synth: that link opens the explorer unfiltered.
      url: `https://console.cloud.google.com/logs/query${isToken(filter) ? '' : `;query=${encodeURIComponent(filter)}`}?project=${p.project}`,
    });
    const dashboards = { displayName: 'Cloud Monitoring dashboards', url: `https://console.cloud.google.com/monitoring/dashboards?project=${p.project}` };
    const sloPage = { displayName: 'SLO and error budget', url: `https://console.cloud.google.com/monitoring/services?project=${p.project}` };
    const failedRequests = failedApiRequestsLogFilter(p);
    const budgetDays = (burnRate: number) => Number((AVAILABILITY_SLO.rollingPeriodDays / burnRate).toFixed(1));
    const windowsText = (rule: BurnRateRule) => rule.lookbackSeconds.map((s) => (s >= 3600 ? `${s / 3600} h` : `${s / 60} min`)).join(' and ');
    const burnRateConditions = (rule: BurnRateRule): MonitoringAlertPolicyConditions[] =>
      rule.lookbackSeconds.map((lookback) => ({
        displayName: `Burn rate over ${seconds(lookback)} > ${rule.burnRate}`,
        conditionThreshold: {
          filter: burnRateFilter(p, lookback),
          comparison: 'COMPARISON_GT',
          thresholdValue: rule.burnRate,
          duration: '0s',
        },
      }));
    const burnRateSteps = [
      'Open the **Requests processed by response class** panel: which function and which class (5xx, or 4xx for 429 refusals) grew, and since when.',
      `Read the failed requests in Logs Explorer (link below, \`jsonPayload.outcome="${OUTCOMES.failed}"\`) and group them by \`jsonPayload.errorClass\`; the \`warehouse_*\` classes mean BigQuery: follow the insert-errors runbook.`,
      'If it started with a deploy, roll the API back to the previous revision (Cloud Run > revisions > manage traffic) and confirm the burn rate falls.',
      'Post the error budget left (panel **Error budget remaining**) in the incident; freeze risky releases while it is low.',
    ];
    const { seedAvailability, fastPage, slowPage } = BURN_RATE_RULES;

    return {
      ingestLatency: {
        displayName: `${p.namePrefix}: ingest p${LATENCY_ALERT.percentile} latency > ${LATENCY_ALERT.thresholdMs} ms for ${LATENCY_ALERT.durationSeconds / 60} min`,
        severity: 'WARNING',
        conditions: [
          {
            displayName: `p${LATENCY_ALERT.percentile} latency of successful ingest requests > ${LATENCY_ALERT.thresholdMs} ms`,
            conditionThreshold: {
              filter: monitoringFilter(successfulIngestLatencies(p)),
              aggregations: [
                {
                  alignmentPeriod: seconds(LATENCY_ALERT.alignmentSeconds),
                  perSeriesAligner: 'ALIGN_DELTA',
                  crossSeriesReducer: `REDUCE_PERCENTILE_${LATENCY_ALERT.percentile}`,
                  groupByFields: [`metric.label.${LOG_METRIC_LABELS.function.key}`],
                },
              ],
              comparison: 'COMPARISON_GT',
              thresholdValue: LATENCY_ALERT.thresholdMs,
              duration: seconds(LATENCY_ALERT.durationSeconds),
              trigger: { count: 1 },
            },
          },
        ],
        runbook: {
          meaning: `The p${LATENCY_ALERT.percentile} latency of successful ingest requests (HTTP \`POST /\` on \`${p.apiServiceName}\`, or Pub/Sub pushes on \`${p.subscriberServiceName}\`: the incident names the function) has stayed above the seed's ${LATENCY_ALERT.thresholdMs} ms for ${LATENCY_ALERT.durationSeconds / 60} minutes: more than one record write in a hundred takes longer than the limit. Reads, health checks and refused or failed requests are not counted.`,
          panels: ['ingestLatency', 'insertErrors', 'requests', 'apiLatency'],
          firstSteps: [
            'Open **Ingest latency** and **Warehouse insert errors**: the time of a successful ingest request is mostly its BigQuery insert, so check BigQuery streaming quotas and the Google Cloud status page, and whether insert errors (and retries) grew at the same time.',
            "Check the request rate and the function's instance count: a burst that reaches the function's max instances queues requests; raise max instances or per-instance concurrency in the stack config.",
            'If it started with a deploy, roll back to the previous revision and compare.',
          ],
          links: [logs(logMetricFilters(p).ingestLatency), dashboards],
        },
        logMetrics: ['ingestLatency'],
        dependsOn: [],
      },
      insertErrors: {
        displayName: `${p.namePrefix}: warehouse insert errors > ${INSERT_ERROR_ALERT.maxErrorsPerWindow} in ${INSERT_ERROR_ALERT.windowSeconds / 60} min`,
        severity: 'ERROR',
        conditions: [
          {
            displayName: `Failed warehouse inserts in ${seconds(INSERT_ERROR_ALERT.windowSeconds)} > ${INSERT_ERROR_ALERT.maxErrorsPerWindow}`,
            conditionThreshold: {
              filter: monitoringFilter(logMetricSeries(p, 'insertErrors')),
              aggregations: [
                {
                  alignmentPeriod: seconds(INSERT_ERROR_ALERT.windowSeconds),
                  perSeriesAligner: 'ALIGN_DELTA',
                  crossSeriesReducer: 'REDUCE_SUM',
                },
              ],
              comparison: 'COMPARISON_GT',
              thresholdValue: INSERT_ERROR_ALERT.maxErrorsPerWindow,
              duration: '0s',
              trigger: { count: 1 },
            },
          },
        ],
        runbook: {
          meaning: `More than ${INSERT_ERROR_ALERT.maxErrorsPerWindow} warehouse (BigQuery) insert calls failed in the last ${INSERT_ERROR_ALERT.windowSeconds / 60} minutes. Each failed call may carry a batch of up to ${MAX_RECORDS_PER_INSERT} rows: HTTP callers were answered 5xx and retry, Pub/Sub messages are redelivered and end in the dead-letter subscription if the failure persists.`,
          panels: ['insertErrors', 'deadLetters', 'requests'],
          firstSteps: [
            'Open the matching log lines (link below) and group them by `jsonPayload.errorClass`.',
            `\`${WAREHOUSE_ERROR_CLASSES.unavailable}\` (BigQuery 5xx, timeouts): check the Google Cloud status page and BigQuery streaming-insert quotas; retries are automatic, watch that the count falls.`,
            `\`${WAREHOUSE_ERROR_CLASSES.rejectedRows}\`: BigQuery refused rows, so the table schema and the record schema disagree; check the last change to the table or the functions and redeploy the matching pair.`,
            `\`${WAREHOUSE_ERROR_CLASSES.other}\`: usually permissions or configuration: the function's service account needs insert rights on the dataset, and BIGQUERY_DATASET / BIGQUERY_TABLE must name the table.`,
            'Watch **Dead-letter messages waiting**: Pub/Sub messages that exhaust their retries land there.',
          ],
          links: [logs(logMetricFilters(p).insertErrors), dashboards],
        },
        logMetrics: ['insertErrors'],
        dependsOn: [],
      },
      availability: {
        displayName: `${p.namePrefix}: API availability below ${AVAILABILITY_SLO.alertFloor * 100}% over 1 h (burn rate > ${seedAvailability.burnRate})`,
        severity: 'ERROR',
        conditions: burnRateConditions(seedAvailability),
        runbook: {
          meaning: `Over the last ${windowsText(seedAvailability)} more than ${Number(((1 - AVAILABILITY_SLO.alertFloor) * 100).toFixed(2))}% of API requests were answered with a 5xx or a 429: availability is below the seed's ${AVAILABILITY_SLO.alertFloor * 100}% floor, burning the ${AVAILABILITY_SLO.goal * 100}% SLO's error budget ${seedAvailability.burnRate}× faster than sustainable (all of the ${AVAILABILITY_SLO.rollingPeriodDays}-day budget in ${budgetDays(seedAvailability.burnRate)} days).`,
          panels: ['requests', 'burnRate', 'errorBudget', 'insertErrors'],
          firstSteps: burnRateSteps,
          links: [logs(failedRequests), sloPage, dashboards],
        },
        logMetrics: [],
        dependsOn: [this.slo],
      },
      fastBurn: {
        displayName: `${p.namePrefix}: fast error-budget burn (${fastPage.burnRate}× over ${windowsText(fastPage)})`,
        severity: 'CRITICAL',
        conditions: burnRateConditions(fastPage),
        runbook: {
          meaning: `The availability SLO's error budget is burning ${fastPage.burnRate}× faster than sustainable over both the last hour and the last 5 minutes (SRE workbook fast page: 2% of a 30-day budget per hour). At this rate the ${AVAILABILITY_SLO.rollingPeriodDays}-day budget is gone in ${budgetDays(fastPage.burnRate)} days. The short window makes the alert close soon after the errors stop.`,
          panels: ['requests', 'burnRate', 'errorBudget', 'insertErrors'],
          firstSteps: burnRateSteps,
          links: [logs(failedRequests), sloPage, dashboards],
        },
        logMetrics: [],
        dependsOn: [this.slo],
      },
      slowBurn: {
        displayName: `${p.namePrefix}: slow error-budget burn (${slowPage.burnRate}× over ${windowsText(slowPage)})`,
        severity: 'ERROR',
        conditions: burnRateConditions(slowPage),
        runbook: {
          meaning: `The availability SLO's error budget has burned ${slowPage.burnRate}× faster than sustainable over the last 6 hours and still does over the last 30 minutes (SRE workbook: 5% of a 30-day budget in 6 h). At this rate the ${AVAILABILITY_SLO.rollingPeriodDays}-day budget is gone in ${budgetDays(slowPage.burnRate)} days. The workbook's third rule (1× over 3 days) is not set: Cloud Monitoring limits burn-rate lookbacks to 24 h.`,
          panels: ['requests', 'burnRate', 'errorBudget'],
          firstSteps: burnRateSteps,
          links: [logs(failedRequests), sloPage, dashboards],
        },
        logMetrics: [],
        dependsOn: [this.slo],
      },
      deadLetters: {
        displayName: `${p.namePrefix}: messages in dead-letter subscription ${p.deadLetterSubscriptionName}`,
        severity: 'ERROR',
        conditions: [
          {
            displayName: `Undelivered messages in ${p.deadLetterSubscriptionName} > ${DEAD_LETTER_ALERT.maxUndeliveredMessages}`,
            conditionThreshold: {
              filter: monitoringFilter(deadLetterBacklog(p)),
              aggregations: [
                {
                  alignmentPeriod: seconds(DEAD_LETTER_ALERT.alignmentSeconds),
                  perSeriesAligner: 'ALIGN_MAX',
                  crossSeriesReducer: 'REDUCE_SUM',
                  groupByFields: ['resource.label.subscription_id'],
                },
              ],
              comparison: 'COMPARISON_GT',
              thresholdValue: DEAD_LETTER_ALERT.maxUndeliveredMessages,
              duration: '0s',
              trigger: { count: 1 },
            },
          },
        ],
        runbook: {
          meaning: `At least one message waits in the dead-letter subscription \`${p.deadLetterSubscriptionName}\`. Either the subscriber refused it as poison (a message no retry can store: a malformed envelope, id or data) and published it there itself, its attributes saying why, or Pub/Sub moved it there after the subscriber failed every delivery attempt (a warehouse fault, or the dead-letter topic itself unreachable). Each message there is data that is not in the warehouse. The alert stays open until the subscription is empty.`,
          panels: ['deadLetters', 'insertErrors', 'requests'],
          firstSteps: [
            `Look at a few messages without acknowledging them: \`gcloud pubsub subscriptions pull ${p.deadLetterSubscriptionName} --project=${p.project} --limit=5 --format=json\` (no \`--auto-ack\`).`,
            `Refused by the subscriber (it has a \`${DEAD_LETTER_ATTRIBUTES.reason}\` attribute): \`${DEAD_LETTER_ATTRIBUTES.errorClass}\` names the kind of refusal and \`${DEAD_LETTER_ATTRIBUTES.reason}\` the fields at fault; \`${DEAD_LETTER_ATTRIBUTES.messageId}\`, \`${DEAD_LETTER_ATTRIBUTES.subscription}\`, \`${DEAD_LETTER_ATTRIBUTES.deliveryAttempt}\`, \`${DEAD_LETTER_ATTRIBUTES.publishTime}\` and \`${DEAD_LETTER_ATTRIBUTES.requestId}\` (its log line, outcome \`${OUTCOMES.rejected}\`) say which delivery it was. The data is the message's own, byte for byte, and so are its other attributes (\`${DEAD_LETTER_ATTRIBUTES.omittedAttributes}\` counts any that could not be carried over), unless \`${DEAD_LETTER_ATTRIBUTES.data}\` is \`${DEAD_LETTER_DATA.requestBody}\`: then the delivery held no readable message and the data is the request as received. Fix the producer, republish the corrected message to the ingest topic (or record the loss), then acknowledge it here.`,
            `Moved by Pub/Sub (no \`${DEAD_LETTER_ATTRIBUTES.reason}\`; \`CloudPubSubDeadLetterSourceDeliveryCount\` says how often delivery was tried): find the subscriber's log lines for it (\`jsonPayload.event="${REQUEST_EVENTS.push}"\`, outcome \`${OUTCOMES.failed}\`) to learn why. \`warehouse_*\`: once the insert-errors alert is closed, republish it to the ingest topic and acknowledge it here; redelivery never duplicates a row. \`${REQUEST_ERROR_CLASSES.deadLetterUnavailable}\`: it was poison the subscriber could not publish here (check its publisher grant on the dead-letter topic and its \`${DEAD_LETTER_TOPIC.variable}\`); the line's \`reason\` says why it was refused: fix the producer as above.`,
          ],
          links: [dashboards],
        },
        logMetrics: [],
        dependsOn: [],
      },
    };
  }

  private addPolicy(key: AlertKey, definition: PolicyDefinition): MonitoringAlertPolicy {
    return new MonitoringAlertPolicy(this, `${kebab(key)}-alert`, {
      project: this.pipeline.project,
      displayName: definition.displayName,
      severity: definition.severity,
      combiner: definition.conditions.length > 1 ? 'AND' : 'OR',
      conditions: definition.conditions,
      notificationChannels: orNone([...this.notificationChannelNames]),
      documentation: {
        mimeType: 'text/markdown',
        subject: definition.displayName,
        content: this.runbookMarkdown(definition.runbook),
        links: [...definition.runbook.links],
      },
      userLabels: this.userLabels,
      dependsOn: orNone([
        ...definition.logMetrics.map((key) => this.logMetrics[key]),
        ...(definition.logMetrics.length > 0 ? [this.logMetricPropagation] : []),
        ...definition.dependsOn,
      ]),
    });
  }

  private runbookMarkdown(runbook: Runbook): string {
    const titles = new Map(dashboardPanels(this.pipeline).map((panel) => [panel.key, panel.title]));
    const panels = runbook.panels.map((key) => `**${titles.get(key)}**`).join(', ');
    return [
      `### What it means`,
      runbook.meaning,
      '',
      `### Where to look`,
      `Cloud Monitoring dashboard **${this.dashboardName}**, or the Grafana dashboard of the same name (uid \`${grafanaDashboardUid(this.pipeline)}\`): panels ${panels}.`,
      '',
      `### First steps`,
      ...runbook.firstSteps.map((step, index) => `${index + 1}. ${step}`),
      '',
    ].join('\n');
  }

  /** Why this construct cannot write its stack's Grafana dashboard file, if it cannot. */
  private grafanaFileProblems(): PropProblem[] {
    const stack = TerraformStack.of(this);
    const stackName = stack.node.id;
    if (!STACK_FILE_NAME.test(stackName)) {
      return [{ prop: 'grafanaDashboard', message: `the stack id ${JSON.stringify(stackName)} names the Grafana file and may hold only letters, digits, _ and -; set grafanaDashboard: false or rename the stack` }];
    }
    const other = stack.node.findAll().find((node) => node !== this && node instanceof MonitoringAlerts && node.grafanaDashboardFile !== undefined);
    if (other !== undefined) {
      return [{ prop: 'grafanaDashboard', message: `${other.node.path} already writes the Grafana dashboard of stack ${stackName}; set grafanaDashboard: false on one of them` }];
    }
    return [];
  }

  /**
   * Registers a synth hook that writes the Grafana files into the app's
   * outdir. Nothing is written while constructs are built or when a test
   * renders the stack JSON only; the files appear when the app synthesizes,
   * and only if no validation failed.
   */
  private writeGrafanaAtSynth(): string {
    const stack = TerraformStack.of(this);
    const file = path.posix.join('grafana', `${stack.node.id}-dashboard.json`);
    addCustomSynthesis(this, {
      onSynthesize: (session) => {
        const provisioning = path.join(session.outdir, 'grafana', 'provisioning');
        fs.mkdirSync(provisioning, { recursive: true });
        fs.writeFileSync(path.join(session.outdir, file), grafanaDashboardJson(this.pipeline));
        fs.writeFileSync(path.join(provisioning, 'dashboards.yaml'), grafanaProvisioningYaml(GRAFANA_DASHBOARDS_MOUNT));
      },
    });
    return file;
  }
}
