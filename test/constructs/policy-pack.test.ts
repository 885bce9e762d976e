import { Aspects, TerraformStack, TerraformVariable, Testing, Token } from 'cdktf';
import { Construct } from 'constructs';
import { ArtifactRegistryRepository, type ArtifactRegistryRepositoryConfig } from '@cdktf/provider-google/lib/artifact-registry-repository';
import { BigqueryDataset } from '@cdktf/provider-google/lib/bigquery-dataset';
import { BigqueryDatasetAccessA } from '@cdktf/provider-google/lib/bigquery-dataset-access';
import { BigqueryDatasetIamMember } from '@cdktf/provider-google/lib/bigquery-dataset-iam-member';
import { BigqueryTable } from '@cdktf/provider-google/lib/bigquery-table';
import { BigqueryTableIamMember } from '@cdktf/provider-google/lib/bigquery-table-iam-member';
import { BigqueryTableIamPolicy } from '@cdktf/provider-google/lib/bigquery-table-iam-policy';
import { CloudRunV2ServiceIamMember } from '@cdktf/provider-google/lib/cloud-run-v2-service-iam-member';
import {
  Cloudfunctions2Function,
  type Cloudfunctions2FunctionConfig,
  type Cloudfunctions2FunctionServiceConfig,
} from '@cdktf/provider-google/lib/cloudfunctions2-function';
import { Cloudfunctions2FunctionIamMember } from '@cdktf/provider-google/lib/cloudfunctions2-function-iam-member';
import { DataGoogleIamPolicy } from '@cdktf/provider-google/lib/data-google-iam-policy';
import { FolderIamBinding } from '@cdktf/provider-google/lib/folder-iam-binding';
import { IamWorkloadIdentityPool } from '@cdktf/provider-google/lib/iam-workload-identity-pool';
import { IamWorkloadIdentityPoolProvider } from '@cdktf/provider-google/lib/iam-workload-identity-pool-provider';
import { OrganizationIamBinding } from '@cdktf/provider-google/lib/organization-iam-binding';
import { ProjectIamBinding } from '@cdktf/provider-google/lib/project-iam-binding';
import { ProjectIamMember } from '@cdktf/provider-google/lib/project-iam-member';
import { ProjectIamPolicy } from '@cdktf/provider-google/lib/project-iam-policy';
import { GoogleProvider } from '@cdktf/provider-google/lib/provider';
import { PubsubSubscription, type PubsubSubscriptionConfig } from '@cdktf/provider-google/lib/pubsub-subscription';
import { PubsubTopic } from '@cdktf/provider-google/lib/pubsub-topic';
import { PubsubTopicIamMember } from '@cdktf/provider-google/lib/pubsub-topic-iam-member';
import { SecretManagerSecretIamMember } from '@cdktf/provider-google/lib/secret-manager-secret-iam-member';
import { ServiceAccount } from '@cdktf/provider-google/lib/service-account';
import { ServiceAccountIamMember } from '@cdktf/provider-google/lib/service-account-iam-member';
import { ServiceAccountKey } from '@cdktf/provider-google/lib/service-account-key';
import { StorageBucket, type StorageBucketConfig } from '@cdktf/provider-google/lib/storage-bucket';
import { StorageBucketIamBinding } from '@cdktf/provider-google/lib/storage-bucket-iam-binding';
import { StorageBucketIamMember } from '@cdktf/provider-google/lib/storage-bucket-iam-member';
import {
  GcpPolicyPack,
  POLICY_RULES,
  UNKNOWN_RULE_SUPPRESSION_ID,
  type GcpPolicyPackOptions,
  type PolicyFinding,
} from '../../constructs/policy-pack';

type Build = (stack: TerraformStack) => void;

interface Fixture {
  readonly name: string;
  readonly build: Build;
  readonly options?: GcpPolicyPackOptions;
}

// One app for the whole file; each fixture gets its own stack in it.
const app = Testing.app();
let stackCount = 0;

function check(build: Build, options?: GcpPolicyPackOptions): { stack: TerraformStack; findings: PolicyFinding[] } {
  stackCount += 1;
  const stack = new TerraformStack(app, `fixture-${stackCount}`);
  build(stack);
  Aspects.of(stack).add(new GcpPolicyPack(options));
  Testing.synth(stack);
  return { stack, findings: GcpPolicyPack.findings(stack) };
}

const errorsOf = (findings: PolicyFinding[]) => findings.filter((finding) => finding.level === 'error');
/** What a rule reports at its own severity (a warning rule's findings do not fail synth). */
const reportedAs = (ruleId: string, findings: PolicyFinding[]) => {
  const level = POLICY_RULES.find((rule) => rule.id === ruleId)?.severity ?? 'error';
  return findings.filter((finding) => finding.level === level);
};
const ruleIdsOf = (findings: PolicyFinding[]) => [...new Set(findings.map((finding) => finding.ruleId))];

// Compliant building blocks: each violating fixture changes one thing, so only its own rule fires.
const DEDICATED_SA = 'fn-api@demo-project.iam.gserviceaccount.com';
const BUILD_SA = 'projects/demo-project/serviceAccounts/fn-build@demo-project.iam.gserviceaccount.com';
const IMAGE_REPOSITORY = 'projects/demo-project/locations/europe-west1/repositories/functions';
const BUILD_CONFIG = { runtime: 'nodejs24', entryPoint: 'api', serviceAccount: BUILD_SA, dockerRepository: IMAGE_REPOSITORY };

