import { Construct } from 'constructs';
import { Token } from 'cdktf';
import { BigqueryDataset } from '@cdktf/provider-google/lib/bigquery-dataset';
import { BigqueryTable } from '@cdktf/provider-google/lib/bigquery-table';
import { BigqueryTableIamMember } from '@cdktf/provider-google/lib/bigquery-table-iam-member';
import { ProjectIamCustomRole } from '@cdktf/provider-google/lib/project-iam-custom-role';
import { ProjectIamMember } from '@cdktf/provider-google/lib/project-iam-member';
import { StaticResource } from '@cdktf/provider-time/lib/static-resource';
import { WAREHOUSE_BIGQUERY_FIELDS } from '../lambda-src/record';
import { LATEST_VIEW_SUFFIX, latestViewQuery, UPDATED_AT_COLUMN } from '../lambda-src/warehouse/latest-view';
import { DAY_MS } from '../lambda-src/rules/durations';
import { DATASET_ID, kebab, TABLE_ID } from '../lambda-src/rules/naming';
import type { IEncryptionKey } from './encryption-key';
import type { Grantee } from './grantee';
import { grantOnce } from './private/grants';
import { fitName, shortHash } from './private/naming';
import { ensureTimeProvider } from './private/time-provider';
import { times } from './private/tokens';
import { encryptionKeyProblem, integerIn, labelProblems, matches, problemIf, type PropProblem, validateProps } from './private/validation';

/**
 * A BigQuery dataset that exists without this construct: a
 * `google_bigquery_dataset` of your stack, or a `google_bigquery_dataset`
 * data source for one managed elsewhere. Both providers' classes fit.
 */
export interface ExistingDataset {
  /** Dataset id (a Terraform reference, so the table waits for the dataset). */
  readonly datasetId: string;
  /** Project of the dataset. */
  readonly project: string;
  /** The configured dataset id, when it is known at synth (the provider classes expose it). */
  readonly datasetIdInput?: string;
}

/**
 * What `tabledata.insertAll` checks on the table. Google's list for streaming
 * inserts adds `bigquery.datasets.get`, which a binding on the table cannot
 * carry (a table's policy reaches the table only) and the insert does not need.
 */
export const TABLE_INSERT_PERMISSIONS = ['bigquery.tables.get', 'bigquery.tables.updateData'] as const;

/**
 * What a query job checks on each table it reads; running the job also needs
 * `bigquery.jobs.create` on the project ({@link JOB_USER_ROLE}).
 */
export const TABLE_READ_PERMISSIONS = ['bigquery.tables.get', 'bigquery.tables.getData'] as const;

/** The predefined role that lets a principal run query jobs in a project; it reads no data by itself. */
export const JOB_USER_ROLE = 'roles/bigquery.jobUser';

/**
 * Custom roles the grant methods bind on the table, as
 * `projects/<project>/roles/<role id>`: one holding exactly
 * {@link TABLE_INSERT_PERMISSIONS}, one exactly {@link TABLE_READ_PERMISSIONS}.
 */
export interface WarehouseTableRoles {
  /** Role bound by {@link WarehouseTable.grantInsert}. */
  readonly insert: string;
  /** Role bound by {@link WarehouseTable.grantRead}. */
  readonly read: string;
}

/** Options of {@link WarehouseTable.grantRead} and {@link WarehouseTable.grantReadWrite}. */
export interface TableReadGrantOptions {
  /**
   * Also bind {@link JOB_USER_ROLE} on the table's project, which every query
   * needs and BigQuery offers on no narrower resource. Turn it off when the
   * grantee already holds it (e.g. granted by a bootstrap stack), so that
   * whoever deploys needs no right to change the project's IAM policy.
   * @default true
   */
  readonly grantJobUser?: boolean;
  /**
   * Also grant read on the latest-version view (querying a view reads the
   * table under it, so the table grant is needed too, and made).
   * @default false: the table only
   */
  readonly includeLatestView?: boolean;
}

/** A binding made by a grant method of {@link WarehouseTable}. */
export type WarehouseTableGrant = BigqueryTableIamMember | ProjectIamMember;

