import type { IConstruct } from 'constructs';
import { BigqueryDatasetIamBinding } from '@cdktf/provider-google/lib/bigquery-dataset-iam-binding';
import { BigqueryDatasetIamMember } from '@cdktf/provider-google/lib/bigquery-dataset-iam-member';
import { BigqueryDatasetIamPolicy } from '@cdktf/provider-google/lib/bigquery-dataset-iam-policy';
import { BigqueryTableIamBinding } from '@cdktf/provider-google/lib/bigquery-table-iam-binding';
import { BigqueryTableIamMember } from '@cdktf/provider-google/lib/bigquery-table-iam-member';
import { BigqueryTableIamPolicy } from '@cdktf/provider-google/lib/bigquery-table-iam-policy';
import { CloudRunServiceIamBinding } from '@cdktf/provider-google/lib/cloud-run-service-iam-binding';
import { CloudRunServiceIamMember } from '@cdktf/provider-google/lib/cloud-run-service-iam-member';
import { CloudRunServiceIamPolicy } from '@cdktf/provider-google/lib/cloud-run-service-iam-policy';
import { CloudRunV2ServiceIamBinding } from '@cdktf/provider-google/lib/cloud-run-v2-service-iam-binding';
import { CloudRunV2ServiceIamMember } from '@cdktf/provider-google/lib/cloud-run-v2-service-iam-member';
import { CloudRunV2ServiceIamPolicy } from '@cdktf/provider-google/lib/cloud-run-v2-service-iam-policy';
import { CloudfunctionsFunctionIamBinding } from '@cdktf/provider-google/lib/cloudfunctions-function-iam-binding';
import { CloudfunctionsFunctionIamMember } from '@cdktf/provider-google/lib/cloudfunctions-function-iam-member';
import { CloudfunctionsFunctionIamPolicy } from '@cdktf/provider-google/lib/cloudfunctions-function-iam-policy';
import { Cloudfunctions2FunctionIamBinding } from '@cdktf/provider-google/lib/cloudfunctions2-function-iam-binding';
import { Cloudfunctions2FunctionIamMember } from '@cdktf/provider-google/lib/cloudfunctions2-function-iam-member';
import { Cloudfunctions2FunctionIamPolicy } from '@cdktf/provider-google/lib/cloudfunctions2-function-iam-policy';
import { DataGoogleIamPolicy } from '@cdktf/provider-google/lib/data-google-iam-policy';
import { FolderIamBinding } from '@cdktf/provider-google/lib/folder-iam-binding';
import { FolderIamMember } from '@cdktf/provider-google/lib/folder-iam-member';
import { FolderIamPolicy } from '@cdktf/provider-google/lib/folder-iam-policy';
import { OrganizationIamBinding } from '@cdktf/provider-google/lib/organization-iam-binding';
import { OrganizationIamMember } from '@cdktf/provider-google/lib/organization-iam-member';
import { OrganizationIamPolicy } from '@cdktf/provider-google/lib/organization-iam-policy';
import { ProjectIamBinding } from '@cdktf/provider-google/lib/project-iam-binding';
import { ProjectIamMember } from '@cdktf/provider-google/lib/project-iam-member';
import { ProjectIamPolicy } from '@cdktf/provider-google/lib/project-iam-policy';
import { PubsubSubscriptionIamBinding } from '@cdktf/provider-google/lib/pubsub-subscription-iam-binding';
import { PubsubSubscriptionIamMember } from '@cdktf/provider-google/lib/pubsub-subscription-iam-member';
import { PubsubSubscriptionIamPolicy } from '@cdktf/provider-google/lib/pubsub-subscription-iam-policy';
import { PubsubTopicIamBinding } from '@cdktf/provider-google/lib/pubsub-topic-iam-binding';
import { PubsubTopicIamMember } from '@cdktf/provider-google/lib/pubsub-topic-iam-member';
import { PubsubTopicIamPolicy } from '@cdktf/provider-google/lib/pubsub-topic-iam-policy';
import { SecretManagerSecretIamBinding } from '@cdktf/provider-google/lib/secret-manager-secret-iam-binding';
import { SecretManagerSecretIamMember } from '@cdktf/provider-google/lib/secret-manager-secret-iam-member';
import { SecretManagerSecretIamPolicy } from '@cdktf/provider-google/lib/secret-manager-secret-iam-policy';
import { ServiceAccountIamBinding } from '@cdktf/provider-google/lib/service-account-iam-binding';
import { ServiceAccountIamMember } from '@cdktf/provider-google/lib/service-account-iam-member';
import { ServiceAccountIamPolicy } from '@cdktf/provider-google/lib/service-account-iam-policy';
import { StorageBucketIamBinding } from '@cdktf/provider-google/lib/storage-bucket-iam-binding';
import { StorageBucketIamMember } from '@cdktf/provider-google/lib/storage-bucket-iam-member';
import { StorageBucketIamPolicy } from '@cdktf/provider-google/lib/storage-bucket-iam-policy';

