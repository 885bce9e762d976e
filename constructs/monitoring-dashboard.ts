/**
 * The Cloud Monitoring rendering of the pipeline's dashboard
 * (`google_monitoring_dashboard.dashboard_json`), drawn from the same panel
 * list as the Grafana dashboard.
 *
 * The JSON is written the way the Monitoring API returns it: no field at its
 * proto3 default (0, "", the first enum value) and no empty list, because the
 * API drops those and every `terraform plan` would then show a diff. A test
 * checks it against the API's protos.
 */
import {
  dashboardPanels,
  type MonitoredPipeline,
  monitoringFilter,
  type PanelQuery,
  sloSelectorFilter,
  type ThresholdLine,
} from './monitoring-signals';
import { seconds } from '../lambda-src/rules/durations';

/** Grid of the mosaic layout: two tiles per row. */
const COLUMNS = 48;
const TILE_WIDTH = 24;
const TILE_HEIGHT = 16;
/** SLO series are recomputed every few minutes; finer alignment only repeats points. */
const SLO_ALIGNMENT_SECONDS = 300;

function dataSet(pipeline: MonitoredPipeline, query: PanelQuery): Record<string, unknown> {
  const common = { plotType: 'LINE', targetAxis: 'Y1' };
  switch (query.kind) {
    case 'timeSeries':
      return {
        ...common,
        ...(query.seriesName === undefined ? {} : { legendTemplate: query.seriesName }),
        minAlignmentPeriod: seconds(query.alignmentSeconds),
        timeSeriesQuery: {
          timeSeriesFilter: {
            filter: monitoringFilter(query.selection),
            aggregation: {
              alignmentPeriod: seconds(query.alignmentSeconds),
              perSeriesAligner: query.aligner,
              crossSeriesReducer: query.reducer,
              ...nonEmpty('groupByFields', query.groupBy),
            },
          },
        },
      };
    case 'promql':
      return { ...common, timeSeriesQuery: { prometheusQuery: query.expr } };
    case 'slo':
      return {
        ...common,
        legendTemplate: query.seriesName,
        minAlignmentPeriod: seconds(SLO_ALIGNMENT_SECONDS),
        timeSeriesQuery: {
          timeSeriesFilter: {
            filter: sloSelectorFilter(pipeline, query),
            aggregation: { alignmentPeriod: seconds(SLO_ALIGNMENT_SECONDS), perSeriesAligner: 'ALIGN_NEXT_OLDER' },
          },
        },
      };
  }
}

/** `{ [key]: value }` unless `value` is the proto3 default 0. */
function nonZero<K extends string>(key: K, value: number): Partial<Record<K, number>> {
  return value === 0 ? {} : ({ [key]: value } as Record<K, number>);
}

/** `{ [key]: [...items] }` unless `items` is empty. */
function nonEmpty<K extends string, T>(key: K, items: readonly T[]): Partial<Record<K, T[]>> {
  return items.length === 0 ? {} : ({ [key]: [...items] } as Record<K, T[]>);
}

const threshold = (line: ThresholdLine) => ({
  label: line.label,
  ...nonZero('value', line.value),
  targetAxis: 'Y1',
  color: line.badSide === 'above' ? 'RED' : 'YELLOW',
  direction: line.badSide === 'above' ? 'ABOVE' : 'BELOW',
});

/** The dashboard definition, as the Monitoring API's Dashboard JSON. */
export function cloudMonitoringDashboard(pipeline: MonitoredPipeline, displayName: string): Record<string, unknown> {
  return {
    displayName,
    labels: { 'gcp-ingest': '' },
    mosaicLayout: {
      columns: COLUMNS,
      tiles: dashboardPanels(pipeline).map((spec, index) => ({
        ...nonZero('xPos', (index % 2) * TILE_WIDTH),
        ...nonZero('yPos', Math.floor(index / 2) * TILE_HEIGHT),
        width: TILE_WIDTH,
        height: TILE_HEIGHT,
        widget: {
          title: spec.title,
          xyChart: {
            dataSets: spec.queries.map((query) => dataSet(pipeline, query)),
            ...nonEmpty('thresholds', spec.thresholds.map(threshold)),
            yAxis: { label: spec.axisLabel, scale: 'LINEAR' },
          },
        },
      })),
    },
  };
}
