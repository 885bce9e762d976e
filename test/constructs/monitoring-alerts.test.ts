import * as fs from 'node:fs';
import * as path from 'node:path';
import 'cdktf/lib/testing/adapters/jest';
import { LoggingMetric } from '@cdktf/provider-google/lib/logging-metric';
import { MonitoringNotificationChannel } from '@cdktf/provider-google/lib/monitoring-notification-channel';
import { MonitoringSlo } from '@cdktf/provider-google/lib/monitoring-slo';
import { GoogleProvider } from '@cdktf/provider-google/lib/provider';
import { Fn, TerraformStack, TerraformVariable, Testing } from 'cdktf';
import { grafanaDashboardJson, grafanaProvisioningYaml } from '../../constructs/grafana-dashboard';
import { GRAFANA_DASHBOARDS_MOUNT, MonitoringAlerts, type MonitoringAlertsProps } from '../../constructs/monitoring-alerts';
import { notificationChannelIdProblems, notificationChannelProblems } from '../../constructs/monitoring-channels';
import {
  AVAILABILITY_SLO,
  BURN_RATE_RULES,
  INSERT_ERROR_ALERT,
  LATENCY_ALERT,
  LOG_METRIC_PROPAGATION_SECONDS,
  MAX_BURN_RATE_LOOKBACK_SECONDS,
} from '../../constructs/monitoring-policy';
import { INSERT_FAILED_EVENT, REQUEST_EVENTS } from '../../lambda-src/log-events';
import { MONITORED_PIPELINE as PIPELINE } from '../support/monitored-pipeline';
import { validationErrors } from '../support/synth';
import { DEAD_LETTER_ATTRIBUTES } from '../../lambda-src/dead-letter/dead-letter';

Testing.setupJest();

const PROPS: MonitoringAlertsProps = {
  ...PIPELINE,
  notificationChannels: [
    { type: 'email', address: 'oncall@acme-data.io' },
    { type: 'slack', channelName: '#ingest-alerts', authTokenSecret: { secret: 'slack-alerts-token' } },
    { type: 'pagerduty', serviceKeySecret: { secret: 'projects/acme-ingest-dev/secrets/pagerduty-key', version: '3' } },
  ],
  notificationChannelIds: ['1234567890', 'projects/acme-shared/notificationChannels/42'],
  userLabels: { team: 'data-platform' },
};

const SLO_NAME = 'projects/acme-ingest-dev/services/ingest-dev-api/serviceLevelObjectives/availability';

type Json = Record<string, any>;

/** A stack in its own test app, with the provider a full synth requires. */
function newStack(id: string): TerraformStack {
  const stack = new TerraformStack(Testing.app(), id);
  new GoogleProvider(stack, 'google', { project: PIPELINE.project });
  return stack;
}

// One full synth for the whole file: it yields the stack JSON and the Grafana files.
const stack = newStack('dev');
const monitoring = new MonitoringAlerts(stack, 'monitoring', PROPS);
const outdir = Testing.fullSynth(stack);
const synthText = fs.readFileSync(path.join(outdir, 'stacks', 'dev', 'cdk.tf.json'), 'utf8');
const synth: Json = JSON.parse(synthText);
const resources = (type: string): Json[] => Object.values(synth.resource[type] ?? {});
const policies = resources('google_monitoring_alert_policy');
const policy = (displayNameStart: string): Json => {
  const found = policies.filter((p) => p.display_name.startsWith(displayNameStart));
  expect(found).toHaveLength(1);
  return found[0];
};
const metric = (name: string): Json => {
  const found = resources('google_logging_metric').find((m) => m.name === name);
  if (found === undefined) throw new Error(`no google_logging_metric named ${name}`);
  return found;
};
// The stack JSON as Testing.synth renders it, for the cdktf jest matchers.
const matcherSynth = Testing.synth(stack);