function compliantBucket(scope: Construct, id: string, overrides: Partial<StorageBucketConfig> = {}): StorageBucket {
  return new StorageBucket(scope, id, {
    name: `${id}-bucket`,
    location: 'EU',
    uniformBucketLevelAccess: true,
    publicAccessPrevention: 'enforced',
    ...overrides,
  });
}

function compliantFunction(
  scope: Construct,
  serviceConfig: Partial<Cloudfunctions2FunctionServiceConfig> = {},
  overrides: Partial<Cloudfunctions2FunctionConfig> = {},
): Cloudfunctions2Function {
  return new Cloudfunctions2Function(scope, 'fn', {
    name: 'api',
    location: 'europe-west1',
    buildConfig: { ...BUILD_CONFIG, environmentVariables: { NODE_ENV: 'production' } },
    serviceConfig: {
      serviceAccountEmail: DEDICATED_SA,
      maxInstanceCount: 10,
      environmentVariables: { WAREHOUSE: 'bigquery', BIGQUERY_TABLE: 'records' },
      ...serviceConfig,
    },
    ...overrides,
  });
}

function pushSubscription(scope: Construct, overrides: Partial<PubsubSubscriptionConfig> = {}): PubsubSubscription {
  return new PubsubSubscription(scope, 'push', {
    name: 'ingest-push',
    topic: 'ingest',
    pushConfig: { pushEndpoint: 'https://fn.example.run.app', oidcToken: { serviceAccountEmail: DEDICATED_SA } },
    deadLetterPolicy: { deadLetterTopic: 'projects/demo-project/topics/ingest-dlq', maxDeliveryAttempts: 5 },
    ...overrides,
  });
}

function wifProvider(scope: Construct, attributeCondition?: string): IamWorkloadIdentityPoolProvider {
  return new IamWorkloadIdentityPoolProvider(scope, 'github', {
    workloadIdentityPoolId: 'github',
    workloadIdentityPoolProviderId: 'github',
    attributeMapping: { 'google.subject': 'assertion.sub' },
    attributeCondition,
    oidc: { issuerUri: 'https://token.actions.githubusercontent.com' },
  });
}

/** A deployer service account with `role` (default workloadIdentityUser) granted to the member `member(pool name)` makes of a pool in the stack. */
function deployerImpersonableBy(scope: Construct, member: (pool: string) => string, role = 'roles/iam.workloadIdentityUser', id = 'deployer'): void {
  const pool = (scope.node.tryFindChild('pool') as IamWorkloadIdentityPool | undefined) ?? new IamWorkloadIdentityPool(scope, 'pool', { workloadIdentityPoolId: 'github' });
  const deployer = new ServiceAccount(scope, `${id}-sa`, { accountId: `deployer-${id}` });
  new ServiceAccountIamMember(scope, `${id}-wif`, { serviceAccountId: deployer.name, role, member: member(pool.name) });
}

function repository(scope: Construct, overrides: Partial<ArtifactRegistryRepositoryConfig> = {}): ArtifactRegistryRepository {
  return new ArtifactRegistryRepository(scope, 'images', {
    repositoryId: 'functions',
    location: 'europe-west1',
    format: 'DOCKER',
    cleanupPolicies: [
      { id: 'keep', action: 'KEEP', mostRecentVersions: { keepCount: 5 } },
      { id: 'delete', action: 'DELETE', condition: { tagState: 'ANY', olderThan: '2592000s' } },
    ],
    ...overrides,
  });
}

function table(scope: Construct, overrides: Partial<ConstructorParameters<typeof BigqueryTable>[2]> = {}): BigqueryTable {
  return new BigqueryTable(scope, 'table', { datasetId: 'ingest', tableId: 'records', ...overrides });
}

interface RuleCases {
  readonly violating: readonly Fixture[];
  readonly compliant: readonly Fixture[];
}

