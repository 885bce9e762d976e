import { TerraformOutput } from 'cdktf';
import { BigqueryDataset } from '@cdktf/provider-google/lib/bigquery-dataset';
import { DataGoogleBigqueryDataset } from '@cdktf/provider-google/lib/data-google-bigquery-dataset';
import { BigqueryTable } from '@cdktf/provider-google/lib/bigquery-table';
import { BigqueryTableIamMember } from '@cdktf/provider-google/lib/bigquery-table-iam-member';
import { ProjectIamMember } from '@cdktf/provider-google/lib/project-iam-member';
import { JOB_USER_ROLE, TABLE_INSERT_PERMISSIONS, TABLE_READ_PERMISSIONS, WarehouseTable } from '../../constructs/warehouse-table';
import { WAREHOUSE_BIGQUERY_FIELDS } from '../../lambda-src/record';
import { latestViewQuery } from '../../lambda-src/warehouse/latest-view';
import { resourceList, resourcesOf, synthesize, validationErrors } from '../support/synth';

describe('WarehouseTable with defaults', () => {
  const { json, parsed, built: table } = synthesize((stack) => new WarehouseTable(stack, 'warehouse', { datasetId: 'ingest' }));
  const tables = resourceList(parsed, 'google_bigquery_table');
  const mainTable = tables.find((t) => t.table_id === 'records')!;
  const view = tables.find((t) => t.table_id === 'records_latest')!;

  it('creates the dataset in US, keeping its contents on destroy', () => {
    expect(json).toHaveResourceWithProperties(BigqueryDataset, {
      dataset_id: 'ingest',
      location: 'US',
      delete_contents_on_destroy: false,
    });
  });

  it('takes its columns from the record schema plus the ingestion columns, in order', () => {
    expect(JSON.parse(mainTable.schema as string)).toEqual(WAREHOUSE_BIGQUERY_FIELDS);
    expect((JSON.parse(mainTable.schema as string) as { name: string }[]).map((f) => f.name)).toEqual([
      'id',
      'name',
      'value',
      'insert_id',
      'ingested_at',
    ]);
  });

  it('partitions by day on ingested_at, clusters by id, and is deletion-protected', () => {
    expect(json).toHaveResourceWithProperties(BigqueryTable, {
      table_id: 'records',
      time_partitioning: { type: 'DAY', field: 'ingested_at' },
      clustering: ['id'],
      deletion_protection: true,
    });
    expect(mainTable.time_partitioning).not.toHaveProperty('expiration_ms');
    expect(mainTable).not.toHaveProperty('encryption_configuration');
  });

  it('defines the latest-version view over the table, newest ingested_at then insert_id first, with the SQL DuckDB runs locally', () => {
    expect(view.deletion_protection).toBe(true);
    const query = (view.view as { query: string; use_legacy_sql: boolean }).query;
    expect((view.view as { use_legacy_sql: boolean }).use_legacy_sql).toBe(false);
    const source = /FROM (`\$\{google_bigquery_table\.[^.]+\.project\}\.\$\{google_bigquery_dataset\.[^.]+\.dataset_id\}\.\$\{google_bigquery_table\.[^.]+\.table_id\}`)/.exec(query)?.[1];
    expect(source).toBeDefined();
    expect(query).toBe(latestViewQuery(source!));
    expect(query).toContain('ROW_NUMBER() OVER (PARTITION BY id ORDER BY ingested_at DESC, insert_id DESC)');
    expect(query).toContain('WHERE version_rank = 1');
    expect(query.split('\n')[0]).toBe('SELECT id, name, value, insert_id, ingested_at');
  });

  it('exposes plain ids and the environment the functions read', () => {
    expect([table.datasetId, table.tableId, table.latestViewId]).toEqual(['ingest', 'records', 'records_latest']);
    expect(Object.keys(table.warehouseEnvironment).sort()).toEqual([
      'BIGQUERY_DATASET',
      'BIGQUERY_TABLE',
      'GOOGLE_CLOUD_PROJECT',
      'WAREHOUSE',
    ]);
    expect(table.warehouseEnvironment.WAREHOUSE).toBe('bigquery');
  });

  it('grants nothing by itself, and creates no role before a grant needs one', () => {
    expect(resourceList(parsed, 'google_bigquery_table_iam_member')).toEqual([]);
    expect(resourceList(parsed, 'google_project_iam_member')).toEqual([]);
    expect(parsed.resource).not.toHaveProperty('google_project_iam_custom_role');
    expect(parsed.resource).not.toHaveProperty('time_static');
  });
});

