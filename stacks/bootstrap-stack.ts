/**
 * The one-time foundation GitHub Actions deploys through: the Terraform state
 * bucket, keyless GitHub OIDC federation (Workload Identity Federation), one
 * deployer service account per environment (only a workflow job running in
 * that GitHub environment can impersonate it, and it holds roles in that
 * environment's project only), and, in each environment's project, the
 * identities and custom roles the ingest stack attaches (`identities.ts`)
 * with the project-level grants IAM offers on no narrower resource. A human
 * with owner rights applies it once with local state (it creates the bucket
 * every other stack keeps its state in). docs/iam.md explains every grant.
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
import { ProjectIamCustomRole } from '@cdktf/provider-google/lib/project-iam-custom-role';
import { ProjectIamMember } from '@cdktf/provider-google/lib/project-iam-member';
import { DataGoogleProject } from '@cdktf/provider-google/lib/data-google-project';
import { BUILD_ROLES, functionSourcesCondition } from '../constructs/function-build-environment';
import { GcpPolicyPack } from '../constructs/policy-pack';
import { pubsubServiceAgentMember } from '../constructs/private/project';
import { JOB_USER_ROLE, TABLE_INSERT_PERMISSIONS, TABLE_READ_PERMISSIONS } from '../constructs/warehouse-table';
import type { BootstrapConfig } from './bootstrap-config';
import { kebab } from '../lambda-src/rules/naming';
import { addGoogleProvider } from './google-provider';
import { INGEST_IDENTITIES, stateObjectPrefix, TABLE_ROLE_IDS, type IngestIdentityName } from './identities';
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

/** Why an identity holds a role, and the GcpPolicyPack rule it breaks on purpose, if any. */
export interface RoleGrant {
  readonly why: string;
  /**
   * A GcpPolicyPack rule this grant breaks on purpose, and why no narrower grant can work.
   * @default none: the grant must pass every rule
   */
  readonly waives?: { readonly rule: string; readonly reason: string };
}

/**
 * Project roles of each environment's deployer, in that environment's
 * project only. No primitive role and no IAM-admin role: each is the
 * narrowest predefined role that can create, change and delete one kind of
 * resource the ingest stacks define.
 */
export const DEPLOYER_PROJECT_ROLES: Readonly<Record<string, RoleGrant>> = {
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
    why: 'create the dataset, table and latest-version view and bind the table roles on the table (no job or query rights)',
    waives: { rule: 'GCP-IAM-004', reason: 'the deployer creates the dataset, so no narrower resource exists before its first apply' },
  },
  'roles/monitoring.editor': { why: 'alert policies, notification channels, the custom service and its SLO, dashboards' },
  'roles/logging.configWriter': { why: 'log-based metrics the alerts and the SLO are built on' },
  'roles/browser': { why: 'read project metadata (the project number in the Pub/Sub service agent e-mail the ingest stack grants to)' },
};

/** The deployer's roles on single resources, beside its project roles. */
export const DEPLOYER_RESOURCE_ROLES: Readonly<Record<string, RoleGrant>> = {
  'roles/iam.serviceAccountUser': {
    why: 'attach the API, subscriber, push-invoker and build accounts of its environment (iam.serviceAccounts.actAs), granted on each of those four accounts and no other',
  },
  'roles/storage.objectUser': {
    why: "read and write its environment's state and lock objects, conditioned to that environment's prefix of the state bucket",
  },
};

/**
 * Project-level roles of the identities the ingest stacks attach, made here
 * because BigQuery jobs and log writing exist only at project level (and the
 * function-source bucket does not exist before the first deploy).
 */
export const IDENTITY_PROJECT_ROLES: Readonly<Partial<Record<IngestIdentityName, Readonly<Record<string, RoleGrant>>>>> = {
  api: { [JOB_USER_ROLE]: { why: 'run the query jobs of the GET routes (reads no data by itself)' } },
  build: {
    [BUILD_ROLES.writeLogs]: { why: 'write the build log' },
    [BUILD_ROLES.readSources]: { why: "read the function sources Cloud Run functions copies into gcf-v2-sources-<project number>-<region>, conditioned to that bucket" },
  },
};

/** Noncurrent state versions older than this many days are deleted... */
export const STATE_NONCURRENT_RETENTION_DAYS = 90;
/** ...but never while fewer than this many newer versions exist, so a rarely-changed state keeps its history. */
export const STATE_NONCURRENT_VERSIONS_KEPT = 10;

/** The environments with a deployer, named as the GitHub environments (and ingest stacks) they deploy. */
export const DEPLOY_ENVIRONMENTS = ['dev', 'prod'] as const;
export type DeployEnvironment = (typeof DEPLOY_ENVIRONMENTS)[number];

