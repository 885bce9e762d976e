/**
 * The constructs and stacks refuse at synth exactly what the functions refuse
 * at load. Each limit is read from lambda-src/rules, never restated: for
 * every one, the edge values are accepted by every side, and one step past
 * an edge is refused by every side.
 */
import { join } from 'node:path';
import { TerraformStack, Testing } from 'cdktf';
import { GoogleProvider } from '@cdktf/provider-google/lib/provider';
import type { Construct } from 'constructs';
import { FunctionSourceBucket } from '../../../constructs/function-source-bucket';
import { HttpIngestFunction, type HttpIngestFunctionProps } from '../../../constructs/http-ingest-function';
import { IngestTopic } from '../../../constructs/ingest-topic';
import { MonitoringAlerts } from '../../../constructs/monitoring-alerts';
import { ROWS_PER_REQUEST_BUCKET_BOUNDS } from '../../../constructs/monitoring-policy';
import { WarehouseTable } from '../../../constructs/warehouse-table';
import { deadLetterRouteFromEnv } from '../../../lambda-src/dead-letter/pubsub';
import { runtimeFromEnv } from '../../../lambda-src/functions/runtime';
import { parseIngestPayload } from '../../../lambda-src/handlers/payload';
import { parseRecord, WAREHOUSE_BIGQUERY_FIELDS } from '../../../lambda-src/record';
import {
  GROUP_COMMIT_DEADLINE_MS,
  GROUP_COMMIT_LINGER_MS,
  ID_MAX_LENGTH,
  INTEGER_SETTINGS,
  type IntegerSetting,
  MAX_BODY_BYTES,
  MAX_INSERT_BYTES,
  MAX_RECORDS_PER_INSERT,
  NAME_MAX_LENGTH,
  READ_MAX_BYTES_BILLED,
  READ_WINDOW_HOURS,
} from '../../../lambda-src/rules/limits';
import { pubsubTopicPath } from '../../../lambda-src/rules/naming';
import { GROUP_COMMIT_DEFAULTS } from '../../../lambda-src/warehouse/group-commit';
import { warehouseConfigFromEnv } from '../../../lambda-src/warehouse/from-env';
import { environmentConfigProblems, resolveEnvironmentConfig } from '../../../stacks/config';
import { DEV } from '../../../stacks/environments';
import { MONITORED_PIPELINE } from '../../support/monitored-pipeline';

const entry = join(__dirname, '..', '..', 'fixtures', 'functions', 'hello.ts');
const FUNCTION: HttpIngestFunctionProps = { entry, entryPoint: 'hello', region: 'us-central1', maxInstanceCount: 1 };

/** What synthesis would refuse in the constructs `build` adds to a fresh stack, one line each. */
function constructProblems(build: (scope: Construct) => void): string[] {
  const stack = new TerraformStack(Testing.app(), 'agreement');
  new GoogleProvider(stack, 'google', { project: 'acme-ingest-dev', region: 'us-central1' });
  build(stack);
  return stack.node.findAll().flatMap((construct) => construct.node.validate());
}

/** The dev config with `changes` deep-merged, as a deployment's cdktf context would give it. */
const configProblems = (changes: object): string[] => environmentConfigProblems(resolveEnvironmentConfig(DEV, { context: changes }));

/** What a deployed function does at cold start with these variables: nothing, or throw naming the variable. */
const runtimeProblems = (env: Record<string, string>): string[] => {
  try {
    runtimeFromEnv('api', { WAREHOUSE: 'bigquery', GOOGLE_CLOUD_PROJECT: 'acme-ingest-dev', ...env });
    return [];
  } catch (error) {
    return [(error as Error).message];
  }
};

/** Every place a setting is checked, each giving its problems for a value. */
type Sides = Record<string, (value: number) => string[]>;

const settingSides = (setting: IntegerSetting, configField?: string): Sides => ({
  'the function at load': (value) => runtimeProblems({ [setting.variable]: String(value) }),
  'HttpIngestFunction.environment': (value) => constructProblems((scope) => new HttpIngestFunction(scope, 'api', { ...FUNCTION, environment: { [setting.variable]: String(value) } })),
  ...(configField === undefined ? {} : { [`stack config api.${configField}`]: (value: number) => configProblems({ api: { [configField]: value } }) }),
});