describe('MonitoringAlerts log-based metrics', () => {
  test('counts failed warehouse inserts by function and error class, from the insert-failed log line', () => {
    const insertErrors = metric('ingest-dev/warehouse_insert_errors');
    expect(insertErrors.filter).toContain(`jsonPayload.event="${INSERT_FAILED_EVENT}"`);
    expect(insertErrors.filter).toContain('resource.type="cloud_run_revision"');
    expect(insertErrors.filter).toContain('(resource.labels.service_name="ingest-dev-api" OR resource.labels.service_name="ingest-dev-subscriber")');
    expect(insertErrors.metric_descriptor).toMatchObject({ metric_kind: 'DELTA', value_type: 'INT64' });
    expect(insertErrors.metric_descriptor.labels.map((l: Json) => l.key)).toEqual(['function', 'error_class']);
    expect(insertErrors.label_extractors).toEqual({ function: 'EXTRACT(jsonPayload.function)', error_class: 'EXTRACT(jsonPayload.errorClass)' });
    expect(insertErrors.value_extractor).toBeUndefined();
  });

  test('rows ingested is a distribution of jsonPayload.rows over successful ingest and push lines', () => {
    const rows = metric('ingest-dev/rows_ingested');
    expect(rows.metric_descriptor).toMatchObject({ metric_kind: 'DELTA', value_type: 'DISTRIBUTION' });
    expect(rows.value_extractor).toBe('EXTRACT(jsonPayload.rows)');
    expect(rows.filter).toContain(`(jsonPayload.event="${REQUEST_EVENTS.ingest}" OR jsonPayload.event="${REQUEST_EVENTS.push}")`);
    expect(rows.filter).toContain('jsonPayload.outcome="success"');
    expect(rows.bucket_options.explicit_buckets.bounds).toContain(500);
  });

  test('ingest latency is a distribution of jsonPayload.latencyMs over the ingest paths only, with a bucket bound at 200 ms', () => {
    const latency = metric('ingest-dev/ingest_latency_ms');
    expect(latency.metric_descriptor).toMatchObject({ metric_kind: 'DELTA', value_type: 'DISTRIBUTION', unit: 'ms' });
    expect(latency.value_extractor).toBe('EXTRACT(jsonPayload.latencyMs)');
    expect(latency.filter).toContain(`(jsonPayload.event="${REQUEST_EVENTS.ingest}" OR jsonPayload.event="${REQUEST_EVENTS.push}")`);
    expect(latency.filter).not.toContain(`"${REQUEST_EVENTS.read}"`);
    expect(latency.bucket_options.explicit_buckets.bounds).toContain(200);
    expect(latency.label_extractors).toEqual({ function: 'EXTRACT(jsonPayload.function)', outcome: 'EXTRACT(jsonPayload.outcome)' });
  });

  test('the cdktf matcher sees the metrics', () => {
    expect(matcherSynth).toHaveResourceWithProperties(LoggingMetric, { name: 'ingest-dev/warehouse_insert_errors', project: PIPELINE.project });
  });
});

describe('MonitoringAlerts SLO', () => {
  test('API availability: goal 0.999 over a rolling 28 days, good = neither 5xx nor 429, out of all API requests', () => {
    const [service] = resources('google_monitoring_custom_service');
    expect(service).toMatchObject({ service_id: 'ingest-dev-api', project: PIPELINE.project });
    const [slo] = resources('google_monitoring_slo');
    expect(slo).toMatchObject({ goal: 0.999, rolling_period_days: 28, slo_id: 'availability' });
    expect(slo.service).toMatch(/^\$\{google_monitoring_custom_service\..+\.service_id\}$/);
    const total =
      'metric.type="run.googleapis.com/request_count" AND resource.type="cloud_run_revision" AND resource.label.service_name="ingest-dev-api"';
    expect(slo.request_based_sli.good_total_ratio).toEqual({
      total_service_filter: total,
      good_service_filter: `${total} AND metric.label.response_code_class!="5xx" AND metric.label.response_code!="429"`,
    });
    expect(matcherSynth).toHaveResourceWithProperties(MonitoringSlo, { goal: AVAILABILITY_SLO.goal });
  });

  test("the seed's 99.5% floor is the 5x burn rate of a 99.9% SLO", () => {
    expect((1 - AVAILABILITY_SLO.alertFloor) / (1 - AVAILABILITY_SLO.goal)).toBeCloseTo(BURN_RATE_RULES.seedAvailability.burnRate, 9);
  });
});