/**
 * Where a grant takes effect. `policy-document` is a `google_iam_policy` data source, whose
 * bindings apply wherever an `*_iam_policy` resource attaches it.
 */
export type IamLevel = 'organization' | 'folder' | 'project' | 'resource' | 'policy-document';

/** One role given to some principals. */
export interface IamGrant {
  readonly role: string | undefined;
  readonly members: readonly string[];
}

/** The grants one IAM construct makes, and at which level. */
export interface IamGrants {
  readonly level: IamLevel;
  readonly grants: readonly IamGrant[];
}

type Constructor<T> = abstract new (...args: never[]) => T;

interface IamResourceFamily {
  readonly level: Exclude<IamLevel, 'policy-document'>;
  readonly member: Constructor<{ readonly roleInput?: string; readonly memberInput?: string }>;
  readonly binding: Constructor<{ readonly roleInput?: string; readonly membersInput?: string[] }>;
  readonly policy: Constructor<{ readonly policyDataInput?: string }>;
}

const IAM_RESOURCE_FAMILIES: readonly IamResourceFamily[] = [
  { level: 'organization', member: OrganizationIamMember, binding: OrganizationIamBinding, policy: OrganizationIamPolicy },
  { level: 'folder', member: FolderIamMember, binding: FolderIamBinding, policy: FolderIamPolicy },
  { level: 'project', member: ProjectIamMember, binding: ProjectIamBinding, policy: ProjectIamPolicy },
  {
    level: 'resource',
    member: SecretManagerSecretIamMember,
    binding: SecretManagerSecretIamBinding,
    policy: SecretManagerSecretIamPolicy,
  },
  { level: 'resource', member: ServiceAccountIamMember, binding: ServiceAccountIamBinding, policy: ServiceAccountIamPolicy },
  { level: 'resource', member: StorageBucketIamMember, binding: StorageBucketIamBinding, policy: StorageBucketIamPolicy },
  { level: 'resource', member: BigqueryDatasetIamMember, binding: BigqueryDatasetIamBinding, policy: BigqueryDatasetIamPolicy },
  { level: 'resource', member: BigqueryTableIamMember, binding: BigqueryTableIamBinding, policy: BigqueryTableIamPolicy },
  { level: 'resource', member: PubsubTopicIamMember, binding: PubsubTopicIamBinding, policy: PubsubTopicIamPolicy },
  {
    level: 'resource',
    member: PubsubSubscriptionIamMember,
    binding: PubsubSubscriptionIamBinding,
    policy: PubsubSubscriptionIamPolicy,
  },
  { level: 'resource', member: CloudRunServiceIamMember, binding: CloudRunServiceIamBinding, policy: CloudRunServiceIamPolicy },
  {
    level: 'resource',
    member: CloudRunV2ServiceIamMember,
    binding: CloudRunV2ServiceIamBinding,
    policy: CloudRunV2ServiceIamPolicy,
  },
  {
    level: 'resource',
    member: Cloudfunctions2FunctionIamMember,
    binding: Cloudfunctions2FunctionIamBinding,
    policy: Cloudfunctions2FunctionIamPolicy,
  },
  {
    level: 'resource',
    member: CloudfunctionsFunctionIamMember,
    binding: CloudfunctionsFunctionIamBinding,
    policy: CloudfunctionsFunctionIamPolicy,
  },
];

/** The grants made by `node` if it is an IAM member, binding, policy or policy document; otherwise undefined. */
export function iamGrantsOf(node: IConstruct): IamGrants | undefined {
  if (node instanceof DataGoogleIamPolicy) {
    const bindings = node.bindingInput;
    return {
      level: 'policy-document',
      grants: Array.isArray(bindings) ? bindings.map((binding) => ({ role: binding.role, members: binding.members })) : [],
    };
  }
  for (const family of IAM_RESOURCE_FAMILIES) {
    if (node instanceof family.member) {
      const member = node.memberInput;
      return { level: family.level, grants: [{ role: node.roleInput, members: member === undefined ? [] : [member] }] };
    }
    if (node instanceof family.binding) {
      return { level: family.level, grants: [{ role: node.roleInput, members: node.membersInput ?? [] }] };
    }
    if (node instanceof family.policy) {
      return { level: family.level, grants: grantsInPolicyData(node.policyDataInput) };
    }
  }
  return undefined;
}

/**
 * Reads the bindings of literal policy JSON. Policy data that is a reference (typically to a
 * `google_iam_policy` data source) is not JSON here and yields nothing: the document itself is checked.
 */
function grantsInPolicyData(policyData: string | undefined): IamGrant[] {
  if (policyData === undefined) return [];
  let policy: unknown;
  try {
    policy = JSON.parse(policyData);
  } catch {
    return [];
  }
  if (!isRecord(policy) || !Array.isArray(policy.bindings)) return [];
  return policy.bindings.filter(isRecord).map((binding) => ({
    role: typeof binding.role === 'string' ? binding.role : undefined,
    members: Array.isArray(binding.members) ? binding.members.filter((m): m is string => typeof m === 'string') : [],
  }));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