const SETTINGS: readonly [IntegerSetting, Sides][] = [
  [
    MAX_BODY_BYTES,
    {
      ...settingSides(MAX_BODY_BYTES, 'maxBodyBytes'),
      'HttpIngestFunction.maxBodyBytes': (value) => constructProblems((scope) => new HttpIngestFunction(scope, 'api', { ...FUNCTION, maxBodyBytes: value })),
    },
  ],
  [READ_WINDOW_HOURS, settingSides(READ_WINDOW_HOURS, 'readWindowHours')],
  [READ_MAX_BYTES_BILLED, settingSides(READ_MAX_BYTES_BILLED, 'readMaxBytesBilled')],
  [GROUP_COMMIT_LINGER_MS, settingSides(GROUP_COMMIT_LINGER_MS)],
  [GROUP_COMMIT_DEADLINE_MS, settingSides(GROUP_COMMIT_DEADLINE_MS)],
];

describe('function settings', () => {
  it('covers every setting the function reads', () => {
    expect(SETTINGS.map(([setting]) => setting)).toEqual(INTEGER_SETTINGS);
  });

  describe.each(SETTINGS.map(([setting, sides]) => [setting.variable, setting, sides] as const))('%s', (_variable, setting, sides) => {
    const cases = Object.entries(sides);

    it.each(cases)('%s accepts the smallest and largest value the rule allows', (_side, problems) => {
      expect(problems(setting.min)).toEqual([]);
      expect(problems(setting.max)).toEqual([]);
    });

    it.each(cases)('%s refuses one past each end, naming the setting and the range', (_side, problems) => {
      for (const value of [setting.min - 1, setting.max + 1]) {
        const found = problems(value);
        expect(found).toHaveLength(1);
        expect(found[0]).toContain(`must be an integer from ${setting.min} to ${setting.max}`);
      }
    });
  });
});

describe('records', () => {
  const record = { id: 'x', name: 'n', value: 1 };

  it('the record schema, the BigQuery columns and the DuckDB checks share the string limits', () => {
    expect(parseRecord({ ...record, id: 'i'.repeat(ID_MAX_LENGTH), name: 'n'.repeat(NAME_MAX_LENGTH) }).ok).toBe(true);
    expect(parseRecord({ ...record, id: 'i'.repeat(ID_MAX_LENGTH + 1) }).ok).toBe(false);
    expect(parseRecord({ ...record, name: 'n'.repeat(NAME_MAX_LENGTH + 1) }).ok).toBe(false);
    const maxLengths = Object.fromEntries(WAREHOUSE_BIGQUERY_FIELDS.filter((field) => field.maxLength).map((field) => [field.name, field.maxLength]));
    expect(maxLengths).toEqual({ id: String(ID_MAX_LENGTH), name: String(NAME_MAX_LENGTH) });
  });

  it('a request holds at most what one warehouse insert takes, and the rows-per-request metric reaches it', () => {
    expect(parseIngestPayload({ data: Array.from({ length: MAX_RECORDS_PER_INSERT }, () => record) }).ok).toBe(true);
    expect(parseIngestPayload({ data: Array.from({ length: MAX_RECORDS_PER_INSERT + 1 }, () => record) }).ok).toBe(false);
    expect(GROUP_COMMIT_DEFAULTS.maxBatchRows).toBe(MAX_RECORDS_PER_INSERT);
    expect(GROUP_COMMIT_DEFAULTS.maxBatchBytes).toBe(MAX_INSERT_BYTES);
    expect(Math.max(...ROWS_PER_REQUEST_BUCKET_BOUNDS)).toBe(MAX_RECORDS_PER_INSERT);
  });

  it('the largest body fits one insert', () => {
    expect(MAX_BODY_BYTES.max).toBeLessThan(MAX_INSERT_BYTES);
  });
});

