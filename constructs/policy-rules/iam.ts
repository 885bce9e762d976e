import type { IConstruct } from 'constructs';
import { DefaultTokenResolver, StringConcat, TerraformStack, Tokenization } from 'cdktf';
import { BigqueryDataset } from '@cdktf/provider-google/lib/bigquery-dataset';
import { BigqueryDatasetAccessA } from '@cdktf/provider-google/lib/bigquery-dataset-access';
import { Cloudfunctions2Function } from '@cdktf/provider-google/lib/cloudfunctions2-function';
import { IamWorkloadIdentityPoolProvider } from '@cdktf/provider-google/lib/iam-workload-identity-pool-provider';
import { ServiceAccountKey } from '@cdktf/provider-google/lib/service-account-key';
import { iamGrantsOf, type IamGrant, type IamLevel } from './iam-grants';
import type { PolicyRule } from './rule';

const PUBLIC_PRINCIPALS: ReadonlySet<string> = new Set(['allUsers', 'allAuthenticatedUsers']);

const PRIMITIVE_ROLES: ReadonlySet<string> = new Set(['roles/owner', 'roles/editor', 'roles/viewer']);

// Each of these lets the holder act as (or mint credentials for, or grant itself either on) every service account below the grant.
const IMPERSONATION_ROLES: ReadonlySet<string> = new Set([
  'roles/iam.serviceAccountUser',
  'roles/iam.serviceAccountTokenCreator',
  'roles/iam.serviceAccountAdmin',
  'roles/iam.workloadIdentityUser',
  'roles/iam.serviceAccountKeyAdmin',
]);

const DATA_ROLES: ReadonlySet<string> = new Set([
  'roles/bigquery.admin',
  'roles/bigquery.dataOwner',
  'roles/bigquery.dataEditor',
  'roles/bigquery.dataViewer',
  'roles/pubsub.admin',
  'roles/pubsub.editor',
  'roles/pubsub.publisher',
  'roles/pubsub.subscriber',
]);

const BROAD_LEVELS: ReadonlySet<IamLevel> = new Set(['organization', 'folder', 'project']);

function describeGrant(grant: IamGrant, members: readonly string[]): string {
  return `role ${grant.role ?? '(unset)'} is granted to ${members.join(', ')}`;
}

function problemsWithRoles(node: IConstruct, roles: ReadonlySet<string>, broadLevelsOnly: boolean, why: string): string[] {
  const grants = iamGrantsOf(node);
  if (grants === undefined || (broadLevelsOnly && !BROAD_LEVELS.has(grants.level))) return [];
  return grants.grants
    .filter((grant) => grant.role !== undefined && roles.has(grant.role))
    .map((grant) => `${describeGrant(grant, grant.members)} at ${grants.level} level${why}`);
}

export const noPublicPrincipals: PolicyRule = {
  id: 'GCP-IAM-001',
  title: 'No IAM grant, policy or dataset access entry names allUsers or allAuthenticatedUsers.',
  references: [
    'CKV_GCP_107',
    'CKV_GCP_102',
    'CKV_GCP_15',
    'CKV_GCP_28',
    'CKV_GCP_99',
    'CKV_GCP_100',
    'CKV_GCP_113',
    'AVD-GCP-0001',
    'AVD-GCP-0046',
  ],
  fix: 'grant the role to named principals (a service account, group or user); an endpoint that is public on purpose carries a suppression saying why',
  findProblems(node) {
    if (node instanceof BigqueryDataset) {
      const entries = node.accessInput;
      if (!Array.isArray(entries)) return [];
      return entries.flatMap((entry) =>
        [entry.specialGroup, entry.iamMember]
          .filter((principal): principal is string => principal !== undefined && PUBLIC_PRINCIPALS.has(principal))
          .map((principal) => `an access entry gives ${entry.role ?? 'a role'} to ${principal}`),
      );
    }
    if (node instanceof BigqueryDatasetAccessA) {
      return [node.specialGroupInput, node.iamMemberInput]
        .filter((principal): principal is string => principal !== undefined && PUBLIC_PRINCIPALS.has(principal))
        .map((principal) => `dataset access gives ${node.roleInput ?? 'a role'} to ${principal}`);
    }
    const grants = iamGrantsOf(node);
    if (grants === undefined) return [];
    return grants.grants.flatMap((grant) => {
      const publicMembers = grant.members.filter((member) => PUBLIC_PRINCIPALS.has(member));
      return publicMembers.length === 0 ? [] : [describeGrant(grant, publicMembers)];
    });
  },
};