const CASES: Record<string, RuleCases> = {
  'GCP-IAM-001': {
    violating: [
      {
        name: 'topic member allUsers (CKV_GCP_99)',
        build: (s) => new PubsubTopicIamMember(s, 'm', { topic: 'ingest', role: 'roles/pubsub.publisher', member: 'allUsers' }),
      },
      {
        name: 'bucket binding with allAuthenticatedUsers among others (CKV_GCP_28)',
        build: (s) =>
          new StorageBucketIamBinding(s, 'b', {
            bucket: 'b',
            role: 'roles/storage.objectViewer',
            members: ['user:ana@example.com', 'allAuthenticatedUsers'],
          }),
      },
      {
        name: 'function invoker allUsers (CKV_GCP_107)',
        build: (s) =>
          new Cloudfunctions2FunctionIamMember(s, 'm', { cloudFunction: 'api', role: 'roles/cloudfunctions.invoker', member: 'allUsers' }),
      },
      {
        name: 'Cloud Run v2 invoker allUsers (CKV_GCP_102)',
        build: (s) => new CloudRunV2ServiceIamMember(s, 'm', { name: 'api', role: 'roles/run.invoker', member: 'allUsers' }),
      },
      {
        name: 'table iam policy JSON with allUsers (CKV_GCP_100)',
        build: (s) =>
          new BigqueryTableIamPolicy(s, 'p', {
            datasetId: 'ingest',
            tableId: 'records',
            policyData: JSON.stringify({ bindings: [{ role: 'roles/bigquery.dataViewer', members: ['allUsers'] }] }),
          }),
      },
      {
        name: 'dataset access block special_group allAuthenticatedUsers (CKV_GCP_15)',
        build: (s) =>
          new BigqueryDataset(s, 'd', { datasetId: 'ingest', access: [{ role: 'READER', specialGroup: 'allAuthenticatedUsers' }] }),
      },
      {
        name: 'google_bigquery_dataset_access with iam_member allUsers',
        build: (s) => new BigqueryDatasetAccessA(s, 'a', { datasetId: 'ingest', role: 'READER', iamMember: 'allUsers' }),
      },
      {
        name: 'secret accessor allAuthenticatedUsers',
        build: (s) =>
          new SecretManagerSecretIamMember(s, 'm', {
            secretId: 'db-password',
            role: 'roles/secretmanager.secretAccessor',
            member: 'allAuthenticatedUsers',
          }),
      },
      {
        name: 'google_iam_policy document binding allUsers (CKV_GCP_113)',
        build: (s) => new DataGoogleIamPolicy(s, 'doc', { binding: [{ role: 'roles/run.invoker', members: ['allUsers'] }] }),
      },
    ],
    compliant: [
      {
        name: 'named principals, a token principal, and a policy that references a document',
        build: (s) => {
          const sa = new ServiceAccount(s, 'sa', { accountId: 'fn-api' });
          new PubsubTopicIamMember(s, 'm', { topic: 'ingest', role: 'roles/pubsub.publisher', member: sa.member });
          new StorageBucketIamBinding(s, 'b', { bucket: 'b', role: 'roles/storage.objectViewer', members: ['group:ops@example.com'] });
          const doc = new DataGoogleIamPolicy(s, 'doc', { binding: [{ role: 'roles/run.invoker', members: [sa.member] }] });
          new BigqueryTableIamPolicy(s, 'p', { datasetId: 'ingest', tableId: 'records', policyData: doc.policyData });
          new BigqueryDataset(s, 'd', { datasetId: 'ingest', access: [{ role: 'OWNER', userByEmail: 'ana@example.com' }] });
        },
      },
    ],
  },
  'GCP-IAM-002': {
    violating: [
      {
        name: 'project roles/editor (CKV_GCP_117)',
        build: (s) => new ProjectIamMember(s, 'm', { project: 'demo-project', role: 'roles/editor', member: `serviceAccount:${DEDICATED_SA}` }),
      },
      {
        name: 'bucket roles/owner',
        build: (s) => new StorageBucketIamMember(s, 'm', { bucket: 'b', role: 'roles/owner', member: 'group:ops@example.com' }),
      },
      {
        name: 'folder roles/viewer binding (CKV_GCP_116)',
        build: (s) => new FolderIamBinding(s, 'b', { folder: 'folders/1', role: 'roles/viewer', members: ['group:ops@example.com'] }),
      },
    ],
    compliant: [
      {
        name: 'predefined role on a bucket, and a role that is a token',
        build: (s) => {
          const role = new TerraformVariable(s, 'role', { type: 'string' });
          new StorageBucketIamMember(s, 'm', { bucket: 'b', role: 'roles/storage.objectViewer', member: 'group:ops@example.com' });
          new StorageBucketIamMember(s, 'n', { bucket: 'b', role: role.stringValue, member: 'group:ops@example.com' });
        },
      },
    ],
  },
  'GCP-IAM-003': {
    violating: [
      {
        name: 'project serviceAccountUser (CKV_GCP_41)',
        build: (s) =>
          new ProjectIamMember(s, 'm', { project: 'demo-project', role: 'roles/iam.serviceAccountUser', member: 'group:ops@example.com' }),
      },
      {
        name: 'project policy JSON with serviceAccountTokenCreator',
        build: (s) =>
          new ProjectIamPolicy(s, 'p', {
            project: 'demo-project',
            policyData: JSON.stringify({
              bindings: [{ role: 'roles/iam.serviceAccountTokenCreator', members: ['group:ops@example.com'] }],
            }),
          }),
      },
      {
        name: 'project serviceAccountAdmin, which can grant itself the others',
        build: (s) =>
          new ProjectIamMember(s, 'm', { project: 'demo-project', role: 'roles/iam.serviceAccountAdmin', member: 'serviceAccount:deployer@demo-project.iam.gserviceaccount.com' }),
      },
      {
        name: 'organization workloadIdentityUser binding',
        build: (s) =>
          new OrganizationIamBinding(s, 'b', { orgId: '1', role: 'roles/iam.workloadIdentityUser', members: ['group:ops@example.com'] }),
      },
    ],
    compliant: [
      {
        name: 'serviceAccountUser on one service account, and a policy document (level unknown)',
        build: (s) => {
          new ServiceAccountIamMember(s, 'm', {
            serviceAccountId: `projects/demo-project/serviceAccounts/${DEDICATED_SA}`,
            role: 'roles/iam.serviceAccountUser',
            member: 'serviceAccount:deployer@demo-project.iam.gserviceaccount.com',
          });
          new DataGoogleIamPolicy(s, 'doc', {
            binding: [{ role: 'roles/iam.serviceAccountTokenCreator', members: ['group:ops@example.com'] }],
          });
        },
      },
    ],
  },
  'GCP-IAM-004': {
    violating: [
      {
        name: 'project bigquery.dataEditor',
        build: (s) =>
          new ProjectIamMember(s, 'm', { project: 'demo-project', role: 'roles/bigquery.dataEditor', member: `serviceAccount:${DEDICATED_SA}` }),
      },
      {
        name: 'project pubsub.publisher binding',
        build: (s) =>
          new ProjectIamBinding(s, 'b', { project: 'demo-project', role: 'roles/pubsub.publisher', members: ['group:ops@example.com'] }),
      },
    ],
    compliant: [
      {
        name: 'dataEditor on a dataset, jobUser on the project',
        build: (s) => {
          new BigqueryDatasetIamMember(s, 'd', { datasetId: 'ingest', role: 'roles/bigquery.dataEditor', member: `serviceAccount:${DEDICATED_SA}` });
          new ProjectIamMember(s, 'p', { project: 'demo-project', role: 'roles/bigquery.jobUser', member: `serviceAccount:${DEDICATED_SA}` });
        },
      },
    ],
  },
  'GCP-IAM-005': {
    violating: [{ name: 'a service account key (CKV2_GCP_3)', build: (s) => new ServiceAccountKey(s, 'key', { serviceAccountId: DEDICATED_SA }) }],
    compliant: [{ name: 'a service account without keys', build: (s) => new ServiceAccount(s, 'sa', { accountId: 'fn-api' }) }],
  },
  'GCP-IAM-006': {
    violating: [
      { name: 'provider without attribute_condition (CKV_GCP_118)', build: (s) => wifProvider(s) },
      { name: 'provider with a blank attribute_condition', build: (s) => wifProvider(s, '   ') },
    ],
    compliant: [{ name: 'provider restricted to one repository', build: (s) => wifProvider(s, "assertion.repository == 'acme/ingest'") }],
  },
  'GCP-IAM-007': {
    violating: [
      {
        name: 'every workflow of a repository (attribute.repository)',
        build: (s) => deployerImpersonableBy(s, (pool) => `principalSet://iam.googleapis.com/${pool}/attribute.repository/acme/ingest`),
      },
      {
        name: "a subject with no environment or ref (a pull request's)",
        build: (s) => deployerImpersonableBy(s, (pool) => `principal://iam.googleapis.com/${pool}/subject/repo:acme/ingest:pull_request`),
      },
      { name: 'the whole pool', build: (s) => deployerImpersonableBy(s, (pool) => `principalSet://iam.googleapis.com/${pool}/*`) },
      {
        name: 'token creator for every workflow of a repository',
        build: (s) =>
          deployerImpersonableBy(s, (pool) => `principalSet://iam.googleapis.com/${pool}/attribute.repository/acme/ingest`, 'roles/iam.serviceAccountTokenCreator'),
      },
    ],
    compliant: [
      {
        name: 'subjects of a GitHub environment (name-based and immutable-id forms) and of a ref',
        build: (s) => {
          deployerImpersonableBy(s, (pool) => `principal://iam.googleapis.com/${pool}/subject/repo:acme/ingest:environment:prod`);
          deployerImpersonableBy(s, (pool) => `principal://iam.googleapis.com/${pool}/subject/repo:acme@42/ingest@98765:environment:prod`, undefined, 'ids');
          deployerImpersonableBy(s, (pool) => `principal://iam.googleapis.com/${pool}/subject/repo:acme/ingest:ref:refs/heads/main`, undefined, 'ref');
        },
      },
      {
        name: 'a principal set on attribute.environment',
        build: (s) => deployerImpersonableBy(s, (pool) => `principalSet://iam.googleapis.com/${pool}/attribute.environment/prod`),
      },
      {
        name: 'every workflow of a repository, outside production',
        build: (s) => deployerImpersonableBy(s, (pool) => `principalSet://iam.googleapis.com/${pool}/attribute.repository/acme/ingest`),
        options: { environment: 'dev' },
      },
      {
        name: 'workloadIdentityUser for a service account (GKE workload identity), which is no external identity',
        build: (s) => deployerImpersonableBy(s, () => 'serviceAccount:demo-project.svc.id.goog[ingest/api]'),
      },
    ],
  },
  'GCP-IAM-008': {
    violating: [
      {
        name: "dataEditor on a table for a function's own service account",
        build: (s) => {
          const sa = new ServiceAccount(s, 'sa', { accountId: 'fn-api' });
          compliantFunction(s, { serviceAccountEmail: sa.email });
          new BigqueryTableIamMember(s, 'w', { datasetId: 'ingest', tableId: 'records', role: 'roles/bigquery.dataEditor', member: sa.member });
        },
      },
      {
        name: 'dataOwner on a dataset for the e-mail a function runs as',
        build: (s) => {
          compliantFunction(s);
          new BigqueryDatasetIamMember(s, 'd', { datasetId: 'ingest', role: 'roles/bigquery.dataOwner', member: `serviceAccount:${DEDICATED_SA}` });
        },
      },
      {
        name: 'bigquery.admin on a table, in a binding with other members',
        build: (s) => {
          compliantFunction(s);
          new BigqueryTableIamPolicy(s, 'p', {
            datasetId: 'ingest',
            tableId: 'records',
            policyData: JSON.stringify({ bindings: [{ role: 'roles/bigquery.admin', members: ['group:dba@example.com', `serviceAccount:${DEDICATED_SA}`] }] }),
          });
        },
      },
    ],
    compliant: [
      {
        name: 'a custom insert role for the function, dataEditor for a person',
        build: (s) => {
          const sa = new ServiceAccount(s, 'sa', { accountId: 'fn-api' });
          compliantFunction(s, { serviceAccountEmail: sa.email });
          new BigqueryTableIamMember(s, 'w', { datasetId: 'ingest', tableId: 'records', role: 'projects/demo-project/roles/tableInsert', member: sa.member });
          new BigqueryTableIamMember(s, 'e', { datasetId: 'ingest', tableId: 'records', role: 'roles/bigquery.dataEditor', member: 'group:dba@example.com' });
          new BigqueryTableIamMember(s, 'o', { datasetId: 'ingest', tableId: 'records', role: 'roles/bigquery.dataEditor', member: 'serviceAccount:etl@demo-project.iam.gserviceaccount.com' });
        },
      },
    ],
  },
  'GCP-FN-001': {
    violating: [
      { name: 'no service account', build: (s) => compliantFunction(s, { serviceAccountEmail: undefined }) },
      {
        name: 'the default compute service account',
        build: (s) => compliantFunction(s, { serviceAccountEmail: '123456789-compute@developer.gserviceaccount.com' }),
      },
      {
        name: 'event trigger without a service account',
        build: (s) => compliantFunction(s, {}, { eventTrigger: { eventType: 'google.cloud.pubsub.topic.v1.messagePublished' } }),
      },
    ],
    compliant: [
      {
        name: 'a referenced dedicated account for the function and its trigger',
        build: (s) => {
          const sa = new ServiceAccount(s, 'sa', { accountId: 'fn-api' });
          compliantFunction(
            s,
            { serviceAccountEmail: sa.email },
            { eventTrigger: { eventType: 'google.cloud.pubsub.topic.v1.messagePublished', serviceAccountEmail: sa.email } },
          );
        },
      },
    ],
  },
  'GCP-FN-004': {
    violating: [
      { name: 'no build service account', build: (s) => compliantFunction(s, {}, { buildConfig: { ...BUILD_CONFIG, serviceAccount: undefined } }) },
      {
        name: 'the default compute account builds',
        build: (s) =>
          compliantFunction(s, {}, { buildConfig: { ...BUILD_CONFIG, serviceAccount: 'projects/p/serviceAccounts/123-compute@developer.gserviceaccount.com' } }),
      },
      {
        name: 'the legacy Cloud Build account builds',
        build: (s) => compliantFunction(s, {}, { buildConfig: { ...BUILD_CONFIG, serviceAccount: 'projects/p/serviceAccounts/123@cloudbuild.gserviceaccount.com' } }),
      },
    ],
    compliant: [
      {
        name: 'a referenced dedicated build account',
        build: (s) => {
          const builder = new ServiceAccount(s, 'builder', { accountId: 'fn-build' });
          compliantFunction(s, {}, { buildConfig: { ...BUILD_CONFIG, serviceAccount: builder.id } });
        },
      },
    ],
  },
  'GCP-FN-005': {
    violating: [
      { name: 'no docker repository', build: (s) => compliantFunction(s, {}, { buildConfig: { ...BUILD_CONFIG, dockerRepository: undefined } }) },
    ],
    compliant: [
      {
        name: 'a managed repository by reference',
        build: (s) => compliantFunction(s, {}, { buildConfig: { ...BUILD_CONFIG, dockerRepository: repository(s).id } }),
      },
    ],
  },
  'GCP-AR-001': {
    violating: [
      { name: 'no cleanup policy', build: (s) => repository(s, { cleanupPolicies: undefined }) },
      {
        name: 'only a keep policy',
        build: (s) => repository(s, { cleanupPolicies: [{ id: 'keep', action: 'KEEP', mostRecentVersions: { keepCount: 5 } }] }),
      },
      { name: 'policies in dry run', build: (s) => repository(s, { cleanupPolicyDryRun: true }) },
    ],
    compliant: [
      { name: 'keep recent, delete old', build: (s) => repository(s) },
      { name: 'delete old, dry run off', build: (s) => repository(s, { cleanupPolicyDryRun: false }) },
    ],
  },
  'GCP-FN-002': {
    violating: [
      { name: 'no max_instance_count', build: (s) => compliantFunction(s, { maxInstanceCount: undefined }) },
      { name: 'max_instance_count 0', build: (s) => compliantFunction(s, { maxInstanceCount: 0 }) },
    ],
    compliant: [
      {
        name: 'max_instance_count from a variable',
        build: (s) => {
          const max = new TerraformVariable(s, 'max', { type: 'number' });
          compliantFunction(s, { maxInstanceCount: Token.asNumber(max.numberValue) });
        },
      },
    ],
  },
  'GCP-FN-003': {
    violating: [
      { name: 'DB_PASSWORD in service env', build: (s) => compliantFunction(s, { environmentVariables: { DB_PASSWORD: 'hunter2' } }) },
      {
        name: 'apiKey in build env',
        build: (s) => compliantFunction(s, {}, { buildConfig: { ...BUILD_CONFIG, environmentVariables: { npmApiKey: 'x' } } }),
      },
      {
        name: 'a PEM private key value',
        build: (s) =>
          compliantFunction(s, { environmentVariables: { SIGNING: '-----BEGIN RSA PRIVATE KEY-----\nMIIE...' } }),
      },
      {
        name: 'a URL with a password',
        build: (s) => compliantFunction(s, { environmentVariables: { DATABASE_URL: 'postgres://app:s3cret@db:5432/app' } }),
      },
    ],
    compliant: [
      {
        name: 'ordinary names (SECRETARY, MONKEY_COUNT) and a Secret Manager reference',
        build: (s) =>
          compliantFunction(s, {
            environmentVariables: { SECRETARY_NAME: 'ana', MONKEY_COUNT: '3', DATABASE_URL: 'postgres://db:5432/app' },
            secretEnvironmentVariables: [{ key: 'DB_PASSWORD', projectId: 'demo-project', secret: 'db-password', version: 'latest' }],
          }),
      },
    ],
  },
  'GCP-GCS-001': {
    violating: [
      { name: 'uniform access not set (CKV_GCP_29)', build: (s) => compliantBucket(s, 'b', { uniformBucketLevelAccess: undefined }) },
      { name: 'uniform access false', build: (s) => compliantBucket(s, 'b', { uniformBucketLevelAccess: false }) },
    ],
    compliant: [{ name: 'uniform access true', build: (s) => compliantBucket(s, 'b') }],
  },
  'GCP-GCS-002': {
    violating: [
      { name: 'public access prevention unset (CKV_GCP_114)', build: (s) => compliantBucket(s, 'b', { publicAccessPrevention: undefined }) },
      { name: 'public access prevention inherited', build: (s) => compliantBucket(s, 'b', { publicAccessPrevention: 'inherited' }) },
    ],
    compliant: [{ name: 'public access prevention enforced', build: (s) => compliantBucket(s, 'b') }],
  },
  'GCP-GCS-003': {
    violating: [
      {
        name: 'marked state bucket without versioning (CKV_GCP_78)',
        build: (s) => GcpPolicyPack.markStateBucket(compliantBucket(s, 'state')),
      },
      {
        name: 'bucket inside a marked construct, versioning disabled',
        build: (s) => {
          const bootstrap = new Construct(s, 'bootstrap');
          GcpPolicyPack.markStateBucket(bootstrap);
          compliantBucket(bootstrap, 'state', { versioning: { enabled: false } });
        },
      },
      {
        name: 'bucket named in stateBucketNames without versioning',
        build: (s) => compliantBucket(s, 'tfstate'),
        options: { stateBucketNames: ['tfstate-bucket'] },
      },
    ],
    compliant: [
      {
        name: 'versioned state bucket, and an ordinary bucket without versioning',
        build: (s) => {
          GcpPolicyPack.markStateBucket(compliantBucket(s, 'state', { versioning: { enabled: true } }));
          compliantBucket(s, 'sources');
        },
        options: { stateBucketNames: ['other-state-bucket'] },
      },
    ],
  },
  'GCP-BQ-001': {
    violating: [
      { name: 'deletion_protection false with the default (prod) environment (CKV_GCP_121)', build: (s) => table(s, { deletionProtection: false }) },
      { name: 'deletion_protection false in prod', build: (s) => table(s, { deletionProtection: false }), options: { environment: 'prod' } },
    ],
    compliant: [
      { name: 'deletion_protection false in dev', build: (s) => table(s, { deletionProtection: false }), options: { environment: 'dev' } },
      { name: 'deletion_protection unset (provider default true) in prod', build: (s) => table(s) },
      { name: 'deletion_protection true in prod', build: (s) => table(s, { deletionProtection: true }) },
    ],
  },
  'GCP-PS-001': {
    violating: [
      {
        name: 'push without oidc_token',
        build: (s) => pushSubscription(s, { pushConfig: { pushEndpoint: 'https://fn.example.run.app' } }),
      },
    ],
    compliant: [
      { name: 'push with oidc_token and dead letters', build: (s) => pushSubscription(s) },
      { name: 'pull subscription', build: (s) => new PubsubSubscription(s, 'pull', { name: 'dlq-pull', topic: 'ingest-dlq' }) },
    ],
  },
  'GCP-PS-002': {
    violating: [{ name: 'push without dead_letter_policy', build: (s) => pushSubscription(s, { deadLetterPolicy: undefined }) }],
    compliant: [{ name: 'push with dead_letter_policy', build: (s) => pushSubscription(s) }],
  },
  'GCP-KMS-001': {
    violating: [
      { name: 'topic without kms_key_name (CKV_GCP_83)', build: (s) => new PubsubTopic(s, 't', { name: 'ingest' }), options: { requireCmek: true } },
      { name: 'dataset without default key (CKV_GCP_81)', build: (s) => new BigqueryDataset(s, 'd', { datasetId: 'ingest' }), options: { requireCmek: true } },
      { name: 'table without key (CKV_GCP_80)', build: (s) => table(s), options: { requireCmek: true } },
    ],
    compliant: [
      {
        name: 'every store keyed, and a view without a key',
        options: { requireCmek: true },
        build: (s) => {
          const key = 'projects/demo-project/locations/eu/keyRings/ingest/cryptoKeys/data';
          new PubsubTopic(s, 't', { name: 'ingest', kmsKeyName: key });
          new BigqueryDataset(s, 'd', { datasetId: 'ingest', defaultEncryptionConfiguration: { kmsKeyName: key } });
          table(s, { encryptionConfiguration: { kmsKeyName: key } });
          new BigqueryTable(s, 'latest', { datasetId: 'ingest', tableId: 'latest', view: { query: 'SELECT 1', useLegacySql: false } });
        },
      },
      {
        name: 'nothing keyed when CMEK is not required',
        build: (s) => {
          new PubsubTopic(s, 't', { name: 'ingest' });
          new BigqueryDataset(s, 'd', { datasetId: 'ingest' });
          table(s);
        },
      },
    ],
  },
};