/** Account id of the deployer of `environment`. */
export function deployerAccountId(environment: DeployEnvironment): string {
  return `github-deployer-${environment}`;
}
const OIDC_PROVIDER_ID = 'github-oidc';

/**
 * `attribute_condition` of the OIDC provider: only tokens minted for this
 * repository, identified by GitHub's immutable numeric ids (a deleted or
 * renamed repository's name can be taken by someone else; its id cannot).
 */
export function repositoryCondition(github: BootstrapConfig['github']): string {
  return `assertion.repository_id == '${github.repositoryId}' && assertion.repository_owner_id == '${github.ownerId}'`;
}

/**
 * The `sub` claims of a job of this repository running in the GitHub
 * environment `environment`: GitHub's name-based default, and the form with
 * immutable ids that repositories created or renamed since July 2026 (or
 * opted in) get. Binding both keeps deploys working across that switch; the
 * provider's id condition already rules out another repository by that name.
 */
export function environmentSubjects(github: BootstrapConfig['github'], environment: DeployEnvironment): readonly string[] {
  return [
    `repo:${github.owner}/${github.name}:environment:${environment}`,
    `repo:${github.owner}@${github.ownerId}/${github.name}@${github.repositoryId}:environment:${environment}`,
  ];
}

/** IAM condition on a state-bucket grant: listing the bucket, and the objects under `prefix` only. */
export function stateObjectsCondition(bucket: string, prefix: string): string {
  return `resource.type == "storage.googleapis.com/Bucket" || resource.name.startsWith("projects/_/buckets/${bucket}/objects/${prefix}/")`;
}

/** What the bootstrap stack made for one environment. */
export interface EnvironmentFoundation {
  /** The deployer GitHub Actions impersonates from a job in this GitHub environment. */
  readonly deployer: ServiceAccount;
  /** The accounts the ingest stack attaches, in the environment's project. */
  readonly identities: Readonly<Record<IngestIdentityName, ServiceAccount>>;
  /** The custom roles bound on the warehouse table. */
  readonly tableRoles: { readonly insert: ProjectIamCustomRole; readonly read: ProjectIamCustomRole };
}

export class BootstrapStack extends TerraformStack {
  readonly stateBucket: StorageBucket;
  readonly identityPool: IamWorkloadIdentityPool;
  readonly oidcProvider: IamWorkloadIdentityPoolProvider;
  /** Per environment: its deployer, the identities its ingest stack attaches, its table roles. */
  readonly environments: Readonly<Record<DeployEnvironment, EnvironmentFoundation>>;

  private readonly config: BootstrapConfig;
  private readonly services = new Map<string, ProjectService>();