describe('names', () => {
  /** Each side's verdict on a name: accepted, or not. */
  type NameSides = Record<string, (name: string) => boolean>;
  const runtimeAccepts = (env: Record<string, string>) => {
    try {
      warehouseConfigFromEnv({ WAREHOUSE: 'bigquery', GOOGLE_CLOUD_PROJECT: 'acme-ingest-dev', ...env });
      return true;
    } catch {
      return false;
    }
  };
  const propAccepted = (problems: string[], prop: string) => !problems.some((line) => line.startsWith(`${prop}:`) || line.startsWith(`${prop}.`));

  const NAMES: Record<string, { sides: NameSides; samples: readonly string[] }> = {
    'project id': {
      sides: {
        'the function at load (GOOGLE_CLOUD_PROJECT)': (name) => runtimeAccepts({ GOOGLE_CLOUD_PROJECT: name }),
        'MonitoringAlerts.project': (name) => propAccepted(constructProblems((scope) => new MonitoringAlerts(scope, 'monitoring', { ...MONITORED_PIPELINE, project: name, grafanaDashboard: false })), 'project'),
        'stack config project': (name) => configProblems({ project: name }).length === 0,
      },
      samples: ['acme-1', 'a'.repeat(30), 'acme.io:ingest-prod', 'acme', 'a'.repeat(31), 'Acme-ingest', 'acme-ingest-', '1acme-ingest'],
    },
    'dataset id': {
      sides: {
        'the function at load (BIGQUERY_DATASET)': (name) => runtimeAccepts({ BIGQUERY_DATASET: name }),
        'WarehouseTable.datasetId': (name) => propAccepted(constructProblems((scope) => new WarehouseTable(scope, 'warehouse', { datasetId: name })), 'datasetId'),
        'stack config warehouse.datasetId': (name) => configProblems({ warehouse: { datasetId: name } }).length === 0,
      },
      samples: ['ingest', 'Ingest_2', 'd'.repeat(1024), 'd'.repeat(1025), 'in-gest', 'ingest records'],
    },
    'table id': {
      sides: {
        'the function at load (BIGQUERY_TABLE)': (name) => runtimeAccepts({ BIGQUERY_TABLE: name }),
        'WarehouseTable.tableId': (name) => propAccepted(constructProblems((scope) => new WarehouseTable(scope, 'warehouse', { datasetId: 'ingest', tableId: name })), 'tableId'),
        'stack config warehouse.tableId': (name) => !configProblems({ warehouse: { tableId: name } }).some((line) => line.startsWith('dev.warehouse.tableId')),
      },
      samples: ['records', 'récords 2024-01', 't'.repeat(1024), 'é'.repeat(513), 'records.v2', 'records$'],
    },
    'topic name': {
      sides: {
        'the subscriber at load (DEAD_LETTER_TOPIC)': (name) => {
          try {
            deadLetterRouteFromEnv({ DEAD_LETTER_TOPIC: pubsubTopicPath('acme-ingest-dev', name) })?.close();
            return true;
          } catch {
            return false;
          }
        },
        'IngestTopic.topicName': (name) => propAccepted(constructProblems((scope) => new IngestTopic(scope, 'topic', { topicName: name })), 'topicName'),
        'stack config pubsub.topicName': (name) => !configProblems({ pubsub: { topicName: name } }).some((line) => line.startsWith('dev.pubsub.topicName')),
      },
      samples: ['records', 'rec~+%._-2', 't'.repeat(255), 'ab', 't'.repeat(256), 'goog-records', '1records', 'rec/ords', 'récords'],
    },
    'label': {
      sides: {
        'FunctionSourceBucket.labels': (label) =>
          propAccepted(constructProblems((scope) => new FunctionSourceBucket(scope, 'source', { location: 'US', labels: Object.fromEntries([label.split('=')]) })), 'labels'),
        'stack config labels': (label) => configProblems({ labels: Object.fromEntries([label.split('=')]) }).length === 0,
      },
      samples: ['team=data', `${'k'.repeat(63)}=${'v'.repeat(63)}`, 'team=', `${'k'.repeat(64)}=v`, `k=${'v'.repeat(64)}`, 'Team=data', 'team=Data', '1team=data'],
    },
  };

  describe.each(Object.entries(NAMES))('%s', (_name, { sides, samples }) => {
    it.each(samples)('every side agrees on %j', (sample) => {
      const verdicts = Object.fromEntries(Object.entries(sides).map(([side, accepts]) => [side, accepts(sample)]));
      const first = Object.values(verdicts)[0];
      expect(verdicts).toEqual(Object.fromEntries(Object.keys(verdicts).map((side) => [side, first])));
    });

    it('the samples hold both verdicts', () => {
      const [, accepts] = Object.entries(sides)[0]!;
      expect(new Set(samples.map(accepts))).toEqual(new Set([true, false]));
    });
  });
});
