/**
 * The Grafana rendering of the pipeline's dashboard (the seed recommends
 * Grafana), built with @grafana/grafana-foundation-sdk against the Google Cloud
 * Monitoring data source (plugin id `stackdriver`). The panels are the same
 * PanelSpec list the Cloud Monitoring dashboard is drawn from.
 *
 * The JSON is importable as is: the data source is a template variable of type
 * `stackdriver` and the project a text-box variable defaulting to the
 * pipeline's project, so nothing in it names a particular Grafana instance.
 */
import { GraphThresholdsStyleConfigBuilder, GraphThresholdsStyleMode, LegendDisplayMode, LegendPlacement, VizLegendOptionsBuilder } from '@grafana/grafana-foundation-sdk/common';
import {
  AnnotationQueryBuilder,
  type Dashboard,
  DashboardBuilder,
  DashboardCursorSync,
  DatasourceVariableBuilder,
  type Threshold,
  TextBoxVariableBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
} from '@grafana/grafana-foundation-sdk/dashboard';
import {
  CloudMonitoringQueryBuilder,
  PromQLQueryBuilder,
  QueryType,
  SLOQueryBuilder,
  TimeSeriesListBuilder,
} from '@grafana/grafana-foundation-sdk/googlecloudmonitoring';
import { PanelBuilder as TimeseriesPanelBuilder } from '@grafana/grafana-foundation-sdk/timeseries';
import { seconds } from '../lambda-src/rules/durations';
import { AVAILABILITY_SLO } from './monitoring-policy';
import {
  dashboardPanels,
  type LabelCondition,
  type MonitoredPipeline,
  monitoredPipelineProblems,
  type PanelQuery,
  type PanelSpec,
  sloDisplayNames,
  sloIds,
  type ThresholdLine,
  type TimeSeriesSelection,
} from './monitoring-signals';

/** Plugin id of Grafana's Google Cloud Monitoring data source. */
export const GRAFANA_DATASOURCE_TYPE = 'stackdriver';
/** Name of the dashboard's data-source template variable. */
export const GRAFANA_DATASOURCE_VARIABLE = 'datasource';
/** Name of the dashboard's project template variable. */
export const GRAFANA_PROJECT_VARIABLE = 'project';
/** Folder (below a Grafana provisioning root) the dashboards are provisioned into. */
export const GRAFANA_FOLDER = 'GCP ingest pipeline';

const datasource = { type: GRAFANA_DATASOURCE_TYPE, uid: `\${${GRAFANA_DATASOURCE_VARIABLE}}` };
const projectName = `$${GRAFANA_PROJECT_VARIABLE}`;
const REF_IDS = 'ABCDEFGHIJ';

/** The dashboard's uid: stable per pipeline, so re-imports replace rather than duplicate. */
export function grafanaDashboardUid(pipeline: MonitoredPipeline): string {
  return `${pipeline.namePrefix}-ingest`;
}

/** Grafana's filter list for a selection: `[key, op, value, 'AND', ...]`, `metric.type` first. */
function grafanaFilters(selection: TimeSeriesSelection): string[] {
  const conditions: LabelCondition[] = [
    { key: 'metric.type', op: '=', value: selection.metricType },
    { key: 'resource.type', op: '=', value: selection.resourceType },
    ...selection.labels,
  ];
  return conditions.flatMap(({ key, op, value }, index) => [...(index === 0 ? [] : ['AND']), key, op, value]);
}

function grafanaQuery(pipeline: MonitoredPipeline, query: PanelQuery, refId: string): CloudMonitoringQueryBuilder {
  const target = new CloudMonitoringQueryBuilder().refId(refId).datasource(datasource);
  switch (query.kind) {
    case 'timeSeries':
      return target
        .queryType(QueryType.TIMESERIESLIST)
        .aliasBy(query.seriesName ?? query.groupBy.map((field) => `{{${field}}}`).join(' '))
        .timeSeriesList(
          new TimeSeriesListBuilder()
            .projectName(projectName)
            .filters(grafanaFilters(query.selection))
            .alignmentPeriod(`+${seconds(query.alignmentSeconds)}`)
            .perSeriesAligner(query.aligner)
            .crossSeriesReducer(query.reducer)
            .groupBys([...query.groupBy]),
        );
    case 'promql':
      return target.queryType(QueryType.PROMQL).promQLQuery(new PromQLQueryBuilder().projectName(projectName).expr(query.expr).step('60s'));
    case 'slo': {
      const { serviceId, sloId } = sloIds(pipeline);
      const names = sloDisplayNames(pipeline);
      const slo = new SLOQueryBuilder()
        .projectName(projectName)
        .serviceId(serviceId)
        .serviceName(names.service)
        .sloId(sloId)
        .sloName(names.slo)
        .selectorName(query.selector)
        .goal(AVAILABILITY_SLO.goal)
        .perSeriesAligner('ALIGN_MEAN')
        .alignmentPeriod('cloud-monitoring-auto');
      if (query.lookbackSeconds !== undefined) slo.lookbackPeriod(seconds(query.lookbackSeconds));
      return target.queryType(QueryType.SLO).aliasBy(query.seriesName).sloQuery(slo);
    }
  }
}

