/**
 * The one-time foundation GitHub Actions deploys through: the Terraform state
 * bucket, keyless GitHub OIDC federation (Workload Identity Federation), a
 * deployer service account for `deploy.yml` and a read-only planner for the
 * pull-request plan in `ci.yml`. A human applies it once with local state
 * (it creates the bucket every other stack keeps its state in).
 */
import { Construct } from 'constructs';
import { Aspects, LocalBackend, TerraformStack } from 'cdktf';
import { ProjectService } from '@cdktf/provider-google/lib/project-service';
import { StorageBucket } from '@cdktf/provider-google/lib/storage-bucket';
import { StorageBucketIamMember } from '@cdktf/provider-google/lib/storage-bucket-iam-member';
import { IamWorkloadIdentityPool } from '@cdktf/provider-google/lib/iam-workload-identity-pool';
import { IamWorkloadIdentityPoolProvider } from '@cdktf/provider-google/lib/iam-workload-identity-pool-provider';
import { ServiceAccount } from '@cdktf/provider-google/lib/service-account';
import { ServiceAccountIamMember } from '@cdktf/provider-google/lib/service-account-iam-member';
import { ProjectIamMember } from '@cdktf/provider-google/lib/project-iam-member';
import { GcpPolicyPack } from '../constructs/policy-pack';
import type { BootstrapConfig } from './bootstrap-config';
import { kebab } from '../lambda-src/rules/naming';
import { addGoogleProvider } from './google-provider';
import { addOutput } from './outputs';

export const GITHUB_OIDC_ISSUER = 'https://token.actions.githubusercontent.com';

/** APIs the ingest stacks and this stack call, enabled in every project involved. */
export const REQUIRED_SERVICES = [
  'cloudfunctions.googleapis.com',
  'run.googleapis.com',
  'cloudbuild.googleapis.com',
  'artifactregistry.googleapis.com',
  'pubsub.googleapis.com',
  'bigquery.googleapis.com',
  'storage.googleapis.com',
  'iam.googleapis.com',
  'iamcredentials.googleapis.com',
  'sts.googleapis.com',
  'monitoring.googleapis.com',
  'logging.googleapis.com',
  'secretmanager.googleapis.com',
  'eventarc.googleapis.com',
  'cloudresourcemanager.googleapis.com',
] as const;

/** Why an identity holds a project role, and for an IAM-admin role, which roles it may hand out. */
export interface ProjectRoleGrant {
  readonly why: string;
  /**
   * A GcpPolicyPack rule this grant breaks on purpose, and why no narrower grant can work.
   * @default none: the grant must pass every rule
   */
  readonly waives?: { readonly rule: string; readonly reason: string };
  /**
   * Limits the grant with an IAM condition to adding or removing only these
   * roles, for roles that can change the project's IAM policy.
   * @default no condition
   */
  readonly onlyGranting?: readonly string[];
}

/**
 * The project-level roles the ingest stacks themselves grant, none of which
 * IAM offers on a narrower resource: BigQuery jobs for the read API; log
 * writing for the function build account, and its read of the source copies
 * in Google's `gcf-v2-sources-…` bucket (conditioned to that bucket, which
 * does not exist before the first deploy).
 */
export const ROLES_GRANTED_BY_INGEST_STACKS = ['roles/bigquery.jobUser', 'roles/logging.logWriter', 'roles/storage.objectViewer'] as const;

/**
 * Project roles of the deployer in each deploy project. No primitive role:
 * each is the narrowest predefined role that can create, change and delete
 * one kind of resource the ingest stacks define.
 */
export const DEPLOYER_PROJECT_ROLES: Readonly<Record<string, ProjectRoleGrant>> = {
  'roles/cloudfunctions.developer': { why: 'create, update and delete the 2nd-gen functions (their invoker IAM lives on the Cloud Run service)' },
  'roles/run.admin': {
    why: "set invoker IAM on the Cloud Run services behind the functions; includes run.routes.invoke, which the smoke test's identity token relies on",
  },
  'roles/storage.admin': { why: 'create the function-source bucket and upload the content-addressed source archives' },
  'roles/artifactregistry.admin': {
    why: "create the functions' image repository, set its cleanup policies and grant the build account push rights on it",
  },
  'roles/pubsub.admin': {
    why: 'topics, dead-letter topic, push subscription and their IAM bindings',
    waives: { rule: 'GCP-IAM-004', reason: 'the deployer creates the topics and subscriptions, so no narrower resource exists before its first apply' },
  },
  'roles/bigquery.dataOwner': {
    why: 'create the dataset, table and latest-version view and grant table-level access (no job or query rights)',
    waives: { rule: 'GCP-IAM-004', reason: 'the deployer creates the dataset, so no narrower resource exists before its first apply' },
  },
  'roles/monitoring.editor': { why: 'alert policies, notification channels, the custom service and its SLO, dashboards' },
  'roles/logging.configWriter': { why: 'log-based metrics the alerts and the SLO are built on' },
  'roles/iam.serviceAccountAdmin': {
    why: 'create the per-function, build and push-invoker service accounts and set IAM on them (token creation for the push identity)',
  },
  'roles/iam.serviceAccountUser': {
    why: 'attach those service accounts to the functions and to the push subscription (iam.serviceAccounts.actAs); the README explains why this is project-wide',
    waives: {
      rule: 'GCP-IAM-003',
      reason: 'the function service accounts are created by the same apply that attaches them, and IAM Conditions cannot narrow grants on service accounts',
    },
  },
  'roles/resourcemanager.projectIamAdmin': {
    why: 'the read API\'s service account needs roles/bigquery.jobUser and the build account log writing and source reads, which exist only at project level; an IAM condition lets the deployer grant those roles and no other',
    onlyGranting: ROLES_GRANTED_BY_INGEST_STACKS,
  },
  'roles/browser': { why: 'read project metadata (e.g. the project number in service-agent emails)' },
};

