import { parse as parseYaml } from 'yaml';
import {
  buildGrafanaDashboard,
  GRAFANA_DATASOURCE_TYPE,
  grafanaDashboardJson,
  grafanaProvisioningYaml,
} from '../../constructs/grafana-dashboard';
import { INSERT_ERROR_ALERT, LATENCY_ALERT } from '../../constructs/monitoring-policy';
import { logMetricNames, logMetricType, promQlMetricName } from '../../constructs/monitoring-signals';

const PIPELINE = {
  project: 'acme-ingest-prod',
  namePrefix: 'ingest-prod',
  apiServiceName: 'ingest-prod-api',
  subscriberServiceName: 'ingest-prod-subscriber',
  deadLetterSubscriptionName: 'ingest-prod-dead-letter',
};

type Json = Record<string, any>;
const text = grafanaDashboardJson(PIPELINE);
const dashboard: Json = JSON.parse(text);
const panel = (titleStart: string): Json => {
  const found = dashboard.panels.filter((p: Json) => p.title.startsWith(titleStart));
  expect(found).toHaveLength(1);
  return found[0];
};
const steps = (p: Json) => p.fieldConfig.defaults.thresholds.steps.filter((s: Json) => s.value !== null).map((s: Json) => s.value);

describe('Grafana dashboard', () => {
  test('is bound to a Google Cloud Monitoring (stackdriver) data source variable, so it imports anywhere', () => {
    expect(GRAFANA_DATASOURCE_TYPE).toBe('stackdriver');
    const [datasourceVariable, projectVariable] = dashboard.templating.list;
    expect(datasourceVariable).toMatchObject({ type: 'datasource', name: 'datasource', query: 'stackdriver' });
    expect(projectVariable).toMatchObject({ type: 'textbox', name: 'project', query: PIPELINE.project, current: { value: PIPELINE.project } });
    expect(dashboard.panels.length).toBeGreaterThanOrEqual(4);
    for (const p of dashboard.panels) {
      expect(p.datasource).toEqual({ type: 'stackdriver', uid: '${datasource}' });
      for (const target of p.targets) {
        expect(target.datasource).toEqual({ type: 'stackdriver', uid: '${datasource}' });
        const query = target.timeSeriesList ?? target.sloQuery ?? target.promQLQuery;
        expect(query.projectName).toBe('$project');
      }
    }
    expect(dashboard.uid).toBe('ingest-prod-ingest');
    expect(dashboard.annotations.list).toEqual([expect.objectContaining({ builtIn: 1 })]);
    expect(dashboard.id).toBeUndefined();
  });

  test("requests panel: Cloud Run request_count of both functions by response class", () => {
    const requests = panel('Requests processed');
    const [target] = requests.targets;
    expect(target.queryType).toBe('timeSeriesList');
    expect(target.timeSeriesList.filters).toEqual([
      'metric.type', '=', 'run.googleapis.com/request_count',
      'AND', 'resource.type', '=', 'cloud_run_revision',
      'AND', 'resource.label.service_name', '=~', 'ingest-prod-api|ingest-prod-subscriber',
    ]);
    expect(target.timeSeriesList).toMatchObject({ perSeriesAligner: 'ALIGN_RATE', crossSeriesReducer: 'REDUCE_SUM', alignmentPeriod: '+60s' });
    expect(target.timeSeriesList.groupBys).toEqual(['resource.label.service_name', 'metric.label.response_code_class']);
    expect(requests.fieldConfig.defaults.unit).toBe('reqps');
  });

  test('ingest latency panel: p50, p95, p99 of successful ingest requests with the alert line at 200 ms', () => {
    const latency = panel('Ingest latency');
    expect(latency.targets.map((t: Json) => [t.aliasBy, t.timeSeriesList.crossSeriesReducer])).toEqual([
      ['p50', 'REDUCE_PERCENTILE_50'],
      ['p95', 'REDUCE_PERCENTILE_95'],
      ['p99', 'REDUCE_PERCENTILE_99'],
    ]);
    expect(latency.targets[2].timeSeriesList.filters).toContain('logging.googleapis.com/user/ingest-prod/ingest_latency_ms');
    expect(latency.targets[2].timeSeriesList.filters).toContain('success');
    expect(steps(latency)).toEqual([LATENCY_ALERT.thresholdMs]);
    expect(latency.fieldConfig.defaults.custom.thresholdsStyle.mode).toBe('line');
    expect(latency.fieldConfig.defaults.unit).toBe('ms');
  });

  test('API latency panel: every request of the API, for context, with no alert line', () => {
    const latency = panel('API latency');
    expect(latency.targets[2].timeSeriesList.filters).toContain('run.googleapis.com/request_latencies');
    expect(latency.targets[2].timeSeriesList.filters).toContain(PIPELINE.apiServiceName);
    expect(steps(latency)).toEqual([]);
  });

  test('insert errors panel: the log-based counter per 10 min with the alert line at 5', () => {
    const errors = panel('Warehouse insert errors');
    const [target] = errors.targets;
    expect(target.timeSeriesList.filters.slice(0, 3)).toEqual(['metric.type', '=', 'logging.googleapis.com/user/ingest-prod/warehouse_insert_errors']);
    expect(target.timeSeriesList.alignmentPeriod).toBe(`+${INSERT_ERROR_ALERT.windowSeconds}s`);
    expect(target.timeSeriesList.groupBys).toEqual(['metric.label.error_class']);
    expect(steps(errors)).toEqual([INSERT_ERROR_ALERT.maxErrorsPerWindow]);
  });

  test('SLO panels: compliance with the 99.9% goal line, budget remaining, burn rate with the 5 / 6 / 14.4 lines', () => {
    const compliance = panel('API availability');
    expect(compliance.targets[0]).toMatchObject({
      queryType: 'slo',
      sloQuery: { serviceId: 'ingest-prod-api', sloId: 'availability', selectorName: 'select_slo_compliance', goal: 0.999 },
    });
    expect(steps(compliance)).toEqual([0.999]);
    expect(compliance.fieldConfig.defaults.thresholds.steps[0].color).toBe('red');
    expect(panel('Error budget remaining').targets[0].sloQuery.selectorName).toBe('select_slo_budget_fraction');
    const burn = panel('Error budget burn rate');
    expect(burn.targets.map((t: Json) => [t.sloQuery.selectorName, t.sloQuery.lookbackPeriod])).toEqual([
      ['select_slo_burn_rate', '3600s'],
      ['select_slo_burn_rate', '21600s'],
    ]);
    expect(steps(burn)).toEqual([5, 6, 14.4]);
  });

  test('rows ingested: PromQL over the sum of the rows distribution', () => {
    const rows = panel('Rows ingested');
    const metric = promQlMetricName(logMetricType(logMetricNames(PIPELINE).rowsIngested));
    expect(metric).toBe('logging_googleapis_com:user_ingest_prod_rows_ingested');
    expect(rows.targets[0]).toMatchObject({ queryType: 'promQL', promQLQuery: { expr: `sum by (function) (rate(${metric}_sum[5m]))` } });
  });

  test('dead letters: undelivered messages of the dead-letter subscription', () => {
    const [target] = panel('Dead-letter').targets;
    expect(target.timeSeriesList.filters).toEqual([
      'metric.type', '=', 'pubsub.googleapis.com/subscription/num_undelivered_messages',
      'AND', 'resource.type', '=', 'pubsub_subscription',
      'AND', 'resource.label.subscription_id', '=', 'ingest-prod-dead-letter',
    ]);
  });

  test('panel ids are unique and the output is byte-for-byte repeatable', () => {
    const ids = dashboard.panels.map((p: Json) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(grafanaDashboardJson(PIPELINE)).toBe(text);
    expect(text.endsWith('}\n')).toBe(true);
    expect(text.match(/\$\{[^}]*\}/g)?.every((m) => m === '${datasource}')).toBe(true);
  });

  test('refuses values it could not put in the file', () => {
    expect(() => buildGrafanaDashboard({ ...PIPELINE, namePrefix: 'Ingest Prod' })).toThrow(/^buildGrafanaDashboard: namePrefix: must be 2-32 lowercase letters.*, got "Ingest Prod"$/);
  });
});