/**
 * Grafana thresholds are colour steps that start at -infinity; a line per
 * threshold is drawn where a step begins. Lines with the bad side above turn
 * the range above them red, lines with the bad side below turn it green.
 */
function thresholdSteps(lines: readonly ThresholdLine[]): Threshold[] {
  const sorted = [...lines].sort((a, b) => a.value - b.value);
  const baseIsBad = sorted.length > 0 && sorted[0].badSide === 'below';
  return [
    { value: null, color: baseIsBad ? 'red' : 'green' },
    ...sorted.map((line, index) => ({
      value: line.value,
      color: line.badSide === 'below' ? 'green' : index === sorted.length - 1 ? 'red' : 'orange',
    })),
  ];
}

function grafanaPanel(pipeline: MonitoredPipeline, spec: PanelSpec, id: number): TimeseriesPanelBuilder {
  const thresholdNote = spec.thresholds.length === 0 ? '' : ` Lines: ${spec.thresholds.map((line) => `${line.label} (${line.value})`).join('; ')}.`;
  const panel = new TimeseriesPanelBuilder()
    .id(id)
    .title(spec.title)
    .description(`${spec.description}${thresholdNote}`)
    .datasource(datasource)
    .unit(spec.unit)
    .axisLabel(spec.axisLabel)
    .span(12)
    .height(8)
    .legend(new VizLegendOptionsBuilder().showLegend(true).displayMode(LegendDisplayMode.List).placement(LegendPlacement.Bottom))
    .thresholds(new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps(thresholdSteps(spec.thresholds)))
    .thresholdsStyle(
      new GraphThresholdsStyleConfigBuilder().mode(spec.thresholds.length === 0 ? GraphThresholdsStyleMode.Off : GraphThresholdsStyleMode.Line),
    );
  spec.queries.forEach((query, index) => panel.withTarget(grafanaQuery(pipeline, query, REF_IDS[index])));
  return panel;
}

/** The pipeline's Grafana dashboard model, ready to be written as JSON; refuses a pipeline it cannot be drawn for. */
export function buildGrafanaDashboard(pipeline: MonitoredPipeline): Dashboard {
  const problems = monitoredPipelineProblems(pipeline, { plainStrings: true });
  if (problems.length > 0) throw new Error(`buildGrafanaDashboard: ${problems.map(({ prop, message }) => `${prop}: ${message}`).join('; ')}`);
  const builder = new DashboardBuilder(`${pipeline.namePrefix} ingest pipeline`)
    .uid(grafanaDashboardUid(pipeline))
    .description(
      `Requests, latency, warehouse insert errors, rows ingested, dead letters and the ${AVAILABILITY_SLO.goal * 100}% availability SLO of the ${pipeline.namePrefix} pipeline (project ${pipeline.project}).`,
    )
    .tags(['gcp-ingest', pipeline.namePrefix])
    .editable()
    .tooltip(DashboardCursorSync.Crosshair)
    .time({ from: 'now-6h', to: 'now' })
    .timezone('utc')
    .refresh('1m')
    // Grafana's own annotations, which the UI adds to every dashboard; an import without them has an empty annotation list.
    .annotation(
      new AnnotationQueryBuilder()
        .name('Annotations & Alerts')
        .builtIn(1)
        .datasource({ type: 'grafana', uid: '-- Grafana --' })
        .enable(true)
        .hide(true)
        .iconColor('rgba(0, 211, 255, 1)')
        .type('dashboard'),
    )
    .withVariable(new DatasourceVariableBuilder(GRAFANA_DATASOURCE_VARIABLE).label('Google Cloud Monitoring').type(GRAFANA_DATASOURCE_TYPE))
    .withVariable(
      new TextBoxVariableBuilder(GRAFANA_PROJECT_VARIABLE)
        .label('Project')
        .defaultValue(pipeline.project)
        .current({ text: pipeline.project, value: pipeline.project }),
    );
  dashboardPanels(pipeline).forEach((spec, index) => builder.withPanel(grafanaPanel(pipeline, spec, index + 1)));
  return builder.build();
}

/** The dashboard file's text: stable key order from the builder, two-space indent, final newline. */
export function grafanaDashboardJson(pipeline: MonitoredPipeline): string {
  return `${JSON.stringify(buildGrafanaDashboard(pipeline), null, 2)}\n`;
}

/**
 * A Grafana dashboard provisioning file that loads every `*-dashboard.json`
 * from `dashboardsPath` (where `cdktf.out/grafana/` is mounted) into one folder.
 */
export function grafanaProvisioningYaml(dashboardsPath: string): string {
  return [
    'apiVersion: 1',
    'providers:',
    '  - name: gcp-ingest-pipeline',
    `    folder: ${JSON.stringify(GRAFANA_FOLDER)}`,
    '    type: file',
    '    disableDeletion: false',
    '    allowUiUpdates: false',
    '    updateIntervalSeconds: 60',
    '    options:',
    `      path: ${JSON.stringify(dashboardsPath)}`,
    '      foldersFromFilesStructure: false',
    '',
  ].join('\n');
}