describe('GcpPolicyPack rules', () => {
  it('has violating and compliant fixtures for every rule, and no fixtures for rules that do not exist', () => {
    expect(Object.keys(CASES).sort()).toEqual(POLICY_RULES.map((rule) => rule.id).sort());
    for (const cases of Object.values(CASES)) {
      expect(cases.violating.length).toBeGreaterThan(0);
      expect(cases.compliant.length).toBeGreaterThan(0);
    }
  });

  it('gives every rule a unique, stable id, a title and a fix', () => {
    const ids = POLICY_RULES.map((rule) => rule.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const rule of POLICY_RULES) {
      expect(rule.id).toMatch(/^GCP-[A-Z]+-\d{3}$/);
      expect(rule.title.length).toBeGreaterThan(20);
      expect(rule.fix.length).toBeGreaterThan(10);
    }
  });

  const violating = Object.entries(CASES).flatMap(([ruleId, cases]) => cases.violating.map((fixture) => [ruleId, fixture.name, fixture] as const));
  it.each(violating)('%s fires on: %s', (ruleId, _name, fixture) => {
    const { findings } = check(fixture.build, fixture.options);
    expect(ruleIdsOf(reportedAs(ruleId, findings))).toEqual([ruleId]);
    expect(ruleIdsOf(findings.filter((finding) => finding.level !== 'info'))).toEqual([ruleId]);
  });

  const compliant = Object.entries(CASES).flatMap(([ruleId, cases]) => cases.compliant.map((fixture) => [ruleId, fixture.name, fixture] as const));
  it.each(compliant)('%s stays quiet on: %s', (_ruleId, _name, fixture) => {
    expect(check(fixture.build, fixture.options).findings.filter((finding) => finding.level !== 'info')).toEqual([]);
  });
});

