import type { IConstruct } from 'constructs';
import type { StorageBucket } from '@cdktf/provider-google/lib/storage-bucket';

/** What a rule may know about the stack it is checking. */
export interface PolicyContext {
  /** True when prod-only rules apply. */
  readonly production: boolean;
  /** True when topics, datasets and tables must be encrypted with a customer-managed key. */
  readonly requireCmek: boolean;
  /** Whether this bucket holds Terraform state (marked, or named in the pack's options). */
  isStateBucket(bucket: StorageBucket): boolean;
}

/** One check of the policy pack. */
export interface PolicyRule {
  /** Stable identifier used in messages and suppressions, e.g. `GCP-IAM-001`. */
  readonly id: string;
  /** What the rule requires, in one sentence. */
  readonly title: string;
  /** Equivalent checkov (`CKV_GCP_*`) and trivy (`AVD-GCP-*`) check ids, if any exist. */
  readonly references: readonly string[];
  /** How to comply, appended to every violation message. */
  readonly fix: string;
  /**
   * `error` fails synthesis; `warning` is reported and lets it pass (for what is
   * often a mistake but can be meant, such as a broad role a workload really uses).
   * @default 'error'
   */
  readonly severity?: 'error' | 'warning';
  /**
   * Describes each way `node` breaks the rule; empty when it complies or the rule does not apply to it.
   * Rules read the construct's `…Input` getters and judge only literal values: a token is taken as set
   * and never as a bad value.
   */
  findProblems(node: IConstruct, context: PolicyContext): readonly string[];
}
