import { Construct } from 'constructs';
import { Token } from 'cdktf';
import { BigqueryDataset } from '@cdktf/provider-google/lib/bigquery-dataset';
import { BigqueryTable } from '@cdktf/provider-google/lib/bigquery-table';
import { BigqueryTableIamMember } from '@cdktf/provider-google/lib/bigquery-table-iam-member';
import { ProjectIamMember } from '@cdktf/provider-google/lib/project-iam-member';
import { WAREHOUSE_BIGQUERY_FIELDS } from '../lambda-src/record';
import { LATEST_VIEW_SUFFIX, latestViewQuery, UPDATED_AT_COLUMN } from '../lambda-src/warehouse/latest-view';
import type { Grantee } from './grantee';
import { grantOnce } from './private/grants';
import { integerIn, labelProblems, matches, type PropProblem, validateProps } from './private/validation';

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

/** Props of {@link WarehouseTable}. */
export interface WarehouseTableProps {
  /**
   * Id of the dataset (letters, digits, underscores): the one to create, or
   * the id of `existingDataset`.
   */
  readonly datasetId: string;
  /**
   * Put the table and view into this dataset instead of creating one. The
   * dataset keeps its own location, labels, encryption and deletion
   * settings; `location` does not apply, and `labels`, `disposable` and
   * `kmsKeyName` apply to the table and view alone.
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
  readonly kmsKeyName?: string;
  /**
   * Days after which a daily partition (and its rows) is deleted.
   * @default partitions are kept forever
   */
  readonly partitionExpirationDays?: number;
}

const BIGQUERY_ID = /^[A-Za-z0-9_]{1,1024}$/;

/** `datasetId` stays the plain id dashboards and outputs read, so it must be the existing dataset's. */
function existingDatasetProblem(props: WarehouseTableProps): PropProblem | undefined {
  const configured = props.existingDataset?.datasetIdInput;
  if (configured === undefined || Token.isUnresolved(configured) || Token.isUnresolved(props.datasetId) || configured === props.datasetId) return undefined;
  return { prop: 'datasetId', message: `must be the id of existingDataset ('${configured}'), got '${props.datasetId}'` };
}
const ID_RULE = 'must be 1-1024 letters, digits or underscores';
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The warehouse: a BigQuery dataset (or an existing one, see
 * `existingDataset`), an append-only table whose columns are
 * the record schema of `lambda-src/record.ts` plus the ingestion columns
 * (`insert_id`, `ingested_at`), partitioned by day on `ingested_at` and
 * clustered by `id`, and a view holding the latest version of each record.
 *
 * Grants are table-level: `grantInsert` for writers, `grantRead` for readers
 * of the table and the view. Nothing is granted on the project except
 * `roles/bigquery.jobUser` for readers, which only lets them run query jobs
 * and grants no data.
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

  constructor(scope: Construct, id: string, props: WarehouseTableProps) {
    super(scope, id);
    const tableId = props.tableId ?? 'records';
    const latestViewId = props.latestViewId ?? `${tableId}${LATEST_VIEW_SUFFIX}`;
    const disposable = props.disposable ?? false;
    validateProps(this, [
      matches('datasetId', props.datasetId, BIGQUERY_ID, ID_RULE),
      matches('tableId', tableId, BIGQUERY_ID, ID_RULE),
      matches('latestViewId', latestViewId, BIGQUERY_ID, ID_RULE),
      tableId === latestViewId ? { prop: 'latestViewId', message: 'must differ from tableId' } : undefined,
      integerIn('partitionExpirationDays', props.partitionExpirationDays, 1, 100_000),
      ...labelProblems('labels', props.labels),
      existingDatasetProblem(props),
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
            defaultEncryptionConfiguration: props.kmsKeyName ? { kmsKeyName: props.kmsKeyName } : undefined,
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
        expirationMs: props.partitionExpirationDays === undefined ? undefined : props.partitionExpirationDays * DAY_MS,
      },
      clustering: ['id'],
      deletionProtection: !disposable,
      labels: props.labels,
      encryptionConfiguration: props.kmsKeyName ? { kmsKeyName: props.kmsKeyName } : undefined,
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

    this.tableReference = tableReference;
    this.warehouseEnvironment = {
      WAREHOUSE: 'bigquery',
      GOOGLE_CLOUD_PROJECT: this.project,
      BIGQUERY_DATASET: dataset.datasetId,
      BIGQUERY_TABLE: this.table.tableId,
    };
  }

  /**
   * Lets `grantee` stream rows into the table: `roles/bigquery.dataEditor`
   * on the table alone (insertAll needs `bigquery.tables.updateData`).
   * @returns the binding (the one an earlier identical call made, if any)
   */
  public grantInsert(grantee: Grantee): BigqueryTableIamMember {
    return this.grantOnTable(this.table, 'table', 'roles/bigquery.dataEditor', grantee);
  }

  /**
   * Lets `grantee` query the table and the latest-version view:
   * `roles/bigquery.dataViewer` on both (a plain view needs read access to
   * what it selects from), plus `roles/bigquery.jobUser` on the project,
   * which lets it run query jobs and reads no data by itself.
   * @returns the bindings: on the table, on the view, and on the project
   */
  public grantRead(grantee: Grantee): readonly [BigqueryTableIamMember, BigqueryTableIamMember, ProjectIamMember] {
    return [
      this.grantOnTable(this.table, 'table', 'roles/bigquery.dataViewer', grantee),
      this.grantOnTable(this.latestView, 'view', 'roles/bigquery.dataViewer', grantee),
      grantOnce(this, 'roles/bigquery.jobUser', grantee, (id, member) =>
        new ProjectIamMember(this, id, { project: this.project, role: 'roles/bigquery.jobUser', member }),
      ),
    ];
  }

  private grantOnTable(target: BigqueryTable, label: string, role: string, grantee: Grantee): BigqueryTableIamMember {
    return grantOnce(this, `${label}-${role}`, grantee, (id, member) =>
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
