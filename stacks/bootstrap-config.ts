/**
 * Configuration of the bootstrap stack: the one-time foundation (Terraform
 * state bucket, GitHub OIDC federation, deployer and planner identities) that
 * a human applies once, with local state, before GitHub Actions can deploy.
 *
 * Every field has a default and can be overridden by the environment variable
 * named in `BOOTSTRAP_ENV`, so a fork deploys to its own projects without
 * editing code. Values are validated before synthesis; an invalid one fails
 * with a message naming the field and its variable.
 */
import { BUCKET_NAME, type NameRule, PROJECT_ID, REGION } from '../lambda-src/rules/naming';
import { type ConfigChecks, configProblems, ConfigurationError, named } from './config-checks';
import { DEV, PROD } from './environments';

/** The GitHub repository whose workflows may deploy. */
export interface GitHubRepositoryConfig {
  /** User or organisation that owns the repository, as GitHub spells it. */
  readonly owner: string;
  /** Repository name, without the owner. */
  readonly name: string;
  /**
   * GitHub's numeric id of the owner (the OIDC token's `repository_owner_id`).
   * Unlike the owner's login it never changes and is never reused, so the
   * federation condition pins it.
   */
  readonly ownerId: string;
  /** GitHub's numeric id of the repository (the OIDC token's `repository_id`); pinned like `ownerId`. */
  readonly repositoryId: string;
}

/** Projects the ingest stacks deploy into. They may all be `project`. */
export interface DeployProjectsConfig {
  /** Project of the `dev` stack: the deployer deploys here and the pull-request planner reads it. */
  readonly dev: string;
  /** Project of the `prod` stack: only the deployer gets roles here. */
  readonly prod: string;
}

export interface BootstrapConfig {
  /** Project that holds the state bucket, the workload identity pool and the deployer and planner service accounts. */
  readonly project: string;
  /** Region of the state bucket (and the provider's default region). */
  readonly region: string;
  /** Globally unique name of the Terraform state bucket the ingest stacks' GCS backend uses. */
  readonly stateBucket: string;
  /** Id of the workload identity pool; a deleted pool's id stays reserved for 30 days, hence configurable. */
  readonly identityPoolId: string;
  readonly github: GitHubRepositoryConfig;
  readonly deployProjects: DeployProjectsConfig;
}

/** Environment variable that overrides each field. */
export const BOOTSTRAP_ENV = {
  project: 'BOOTSTRAP_PROJECT',
  region: 'BOOTSTRAP_REGION',
  stateBucket: 'TF_STATE_BUCKET',
  identityPoolId: 'BOOTSTRAP_IDENTITY_POOL_ID',
  'github.owner': 'BOOTSTRAP_GITHUB_OWNER',
  'github.name': 'BOOTSTRAP_GITHUB_REPOSITORY',
  'github.ownerId': 'BOOTSTRAP_GITHUB_OWNER_ID',
  'github.repositoryId': 'BOOTSTRAP_GITHUB_REPOSITORY_ID',
  'deployProjects.dev': 'DEV_PROJECT_ID',
  'deployProjects.prod': 'PROD_PROJECT_ID',
} as const;

type BootstrapField = keyof typeof BOOTSTRAP_ENV;

/**
 * The reference deployment: the ingest environments' own defaults for the
 * projects, region and state bucket (so both stacks agree without an
 * override), and this repository's GitHub identity.
 */
export const DEFAULT_BOOTSTRAP_CONFIG: BootstrapConfig = {
  project: 'latam-ingest-ops',
  region: DEV.region,
  stateBucket: DEV.stateBucket,
  identityPoolId: 'github-actions',
  github: {
    owner: 'latam-ingest',
    name: 'gcp-ingest-cdktf',
    ownerId: '180295032',
    repositoryId: '861530417',
  },
  deployProjects: { dev: DEV.project, prod: PROD.project },
};

const GITHUB_NUMERIC_ID: NameRule = { pattern: /^[1-9][0-9]{0,19}$/, rule: "must be GitHub's numeric id (digits only)" };

const BOOTSTRAP_CONFIG_CHECKS: ConfigChecks = {
  project: named(PROJECT_ID),
  region: named(REGION),
  stateBucket: named(BUCKET_NAME),
  identityPoolId: named({
    pattern: /^(?!gcp-)[a-z0-9-]{4,32}$/,
    rule: 'must be 4-32 lowercase letters, digits or hyphens, not starting with "gcp-" (reserved by Google)',
  }),
  github: {
    owner: named({ pattern: /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/, rule: 'must be a GitHub user or organisation login' }),
    name: named({ pattern: /^[A-Za-z0-9._-]{1,100}$/, rule: 'must be a GitHub repository name (letters, digits, ".", "_" or "-")' }),
    ownerId: named(GITHUB_NUMERIC_ID),
    repositoryId: named(GITHUB_NUMERIC_ID),
  },
  deployProjects: { dev: named(PROJECT_ID), prod: named(PROJECT_ID) },
};

/**
 * Every problem with a bootstrap config, one line each, naming the field as
 * `bootstrap.<path>` and the variable that sets it. Empty when valid.
 */
export function bootstrapConfigProblems(config: BootstrapConfig): string[] {
  return configProblems(config, BOOTSTRAP_CONFIG_CHECKS).map(({ field, message }) => {
    const variable = field in BOOTSTRAP_ENV ? ` (set by ${BOOTSTRAP_ENV[field as BootstrapField]})` : '';
    return `bootstrap.${field}${variable}: ${message}`;
  });
}

function fieldValue(config: BootstrapConfig, field: BootstrapField): string {
  return field.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], config) as string;
}

/**
 * The defaults overridden by whichever `BOOTSTRAP_ENV` variables are set to a
 * non-empty value (an unset repository secret reaches a workflow as ""). An
 * invalid result is a `ConfigurationError` listing every problem.
 */
export function bootstrapConfigFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  defaults: BootstrapConfig = DEFAULT_BOOTSTRAP_CONFIG,
): BootstrapConfig {
  const pick = (field: BootstrapField): string => env[BOOTSTRAP_ENV[field]] || fieldValue(defaults, field);
  const config: BootstrapConfig = {
    project: pick('project'),
    region: pick('region'),
    stateBucket: pick('stateBucket'),
    identityPoolId: pick('identityPoolId'),
    github: {
      owner: pick('github.owner'),
      name: pick('github.name'),
      ownerId: pick('github.ownerId'),
      repositoryId: pick('github.repositoryId'),
    },
    deployProjects: { dev: pick('deployProjects.dev'), prod: pick('deployProjects.prod') },
  };
  const problems = bootstrapConfigProblems(config);
  if (problems.length > 0) throw new ConfigurationError(problems);
  return config;
}
