import { Construct } from 'constructs';
import type { ITerraformDependable } from 'cdktf';
import { ArtifactRegistryRepository } from '@cdktf/provider-google/lib/artifact-registry-repository';
import { ArtifactRegistryRepositoryIamMember } from '@cdktf/provider-google/lib/artifact-registry-repository-iam-member';
import { ProjectIamMember, type ProjectIamMemberCondition } from '@cdktf/provider-google/lib/project-iam-member';
import { ServiceAccount } from '@cdktf/provider-google/lib/service-account';
import { Sleep } from '@cdktf/provider-time/lib/sleep';
import { DAY_SECONDS, seconds } from '../lambda-src/rules/durations';
import { kebab, type NameRule } from '../lambda-src/rules/naming';
import type { ServiceAccountReference } from './grantee';
import { fitName, SERVICE_ACCOUNT_ID, serviceAccountId } from './private/naming';
import { projectData } from './private/project';
import { ensureTimeProvider } from './private/time-provider';
import { secondsOf, times } from './private/tokens';
import { integerIn, labelProblems, matches, validateProps } from './private/validation';

/** Props of {@link FunctionBuildEnvironment}. */
export interface FunctionBuildEnvironmentProps {
  /**
   * Region of the image repository, and of the functions that build here:
   * Cloud Run functions copies each function's source into a bucket of the
   * function's own region, which is the one the build account may read.
   */
  readonly location: string;
  /**
   * Project of the repository and the build account.
   * @default the provider's project
   */
  readonly project?: string;
  /**
   * Artifact Registry repository id (lowercase letters, digits, hyphens).
   * @default the construct id in kebab case
   */
  readonly repositoryId?: string;
  /**
   * Account id of the build service account this construct creates (ignored
   * when `serviceAccount` is given).
   * @default `<construct id in kebab case>-build`
   */
  readonly serviceAccountId?: string;
  /**
   * An existing service account to build as, e.g. one a bootstrap stack made
   * (whoever deploys then needs `iam.serviceAccounts.actAs` on it, not the
   * right to create accounts). It must belong to `project`.
   * @default a new service account, `serviceAccountId`
   */
  readonly serviceAccount?: ServiceAccountReference;
  /**
   * Whether this construct grants the build account its project-level roles,
   * {@link BUILD_ROLES} `writeLogs` and `readSources` (conditioned by
   * {@link functionSourcesCondition}). Set it to false when whoever made the
   * account granted them, so that whoever deploys needs no right to change
   * the project's IAM policy. The push grant on the repository is made either way.
   * @default true
   */
  readonly grantProjectRoles?: boolean;
  /**
   * Newest versions of each image kept whatever their age, so a rollback to
   * a recent revision finds its image (1-100).
   * @default 5
   */
  readonly keepRecentVersions?: number;
  /**
   * Age in days after which any other image version is deleted (1-3650).
   * Running revisions are not affected: Cloud Run serves from its own copy.
   * @default 30
   */
  readonly deleteAfterDays?: number;
  /**
   * Labels on the repository.
   * @default no labels
   */
  readonly labels?: Record<string, string>;
}

const REPOSITORY_ID: NameRule = {
  pattern: /^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/,
  rule: 'must be 1-63 lowercase letters, digits or hyphens, starting with a letter',
};
/** IAM grants take effect within about a minute; the first build must not start before. */
const IAM_PROPAGATION_SECONDS = 60;

/** Roles the build account holds, each on the narrowest resource IAM offers for it. */
export const BUILD_ROLES = {
  /** On the repository: push the built image (and read the layer cache of earlier builds). */
  pushImages: 'roles/artifactregistry.writer',
  /** On the project (logs have no narrower resource): write the build log. */
  writeLogs: 'roles/logging.logWriter',
  /** On the project, conditioned to the region's `gcf-v2-sources-…` bucket: fetch the function source. */
  readSources: 'roles/storage.objectViewer',
} as const;

/**
 * The IAM condition limiting {@link BUILD_ROLES} `readSources` to the bucket
 * Cloud Run functions copies function sources to in `location`,
 * `gcf-v2-sources-<project number>-<location>` (Google creates it at the
 * first deploy, so no grant on the bucket itself can be made beforehand).
 */
export function functionSourcesCondition(projectNumber: string, location: string): ProjectIamMemberCondition {
  return {
    title: 'function-sources-only',
    description: `Only the sources Cloud Run functions copies to gcf-v2-sources in ${location}`,
    // With CMEK the bucket name gains a key-hash suffix, so this is a prefix.
    expression: `resource.name.startsWith("projects/_/buckets/gcf-v2-sources-${projectNumber}-${location}")`,
  };
}