/** Props of {@link WarehouseTable}. */
export interface WarehouseTableProps {
  /**
   * Id of the dataset (letters, digits, underscores: `DATASET_ID` in
   * `lambda-src/rules/naming.ts`): the one to create, or the id of `existingDataset`.
   */
  readonly datasetId: string;
  /**
   * Put the table and view into this dataset instead of creating one. The
   * dataset keeps its own location, labels, encryption and deletion
   * settings; `location` does not apply, and `labels`, `disposable` and
   * `encryptionKey` apply to the table and view alone.
   * @default a new dataset named `datasetId`
   */
  readonly existingDataset?: ExistingDataset;
  /**
   * Id of the table inside the dataset.
   * @default 'records'
   */
  readonly tableId?: string;
  /**
   * Id of the view that shows the latest version of each record.
   * @default `<tableId>_latest`
   */
  readonly latestViewId?: string;
  /**
   * BigQuery location of the dataset it creates (multi-region `US`/`EU` or a
   * region); an `existingDataset` keeps its own.
   * @default 'US'
   */
  readonly location?: string;
  /**
   * Project that owns the dataset.
   * @default the provider's project
   */
  readonly project?: string;
  /**
   * Labels on the dataset, the table and the view.
   * @default no labels
   */
  readonly labels?: Record<string, string>;
  /**
   * Whether the data may be destroyed with the stack. `false` keeps
   * `deletion_protection` on the table and view and refuses to destroy a
   * dataset that still holds tables; `true` (dev, previews) turns both off.
   * @default false
   */
  readonly disposable?: boolean;
  /**
   * Cloud KMS key that encrypts the dataset's tables (CMEK). The BigQuery
   * service agent needs `roles/cloudkms.cryptoKeyEncrypterDecrypter` on it.
   * @default Google-managed encryption
   */
  readonly encryptionKey?: IEncryptionKey;
  /**
   * Days after which a daily partition (and its rows) is deleted.
   * @default partitions are kept forever
   */
  readonly partitionExpirationDays?: number;
  /**
   * Existing custom roles to bind, e.g. made once by a bootstrap stack, so
   * that whoever deploys this table needs no right to create roles.
   * @default two roles created in the table's project at the first grant that
   * needs them. Their ids end in the creation time: a deleted custom role's id
   * stays taken for up to 37 days, and this keeps a destroyed and re-created
   * stack from colliding with its own past. Creating them takes
   * `iam.roles.create` (`roles/iam.roleAdmin`).
   */
  readonly roles?: WarehouseTableRoles;
}

/** What {@link WarehouseTable} accepts for its numeric props; stack configs check theirs by the same rules. */
export const WAREHOUSE_TABLE_RULES = {
  partitionExpirationDays: { min: 1, max: 100_000 },
} as const;

/** `datasetId` stays the plain id dashboards and outputs read, so it must be the existing dataset's. */
function existingDatasetProblem(props: WarehouseTableProps): PropProblem | undefined {
  const configured = props.existingDataset?.datasetIdInput;
  return problemIf(
    'datasetId',
    configured !== undefined && configured !== props.datasetId,
    `must be the id of existingDataset (${JSON.stringify(configured)}), got ${JSON.stringify(props.datasetId)}`,
    [configured, props.datasetId],
  );
}

/** A custom role: a predefined one holds more than inserting or reading rows. */
const CUSTOM_ROLE = {
  pattern: /^(?:projects|organizations)\/[^/]+\/roles\/[A-Za-z0-9_.]{3,64}$/,
  rule: 'must be a custom role (projects/<project>/roles/<id>) holding only what the grant needs',
};

/**
 * The warehouse: a BigQuery dataset (or an existing one, see
 * `existingDataset`), an append-only table whose columns are
 * the record schema of `lambda-src/record.ts` plus the ingestion columns
 * (`insert_id`, `ingested_at`), partitioned by day on `ingested_at` and
 * clustered by `id`, and a view holding the latest version of each record.
 *
 * Grants are table-level custom roles with only what the call needs:
 * `grantInsert` to stream rows in (no reading, updating or deleting),
 * `grantRead` to query, `grantReadWrite` both. Nothing is granted on the
 * project except `roles/bigquery.jobUser` for readers, which only lets them
 * run query jobs and reads no data.
 */