describe('MonitoringAlerts alert policies', () => {
  test('six policies, each with a markdown runbook and every notification channel, created and existing', () => {
    expect(policies).toHaveLength(6);
    for (const p of policies) {
      expect(p.documentation.mime_type).toBe('text/markdown');
      expect(p.documentation.content).toContain('### What it means');
      expect(p.documentation.content).toContain('### Where to look');
      expect(p.documentation.content).toMatch(/### First steps\n1\. .+\n2\. /);
      expect(p.documentation.content).toContain('ingest-dev ingest pipeline');
      expect(p.notification_channels).toHaveLength(5);
      expect(p.notification_channels.slice(3)).toEqual([
        'projects/acme-ingest-dev/notificationChannels/1234567890',
        'projects/acme-shared/notificationChannels/42',
      ]);
      expect(p.user_labels).toEqual({ team: 'data-platform' });
      // Terraform would read "${" as an interpolation.
      expect(p.documentation.content).not.toContain('${');
    }
  });

  test('latency: p99 of successful ingest requests (log-based metric, per function) above 200 ms for 300 s', () => {
    const latency = policy('ingest-dev: ingest p99 latency > 200 ms');
    expect(latency.combiner).toBe('OR');
    const [condition] = latency.conditions;
    expect(condition.condition_threshold).toMatchObject({
      filter: 'metric.type="logging.googleapis.com/user/ingest-dev/ingest_latency_ms" AND resource.type="cloud_run_revision" AND metric.label.outcome="success"',
      comparison: 'COMPARISON_GT',
      threshold_value: 200,
      duration: '300s',
    });
    expect(condition.condition_threshold.aggregations).toEqual([
      { alignment_period: '60s', per_series_aligner: 'ALIGN_DELTA', cross_series_reducer: 'REDUCE_PERCENTILE_99', group_by_fields: ['metric.label.function'] },
    ]);
    const filters = policies.flatMap((p) => p.conditions.map((c: Json) => c.condition_threshold.filter as string));
    expect(filters.filter((filter) => filter.includes('request_latencies'))).toEqual([]);
    expect(latency.documentation.content).toContain('Reads, health checks and refused or failed requests are not counted.');
  });

  test('the ingest-latency metric it reads covers only POST / and pushes, so reads and health checks never reach the alert', () => {
    const filter = metric('ingest-dev/ingest_latency_ms').filter;
    expect(filter).toContain(`(jsonPayload.event="${REQUEST_EVENTS.ingest}" OR jsonPayload.event="${REQUEST_EVENTS.push}")`);
    expect(filter).not.toContain(REQUEST_EVENTS.read);
    expect(filter).not.toContain(REQUEST_EVENTS.update);
  });

  test('every policy on a log-based metric is created after the metric and after a one-time propagation wait', () => {
    const [waitId, wait] = Object.entries(synth.resource.time_sleep as Record<string, Json>).find(([id]) => id.startsWith('monitoring_log-metric-propagation'))!;
    expect(wait.create_duration).toBe(`${LOG_METRIC_PROPAGATION_SECONDS}s`);
    const metricIds = Object.fromEntries(Object.entries(synth.resource.google_logging_metric as Record<string, Json>).map(([id, m]) => [m.name, id]));
    expect(wait.triggers).toEqual({
      'ingest-dev/ingest_latency_ms': `\${google_logging_metric.${metricIds['ingest-dev/ingest_latency_ms']}.id}`,
      'ingest-dev/warehouse_insert_errors': `\${google_logging_metric.${metricIds['ingest-dev/warehouse_insert_errors']}.id}`,
    });
    expect([...wait.depends_on].sort()).toEqual(
      [`google_logging_metric.${metricIds['ingest-dev/ingest_latency_ms']}`, `google_logging_metric.${metricIds['ingest-dev/warehouse_insert_errors']}`].sort(),
    );
    expect(policy('ingest-dev: ingest p99 latency').depends_on).toEqual([
      `google_logging_metric.${metricIds['ingest-dev/ingest_latency_ms']}`,
      `time_sleep.${waitId}`,
    ]);
    expect(synth.provider).toHaveProperty('time');
    expect(monitoring.logMetricPropagation.node.id).toBe('log-metric-propagation');
  });

  test('insert errors: more than 5 failed inserts in a 600 s window, summed over every function and class', () => {
    const insertErrors = policy('ingest-dev: warehouse insert errors');
    const [condition] = insertErrors.conditions;
    expect(condition.condition_threshold).toMatchObject({
      filter: 'metric.type="logging.googleapis.com/user/ingest-dev/warehouse_insert_errors" AND resource.type="cloud_run_revision"',
      comparison: 'COMPARISON_GT',
      threshold_value: 5,
      duration: '0s',
    });
    expect(condition.condition_threshold.aggregations).toEqual([
      { alignment_period: '600s', per_series_aligner: 'ALIGN_DELTA', cross_series_reducer: 'REDUCE_SUM' },
    ]);
    expect(insertErrors.depends_on).toEqual([
      expect.stringMatching(/^google_logging_metric\.monitoring_insert-errors-metric/),
      expect.stringMatching(/^time_sleep\.monitoring_log-metric-propagation/),
    ]);
    expect(insertErrors.documentation.links[0].url).toContain(encodeURIComponent(`jsonPayload.event="${INSERT_FAILED_EVENT}"`));
  });

  test("availability: the seed's rule, burn rate above 5 over 1 h", () => {
    const availability = policy('ingest-dev: API availability below 99.5%');
    expect(availability.conditions).toHaveLength(1);
    expect(availability.conditions[0].condition_threshold).toEqual({
      filter: `select_slo_burn_rate("${SLO_NAME}", "3600s")`,
      comparison: 'COMPARISON_GT',
      threshold_value: 5,
      duration: '0s',
    });
    expect(availability.depends_on).toEqual([expect.stringMatching(/^google_monitoring_slo\./)]);
  });

  test('fast page: burn rate above 14.4 over 1 h AND over 5 min', () => {
    const fast = policy('ingest-dev: fast error-budget burn');
    expect(fast.combiner).toBe('AND');
    expect(fast.severity).toBe('CRITICAL');
    expect(fast.conditions.map((c: Json) => c.condition_threshold)).toEqual([
      { filter: `select_slo_burn_rate("${SLO_NAME}", "3600s")`, comparison: 'COMPARISON_GT', threshold_value: 14.4, duration: '0s' },
      { filter: `select_slo_burn_rate("${SLO_NAME}", "300s")`, comparison: 'COMPARISON_GT', threshold_value: 14.4, duration: '0s' },
    ]);
  });

  test('slow page: burn rate above 6 over 6 h AND over 30 min; no lookback beyond 24 h', () => {
    const slow = policy('ingest-dev: slow error-budget burn');
    expect(slow.combiner).toBe('AND');
    expect(slow.conditions.map((c: Json) => c.condition_threshold)).toEqual([
      { filter: `select_slo_burn_rate("${SLO_NAME}", "21600s")`, comparison: 'COMPARISON_GT', threshold_value: 6, duration: '0s' },
      { filter: `select_slo_burn_rate("${SLO_NAME}", "1800s")`, comparison: 'COMPARISON_GT', threshold_value: 6, duration: '0s' },
    ]);
    expect(slow.documentation.content).toContain('24 h');
    const lookbacks = [...synthText.matchAll(/select_slo_burn_rate\(\\"[^"\\]+\\", \\"(\d+)s\\"\)/g)].map((m) => Number(m[1]));
    expect(lookbacks.sort((a, b) => a - b)).toEqual([300, 1800, 3600, 3600, 21600]);
    expect(Math.max(...lookbacks)).toBeLessThanOrEqual(MAX_BURN_RATE_LOOKBACK_SECONDS);
  });

  test('the SLO name in the burn-rate filters is the one the SLO resources define', () => {
    const [service] = resources('google_monitoring_custom_service');
    const [slo] = resources('google_monitoring_slo');
    expect(SLO_NAME).toBe(`projects/${PIPELINE.project}/services/${service.service_id}/serviceLevelObjectives/${slo.slo_id}`);
  });

  test('dead letters: any undelivered message in the dead-letter subscription', () => {
    const deadLetters = policy('ingest-dev: messages in dead-letter subscription');
    const [condition] = deadLetters.conditions;
    expect(condition.condition_threshold).toMatchObject({
      filter:
        'metric.type="pubsub.googleapis.com/subscription/num_undelivered_messages" AND resource.type="pubsub_subscription" AND resource.label.subscription_id="ingest-dev-dead-letter"',
      comparison: 'COMPARISON_GT',
      threshold_value: 0,
      duration: '0s',
    });
    expect(condition.condition_threshold.aggregations[0]).toMatchObject({ per_series_aligner: 'ALIGN_MAX', alignment_period: '60s' });
    expect(deadLetters.documentation.content).toContain('gcloud pubsub subscriptions pull ingest-dev-dead-letter');
  });

  test('the dead-letter runbook tells a refused message, whose attributes say why, from one Pub/Sub moved', () => {
    const content: string = policy('ingest-dev: messages in dead-letter subscription').documentation.content;
    for (const attribute of Object.values(DEAD_LETTER_ATTRIBUTES)) {
      expect(content).toContain(`\`${attribute}\``);
    }
    expect(content).toContain('CloudPubSubDeadLetterSourceDeliveryCount');
    expect(content).toContain('`dead_letter_unavailable`');
    expect(content).toContain('`DEAD_LETTER_TOPIC`');
  });

  test('construct attributes expose the resources', () => {
    expect(Object.keys(monitoring.alertPolicies).sort()).toEqual(['availability', 'deadLetters', 'fastBurn', 'ingestLatency', 'insertErrors', 'slowBurn']);
    expect(monitoring.notificationChannels).toHaveLength(3);
    expect(monitoring.notificationChannelNames).toHaveLength(5);
    expect(Object.keys(monitoring.logMetrics).sort()).toEqual(['ingestLatency', 'insertErrors', 'rowsIngested']);
    expect(monitoring.grafanaDashboardFile).toBe('grafana/dev-dashboard.json');
  });
});

describe('MonitoringAlerts notification channels', () => {
  test('e-mail address as a label; Slack and PagerDuty credentials only from Secret Manager', () => {
    expect(matcherSynth).toHaveResourceWithProperties(MonitoringNotificationChannel, { type: 'email', labels: { email_address: 'oncall@acme-data.io' } });
    const channels = resources('google_monitoring_notification_channel');
    const slack = channels.find((c) => c.type === 'slack');
    const pagerduty = channels.find((c) => c.type === 'pagerduty');
    expect(slack?.labels).toEqual({ channel_name: '#ingest-alerts' });
    expect(slack?.sensitive_labels.auth_token).toMatch(/^\$\{data\.google_secret_manager_secret_version_access\..+\.secret_data\}$/);
    expect(pagerduty?.sensitive_labels.service_key).toMatch(/^\$\{data\.google_secret_manager_secret_version_access\..+\.secret_data\}$/);
    const secrets: Json[] = Object.values(synth.data.google_secret_manager_secret_version_access);
    expect(secrets).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ secret: 'slack-alerts-token', version: 'latest' }),
        expect.objectContaining({ secret: 'projects/acme-ingest-dev/secrets/pagerduty-key', version: '3' }),
      ]),
    );
  });

  test('config errors name the field', () => {
    expect(
      notificationChannelProblems([
        { type: 'email', address: 'not-an-address' },
        { type: 'slack', channelName: 'Bad Channel', authTokenSecret: { secret: 'ok' } },
        { type: 'pagerduty', serviceKeySecret: { secret: 'key', version: 'newest' } },
        { type: 'sms' } as never,
        { type: 'email', address: 'a@b.io' },
        { type: 'email', address: 'a@b.io' },
      ]),
    ).toEqual([
      { prop: 'notificationChannels[0].address', message: '"not-an-address" is not an e-mail address' },
      { prop: 'notificationChannels[1].channelName', message: '"Bad Channel" is not a Slack channel name like #ingest-alerts' },
      { prop: 'notificationChannels[2].serviceKeySecret.version', message: '"newest" is not "latest" or a version number' },
      { prop: 'notificationChannels[3].type', message: '"sms" is not one of email, slack, pagerduty' },
      { prop: 'notificationChannels[5]', message: 'repeats notificationChannels[4]' },
    ]);
    expect(notificationChannelProblems([{ type: 'slack', channelName: '#x' } as never])).toEqual([
      {
        prop: 'notificationChannels[0].authTokenSecret.secret',
        message: 'is required: the Secret Manager secret that holds the credential (never the credential itself)',
      },
    ]);
  });

  test.each(['oncall@example.com', 'oncall@alerts.example.org', 'ops@EXAMPLE.NET', 'a@b.example', 'a@team.test', 'a@x.invalid', 'a@localhost.localhost'])(
    'refuses %s: a reserved domain where no page is ever read',
    (address) => {
      expect(notificationChannelProblems([{ type: 'email', address }])).toEqual([
        {
          prop: 'notificationChannels[0].address',
          message: expect.stringMatching(new RegExp(`^"${address.replace(/\./g, '\\.')}" is at .+, a domain reserved for examples where no mail is ever delivered$`)),
        },
      ]);
    },
  );

  test.each(['oncall@example.co', 'oncall@myexample.com', 'pager@test-team.io'])('accepts %s, which only resembles a reserved domain', (address) => {
    expect(notificationChannelProblems([{ type: 'email', address }])).toEqual([]);
  });

  test('existing channels are referenced by id or full name, and nothing else', () => {
    expect(notificationChannelIdProblems(['123', 'projects/acme-shared/notificationChannels/42', 'slack-alerts', 'projects/Not A Project/notificationChannels/7', '123'])).toEqual([
      {
        prop: 'notificationChannelIds[2]',
        message: '"slack-alerts" is not a notification channel id (digits) or projects/<project>/notificationChannels/<id>',
      },
      {
        prop: 'notificationChannelIds[3]',
        message: '"projects/Not A Project/notificationChannels/7" is not a notification channel id (digits) or projects/<project>/notificationChannels/<id>',
      },
      { prop: 'notificationChannelIds[4]', message: 'repeats notificationChannelIds[0]' },
    ]);
  });
});

