import { Construct } from 'constructs';
import { BigqueryDataset } from '@cdktf/provider-google/lib/bigquery-dataset';
import { BigqueryTable } from '@cdktf/provider-google/lib/bigquery-table';
import { BigqueryTableIamMember } from '@cdktf/provider-google/lib/bigquery-table-iam-member';
import { ProjectIamMember } from '@cdktf/provider-google/lib/project-iam-member';
import { WAREHOUSE_BIGQUERY_FIELDS } from '../lambda-src/record';
import { LATEST_VIEW_SUFFIX, latestViewQuery, UPDATED_AT_COLUMN } from '../lambda-src/warehouse/latest-view';
import { DAY_MS } from '../lambda-src/rules/durations';
import { DATASET_ID, TABLE_ID } from '../lambda-src/rules/naming';
import type { IEncryptionKey } from './encryption-key';
import type { Grantee } from './grantee';
import { grantOnce } from './private/grants';
import { times } from './private/tokens';
import { encryptionKeyProblem, integerIn, labelProblems, matches, problemIf, validateProps } from './private/validation';

/** Props of {@link WarehouseTable}. */
export interface WarehouseTableProps {
  /** Id of the dataset to create (letters, digits, underscores: `DATASET_ID` in `lambda-src/rules/naming.ts`). */
  readonly datasetId: string;
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
   * BigQuery location of the dataset (multi-region `US`/`EU` or a region).
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
}

/** What {@link WarehouseTable} accepts for its numeric props; stack configs check theirs by the same rules. */
export const WAREHOUSE_TABLE_RULES = {
  partitionExpirationDays: { min: 1, max: 100_000 },
} as const;

/**
 * The warehouse: a BigQuery dataset, an append-only table whose columns are
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
  /** The `google_bigquery_dataset`. */
  public readonly dataset: BigqueryDataset;
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
      matches('datasetId', props.datasetId, DATASET_ID),
      matches('tableId', tableId, TABLE_ID),
      matches('latestViewId', latestViewId, TABLE_ID),
      problemIf('latestViewId', tableId === latestViewId, 'must differ from tableId', [tableId, latestViewId]),
      integerIn('partitionExpirationDays', props.partitionExpirationDays, WAREHOUSE_TABLE_RULES.partitionExpirationDays),
      ...labelProblems('labels', props.labels),
      encryptionKeyProblem('encryptionKey', props.encryptionKey),
    ]);

    this.dataset = new BigqueryDataset(this, 'dataset', {
      datasetId: props.datasetId,
      project: props.project,
      location: props.location ?? 'US',
      description: 'Ingested records (managed by cdktf).',
      labels: props.labels,
      deleteContentsOnDestroy: disposable,
      defaultEncryptionConfiguration: props.encryptionKey ? { kmsKeyName: props.encryptionKey.id } : undefined,
    });

    this.table = new BigqueryTable(this, 'table', {
      datasetId: this.dataset.datasetId,
      project: this.dataset.project,
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
    const tableReference = `${this.project}.${this.dataset.datasetId}.${this.table.tableId}`;

    // The same SQL as the local DuckDB view: newest ingested_at wins, insert_id breaks ties.
    const query = latestViewQuery(`\`${tableReference}\``);
    this.latestView = new BigqueryTable(this, 'latest-view', {
      datasetId: this.dataset.datasetId,
      project: this.dataset.project,
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
      BIGQUERY_DATASET: this.dataset.datasetId,
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
