/**
 * The identities and roles the ingest stacks attach, named once. The
 * bootstrap stack (applied once by someone with owner rights) creates them in
 * each environment's project, with the project-level grants IAM offers on no
 * narrower resource; the ingest stacks attach them. So the deployer needs
 * `iam.serviceAccounts.actAs` on exactly these accounts, and no right to
 * create accounts or roles or to change the project's IAM policy.
 */
import type { ServiceAccountReference } from '../constructs/grantee';
import type { WarehouseTableRoles } from '../constructs/warehouse-table';

/** A service account the bootstrap stack makes in each environment's project. */
export interface IngestIdentity {
  /** Account id (the part of the e-mail before `@`). */
  readonly accountId: string;
  /** What it runs or does, shown in the console. */
  readonly displayName: string;
}

/** The service accounts the ingest stacks attach, by role. */
export const INGEST_IDENTITIES = {
  /** Runs the HTTP API function (writes and reads the table). */
  api: { accountId: 'ingest-api-fn', displayName: 'Runs the ingest-api function' },
  /** Runs the Pub/Sub push subscriber function (writes the table). */
  subscriber: { accountId: 'ingest-subscriber-fn', displayName: 'Runs the ingest-subscriber function' },
  /** Signs the OIDC token of each push delivery to the subscriber. */
  pushInvoker: { accountId: 'ingest-records-push', displayName: 'Authenticates push deliveries to ingest-subscriber' },
  /** Builds both functions' images. */
  build: { accountId: 'ingest-build', displayName: 'Builds the ingest Cloud Run functions' },
} as const satisfies Record<string, IngestIdentity>;

export type IngestIdentityName = keyof typeof INGEST_IDENTITIES;

/** The account `name` in `project`, as the ingest stacks attach it. */
export function ingestIdentity(name: IngestIdentityName, project: string): ServiceAccountReference {
  const email = `${INGEST_IDENTITIES[name].accountId}@${project}.iam.gserviceaccount.com`;
  return { email, member: `serviceAccount:${email}` };
}

/**
 * Ids of the custom roles bound on the warehouse table. Fixed ids are safe
 * here because the bootstrap stack is never destroyed (its state bucket
 * refuses to be); a deleted role's id would stay taken for weeks.
 */
export const TABLE_ROLE_IDS = { insert: 'ingestTableInsert', read: 'ingestTableRead' } as const;

/** The table roles of `project`, as `WarehouseTable` binds them. */
export function tableRoles(project: string): WarehouseTableRoles {
  return { insert: `projects/${project}/roles/${TABLE_ROLE_IDS.insert}`, read: `projects/${project}/roles/${TABLE_ROLE_IDS.read}` };
}

/** Where an environment's Terraform state lives in the state bucket: its GCS backend prefix, the only objects its deployer may touch. */
export function stateObjectPrefix(environment: string): string {
  return `ingest/${environment}`;
}
