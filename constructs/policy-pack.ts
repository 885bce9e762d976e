import {
  AnnotationMetadataEntryType,
  Annotations,
  DefaultTokenResolver,
  StringConcat,
  TerraformDataSource,
  TerraformResource,
  Tokenization,
  type IAspect,
} from 'cdktf';
import type { IConstruct } from 'constructs';
import type { StorageBucket } from '@cdktf/provider-google/lib/storage-bucket';
import {
  bucketPublicAccessPrevention,
  bucketUniformAccess,
  customerManagedEncryption,
  prodTableDeletionProtection,
  pushSubscriptionAuthenticates,
  pushSubscriptionDeadLetters,
  repositoryDeletesOldVersions,
  stateBucketVersioned,
} from './policy-rules/data';
import {
  functionBuildsAsDedicatedServiceAccount,
  functionBuildsIntoManagedRepository,
  functionHasMaxInstances,
  functionRunsAsDedicatedServiceAccount,
  noSecretsInPlainEnvironment,
} from './policy-rules/functions';
import {
  federatedImpersonationIsScoped,
  functionIdentityHasNoBroadDataRole,
  noBroadDataRoles,
  noBroadImpersonation,
  noPrimitiveRoles,
  noPublicPrincipals,
  noServiceAccountKeys,
  workloadIdentityProviderHasCondition,
} from './policy-rules/iam';
import type { PolicyContext, PolicyRule } from './policy-rules/rule';

export type { PolicyRule } from './policy-rules/rule';

/** Every rule the pack applies, in report order. */
export const POLICY_RULES: readonly PolicyRule[] = [
  noPublicPrincipals,
  noPrimitiveRoles,
  noBroadImpersonation,
  noBroadDataRoles,
  noServiceAccountKeys,
  workloadIdentityProviderHasCondition,
  federatedImpersonationIsScoped,
  functionIdentityHasNoBroadDataRole,
  functionRunsAsDedicatedServiceAccount,
  functionBuildsAsDedicatedServiceAccount,
  functionBuildsIntoManagedRepository,
  functionHasMaxInstances,
  noSecretsInPlainEnvironment,
  bucketUniformAccess,
  bucketPublicAccessPrevention,
  stateBucketVersioned,
  prodTableDeletionProtection,
  pushSubscriptionAuthenticates,
  pushSubscriptionDeadLetters,
  repositoryDeletesOldVersions,
  customerManagedEncryption,
];

/** Id under which the pack reports a suppression that names no rule. */
export const UNKNOWN_RULE_SUPPRESSION_ID = 'GCP-SUPPRESSION';

/** A suppression reason shorter than this cannot say why a rule does not apply. */
export const MIN_SUPPRESSION_REASON_LENGTH = 20;

export interface GcpPolicyPackOptions {
  /**
   * Name of the environment the stack deploys to. Prod-only rules (GCP-BQ-001, table deletion
   * protection; GCP-IAM-007, federated impersonation scoped to an environment or ref) apply when
   * it is `'prod'`.
   * @default 'prod' — a stack that does not say gets every rule.
   */
  readonly environment?: string;
  /**
   * Require customer-managed encryption keys: every Pub/Sub topic, BigQuery dataset and BigQuery
   * table (views excepted) must name a Cloud KMS key (GCP-KMS-001).
   * @default false — Google-managed encryption is accepted.
   */
  readonly requireCmek?: boolean;
  /**
   * Literal names of buckets that hold Terraform state and so must keep object versions
   * (GCP-GCS-003), for buckets defined where `GcpPolicyPack.markStateBucket` cannot reach.
   * @default [] — only buckets marked with `GcpPolicyPack.markStateBucket` are state buckets.
   */
  readonly stateBucketNames?: readonly string[];
}

/** One annotation the pack left on the construct tree. */
export interface PolicyFinding {
  /** The rule id (or `GCP-SUPPRESSION` for a suppression of an unknown rule). */
  readonly ruleId: string;
  /** `error` fails synth; `warning` is reported and lets it pass; `info` records a suppressed violation. */
  readonly level: 'error' | 'warning' | 'info';
  readonly message: string;
  readonly constructPath: string;
}

interface Suppression {
  readonly ruleId: string;
  readonly reason: string;
}

