/**
 * Every IAM binding the bootstrap, dev and prod stacks may make, each with
 * why it exists. `iam-inventory.test.ts` fails on a binding that is not here
 * and on an entry no stack makes any more, so adding, widening or dropping a
 * grant is an edit of this file that a reviewer sees.
 *
 * Each entry is read once per environment (dev, prod), with `{env}`,
 * `{project}`, `{region}`, `{stateBucket}`, `{repository}` (OWNER/REPO) and
 * `{repositoryIds}` (OWNER@id/REPO@id) filled in. `resource` is the binding's
 * resource type and the resource it grants on (references written without
 * their construct hash), then `if <condition>` when the grant is conditioned.
 */
export interface AllowedBinding {
  /** The bootstrap stack, or the environment's own ingest stack. */
  readonly stack: 'bootstrap' | 'ingest';
  readonly member: string;
  readonly role: string;
  readonly resource: string;
  /** Why the member needs this role on this resource, and why nothing narrower does. */
  readonly reason: string;
}

const DEPLOYER = '${google_service_account.github-deployer-{env}.member}';
const PUBSUB_AGENT_BOOTSTRAP = 'serviceAccount:service-${data.google_project.{env}-project.number}@gcp-sa-pubsub.iam.gserviceaccount.com';
const PUBSUB_AGENT = 'serviceAccount:service-${data.google_project.google-project.number}@gcp-sa-pubsub.iam.gserviceaccount.com';
const POOL = 'principal://iam.googleapis.com/${google_iam_workload_identity_pool.github-pool.name}';
const account = (id: string) => `serviceAccount:${id}@{project}.iam.gserviceaccount.com`;
const deployerProjectRole = (role: string, reason: string): AllowedBinding => ({
  stack: 'bootstrap',
  member: DEPLOYER,
  role,
  resource: 'google_project_iam_member {project}',
  reason,
});
const actsAs = (accountId: string, what: string): AllowedBinding => ({
  stack: 'bootstrap',
  member: DEPLOYER,
  role: 'roles/iam.serviceAccountUser',
  resource: `google_service_account_iam_member \${google_service_account.{env}-${accountId}.name}`,
  reason: `the deployer attaches ${what}; granted on this one account, so it can act as no other`,
});