describe('GcpPolicyPack messages', () => {
  it('says what is wrong, how to fix it and which resource, under the rule id', () => {
    const { findings } = check((s) => new ServiceAccountKey(s, 'deployer_key', { serviceAccountId: DEDICATED_SA }));
    expect(findings).toEqual([
      {
        ruleId: 'GCP-IAM-005',
        level: 'error',
        message: expect.stringMatching(
          /^\[GCP-IAM-005\] a long-lived service account key .+ — attach the service account .+ \(google_service_account_key\.deployer_key\)$/,
        ),
        constructPath: expect.stringMatching(/\/deployer_key$/),
      },
    ]);
  });

  it('reports the public members of one binding together, in one error', () => {
    const { findings } = check(
      (s) =>
        new StorageBucketIamBinding(s, 'b', { bucket: 'b', role: 'roles/storage.objectViewer', members: ['allUsers', 'allAuthenticatedUsers'] }),
    );
    expect(findings).toHaveLength(1);
    expect(findings[0].message).toContain('role roles/storage.objectViewer is granted to allUsers, allAuthenticatedUsers');
  });

  it('shows a referenced principal as the Terraform expression it synthesizes to', () => {
    const { findings } = check((s) => {
      const sa = new ServiceAccount(s, 'deployer', { accountId: 'deployer' });
      new ProjectIamMember(s, 'm', { project: 'demo-project', role: 'roles/editor', member: sa.member });
    });
    expect(findings.map((finding) => finding.message)).toEqual([
      expect.stringContaining('role roles/editor is granted to ${google_service_account.deployer.member} at project level'),
    ]);
  });

  it('reports each finding once however many times the stack is synthesized', () => {
    const { stack } = check((s) => new ServiceAccountKey(s, 'key', { serviceAccountId: DEDICATED_SA }));
    Testing.synth(stack);
    expect(GcpPolicyPack.findings(stack)).toHaveLength(1);
  });

  it('rejects an empty environment name', () => {
    expect(() => new GcpPolicyPack({ environment: ' ' })).toThrow(/options\.environment/);
  });
});