describe('WarehouseTable with every prop', () => {
  const { json, parsed } = synthesize(
    (stack) =>
      new WarehouseTable(stack, 'warehouse', {
        datasetId: 'analytics',
        tableId: 'events',
        latestViewId: 'events_now',
        location: 'europe-west1',
        project: 'other-project',
        labels: { team: 'data' },
        disposable: true,
        encryptionKey: { id: 'projects/k/locations/europe-west1/keyRings/r/cryptoKeys/bq' },
        partitionExpirationDays: 30,
      }),
  );

  it('makes a disposable dataset and tables destroyable', () => {
    expect(json).toHaveResourceWithProperties(BigqueryDataset, {
      dataset_id: 'analytics',
      project: 'other-project',
      location: 'europe-west1',
      delete_contents_on_destroy: true,
      labels: { team: 'data' },
      default_encryption_configuration: { kms_key_name: 'projects/k/locations/europe-west1/keyRings/r/cryptoKeys/bq' },
    });
    for (const table of resourceList(parsed, 'google_bigquery_table')) expect(table.deletion_protection).toBe(false);
  });

  it('encrypts the table with the key and expires partitions', () => {
    expect(json).toHaveResourceWithProperties(BigqueryTable, {
      table_id: 'events',
      labels: { team: 'data' },
      encryption_configuration: { kms_key_name: 'projects/k/locations/europe-west1/keyRings/r/cryptoKeys/bq' },
      time_partitioning: { type: 'DAY', field: 'ingested_at', expiration_ms: 30 * 24 * 60 * 60 * 1000 },
    });
    expect(json).toHaveResourceWithProperties(BigqueryTable, { table_id: 'events_now', labels: { team: 'data' } });
  });
});

describe('WarehouseTable in an existing dataset', () => {
  it("creates no dataset and puts the table and view into the stack's own dataset, by reference", () => {
    const { parsed, built } = synthesize((stack) => {
      const analytics = new BigqueryDataset(stack, 'analytics', { datasetId: 'analytics', location: 'EU' });
      const table = new WarehouseTable(stack, 'warehouse', { datasetId: 'analytics', existingDataset: analytics, disposable: true });
      new TerraformOutput(stack, 'dataset', { value: table.warehouseEnvironment.BIGQUERY_DATASET });
      return table;
    });
    expect(Object.keys(parsed.resource?.google_bigquery_dataset ?? {})).toEqual(['analytics']);
    for (const table of resourceList(parsed, 'google_bigquery_table')) {
      expect(table.dataset_id).toBe('${google_bigquery_dataset.analytics.dataset_id}');
      expect(table.project).toBe('${google_bigquery_dataset.analytics.project}');
    }
    expect(built.dataset).toBeUndefined();
    expect(built.datasetId).toBe('analytics');
    expect(parsed.output?.dataset?.value).toBe('${google_bigquery_dataset.analytics.dataset_id}');
  });

  it('takes a dataset managed elsewhere through the data source', () => {
    const { parsed } = synthesize((stack) => {
      const shared = new DataGoogleBigqueryDataset(stack, 'shared', { datasetId: 'shared_events', project: 'data-platform' });
      new WarehouseTable(stack, 'warehouse', { datasetId: 'shared_events', existingDataset: shared });
    });
    expect(parsed.resource?.google_bigquery_dataset).toBeUndefined();
    for (const table of resourceList(parsed, 'google_bigquery_table')) {
      expect(table.dataset_id).toBe('${data.google_bigquery_dataset.shared.dataset_id}');
    }
  });

  it('refuses a datasetId that is not the existing dataset\'s', () => {
    const { stack } = synthesize((scope) => {
      const analytics = new BigqueryDataset(scope, 'analytics', { datasetId: 'analytics' });
      new WarehouseTable(scope, 'warehouse', { datasetId: 'ingest', existingDataset: analytics });
    });
    expect(validationErrors(stack)).toEqual(['datasetId: must be the id of existingDataset ("analytics"), got "ingest"']);
  });
});