export const ALLOWED_BINDINGS: readonly AllowedBinding[] = [
  // Who can become the deployer.
  {
    stack: 'bootstrap',
    member: `${POOL}/subject/repo:{repository}:environment:{env}`,
    role: 'roles/iam.workloadIdentityUser',
    resource: 'google_service_account_iam_member ${google_service_account.github-deployer-{env}.name}',
    reason: "only a workflow job running in the GitHub environment {env} (GitHub's name-based subject) can impersonate its deployer",
  },
  {
    stack: 'bootstrap',
    member: `${POOL}/subject/repo:{repositoryIds}:environment:{env}`,
    role: 'roles/iam.workloadIdentityUser',
    resource: 'google_service_account_iam_member ${google_service_account.github-deployer-{env}.name}',
    reason: 'the same job under the subject with immutable ids that repositories created or renamed since July 2026 get',
  },
  // What the deployer can do in its own project.
  deployerProjectRole('roles/cloudfunctions.developer', 'creates, updates and deletes the two functions'),
  deployerProjectRole('roles/run.admin', "sets invoker IAM on the Cloud Run services behind the functions, and its run.routes.invoke lets the deploy smoke test call the API"),
  deployerProjectRole('roles/storage.admin', 'creates the function-source bucket and uploads the source archives'),
  deployerProjectRole('roles/artifactregistry.admin', "creates the functions' image repository with its cleanup policies, and grants the build account push on it"),
  deployerProjectRole('roles/pubsub.admin', 'creates the topics and subscriptions and their IAM; they do not exist before its first apply, so nothing narrower can hold the grant'),
  deployerProjectRole('roles/bigquery.dataOwner', 'creates the dataset, table and view and binds the table roles on the table; the dataset does not exist before its first apply'),
  deployerProjectRole('roles/monitoring.editor', 'creates alert policies, notification channels, the custom service, its SLO and the dashboard'),
  deployerProjectRole('roles/logging.configWriter', 'creates the log-based metrics the alerts and the SLO read'),
  deployerProjectRole('roles/browser', "reads the project's number, which the Pub/Sub service agent's e-mail contains"),
  actsAs('ingest-api-fn', 'the API function to its runtime account'),
  actsAs('ingest-subscriber-fn', 'the subscriber function to its runtime account'),
  actsAs('ingest-records-push', "the push invoker to the subscription's OIDC token"),
  actsAs('ingest-build', 'the build account to both functions'),
  {
    stack: 'bootstrap',
    member: DEPLOYER,
    role: 'roles/storage.objectUser',
    resource:
      'google_storage_bucket_iam_member ${google_storage_bucket.state-bucket.name} if resource.type == "storage.googleapis.com/Bucket" || resource.name.startsWith("projects/_/buckets/{stateBucket}/objects/ingest/{env}/")',
    reason: "the GCS backend lists the bucket, reads and writes the {env} state and its lock object; the other environment's state is out of its reach",
  },
  // What the identities the ingest stack attaches hold on the project: nothing narrower exists.
  {
    stack: 'bootstrap',
    member: '${google_service_account.{env}-ingest-api-fn.member}',
    role: 'roles/bigquery.jobUser',
    resource: 'google_project_iam_member {project}',
    reason: 'the GET routes run query jobs, which exist only at project level; the role reads no data',
  },
  {
    stack: 'bootstrap',
    member: '${google_service_account.{env}-ingest-build.member}',
    role: 'roles/logging.logWriter',
    resource: 'google_project_iam_member {project}',
    reason: 'builds write their log; logs have no narrower resource',
  },
  {
    stack: 'bootstrap',
    member: '${google_service_account.{env}-ingest-build.member}',
    role: 'roles/storage.objectViewer',
    resource:
      'google_project_iam_member {project} if resource.name.startsWith("projects/_/buckets/gcf-v2-sources-${data.google_project.{env}-project.number}-{region}")',
    reason: 'builds fetch the source copy Cloud Run functions makes in a bucket Google creates at the first deploy; the condition limits the read to that bucket',
  },
  {
    stack: 'bootstrap',
    member: PUBSUB_AGENT_BOOTSTRAP,
    role: 'roles/iam.serviceAccountTokenCreator',
    resource: 'google_service_account_iam_member ${google_service_account.{env}-ingest-records-push.name}',
    reason: 'Pub/Sub mints the OIDC token of each push delivery as the push invoker, and as no other account',
  },
  // What the ingest stack grants, each on the one resource used.
  {
    stack: 'ingest',
    member: account('ingest-api-fn'),
    role: 'projects/{project}/roles/ingestTableInsert',
    resource: 'google_bigquery_table_iam_member ${google_bigquery_table.warehouse_table.table_id}',
    reason: 'POST / and PUT /records/{id} stream rows in (insertAll needs bigquery.tables.updateData and bigquery.tables.get, nothing that reads, updates or deletes)',
  },
  {
    stack: 'ingest',
    member: account('ingest-api-fn'),
    role: 'projects/{project}/roles/ingestTableRead',
    resource: 'google_bigquery_table_iam_member ${google_bigquery_table.warehouse_table.table_id}',
    reason: 'the GET routes query the table (bigquery.tables.getData); they never read the view',
  },
  {
    stack: 'ingest',
    member: account('ingest-subscriber-fn'),
    role: 'projects/{project}/roles/ingestTableInsert',
    resource: 'google_bigquery_table_iam_member ${google_bigquery_table.warehouse_table.table_id}',
    reason: 'the subscriber only streams pushed records in',
  },
  {
    stack: 'ingest',
    member: account('ingest-subscriber-fn'),
    role: 'roles/pubsub.publisher',
    resource: 'google_pubsub_topic_iam_member ${google_pubsub_topic.ingest_dead-letter-topic.name}',
    reason: 'the subscriber publishes each message it can never store (poison) to the dead-letter topic, with why, before acknowledging it; it cannot publish to the ingest topic, nor read either topic',
  },
  {
    stack: 'ingest',
    member: account('ingest-records-push'),
    role: 'roles/run.invoker',
    resource: 'google_cloud_run_v2_service_iam_member ${google_cloudfunctions2_function.subscriber_function.service_config[0].service}',
    reason: 'push deliveries call the subscriber with this account\'s OIDC token; the API\'s service grants no one',
  },
  {
    stack: 'ingest',
    member: account('ingest-build'),
    role: 'roles/artifactregistry.writer',
    resource: 'google_artifact_registry_repository_iam_member ${google_artifact_registry_repository.function-build_repository.name}',
    reason: "builds push the functions' images to this repository only",
  },
  {
    stack: 'ingest',
    member: PUBSUB_AGENT,
    role: 'roles/pubsub.publisher',
    resource: 'google_pubsub_topic_iam_member ${google_pubsub_topic.ingest_dead-letter-topic.name}',
    reason: 'Pub/Sub moves a message it could not deliver to the dead-letter topic',
  },
  {
    stack: 'ingest',
    member: PUBSUB_AGENT,
    role: 'roles/pubsub.subscriber',
    resource: 'google_pubsub_subscription_iam_member ${google_pubsub_subscription.ingest_push.name}',
    reason: 'dead-lettering acknowledges the message on the push subscription',
  },
];
