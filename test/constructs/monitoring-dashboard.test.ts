/**
 * The dashboard JSON against the Monitoring API's own protos (shipped in
 * @google-cloud/monitoring-dashboards): every field must exist there, and the
 * JSON must already be what the API gives back, i.e. equal to its round trip
 * through the Dashboard message with proto3 defaults and empty lists left
 * out. A field the API drops or rewrites makes every `terraform plan` show a
 * diff that never goes away.
 */
import * as protobuf from 'protobufjs';
import { fromProto3JSON, type JSONValue, toProto3JSON } from 'proto3-json-serializer';
import descriptors from '@google-cloud/monitoring-dashboards/build/protos/protos.json';
import { cloudMonitoringDashboard } from '../../constructs/monitoring-dashboard';
import { MONITORED_PIPELINE } from '../support/monitored-pipeline';

type Json = { [key: string]: JSONValue };

const root = protobuf.Root.fromJSON(descriptors as protobuf.INamespace);
const DASHBOARD = root.lookupType('google.monitoring.dashboard.v1.Dashboard');
DASHBOARD.resolveAll();

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
/** Well-known types (Duration, Timestamp, …) have a JSON form of their own and are leaves here. */
const isMessage = (type: protobuf.ReflectionObject | null): type is protobuf.Type =>
  type instanceof protobuf.Type && !type.fullName.startsWith('.google.protobuf.');

/** Paths of the fields of `json` that `type` does not define, at any depth. */
function unknownFields(type: protobuf.Type, json: Json, path = ''): string[] {
  return Object.entries(json).flatMap(([key, value]) => {
    const field = type.fields[key];
    const at = `${path}${path ? '.' : ''}${key}`;
    if (field === undefined) return [at];
    const child = field.resolvedType;
    if (!isMessage(child)) return [];
    if (field.map) return isObject(value) ? Object.entries(value).flatMap(([entry, item]) => (isObject(item) ? unknownFields(child, item, `${at}.${entry}`) : [])) : [];
    if (field.repeated) return Array.isArray(value) ? value.flatMap((item, index) => (isObject(item) ? unknownFields(child, item, `${at}[${index}]`) : [])) : [];
    return isObject(value) ? unknownFields(child, value, at) : [];
  });
}

/** Whether proto3 treats `value` as unset for `field`: a default scalar or enum outside a oneof and without `optional`. */
function isDefault(field: protobuf.Field, value: JSONValue): boolean {
  if (field.partOf !== null || field.options?.proto3_optional === true) return false;
  const type = field.resolvedType;
  if (type instanceof protobuf.Enum) return type.values[value as string] === 0;
  if (type !== null) return false;
  return value === 0 || value === '0' || value === '' || value === false;
}

/** `json` (proto3 JSON of `type`) without default values, empty lists and empty maps, as the API returns it. */
function withoutDefaults(type: protobuf.Type, json: Json): Json {
  const kept: Json = {};
  for (const [key, value] of Object.entries(json)) {
    const field = type.fields[key]!;
    const child = field.resolvedType;
    if (field.repeated && Array.isArray(value)) {
      if (value.length > 0) kept[key] = isMessage(child) ? value.map((item) => withoutDefaults(child, item as Json)) : value;
    } else if (field.map && isObject(value)) {
      if (Object.keys(value).length > 0) kept[key] = value;
    } else if (isMessage(child) && isObject(value)) {
      kept[key] = withoutDefaults(child, value);
    } else if (!isDefault(field, value)) {
      kept[key] = value;
    }
  }
  return kept;
}

/** What the API would store and return for `json`. */
function normalized(json: Json): Json {
  const message = fromProto3JSON(DASHBOARD, json);
  if (message === null) throw new Error('the dashboard JSON is not a Dashboard message');
  return withoutDefaults(DASHBOARD, toProto3JSON(message) as Json);
}

describe('the Cloud Monitoring dashboard JSON', () => {
  const dashboard = JSON.parse(JSON.stringify(cloudMonitoringDashboard(MONITORED_PIPELINE, 'ingest-dev ingest pipeline'))) as Json;

  it('uses only fields of the Monitoring API Dashboard message', () => {
    expect(unknownFields(DASHBOARD, dashboard)).toEqual([]);
  });

  it('equals its own normalization: no proto3 default, no empty list, nothing the API rewrites', () => {
    expect(dashboard).toEqual(normalized(dashboard));
  });

  it('still holds every tile and query after the round trip', () => {
    const tiles = (normalized(dashboard).mosaicLayout as Json).tiles as Json[];
    expect(tiles).toHaveLength(((dashboard.mosaicLayout as Json).tiles as Json[]).length);
  });
});

describe('the proto check itself', () => {
  // The shapes the dashboard used to have: each one made every plan show a diff.
  const drifting: Json = {
    displayName: 'drift',
    mosaicLayout: {
      columns: 48,
      tiles: [
        {
          xPos: 0,
          width: 24,
          height: 16,
          widget: {
            title: 'latency',
            xyChart: {
              dataSets: [
                {
                  plotType: 'LINE',
                  timeSeriesQuery: {
                    timeSeriesFilter: {
                      filter: 'metric.type="x"',
                      aggregation: { alignmentPeriod: '60s', perSeriesAligner: 'ALIGN_DELTA', groupByFields: [] },
                    },
                  },
                },
              ],
              thresholds: [{ label: 'floor', value: 0, targetAxis: 'Y1' }],
              yAxis: { label: 'ms', scale: 'LINEAR' },
            },
          },
        },
      ],
    },
  };

  it('finds the defaults and empty lists the API drops', () => {
    const tile = ((normalized(drifting).mosaicLayout as Json).tiles as Json[])[0]!;
    expect(tile).not.toHaveProperty('xPos');
    const chart = (tile.widget as Json).xyChart as Json;
    expect(chart.thresholds).toEqual([{ label: 'floor', targetAxis: 'Y1' }]);
    expect(normalized(drifting)).not.toEqual(drifting);
  });

  it('finds fields the API does not know, at any depth', () => {
    const unknown: Json = { displayName: 'x', mosaicLayout: { columns: 12, tiles: [{ width: 6, height: 4, widget: { title: 't', xyChart: { dataSets: [], yAxis: { label: 'ms', unit: 'ms' } } } }] } };
    expect(unknownFields(DASHBOARD, unknown)).toEqual(['mosaicLayout.tiles[0].widget.xyChart.yAxis.unit']);
  });
});