export class WarehouseTable extends Construct {
  /** The `google_bigquery_dataset` this construct created; `undefined` when the table went into an `existingDataset`. */
  public readonly dataset?: BigqueryDataset;
  /** The `google_bigquery_table` holding every version of every record. */
  public readonly table: BigqueryTable;
  /** The `google_bigquery_table` view with the latest version of each record. */
  public readonly latestView: BigqueryTable;
  /** Project id of the dataset. */
  public readonly project: string;
  /** Dataset id (a plain string, usable where Terraform references are not, e.g. dashboards). */
  public readonly datasetId: string;
  /** Table id (plain string). */
  public readonly tableId: string;
  /** Latest-version view id (plain string). */
  public readonly latestViewId: string;
  /** `project.dataset.table`, the form Pub/Sub BigQuery subscriptions take. */
  public readonly tableReference: string;
  /** Environment that points the ingest functions at this table (`WAREHOUSE=bigquery`, project, dataset, table). */
  public readonly warehouseEnvironment: Readonly<Record<string, string>>;

  private readonly givenRoles?: WarehouseTableRoles;
  private createdRoles?: WarehouseTableRoles;

  constructor(scope: Construct, id: string, props: WarehouseTableProps) {
    super(scope, id);
    const tableId = props.tableId ?? 'records';
    const latestViewId = props.latestViewId ?? `${tableId}${LATEST_VIEW_SUFFIX}`;
    const disposable = props.disposable ?? false;
    validateProps(this, [
      matches('datasetId', props.datasetId, DATASET_ID),
      matches('tableId', tableId, TABLE_ID),
      matches('latestViewId', latestViewId, TABLE_ID),
      problemIf('latestViewId', tableId === latestViewId, 'must differ from tableId', [tableId, latestViewId]),
      integerIn('partitionExpirationDays', props.partitionExpirationDays, WAREHOUSE_TABLE_RULES.partitionExpirationDays),
      ...labelProblems('labels', props.labels),
      encryptionKeyProblem('encryptionKey', props.encryptionKey),
      existingDatasetProblem(props),
      ...Object.entries(props.roles ?? {}).map(([key, role]: [string, string]) => matches(`roles.${key}`, role, CUSTOM_ROLE)),
    ]);

    this.dataset =
      props.existingDataset === undefined
        ? new BigqueryDataset(this, 'dataset', {
            datasetId: props.datasetId,
            project: props.project,
            location: props.location ?? 'US',
            description: 'Ingested records (managed by cdktf).',
            labels: props.labels,
            deleteContentsOnDestroy: disposable,
            defaultEncryptionConfiguration: props.encryptionKey ? { kmsKeyName: props.encryptionKey.id } : undefined,
          })
        : undefined;
    const dataset: ExistingDataset = props.existingDataset ?? this.dataset!;

    this.table = new BigqueryTable(this, 'table', {
      datasetId: dataset.datasetId,
      project: dataset.project,
      tableId,
      description: 'Every accepted version of every record, append-only.',
      schema: JSON.stringify(WAREHOUSE_BIGQUERY_FIELDS),
      timePartitioning: {
        type: 'DAY',
        field: UPDATED_AT_COLUMN,
        expirationMs: props.partitionExpirationDays === undefined ? undefined : times(props.partitionExpirationDays, DAY_MS),
      },
      clustering: ['id'],
      deletionProtection: !disposable,
      labels: props.labels,
      encryptionConfiguration: props.encryptionKey ? { kmsKeyName: props.encryptionKey.id } : undefined,
    });

    this.project = this.table.project;
    this.datasetId = props.datasetId;
    this.tableId = tableId;
    this.latestViewId = latestViewId;
    // References (not the plain ids) so whatever uses them waits for the table to exist.
    const tableReference = `${this.project}.${dataset.datasetId}.${this.table.tableId}`;

    // The same SQL as the local DuckDB view: newest ingested_at wins, insert_id breaks ties.
    const query = latestViewQuery(`\`${tableReference}\``);
    this.latestView = new BigqueryTable(this, 'latest-view', {
      datasetId: dataset.datasetId,
      project: dataset.project,
      tableId: latestViewId,
      description: `Latest version of each record in ${tableId}.`,
      view: { query, useLegacySql: false },
      deletionProtection: !disposable,
      labels: props.labels,
    });

    this.givenRoles = props.roles;
    this.tableReference = tableReference;
    this.warehouseEnvironment = {
      WAREHOUSE: 'bigquery',
      GOOGLE_CLOUD_PROJECT: this.project,
      BIGQUERY_DATASET: dataset.datasetId,
      BIGQUERY_TABLE: this.table.tableId,
    };
  }