/**
 * Project roles of the pull-request planner in the dev project: enough to
 * refresh every resource of the `dev` stack and read its IAM policies, nothing
 * that changes anything.
 */
export const PLANNER_PROJECT_ROLES: Readonly<Record<string, ProjectRoleGrant>> = {
  'roles/browser': { why: 'read project metadata' },
  'roles/iam.securityReviewer': { why: 'read the IAM policies of the project, functions, topics, datasets and service accounts' },
  'roles/iam.serviceAccountViewer': { why: 'read the per-function service accounts' },
  'roles/cloudfunctions.viewer': { why: 'read the functions' },
  'roles/run.viewer': { why: 'read the Cloud Run services behind the functions' },
  'roles/pubsub.viewer': { why: 'read topics, schema and subscriptions' },
  'roles/bigquery.metadataViewer': { why: 'read dataset, table and view definitions (not their rows)' },
  'roles/monitoring.viewer': { why: 'read alert policies, channels, SLOs and dashboards' },
  'roles/logging.viewer': { why: 'read log-based metric definitions' },
  'roles/storage.bucketViewer': { why: 'read bucket metadata of the function-source bucket' },
  'roles/storage.objectViewer': { why: 'read the metadata of the uploaded source archives' },
  'roles/artifactregistry.reader': { why: "read the functions' image repository and its cleanup policies" },
};

/** Noncurrent state versions older than this many days are deleted... */
export const STATE_NONCURRENT_RETENTION_DAYS = 90;
/** ...but never while fewer than this many newer versions exist, so a rarely-changed state keeps its history. */
export const STATE_NONCURRENT_VERSIONS_KEPT = 10;

export const DEPLOYER_ACCOUNT_ID = 'github-deployer';
export const PLANNER_ACCOUNT_ID = 'github-planner';
const OIDC_PROVIDER_ID = 'github-oidc';

/**
 * `attribute_condition` of the OIDC provider: only tokens minted for this
 * repository, identified by GitHub's immutable numeric ids (a deleted or
 * renamed repository's name can be taken by someone else; its id cannot).
 */
export function repositoryCondition(github: BootstrapConfig['github']): string {
  return `assertion.repository_id == '${github.repositoryId}' && assertion.repository_owner_id == '${github.ownerId}'`;
}

/** IAM condition that lets an IAM-admin role change bindings of `roles` only. */
export function grantLimitCondition(roles: readonly string[]): string {
  return `api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([${roles.map((role) => `'${role}'`).join(', ')}])`;
}

export class BootstrapStack extends TerraformStack {
  readonly stateBucket: StorageBucket;
  readonly identityPool: IamWorkloadIdentityPool;
  readonly oidcProvider: IamWorkloadIdentityPoolProvider;
  readonly deployer: ServiceAccount;
  readonly planner: ServiceAccount;