describe('MonitoringAlerts Cloud Monitoring dashboard', () => {
  const [dashboardResource] = resources('google_monitoring_dashboard');
  const dashboard: Json = JSON.parse(dashboardResource.dashboard_json);
  const tile = (title: string): Json => {
    const found = dashboard.mosaicLayout.tiles.find((t: Json) => t.widget.title.startsWith(title));
    if (found === undefined) throw new Error(`no tile ${title}`);
    return found.widget.xyChart;
  };

  test('has the requests, latency (threshold 200), insert errors (threshold 5), rows, dead letters and SLO panels', () => {
    expect(dashboard.displayName).toBe('ingest-dev ingest pipeline');
    expect(tile('Requests processed').dataSets[0].timeSeriesQuery.timeSeriesFilter.aggregation.groupByFields).toContain('metric.label.response_code_class');
    const latency = tile('Ingest latency');
    expect(latency.dataSets.map((d: Json) => d.timeSeriesQuery.timeSeriesFilter.aggregation.crossSeriesReducer)).toEqual([
      'REDUCE_PERCENTILE_50',
      'REDUCE_PERCENTILE_95',
      'REDUCE_PERCENTILE_99',
    ]);
    expect(latency.dataSets[0].timeSeriesQuery.timeSeriesFilter.filter).toContain('metric.label.outcome="success"');
    expect(latency.thresholds).toEqual([expect.objectContaining({ value: 200, direction: 'ABOVE' })]);
    expect(tile('API latency')).not.toHaveProperty('thresholds');
    const insertErrors = tile('Warehouse insert errors');
    expect(insertErrors.thresholds).toEqual([expect.objectContaining({ value: 5 })]);
    expect(insertErrors.dataSets[0].timeSeriesQuery.timeSeriesFilter.aggregation.alignmentPeriod).toBe('600s');
    expect(tile('Rows ingested').dataSets[0].timeSeriesQuery.prometheusQuery).toBe(
      'sum by (function) (rate(logging_googleapis_com:user_ingest_dev_rows_ingested_sum[5m]))',
    );
    expect(tile('Dead-letter').dataSets[0].timeSeriesQuery.timeSeriesFilter.filter).toContain('resource.label.subscription_id="ingest-dev-dead-letter"');
    expect(tile('API availability').dataSets[0].timeSeriesQuery.timeSeriesFilter.filter).toBe(`select_slo_compliance("${SLO_NAME}")`);
    expect(tile('API availability').thresholds).toEqual([expect.objectContaining({ value: 0.999, direction: 'BELOW' })]);
    expect(tile('Error budget remaining').dataSets[0].timeSeriesQuery.timeSeriesFilter.filter).toBe(`select_slo_budget_fraction("${SLO_NAME}")`);
    expect(tile('Error budget burn rate').thresholds.map((t: Json) => t.value)).toEqual([5, 6, 14.4]);
  });

  test('holds no Terraform interpolation', () => {
    expect(dashboardResource.dashboard_json).not.toContain('${');
  });
});