export const noPrimitiveRoles: PolicyRule = {
  id: 'GCP-IAM-002',
  title: 'No grant of the primitive roles roles/owner, roles/editor or roles/viewer, at any level.',
  references: ['CKV_GCP_117', 'CKV_GCP_116', 'CKV_GCP_115', 'AVD-GCP-0007'],
  fix: 'grant the predefined role that covers only what the principal uses, at the narrowest resource',
  findProblems: (node) => problemsWithRoles(node, PRIMITIVE_ROLES, false, ''),
};

export const noBroadImpersonation: PolicyRule = {
  id: 'GCP-IAM-003',
  title:
    'No service-account impersonation or administration roles (serviceAccountUser, serviceAccountTokenCreator, serviceAccountAdmin, workloadIdentityUser, serviceAccountKeyAdmin) at project, folder or organization level.',
  references: ['CKV_GCP_41', 'CKV_GCP_49', 'AVD-GCP-0011', 'AVD-GCP-0005', 'AVD-GCP-0009'],
  fix: 'grant it on the one service account that must be used, with a google_service_account_iam_member; an account the same apply creates can be made beforehand (a bootstrap stack) and attached',
  findProblems: (node) =>
    problemsWithRoles(node, IMPERSONATION_ROLES, true, ', which lets the holder act as every service account there'),
};

export const noBroadDataRoles: PolicyRule = {
  id: 'GCP-IAM-004',
  title: 'No BigQuery data roles or Pub/Sub roles at project, folder or organization level.',
  references: [],
  fix: 'grant it on the dataset, table, topic or subscription that is used (the constructs’ grant* methods do this)',
  findProblems: (node) => problemsWithRoles(node, DATA_ROLES, true, ', which reaches every dataset or topic there'),
};

export const noServiceAccountKeys: PolicyRule = {
  id: 'GCP-IAM-005',
  title: 'No user-managed service account keys (google_service_account_key).',
  references: ['CKV2_GCP_3'],
  fix: 'attach the service account to the workload, or use Workload Identity Federation from outside Google Cloud',
  findProblems: (node) =>
    node instanceof ServiceAccountKey ? ['a long-lived service account key is created and lands in Terraform state'] : [],
};

export const workloadIdentityProviderHasCondition: PolicyRule = {
  id: 'GCP-IAM-006',
  title: 'Every workload identity pool provider has a non-empty attribute_condition.',
  references: ['CKV_GCP_118', 'AVD-GCP-0068'],
  fix: "set attribute_condition to restrict the external identities, e.g. \"assertion.repository == 'owner/repo'\"",
  findProblems(node) {
    if (!(node instanceof IamWorkloadIdentityPoolProvider)) return [];
    const condition = node.attributeConditionInput;
    return condition === undefined || condition.trim() === ''
      ? ['attribute_condition is empty, so any identity of the external issuer can use the pool']
      : [];
  },
};

// The roles through which an external (workload identity federation) principal gets a service account's credentials.
const FEDERATED_IMPERSONATION_ROLES: ReadonlySet<string> = new Set(['roles/iam.workloadIdentityUser', 'roles/iam.serviceAccountTokenCreator']);
const FEDERATED_PRINCIPAL = /^principal(?:Set)?:\/\/iam\.googleapis\.com\//;
const SUBJECT = /\/subject\/(.+)$/;
// A GitHub OIDC subject names the job's environment (`…:environment:prod`) or its ref (`…:ref:refs/heads/main`).
const SCOPED_SUBJECT = /:(?:environment:[^:]+|ref:refs\/)/;
const ATTRIBUTE = /\/attribute\.([A-Za-z0-9_]+)\/[^/]+$/;
const SCOPING_ATTRIBUTES: ReadonlySet<string> = new Set(['environment', 'ref']);