describe('WarehouseTable grants, with the roles it creates', () => {
  const { json, parsed, built: grants } = synthesize((stack) => {
    const table = new WarehouseTable(stack, 'warehouse', { datasetId: 'ingest' });
    const writer = 'serviceAccount:writer@p.iam.gserviceaccount.com';
    return {
      insert: [table.grantInsert(writer), table.grantInsert(writer)],
      read: table.grantRead('group:readers@acme-data.io', { includeLatestView: true }),
      readWrite: table.grantReadWrite('serviceAccount:api@p.iam.gserviceaccount.com'),
    };
  });
  const tableMembers = resourceList(parsed, 'google_bigquery_table_iam_member');
  const roles = resourcesOf(parsed, 'google_project_iam_custom_role');
  const roleNamed = (prefix: string) => {
    const [id, role] = Object.entries(roles).find(([logicalId]) => logicalId.startsWith(`warehouse_${prefix}-role_`))!;
    return { reference: `\${google_project_iam_custom_role.${id}.name}`, role };
  };
  const insert = roleNamed('table-insert');
  const read = roleNamed('table-read');

  it('creates one insert role with exactly what insertAll checks, and one read role with what a query checks on a table', () => {
    expect(Object.keys(roles)).toHaveLength(2);
    expect(insert.role.permissions).toEqual([...TABLE_INSERT_PERMISSIONS]);
    expect(read.role.permissions).toEqual([...TABLE_READ_PERMISSIONS]);
    expect(TABLE_INSERT_PERMISSIONS).toEqual(['bigquery.tables.get', 'bigquery.tables.updateData']);
    expect(TABLE_READ_PERMISSIONS).toEqual(['bigquery.tables.get', 'bigquery.tables.getData']);
  });

  it('gives the roles ids that end in their creation time, so a re-created stack never reuses a deleted role id', () => {
    const createdAt = Object.keys(resourcesOf(parsed, 'time_static'));
    expect(createdAt).toHaveLength(1);
    for (const { role } of [insert, read]) expect(role.role_id).toMatch(new RegExp(`^table(Insert|Read)_[0-9a-f]{8}_\\$\\{time_static\\.${createdAt[0]}\\.unix\\}$`));
    expect(parsed.provider).toHaveProperty('time');
  });

  it('grants insert as the insert role on the table only, once however often it is asked', () => {
    expect(grants.insert[0]).toBe(grants.insert[1]);
    const writers = tableMembers.filter((m) => m.member === 'serviceAccount:writer@p.iam.gserviceaccount.com');
    expect(writers).toEqual([expect.objectContaining({ role: insert.reference, table_id: expect.stringMatching(/^\$\{google_bigquery_table\.warehouse_table_/) })]);
  });

  it('grants read as the read role on the table (and the view when asked), plus jobUser on the project', () => {
    const readers = tableMembers.filter((m) => m.member === 'group:readers@acme-data.io');
    expect(readers.map((m) => [m.role, m.table_id]).sort()).toEqual(
      [
        [read.reference, expect.stringMatching(/warehouse_latest-view_/)],
        [read.reference, expect.stringMatching(/warehouse_table_/)],
      ].sort(),
    );
    expect(json).toHaveResourceWithProperties(ProjectIamMember, { role: JOB_USER_ROLE, member: 'group:readers@acme-data.io' });
    expect(grants.read).toHaveLength(3);
  });

  it('grants read and write together, returning every binding it made', () => {
    const api = tableMembers.filter((m) => m.member === 'serviceAccount:api@p.iam.gserviceaccount.com');
    expect(api.map((m) => m.role).sort()).toEqual([insert.reference, read.reference].sort());
    expect(grants.readWrite.map((grant) => grant.constructor)).toEqual([BigqueryTableIamMember, BigqueryTableIamMember, ProjectIamMember]);
  });

  it('binds no predefined data role anywhere, and no role that can update or delete tables', () => {
    const boundRoles = [...tableMembers, ...resourceList(parsed, 'google_project_iam_member')].map((m) => String(m.role));
    for (const role of boundRoles) expect(role).not.toMatch(/^roles\/bigquery\.(dataEditor|dataOwner|dataViewer|admin)$/);
    for (const { role } of [insert, read]) expect(role.permissions).not.toEqual(expect.arrayContaining([expect.stringMatching(/^bigquery\.tables\.(update|delete)$/)]));
    expect(resourceList(parsed, 'google_project_iam_member').map((m) => m.role)).toEqual([JOB_USER_ROLE, JOB_USER_ROLE]);
    expect(parsed.resource).not.toHaveProperty('google_bigquery_dataset_iam_member');
  });
});

describe('WarehouseTable grants, with roles made elsewhere', () => {
  const given = { insert: 'projects/p/roles/ingestTableInsert', read: 'projects/p/roles/ingestTableRead' };
  const { parsed, built: grants } = synthesize((stack) => {
    const table = new WarehouseTable(stack, 'warehouse', { datasetId: 'ingest', roles: given });
    return table.grantReadWrite('serviceAccount:api@p.iam.gserviceaccount.com', { grantJobUser: false });
  });

  it('refuses a given role that is not a custom role, naming the prop', () => {
    const { stack } = synthesize((scope) => new WarehouseTable(scope, 'warehouse', { datasetId: 'ingest', roles: { insert: 'roles/bigquery.dataEditor', read: given.read } }));
    expect(validationErrors(stack)).toEqual([expect.stringMatching(/^roles\.insert: must be a custom role .*got "roles\/bigquery\.dataEditor"$/)]);
  });

  it('binds the given roles and creates none, nor any project grant when the grantee already runs jobs', () => {
    expect(resourceList(parsed, 'google_bigquery_table_iam_member').map((m) => m.role).sort()).toEqual([given.insert, given.read]);
    expect(parsed.resource).not.toHaveProperty('google_project_iam_custom_role');
    expect(parsed.resource).not.toHaveProperty('time_static');
    expect(parsed.resource).not.toHaveProperty('google_project_iam_member');
    expect(grants).toHaveLength(2);
  });
});

describe('WarehouseTable validation', () => {
  it('refuses ids BigQuery would refuse, naming the prop', () => {
    const { stack } = synthesize((s) => {
      new WarehouseTable(s, 'warehouse', { datasetId: 'bad-dataset', tableId: 't', latestViewId: 't', partitionExpirationDays: 0, labels: { Team: 'x' } });
    });
    const errors = validationErrors(stack);
    expect(errors).toEqual(
      expect.arrayContaining([
        'datasetId: must be 1-1024 letters, digits or underscores, got "bad-dataset"',
        'latestViewId: must differ from tableId',
        expect.stringMatching(/^partitionExpirationDays: must be an integer from 1/),
        expect.stringMatching(/^labels\.Team: label keys/),
      ]),
    );
  });

  it('accepts valid props', () => {
    const { stack } = synthesize((s) => new WarehouseTable(s, 'warehouse', { datasetId: 'ok_dataset' }));
    expect(validationErrors(stack)).toEqual([]);
  });
});