describe('MonitoringAlerts Grafana output', () => {
  test('full synth writes <outdir>/grafana/<stack>-dashboard.json and the provisioning file', () => {
    expect(fs.readFileSync(path.join(outdir, 'grafana', 'dev-dashboard.json'), 'utf8')).toBe(grafanaDashboardJson(PIPELINE));
    expect(fs.readFileSync(path.join(outdir, 'grafana', 'provisioning', 'dashboards.yaml'), 'utf8')).toBe(
      grafanaProvisioningYaml(GRAFANA_DASHBOARDS_MOUNT),
    );
  });

  test('building the constructs or rendering the stack JSON writes nothing', () => {
    const quietStack = newStack('quiet');
    new MonitoringAlerts(quietStack, 'monitoring', PIPELINE);
    Testing.synth(quietStack);
    const appOutdir = (quietStack.node.scope as unknown as { outdir: string }).outdir;
    expect(fs.existsSync(path.join(appOutdir, 'grafana'))).toBe(false);
  });

  test('grafanaDashboard: false writes no Grafana file', () => {
    const offStack = newStack('off');
    const off = new MonitoringAlerts(offStack, 'monitoring', { ...PIPELINE, grafanaDashboard: false });
    expect(off.grafanaDashboardFile).toBeUndefined();
    expect(fs.existsSync(path.join(Testing.fullSynth(offStack), 'grafana'))).toBe(false);
  });
});