/** Why a federated `member` may be impersonated from any job of the workload, or undefined when it names an environment or ref. */
function unscopedFederatedMember(member: string): string | undefined {
  if (!FEDERATED_PRINCIPAL.test(member)) return undefined;
  const subject = SUBJECT.exec(member)?.[1];
  if (subject !== undefined) return SCOPED_SUBJECT.test(subject) ? undefined : `subject "${subject}" names no environment or ref`;
  const attribute = ATTRIBUTE.exec(member)?.[1];
  if (attribute !== undefined) return SCOPING_ATTRIBUTES.has(attribute) ? undefined : `it matches every identity with attribute.${attribute}, whatever its environment or ref`;
  return 'it matches a whole pool or group of identities';
}

export const federatedImpersonationIsScoped: PolicyRule = {
  id: 'GCP-IAM-007',
  title:
    'In production, an external identity (workload identity federation) may impersonate a service account only as one job environment or ref: a principal:// subject naming it, or a principal set on attribute.environment or attribute.ref.',
  references: [],
  fix: 'bind workloadIdentityUser to principal://iam.googleapis.com/<pool>/subject/repo:OWNER/REPO:environment:<env> (a GitHub environment with required reviewers and a deployment-branch rule)',
  findProblems(node, context) {
    if (!context.production) return [];
    const grants = iamGrantsOf(node);
    if (grants === undefined) return [];
    return grants.grants
      .filter((grant) => grant.role !== undefined && FEDERATED_IMPERSONATION_ROLES.has(grant.role))
      .flatMap((grant) =>
        grant.members.flatMap((member) => {
          const why = unscopedFederatedMember(member);
          return why === undefined ? [] : [`${describeGrant(grant, [member])}, so any workflow job can impersonate it: ${why}`];
        }),
      );
  },
};

const BROAD_BIGQUERY_ROLES: ReadonlySet<string> = new Set(['roles/bigquery.dataEditor', 'roles/bigquery.dataOwner', 'roles/bigquery.admin']);

/** A member string with its references as Terraform expressions, and a service account's `.member` written as `serviceAccount:<its .email>`. */
function comparableMember(scope: IConstruct, member: string): string {
  const resolved = String(Tokenization.resolve(member, { scope, resolver: new DefaultTokenResolver(new StringConcat()) }));
  return resolved.replace(/^\$\{(google_service_account\.[^.}]+|data\.google_service_account\.[^.}]+)\.member\}$/, 'serviceAccount:${$1.email}');
}

/** The members of the identities the stack's Cloud Functions (2nd gen) run as. */
function functionIdentities(node: IConstruct): Set<string> {
  return new Set(
    TerraformStack.of(node)
      .node.findAll()
      .filter((construct): construct is Cloudfunctions2Function => construct instanceof Cloudfunctions2Function)
      .flatMap((fn) => {
        const email = fn.serviceConfig.serviceAccountEmailInput;
        return email === undefined ? [] : [comparableMember(fn, `serviceAccount:${email}`)];
      }),
  );
}

export const functionIdentityHasNoBroadDataRole: PolicyRule = {
  id: 'GCP-IAM-008',
  title: 'The identity a function runs as holds no bigquery.dataEditor, bigquery.dataOwner or bigquery.admin, at any level.',
  references: [],
  fix: 'grant only what the function calls, on the table: WarehouseTable.grantInsert for writers (tabledata.insertAll), grantRead for readers',
  severity: 'warning',
  findProblems(node) {
    const grants = iamGrantsOf(node)?.grants.filter((grant) => grant.role !== undefined && BROAD_BIGQUERY_ROLES.has(grant.role));
    if (grants === undefined || grants.length === 0) return [];
    const identities = functionIdentities(node);
    return grants.flatMap((grant) => {
      const functionMembers = grant.members.filter((member) => identities.has(comparableMember(node, member)));
      return functionMembers.length === 0 ? [] : [`${describeGrant(grant, functionMembers)}, a function's identity, which can then update and delete data it only needs to write or read`];
    });
  },
};
