import { Token } from 'cdktf';
import { ArtifactRegistryRepository } from '@cdktf/provider-google/lib/artifact-registry-repository';
import { BigqueryDataset } from '@cdktf/provider-google/lib/bigquery-dataset';
import { BigqueryTable } from '@cdktf/provider-google/lib/bigquery-table';
import { PubsubSubscription } from '@cdktf/provider-google/lib/pubsub-subscription';
import { PubsubTopic } from '@cdktf/provider-google/lib/pubsub-topic';
import { StorageBucket } from '@cdktf/provider-google/lib/storage-bucket';
import type { PolicyRule } from './rule';

export const bucketUniformAccess: PolicyRule = {
  id: 'GCP-GCS-001',
  title: 'Every bucket has uniform bucket-level access, so object ACLs cannot open objects one by one.',
  references: ['CKV_GCP_29', 'AVD-GCP-0002'],
  fix: 'set uniform_bucket_level_access = true',
  findProblems(node) {
    if (!(node instanceof StorageBucket)) return [];
    const uniform = node.uniformBucketLevelAccessInput;
    return uniform === undefined || uniform === false ? ['uniform_bucket_level_access is not true'] : [];
  },
};

export const bucketPublicAccessPrevention: PolicyRule = {
  id: 'GCP-GCS-002',
  title: 'Every bucket enforces public access prevention.',
  references: ['CKV_GCP_114'],
  fix: 'set public_access_prevention = "enforced"',
  findProblems(node) {
    if (!(node instanceof StorageBucket)) return [];
    const prevention = node.publicAccessPreventionInput;
    if (prevention === undefined) return ['public_access_prevention is not set, so it is "inherited" from the organization'];
    return isLiteralOtherThan(prevention, 'enforced') ? [`public_access_prevention is "${prevention}"`] : [];
  },
};

export const stateBucketVersioned: PolicyRule = {
  id: 'GCP-GCS-003',
  title: 'The Terraform state bucket keeps object versions, so a bad write of state can be rolled back.',
  references: ['CKV_GCP_78', 'AVD-GCP-0078'],
  fix: 'set versioning { enabled = true } (and a lifecycle rule that ages out old versions)',
  findProblems(node, context) {
    if (!(node instanceof StorageBucket) || !context.isStateBucket(node)) return [];
    const enabled = node.versioning.enabledInput;
    return enabled === undefined || enabled === false ? ['this state bucket does not have versioning enabled'] : [];
  },
};

export const prodTableDeletionProtection: PolicyRule = {
  id: 'GCP-BQ-001',
  title: 'In prod, no BigQuery table turns deletion_protection off (the provider default, true, is kept).',
  references: ['CKV_GCP_121'],
  fix: 'remove deletion_protection = false (WarehouseTable keeps it on in prod)',
  findProblems(node, context) {
    if (!context.production || !(node instanceof BigqueryTable)) return [];
    return node.deletionProtectionInput === false ? ['deletion_protection is false in a prod stack'] : [];
  },
};

export const pushSubscriptionAuthenticates: PolicyRule = {
  id: 'GCP-PS-001',
  title: 'Every push subscription sends an OIDC token, so the endpoint can require IAM authentication.',
  references: [],
  fix: 'set push_config.oidc_token.service_account_email to a dedicated invoker service account',
  findProblems(node) {
    if (!(node instanceof PubsubSubscription) || node.pushConfigInput === undefined) return [];
    return node.pushConfig.oidcTokenInput === undefined ? ['push_config has no oidc_token, so pushes are unauthenticated'] : [];
  },
};

export const pushSubscriptionDeadLetters: PolicyRule = {
  id: 'GCP-PS-002',
  title: 'Every push subscription has a dead-letter topic, so a message that keeps failing is kept, not retried forever.',
  references: [],
  fix: 'set dead_letter_policy { dead_letter_topic, max_delivery_attempts } (IngestTopic does this)',
  findProblems(node) {
    if (!(node instanceof PubsubSubscription) || node.pushConfigInput === undefined) return [];
    return node.deadLetterPolicy.deadLetterTopicInput === undefined ? ['push subscription has no dead_letter_policy topic'] : [];
  },
};

export const repositoryDeletesOldVersions: PolicyRule = {
  id: 'GCP-AR-001',
  title: 'Every Artifact Registry repository has a cleanup policy that deletes old versions, and applies it (no dry run).',
  references: [],
  fix: 'add a cleanup_policies entry with action DELETE (and a KEEP of the most recent versions), with cleanup_policy_dry_run unset or false',
  findProblems(node) {
    if (!(node instanceof ArtifactRegistryRepository)) return [];
    const policies = node.cleanupPoliciesInput;
    if (Token.isUnresolved(policies)) return [];
    const deletes = Array.isArray(policies) && policies.some((policy) => policy.action === 'DELETE');
    if (!deletes) return ['no cleanup policy deletes old versions, so every pushed image is kept and billed forever'];
    return node.cleanupPolicyDryRunInput === true ? ['cleanup_policy_dry_run is true, so the cleanup policies delete nothing'] : [];
  },
};

export const customerManagedEncryption: PolicyRule = {
  id: 'GCP-KMS-001',
  title: 'When the pack requires CMEK, every topic, dataset and table (not views) names a Cloud KMS key.',
  references: ['CKV_GCP_83', 'CKV_GCP_81', 'CKV_GCP_80'],
  fix: 'pass encryptionKey (IngestTopic, WarehouseTable) or set the kms_key_name field named above',
  findProblems(node, context) {
    if (!context.requireCmek) return [];
    if (node instanceof PubsubTopic && isBlank(node.kmsKeyNameInput)) {
      return ['kms_key_name is not set'];
    }
    if (node instanceof BigqueryDataset && isBlank(node.defaultEncryptionConfiguration.kmsKeyNameInput)) {
      return ['default_encryption_configuration.kms_key_name is not set'];
    }
    if (
      node instanceof BigqueryTable &&
      node.viewInput === undefined &&
      node.materializedViewInput === undefined &&
      isBlank(node.encryptionConfiguration.kmsKeyNameInput)
    ) {
      return ['encryption_configuration.kms_key_name is not set'];
    }
    return [];
  },
};

function isBlank(value: string | undefined): boolean {
  return value === undefined || value.trim() === '';
}

/** A token is never judged: only a literal that differs from `expected` counts. */
function isLiteralOtherThan(value: string, expected: string): boolean {
  return value !== expected && !Token.isUnresolved(value);
}