describe('MonitoringAlerts props validation', () => {
  const problemsOf = (props: Partial<MonitoringAlertsProps>, stackId = 'validation'): string[] => {
    const stack = newStack(stackId);
    new MonitoringAlerts(stack, 'monitoring', { ...PIPELINE, ...props } as MonitoringAlertsProps);
    return validationErrors(stack);
  };

  test.each([
    [{ apiServiceName: 'Ingest_API' }, /^apiServiceName: must be 1-63 lowercase letters, digits or hyphens, .*, got "Ingest_API"$/],
    [{ deadLetterSubscriptionName: 'projects/p/subscriptions/dlq' }, /^deadLetterSubscriptionName: must be a Pub\/Sub subscription name .*, not its projects\/… id/],
    [{ project: 'X' }, /^project: must be a Google Cloud project id .*, got "X"$/],
    [{ subscriberServiceName: PIPELINE.apiServiceName }, /^subscriberServiceName: must name another service than apiServiceName/],
    [{ apiServiceName: Fn.lower('ingest-dev-api') }, /^apiServiceName: must be a plain string, not a Terraform reference: the Grafana dashboard file is written at synth/],
    [{ notificationChannels: [{ type: 'email', address: 'nobody' }] }, /^notificationChannels\[0\]\.address: "nobody" is not an e-mail address$/],
    [{ notificationChannels: [{ type: 'email', address: 'ingest-oncall@example.com' }] }, /"ingest-oncall@example\.com" is at example\.com, a domain reserved/],
    [{ notificationChannelIds: ['#ingest-alerts'] }, /^notificationChannelIds\[0\]: "#ingest-alerts" is not a notification channel id/],
    [{ userLabels: { Team: 'x' } }, /^userLabels\.Team: label keys are 1-63 lowercase letters/],
  ])('refuses %j in one line naming the prop', (props, message) => {
    expect(problemsOf(props as Partial<MonitoringAlertsProps>)).toEqual([expect.stringMatching(message)]);
  });

  test('reports every problem of one construct together', () => {
    expect(problemsOf({ project: 'X', userLabels: { Team: 'x' }, notificationChannelIds: ['#ingest-alerts'] })).toHaveLength(3);
  });

  test('takes Terraform references for the pipeline when it writes no Grafana file', () => {
    const stack = newStack('references');
    const project = new TerraformVariable(stack, 'project', { type: 'string' });
    const service = new TerraformVariable(stack, 'api-service', { type: 'string' });
    new MonitoringAlerts(stack, 'monitoring', { ...PIPELINE, project: project.stringValue, apiServiceName: service.stringValue, grafanaDashboard: false });
    expect(validationErrors(stack)).toEqual([]);
    const synthesized = JSON.parse(Testing.synth(stack));
    const latencyPolicy = (Object.values(synthesized.resource.google_monitoring_alert_policy) as Json[]).find((p) => p.display_name.includes('latency'))!;
    expect(latencyPolicy.project).toBe('${var.project}');
    expect(latencyPolicy.conditions[0].condition_threshold.filter).toContain('metric.type="logging.googleapis.com/user/ingest-dev/ingest_latency_ms"');
    expect(latencyPolicy.documentation.content).toContain('`${var.api-service}`');
    expect(latencyPolicy.documentation.links[0].url).toBe('https://console.cloud.google.com/logs/query?project=${var.project}');
  });

  test('refuses a stack id that cannot name the Grafana file', () => {
    expect(problemsOf({}, 'dev.v2')).toEqual([expect.stringMatching(/^grafanaDashboard: the stack id "dev\.v2" names the Grafana file/)]);
  });

  test('refuses a second Grafana writer in the same stack', () => {
    const twice = newStack('twice');
    new MonitoringAlerts(twice, 'first', PIPELINE);
    new MonitoringAlerts(twice, 'second', { ...PIPELINE, namePrefix: 'ingest-dev2' });
    expect(validationErrors(twice)).toEqual([expect.stringMatching(/^grafanaDashboard: twice\/first already writes the Grafana dashboard/)]);
  });

  test('synthesis is deterministic', () => {
    const again = newStack('dev');
    new MonitoringAlerts(again, 'monitoring', PROPS);
    expect(Testing.synth(again)).toBe(matcherSynth);
  });
});

describe('docs/operations.md', () => {
  const operations = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'operations.md'), 'utf8');

  test('states the thresholds and windows the construct uses', () => {
    const { seedAvailability, fastPage, slowPage } = BURN_RATE_RULES;
    for (const phrase of [
      '## Operations',
      `**${LATENCY_ALERT.thresholdMs} ms**`,
      `**${LATENCY_ALERT.durationSeconds / 60} minutes**`,
      `**more than ${INSERT_ERROR_ALERT.maxErrorsPerWindow}**`,
      `**${INSERT_ERROR_ALERT.windowSeconds} s**`,
      `**${AVAILABILITY_SLO.alertFloor * 100}%**`,
      `**above ${seedAvailability.burnRate}**`,
      `**above ${fastPage.burnRate}**`,
      `**above ${slowPage.burnRate}**`,
      `\`goal = ${AVAILABILITY_SLO.goal}\``,
      `**${AVAILABILITY_SLO.rollingPeriodDays}-day**`,
      'cdktf.out/grafana/dev-dashboard.json',
      'cdktf.out/grafana/prod-dashboard.json',
      '`stackdriver`',
      '24 h',
    ]) {
      expect(operations).toContain(phrase);
    }
  });
});