  constructor(scope: Construct, id: string, config: BootstrapConfig) {
    super(scope, id);
    const { project, github } = config;

    Aspects.of(this).add(new GcpPolicyPack());
    new LocalBackend(this, { path: `../../../terraform.${id}.tfstate` });
    addGoogleProvider(this, { project, region: config.region });

    const services = new Map<string, ProjectService>();
    const projects = [...new Set([project, config.deployProjects.dev, config.deployProjects.prod])];
    for (const target of projects) {
      for (const service of REQUIRED_SERVICES) {
        services.set(
          `${target}/${service}`,
          new ProjectService(this, kebab(`service-${target}-${service.split('.')[0]}`), {
            project: target,
            service,
            // Destroying this stack must never switch off APIs the ingest stacks run on.
            disableOnDestroy: false,
          }),
        );
      }
    }
    const api = (target: string, service: (typeof REQUIRED_SERVICES)[number]): ProjectService =>
      services.get(`${target}/${service}`)!;

    this.stateBucket = new StorageBucket(this, 'state-bucket', {
      name: config.stateBucket,
      project,
      location: config.region,
      uniformBucketLevelAccess: true,
      publicAccessPrevention: 'enforced',
      versioning: { enabled: true },
      lifecycleRule: [
        {
          condition: {
            withState: 'ARCHIVED',
            daysSinceNoncurrentTime: STATE_NONCURRENT_RETENTION_DAYS,
            numNewerVersions: STATE_NONCURRENT_VERSIONS_KEPT,
          },
          action: { type: 'Delete' },
        },
      ],
      forceDestroy: false,
      lifecycle: { preventDestroy: true },
      dependsOn: [api(project, 'storage.googleapis.com')],
    });
    GcpPolicyPack.markStateBucket(this.stateBucket);

    this.identityPool = new IamWorkloadIdentityPool(this, 'github-pool', {
      project,
      workloadIdentityPoolId: config.identityPoolId,
      displayName: 'GitHub Actions',
      description: `Workflows of ${github.owner}/${github.name}`,
      dependsOn: [api(project, 'iam.googleapis.com'), api(project, 'sts.googleapis.com')],
    });

    this.oidcProvider = new IamWorkloadIdentityPoolProvider(this, 'github-provider', {
      project,
      workloadIdentityPoolId: this.identityPool.workloadIdentityPoolId,
      workloadIdentityPoolProviderId: OIDC_PROVIDER_ID,
      displayName: 'GitHub OIDC',
      oidc: { issuerUri: GITHUB_OIDC_ISSUER },
      attributeMapping: {
        'google.subject': 'assertion.sub',
        'attribute.repository': 'assertion.repository',
        'attribute.repository_owner_id': 'assertion.repository_owner_id',
        'attribute.ref': 'assertion.ref',
      },
      attributeCondition: repositoryCondition(github),
    });

    const repositoryPrincipals = `principalSet://iam.googleapis.com/${this.identityPool.name}/attribute.repository/${github.owner}/${github.name}`;

    this.deployer = this.federatedServiceAccount(
      DEPLOYER_ACCOUNT_ID,
      'GitHub Actions deployer',
      repositoryPrincipals,
      api(project, 'iam.googleapis.com'),
    );
    this.planner = this.federatedServiceAccount(
      PLANNER_ACCOUNT_ID,
      'GitHub Actions pull-request planner (read-only)',
      repositoryPrincipals,
      api(project, 'iam.googleapis.com'),
    );

    const deployTargets = [...new Set([config.deployProjects.dev, config.deployProjects.prod])];
    for (const target of deployTargets) {
      this.grantProjectRoles(DEPLOYER_ACCOUNT_ID, this.deployer, target, DEPLOYER_PROJECT_ROLES, api(target, 'cloudresourcemanager.googleapis.com'));
    }
    const devProject = config.deployProjects.dev;
    this.grantProjectRoles(PLANNER_ACCOUNT_ID, this.planner, devProject, PLANNER_PROJECT_ROLES, api(devProject, 'cloudresourcemanager.googleapis.com'));

    // The GCS backend reads state and writes a lock object beside it on every apply.
    new StorageBucketIamMember(this, 'deployer-state-access', {
      bucket: this.stateBucket.name,
      role: 'roles/storage.objectUser',
      member: this.deployer.member,
    });
    // Plans run with -lock=false, so reading state is all the planner ever needs:
    // a pull-request branch can never rewrite or delete state.
    new StorageBucketIamMember(this, 'planner-state-read', {
      bucket: this.stateBucket.name,
      role: 'roles/storage.objectViewer',
      member: this.planner.member,
    });

    const outputs: Record<string, string> = {
      workload_identity_provider: this.oidcProvider.name,
      deployer_service_account: this.deployer.email,
      planner_service_account: this.planner.email,
      state_bucket: this.stateBucket.name,
    };
    for (const [name, value] of Object.entries(outputs)) addOutput(this, name, value);
  }

  /** A keyless service account that only this repository's workflows can impersonate. */
  private federatedServiceAccount(
    accountId: string,
    displayName: string,
    repositoryPrincipals: string,
    iamApi: ProjectService,
  ): ServiceAccount {
    const account = new ServiceAccount(this, accountId, {
      project: iamApi.project,
      accountId,
      displayName,
      description: 'Impersonated by GitHub Actions through workload identity federation; it has no keys.',
      dependsOn: [iamApi],
    });
    new ServiceAccountIamMember(this, `${accountId}-workload-identity-user`, {
      serviceAccountId: account.name,
      role: 'roles/iam.workloadIdentityUser',
      member: repositoryPrincipals,
    });
    return account;
  }

  private grantProjectRoles(
    accountId: string,
    account: ServiceAccount,
    project: string,
    roles: Readonly<Record<string, ProjectRoleGrant>>,
    resourceManagerApi: ProjectService,
  ): void {
    for (const [role, { onlyGranting, waives }] of Object.entries(roles)) {
      const grant = new ProjectIamMember(this, kebab(`${accountId}-${project}-${role.replace('roles/', '')}`), {
        project,
        role,
        member: account.member,
        condition: onlyGranting && {
          title: 'only-ingest-stack-roles',
          description: `May only grant or revoke ${onlyGranting.join(', ')}`,
          expression: grantLimitCondition(onlyGranting),
        },
        dependsOn: [resourceManagerApi],
      });
      if (waives) GcpPolicyPack.suppress(grant, waives.rule, waives.reason);
    }
  }
}