const SUPPRESSION_METADATA = 'gcp-policy-pack/suppression';
const STATE_BUCKET_METADATA = 'gcp-policy-pack/state-bucket';
const FINDING_MESSAGE = /^\[(GCP-[A-Z0-9]+(?:-\d{3})?)\] /;
const KNOWN_RULE_IDS: ReadonlySet<string> = new Set(POLICY_RULES.map((rule) => rule.id));

// Words that fill a reason without explaining anything.
const PLACEHOLDER_WORDS: ReadonlySet<string> = new Set([
  'todo', 'tbd', 'fixme', 'xxx', 'na', 'none', 'nothing', 'temp', 'temporary', 'ignore', 'ignored',
  'suppress', 'suppressed', 'suppression', 'test', 'testing', 'wip', 'later', 'reason', 'because',
  'needed', 'required', 'ok', 'okay', 'fine', 'placeholder', 'lorem', 'ipsum', 'dolor', 'sit', 'amet',
  'asdf', 'foo', 'bar', 'baz', 'qux', 'whatever', 'stuff', 'the', 'this', 'that', 'it', 'is', 'for',
]);

/**
 * Security and reliability rules for stacks built from `@cdktf/provider-google` resources, in the
 * manner of cdk-nag: add it as an aspect and every violation becomes an error annotation of the
 * form `[RULE_ID] what is wrong — how to fix (resource address)`, which fails `app.synth()` and
 * `cdktf synth` (a rule of severity `warning` leaves a warning annotation instead). A rule can be waived for a construct and everything below it with
 * `GcpPolicyPack.suppress`, which needs a real reason and is reported as an info annotation.
 *
 * @example
 * Aspects.of(stack).add(new GcpPolicyPack({ environment: 'prod' }));
 * GcpPolicyPack.suppress(deployerGrant, 'GCP-IAM-004', 'the CI deployer creates datasets and topics in this project');
 */
export class GcpPolicyPack implements IAspect {
  /**
   * Waives `ruleId` for `scope` and every construct below it. The reason must say why the rule
   * does not apply (at least 20 characters, not placeholder words); otherwise synth fails with an
   * error naming the rule, and the violation is still reported.
   */
  static suppress(scope: IConstruct, ruleId: string, reason: string): void {
    const suppression: Suppression = { ruleId, reason };
    scope.node.addMetadata(SUPPRESSION_METADATA, suppression);
  }

  /** Marks every `google_storage_bucket` at or below `scope` as holding Terraform state (GCP-GCS-003 applies). */
  static markStateBucket(scope: IConstruct): void {
    scope.node.addMetadata(STATE_BUCKET_METADATA, true);
  }

  /** The pack's annotations at or below `scope`; present once aspects have run (any synth). */
  static findings(scope: IConstruct): PolicyFinding[] {
    return scope.node.findAll().flatMap((construct) =>
      construct.node.metadata.flatMap((entry): PolicyFinding[] => {
        const level = findingLevel(entry.type);
        const ruleId = typeof entry.data === 'string' ? FINDING_MESSAGE.exec(entry.data)?.[1] : undefined;
        if (level === undefined || ruleId === undefined) return [];
        return [{ ruleId, level, message: entry.data, constructPath: construct.node.path }];
      }),
    );
  }

  /** The environment the pack checks for; prod-only rules apply when it is `'prod'`. */
  readonly environment: string;
  /** Whether topics, datasets and tables must name a Cloud KMS key. */
  readonly requireCmek: boolean;
  private readonly context: PolicyContext;

  constructor(options: GcpPolicyPackOptions = {}) {
    this.environment = options.environment ?? 'prod';
    if (this.environment.trim() === '') {
      throw new Error('GcpPolicyPack: options.environment must be a non-empty name such as "dev" or "prod"');
    }
    this.requireCmek = options.requireCmek ?? false;
    const stateBucketNames = new Set(options.stateBucketNames ?? []);
    this.context = {
      production: this.environment === 'prod',
      requireCmek: this.requireCmek,
      isStateBucket: (bucket: StorageBucket) =>
        bucket.node.scopes.some((scope) => scope.node.metadata.some((entry) => entry.type === STATE_BUCKET_METADATA)) ||
        (bucket.nameInput !== undefined && stateBucketNames.has(bucket.nameInput)),
    };
  }