describe('GcpPolicyPack suppressions', () => {
  const REASON = 'the CI deployer creates datasets and topics in this project, see docs/deploying.md';

  it('silences a rule on the construct with a real reason, leaving an info annotation with the reason', () => {
    const { findings } = check((s) => {
      const key = new ServiceAccountKey(s, 'key', { serviceAccountId: DEDICATED_SA });
      GcpPolicyPack.suppress(key, 'GCP-IAM-005', REASON);
    });
    expect(errorsOf(findings)).toEqual([]);
    expect(findings).toEqual([
      expect.objectContaining({ ruleId: 'GCP-IAM-005', level: 'info', message: expect.stringContaining(`suppressed on fixture-`) }),
    ]);
    expect(findings[0].message).toContain(REASON);
  });

  it('applies to every construct below the suppressed scope, and only for the named rule', () => {
    const { findings } = check((s) => {
      const deployer = new Construct(s, 'deployer');
      GcpPolicyPack.suppress(deployer, 'GCP-IAM-004', REASON);
      new ProjectIamMember(deployer, 'datasets', { project: 'p', role: 'roles/bigquery.dataOwner', member: 'group:ci@example.com' });
      new ProjectIamMember(deployer, 'editor', { project: 'p', role: 'roles/editor', member: 'group:ci@example.com' });
      new ProjectIamMember(s, 'outside', { project: 'p', role: 'roles/pubsub.admin', member: 'group:ci@example.com' });
    });
    expect(findings.map(({ ruleId, level, constructPath }) => [ruleId, level, constructPath.split('/').slice(1).join('/')])).toEqual([
      ['GCP-IAM-004', 'info', 'deployer/datasets'],
      ['GCP-IAM-002', 'error', 'deployer/editor'],
      ['GCP-IAM-004', 'error', 'outside'],
    ]);
  });

  it.each([
    ['too short', 'legacy system'],
    ['placeholder words', 'TODO: fix later, tbd, temporary'],
  ])('rejects a reason that is %s, naming the rule, and still reports the violation', (_kind, reason) => {
    const { findings } = check((s) => {
      const key = new ServiceAccountKey(s, 'key', { serviceAccountId: DEDICATED_SA });
      GcpPolicyPack.suppress(key, 'GCP-IAM-005', reason);
    });
    const errors = errorsOf(findings);
    expect(errors).toHaveLength(2);
    expect(errors.every((error) => error.ruleId === 'GCP-IAM-005')).toBe(true);
    expect(errors.some((error) => /suppression on .* is rejected: its reason/.test(error.message))).toBe(true);
    expect(findings.filter((finding) => finding.level === 'info')).toEqual([]);
  });

  it('rejects a suppression of a rule that does not exist', () => {
    const { findings } = check((s) => GcpPolicyPack.suppress(s, 'GCP-IAM-999', REASON));
    expect(findings).toEqual([
      expect.objectContaining({ ruleId: UNKNOWN_RULE_SUPPRESSION_ID, level: 'error', message: expect.stringContaining('"GCP-IAM-999"') }),
    ]);
  });
});