  constructor(scope: Construct, id: string, config: BootstrapConfig) {
    super(scope, id);
    this.config = config;
    const { project, github } = config;

    // It holds the prod deployer, so it gets the production rules (GCP-IAM-007 above all).
    Aspects.of(this).add(new GcpPolicyPack({ environment: 'prod' }));
    new LocalBackend(this, { path: `../../../terraform.${id}.tfstate` });
    addGoogleProvider(this, { project, region: config.region });

    const projects = [...new Set([project, config.deployProjects.dev, config.deployProjects.prod])];
    for (const target of projects) {
      for (const service of REQUIRED_SERVICES) {
        this.services.set(
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
      dependsOn: [this.api(project, 'storage.googleapis.com')],
    });
    GcpPolicyPack.markStateBucket(this.stateBucket);

    this.identityPool = new IamWorkloadIdentityPool(this, 'github-pool', {
      project,
      workloadIdentityPoolId: config.identityPoolId,
      displayName: 'GitHub Actions',
      description: `Workflows of ${github.owner}/${github.name}`,
      dependsOn: [this.api(project, 'iam.googleapis.com'), this.api(project, 'sts.googleapis.com')],
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

    this.environments = {
      dev: this.environmentFoundation('dev'),
      prod: this.environmentFoundation('prod'),
    };

    const outputs: Record<string, string> = {
      workload_identity_provider: this.oidcProvider.name,
      ...Object.fromEntries(DEPLOY_ENVIRONMENTS.map((environment) => [`${environment}_deployer_service_account`, this.environments[environment].deployer.email])),
      state_bucket: this.stateBucket.name,
    };
    for (const [name, value] of Object.entries(outputs)) addOutput(this, name, value);
  }

  private api(target: string, service: (typeof REQUIRED_SERVICES)[number]): ProjectService {
    return this.services.get(`${target}/${service}`)!;
  }

  /** The deployer of `environment`, the identities and roles its ingest stack attaches, and every grant among them. */
  private environmentFoundation(environment: DeployEnvironment): EnvironmentFoundation {
    const { project: opsProject, github } = this.config;
    const target = this.config.deployProjects[environment];
    const iamApi = this.api(target, 'iam.googleapis.com');
    const resourceManagerApi = this.api(target, 'cloudresourcemanager.googleapis.com');

    const deployerId = deployerAccountId(environment);
    const deployer = new ServiceAccount(this, deployerId, {
      project: opsProject,
      accountId: deployerId,
      displayName: `GitHub Actions deployer of ${environment}`,
      description: `Impersonated through workload identity federation by jobs in the GitHub environment ${environment} only; it has no keys.`,
      dependsOn: [this.api(opsProject, 'iam.googleapis.com')],
    });
    environmentSubjects(github, environment).forEach((subject, index) => {
      new ServiceAccountIamMember(this, `${deployerId}-workload-identity-user-${index === 0 ? 'names' : 'ids'}`, {
        serviceAccountId: deployer.name,
        role: 'roles/iam.workloadIdentityUser',
        member: `principal://iam.googleapis.com/${this.identityPool.name}/subject/${subject}`,
      });
    });
    for (const [role, { waives }] of Object.entries(DEPLOYER_PROJECT_ROLES)) {
      const grant = new ProjectIamMember(this, kebab(`${deployerId}-${role.replace('roles/', '')}`), {
        project: target,
        role,
        member: deployer.member,
        dependsOn: [resourceManagerApi],
      });
      if (waives) GcpPolicyPack.suppress(grant, waives.rule, waives.reason);
    }
    // The GCS backend reads state and writes a lock object beside it; the other environment's state is out of reach.
    new StorageBucketIamMember(this, `${deployerId}-state-access`, {
      bucket: this.stateBucket.name,
      role: 'roles/storage.objectUser',
      member: deployer.member,
      condition: {
        title: `${environment}-state-only`,
        description: `List the bucket; read and write objects under ${stateObjectPrefix(environment)}/ only`,
        expression: stateObjectsCondition(this.config.stateBucket, stateObjectPrefix(environment)),
      },
    });

    const identities = Object.fromEntries(
      (Object.keys(INGEST_IDENTITIES) as IngestIdentityName[]).map((name) => {
        const { accountId, displayName } = INGEST_IDENTITIES[name];
        const account = new ServiceAccount(this, `${environment}-${accountId}`, {
          project: target,
          accountId,
          displayName,
          description: `Attached by the ${environment} ingest stack (stacks/identities.ts); it has no keys.`,
          dependsOn: [iamApi],
        });
        // Resource-level actAs: the deployer can attach this account, and no account it was not given.
        new ServiceAccountIamMember(this, `${deployerId}-acts-as-${accountId}`, {
          serviceAccountId: account.name,
          role: 'roles/iam.serviceAccountUser',
          member: deployer.member,
        });
        return [name, account];
      }),
    ) as Record<IngestIdentityName, ServiceAccount>;

    const projectData = new DataGoogleProject(this, `${environment}-project`, { projectId: target });
    for (const [name, roles] of Object.entries(IDENTITY_PROJECT_ROLES) as [IngestIdentityName, Readonly<Record<string, RoleGrant>>][]) {
      for (const role of Object.keys(roles)) {
        new ProjectIamMember(this, kebab(`${environment}-${INGEST_IDENTITIES[name].accountId}-${role.replace('roles/', '')}`), {
          project: target,
          role,
          member: identities[name].member,
          // The same condition FunctionBuildEnvironment sets when it makes this grant itself.
          condition: role === BUILD_ROLES.readSources ? functionSourcesCondition(projectData.number, this.config.deployRegions[environment]) : undefined,
          dependsOn: [resourceManagerApi],
        });
      }
    }
    // The Pub/Sub service agent mints the push invoker's OIDC tokens, and no other account's.
    new ServiceAccountIamMember(this, `${environment}-pubsub-agent-signs-as-${INGEST_IDENTITIES.pushInvoker.accountId}`, {
      serviceAccountId: identities.pushInvoker.name,
      role: 'roles/iam.serviceAccountTokenCreator',
      member: pubsubServiceAgentMember(projectData),
    });

    const tableRole = (key: keyof typeof TABLE_ROLE_IDS, title: string, permissions: readonly string[]) =>
      new ProjectIamCustomRole(this, kebab(`${environment}-${TABLE_ROLE_IDS[key]}`), {
        project: target,
        roleId: TABLE_ROLE_IDS[key],
        title,
        description: 'Bound on the warehouse table by the ingest stack (managed by the bootstrap stack).',
        permissions: [...permissions],
        dependsOn: [iamApi],
      });
    const tableRoles = {
      insert: tableRole('insert', 'Insert rows into the ingest table', TABLE_INSERT_PERMISSIONS),
      read: tableRole('read', 'Read rows of the ingest table', TABLE_READ_PERMISSIONS),
    };
    return { deployer, identities, tableRoles };
  }
}
