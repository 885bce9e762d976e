/**
 * Every `grant*` method returns the IAM resources it created, so a caller
 * can wait for them (`dependsOn`), and a repeated grant returns the same ones.
 */
import { join } from 'node:path';
import { TerraformResource, type TerraformStack } from 'cdktf';
import type { IConstruct } from 'constructs';
import { HttpIngestFunction } from '../../constructs/http-ingest-function';
import { IngestTopic } from '../../constructs/ingest-topic';
import { WarehouseTable } from '../../constructs/warehouse-table';
import { synthesize } from '../support/synth';

const entry = join(__dirname, '..', 'fixtures', 'functions', 'hello.ts');
const GRANTEE = 'group:analysts@acme-data.io';

/** The IAM bindings under `scope` (not the custom roles a first grant may create to bind), by construct path. */
const iamResources = (scope: IConstruct) =>
  scope.node
    .findAll()
    .filter((construct): construct is TerraformResource => construct instanceof TerraformResource && /_iam_(member|binding)$/.test(construct.terraformResourceType))
    .map((resource) => resource.node.path);

/** A construct with a grant method, and a call of it. */
interface Grantor {
  readonly build: (scope: TerraformStack) => unknown;
  readonly grant: (built: never) => TerraformResource | readonly TerraformResource[];
}

const GRANTORS: Record<string, Grantor> = {
  'WarehouseTable.grantInsert': {
    build: (scope) => new WarehouseTable(scope, 'warehouse', { datasetId: 'ingest' }),
    grant: (table: WarehouseTable) => table.grantInsert(GRANTEE),
  },
  'WarehouseTable.grantRead': {
    build: (scope) => new WarehouseTable(scope, 'warehouse', { datasetId: 'ingest' }),
    grant: (table: WarehouseTable) => table.grantRead(GRANTEE),
  },
  'WarehouseTable.grantReadWrite': {
    build: (scope) => new WarehouseTable(scope, 'warehouse', { datasetId: 'ingest' }),
    grant: (table: WarehouseTable) => table.grantReadWrite(GRANTEE, { includeLatestView: true }),
  },
  'IngestTopic.grantPublish': { build: (scope) => new IngestTopic(scope, 'ingest'), grant: (topic: IngestTopic) => topic.grantPublish(GRANTEE) },
  'IngestTopic.grantDeadLetterPublish': {
    build: (scope) => new IngestTopic(scope, 'ingest'),
    grant: (topic: IngestTopic) => topic.grantDeadLetterPublish(GRANTEE),
  },
  'HttpIngestFunction.grantInvoke': {
    build: (scope) => new HttpIngestFunction(scope, 'api', { entry, entryPoint: 'hello', region: 'us-central1', maxInstanceCount: 1 }),
    grant: (fn: HttpIngestFunction) => fn.grantInvoke(GRANTEE),
  },
};

describe('grant methods', () => {
  it.each(Object.entries(GRANTORS))('%s returns exactly the resources it created', (_method, { build, grant }) => {
    synthesize((stack) => {
      const built = build(stack);
      const before = new Set(iamResources(stack));
      const granted = [grant(built as never)].flat();
      const created = iamResources(stack).filter((path) => !before.has(path));
      expect(created.length).toBeGreaterThan(0);
      expect(granted.map((resource) => resource.node.path).sort()).toEqual(created.sort());
    });
  });

  it('a repeated grant returns the binding the first one made', () => {
    synthesize((stack) => {
      const table = new WarehouseTable(stack, 'warehouse', { datasetId: 'ingest' });
      expect(table.grantRead(GRANTEE)).toEqual(table.grantRead(GRANTEE));
      expect(table.grantInsert(GRANTEE)).toBe(table.grantInsert(GRANTEE));
    });
  });
});