describe('GcpPolicyPack and synthesis', () => {
  function appWith(build: Build): { readonly stack: TerraformStack; readonly synth: () => void } {
    const synthApp = Testing.app();
    const stack = new TerraformStack(synthApp, 'synth');
    new GoogleProvider(stack, 'google', { project: 'demo-project' });
    build(stack);
    Aspects.of(stack).add(new GcpPolicyPack());
    return { stack, synth: () => synthApp.synth() };
  }

  it('makes app.synth() (what cdktf synth runs) throw on a violation, with the message', () => {
    expect(process.env.CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS).toBeUndefined();
    const { synth } = appWith((s) => new ServiceAccountKey(s, 'key', { serviceAccountId: DEDICATED_SA }));
    expect(synth).toThrow(/\[GCP-IAM-005\] .*google_service_account_key\.key/);
  });

  it('lets app.synth() pass when the only finding is a warning', () => {
    const { stack, synth } = appWith((s) => {
      const sa = new ServiceAccount(s, 'sa', { accountId: 'fn-api' });
      compliantFunction(s, { serviceAccountEmail: sa.email });
      new BigqueryTableIamMember(s, 'w', { datasetId: 'ingest', tableId: 'records', role: 'roles/bigquery.dataEditor', member: sa.member });
    });
    expect(synth).not.toThrow();
    expect(GcpPolicyPack.findings(stack).map(({ ruleId, level }) => [ruleId, level])).toEqual([['GCP-IAM-008', 'warning']]);
  });

  it('lets app.synth() pass when the only violation is suppressed with a reason', () => {
    const { synth } = appWith((s) => {
      const key = new ServiceAccountKey(s, 'key', { serviceAccountId: DEDICATED_SA });
      GcpPolicyPack.suppress(key, 'GCP-IAM-005', 'a partner system without workload identity federation needs this key');
    });
    expect(synth).not.toThrow();
  });
});