describe('PromQL metric names', () => {
  test.each([
    ['kubernetes.io/container/cpu/limit_cores', 'kubernetes_io:container_cpu_limit_cores'],
    ['compute.googleapis.com/instance/cpu/utilization', 'compute_googleapis_com:instance_cpu_utilization'],
    ['custom.googleapis.com/opencensus/opencensus.io/http/server/request_count_by_method', 'custom_googleapis_com:opencensus_opencensus_io_http_server_request_count_by_method'],
  ])('%s -> %s (Cloud Monitoring mapping rules)', (metricType, expected) => {
    expect(promQlMetricName(metricType)).toBe(expected);
  });
});

describe('Grafana provisioning file', () => {
  test('is a file provider pointing at the dashboards folder', () => {
    const provisioning = parseYaml(grafanaProvisioningYaml('/var/lib/grafana/dashboards/gcp-ingest'));
    expect(provisioning).toEqual({
      apiVersion: 1,
      providers: [
        {
          name: 'gcp-ingest-pipeline',
          folder: 'GCP ingest pipeline',
          type: 'file',
          disableDeletion: false,
          allowUiUpdates: false,
          updateIntervalSeconds: 60,
          options: { path: '/var/lib/grafana/dashboards/gcp-ingest', foldersFromFilesStructure: false },
        },
      ],
    });
  });
});