/**
 * Where and as whom Cloud Run functions build: a dedicated build service
 * account (never the default compute account, which organization policies
 * often leave without rights; created here unless an existing one is given)
 * and a Docker repository in Artifact Registry with cleanup policies, so
 * images do not pile up forever in the unmanaged `gcf-artifacts` repository.
 *
 * The build account may push to this repository only, write logs, and read
 * the copies Cloud Run functions makes of function sources in
 * `gcf-v2-sources-<project number>-<location>` (the bucket the build fetches
 * from; Google creates it at the first deploy, so the grant is a project
 * grant with an IAM condition naming that bucket). Share one environment
 * between the functions of a region, as with `FunctionSourceBucket`.
 * Functions depend on {@link grants}, which end with a wait for IAM to
 * propagate, so the first build already has its rights.
 */
export class FunctionBuildEnvironment extends Construct {
  /** The service account builds run as. */
  public readonly serviceAccount: ServiceAccountReference;
  /** The Docker repository built images are pushed to. */
  public readonly repository: ArtifactRegistryRepository;
  /** `projects/…/serviceAccounts/…`: what `build_config.service_account` takes. */
  public readonly buildServiceAccount: string;
  /** `projects/…/locations/…/repositories/…`: what `build_config.docker_repository` takes. */
  public readonly dockerRepository: string;
  /** Region of the repository and of the functions that build here. */
  public readonly location: string;
  /** The build account's role grants and the IAM propagation wait after them: what a function must wait for. */
  public readonly grants: readonly ITerraformDependable[];

  constructor(scope: Construct, id: string, props: FunctionBuildEnvironmentProps) {
    super(scope, id);
    const repositoryId = props.repositoryId ?? fitName(kebab(id), 63);
    const accountId = props.serviceAccountId ?? serviceAccountId(id, '-build');
    const keepRecentVersions = props.keepRecentVersions ?? 5;
    const deleteAfterDays = props.deleteAfterDays ?? 30;
    validateProps(this, [
      matches('repositoryId', repositoryId, REPOSITORY_ID),
      matches('serviceAccountId', accountId, SERVICE_ACCOUNT_ID),
      integerIn('keepRecentVersions', keepRecentVersions, { min: 1, max: 100 }),
      integerIn('deleteAfterDays', deleteAfterDays, { min: 1, max: 3650 }),
      ...labelProblems('labels', props.labels),
    ]);
    this.location = props.location;

    const createdAccount =
      props.serviceAccount === undefined
        ? new ServiceAccount(this, 'service-account', { accountId, displayName: 'Builds Cloud Run functions', project: props.project })
        : undefined;
    this.serviceAccount = createdAccount ?? props.serviceAccount!;
    this.repository = new ArtifactRegistryRepository(this, 'repository', {
      repositoryId,
      location: props.location,
      project: props.project,
      format: 'DOCKER',
      description: 'Images of Cloud Run functions (managed by cdktf).',
      labels: props.labels,
      cleanupPolicyDryRun: false,
      // A version matched by both policies is kept: the newest ones survive whatever their age.
      cleanupPolicies: [
        {
          id: 'keep-recent-versions',
          action: 'KEEP',
          mostRecentVersions: { keepCount: keepRecentVersions },
        },
        {
          id: 'delete-old-versions',
          action: 'DELETE',
          condition: { tagState: 'ANY', olderThan: secondsOf(times(deleteAfterDays, DAY_SECONDS)) },
        },
      ],
    });
    this.dockerRepository = this.repository.id;

    const project = projectData(this, props.project);
    this.buildServiceAccount = createdAccount?.id ?? `projects/${props.project ?? project.projectId}/serviceAccounts/${this.serviceAccount.email}`;
    const member = this.serviceAccount.member;
    const roleGrants: ITerraformDependable[] = [
      new ArtifactRegistryRepositoryIamMember(this, 'push-images', {
        project: this.repository.project,
        location: this.repository.location,
        repository: this.repository.name,
        role: BUILD_ROLES.pushImages,
        member,
      }),
    ];
    if (props.grantProjectRoles ?? true) {
      roleGrants.push(
        new ProjectIamMember(this, 'write-logs', { project: project.projectId, role: BUILD_ROLES.writeLogs, member }),
        new ProjectIamMember(this, 'read-sources', {
          project: project.projectId,
          role: BUILD_ROLES.readSources,
          member,
          condition: functionSourcesCondition(project.number, props.location),
        }),
      );
    }
    ensureTimeProvider(this);
    // Runs once; again only if the build account is replaced, since its grants then start over.
    const propagation = new Sleep(this, 'iam-propagation', {
      createDuration: seconds(IAM_PROPAGATION_SECONDS),
      triggers: { build_account: createdAccount?.uniqueId ?? this.serviceAccount.email },
      dependsOn: roleGrants,
    });
    this.grants = [...roleGrants, propagation];
  }
}