  visit(node: IConstruct): void {
    reportInvalidSuppressions(node);
    for (const rule of POLICY_RULES) {
      for (const problem of rule.findProblems(node, this.context)) {
        const message = `[${rule.id}] ${readable(node, problem)} — ${rule.fix} (${addressOf(node)})`;
        const waiver = acceptedSuppression(node, rule.id);
        if (waiver === undefined) {
          annotateOnce(node, rule.severity === 'warning' ? AnnotationMetadataEntryType.WARN : AnnotationMetadataEntryType.ERROR, message);
        } else {
          annotateOnce(node, AnnotationMetadataEntryType.INFO, `${message} — suppressed on ${waiver.path}: ${waiver.reason}`);
        }
      }
    }
  }
}

function findingLevel(type: string): PolicyFinding['level'] | undefined {
  if (type === AnnotationMetadataEntryType.ERROR) return 'error';
  if (type === AnnotationMetadataEntryType.WARN) return 'warning';
  if (type === AnnotationMetadataEntryType.INFO) return 'info';
  return undefined;
}

function suppressionsOn(construct: IConstruct): Suppression[] {
  return construct.node.metadata.filter((entry) => entry.type === SUPPRESSION_METADATA).map((entry) => entry.data as Suppression);
}

/** Why `reason` does not justify a suppression, or undefined when it does. */
function reasonProblem(reason: string): string | undefined {
  const trimmed = reason.trim();
  if (trimmed.length < MIN_SUPPRESSION_REASON_LENGTH) {
    return `is ${trimmed.length} characters long; at least ${MIN_SUPPRESSION_REASON_LENGTH} are needed`;
  }
  const words = trimmed.toLowerCase().match(/[a-z0-9]+/g) ?? [];
  const meaningfulWords = new Set(words.filter((word) => word.length > 1 && !PLACEHOLDER_WORDS.has(word)));
  return meaningfulWords.size < 3 ? `"${trimmed}" is placeholder words` : undefined;
}

function reportInvalidSuppressions(node: IConstruct): void {
  for (const { ruleId, reason } of suppressionsOn(node)) {
    if (!KNOWN_RULE_IDS.has(ruleId)) {
      annotateOnce(
        node,
        AnnotationMetadataEntryType.ERROR,
        `[${UNKNOWN_RULE_SUPPRESSION_ID}] suppression of unknown rule "${ruleId}" on ${node.node.path} — use one of ${[...KNOWN_RULE_IDS].join(', ')}`,
      );
      continue;
    }
    const problem = reasonProblem(reason);
    if (problem !== undefined) {
      annotateOnce(
        node,
        AnnotationMetadataEntryType.ERROR,
        `[${ruleId}] suppression on ${node.node.path} is rejected: its reason ${problem} — say why the rule does not apply here`,
      );
    }
  }
}

/** The nearest valid suppression of `ruleId` on `node` or above it. */
function acceptedSuppression(node: IConstruct, ruleId: string): { path: string; reason: string } | undefined {
  for (const scope of [...node.node.scopes].reverse()) {
    const match = suppressionsOn(scope).find((s) => s.ruleId === ruleId && reasonProblem(s.reason) === undefined);
    if (match !== undefined) return { path: scope.node.path, reason: match.reason.trim() };
  }
  return undefined;
}

/** Shows references as the Terraform expressions they synthesize to (`${google_service_account.api.member}`). */
function readable(node: IConstruct, text: string): string {
  return String(Tokenization.resolve(text, { scope: node, resolver: new DefaultTokenResolver(new StringConcat()) }));
}

function addressOf(node: IConstruct): string {
  if (node instanceof TerraformDataSource) return `data.${node.terraformResourceType}.${node.friendlyUniqueId}`;
  if (node instanceof TerraformResource) return `${node.terraformResourceType}.${node.friendlyUniqueId}`;
  return node.node.path;
}

// Aspects run again on every synth of the same tree (Testing.synth, then app.synth): report each finding once.
function annotateOnce(node: IConstruct, level: AnnotationMetadataEntryType, message: string): void {
  if (node.node.metadata.some((entry) => entry.type === level && entry.data === message)) return;
  const annotations = Annotations.of(node);
  if (level === AnnotationMetadataEntryType.ERROR) annotations.addError(message);
  else if (level === AnnotationMetadataEntryType.WARN) annotations.addWarning(message);
  else annotations.addInfo(message);
}