  /**
   * Lets `grantee` stream rows into the table (`tabledata.insertAll`): the
   * insert role ({@link TABLE_INSERT_PERMISSIONS}) on the table alone. It can
   * neither read, update nor delete rows or the table.
   * @returns the binding (the one an earlier identical call made, if any)
   */
  public grantInsert(grantee: Grantee): BigqueryTableIamMember {
    return this.grantOnTable(this.table, 'insert', this.roles().insert, grantee);
  }

  /**
   * Lets `grantee` query the table: the read role
   * ({@link TABLE_READ_PERMISSIONS}) on the table, plus
   * {@link JOB_USER_ROLE} on the project unless `options.grantJobUser` is false.
   * @returns the bindings made (or made by an earlier identical call)
   */
  public grantRead(grantee: Grantee, options: TableReadGrantOptions = {}): readonly WarehouseTableGrant[] {
    const read = this.roles().read;
    const grants: WarehouseTableGrant[] = [this.grantOnTable(this.table, 'read', read, grantee)];
    if (options.includeLatestView ?? false) grants.push(this.grantOnTable(this.latestView, 'read-view', read, grantee));
    if (options.grantJobUser ?? true) {
      grants.push(
        grantOnce(this, JOB_USER_ROLE, grantee, (id, member) => new ProjectIamMember(this, id, { project: this.project, role: JOB_USER_ROLE, member })),
      );
    }
    return grants;
  }

  /**
   * Lets `grantee` stream rows in and query them: {@link grantInsert} and
   * {@link grantRead} together.
   * @returns the bindings made (or made by earlier identical calls)
   */
  public grantReadWrite(grantee: Grantee, options: TableReadGrantOptions = {}): readonly WarehouseTableGrant[] {
    return [this.grantInsert(grantee), ...this.grantRead(grantee, options)];
  }

  /** The roles the grants bind: the given ones, or two created in the table's project on first use. */
  private roles(): WarehouseTableRoles {
    if (this.givenRoles !== undefined) return this.givenRoles;
    if (this.createdRoles !== undefined) return this.createdRoles;
    ensureTimeProvider(this);
    // A new id each time the roles are created: see the `roles` prop.
    const createdAt = new StaticResource(this, 'roles-created-at');
    const role = (name: string, title: string, permissions: readonly string[]) =>
      new ProjectIamCustomRole(this, `${kebab(name)}-role`, {
        project: this.project,
        roleId: `${name}_${shortHash(this.node.path)}_${Token.asString(createdAt.unix)}`,
        title: fitName(title, 100),
        description: `${title} (managed by cdktf).`,
        permissions: [...permissions],
      }).name;
    this.createdRoles = {
      insert: role('tableInsert', `Insert rows into ${this.tableId}`, TABLE_INSERT_PERMISSIONS),
      read: role('tableRead', `Read rows of ${this.tableId}`, TABLE_READ_PERMISSIONS),
    };
    return this.createdRoles;
  }

  private grantOnTable(target: BigqueryTable, label: string, role: string, grantee: Grantee): BigqueryTableIamMember {
    return grantOnce(this, label, grantee, (id, member) =>
      new BigqueryTableIamMember(this, id, {
        project: target.project,
        datasetId: target.datasetId,
        tableId: target.tableId,
        role,
        member,
      }),
    );
  }
}
