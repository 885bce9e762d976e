/**
 * Configuration of the bootstrap stack: the one-time foundation (Terraform
 * state bucket, GitHub OIDC federation, a deployer per environment and the
 * identities the ingest stacks attach) that a human applies once, with local
 * state, before GitHub Actions can deploy.
 *
 * Every field is set by the environment variable named in `BOOTSTRAP_ENV`.
 * All but the GitHub repository have a default; the repository has none, so
 * a fork never trusts someone else's. Values are validated before synthesis;
 * a missing or invalid one fails with a message naming the field and its
 * variable.
 */
import { BUCKET_NAME, type NameRule, PROJECT_ID, REGION } from '../lambda-src/rules/naming';
import { ENVIRONMENT_VARIABLES } from './config';
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

/**
 * Projects the ingest stacks deploy into, each with its own deployer holding
 * roles there only. They must differ; either may be `project`.
 */
export interface DeployProjectsConfig {
  /** Project of the `dev` stack: only the dev deployer gets roles here. */
  readonly dev: string;
  /** Project of the `prod` stack: only the prod deployer gets roles here. */
  readonly prod: string;
}

/** Regions the ingest stacks' functions run in (the ingest stacks' `region`), which the build account may read sources in. */
export interface DeployRegionsConfig {
  readonly dev: string;
  readonly prod: string;
}

export interface BootstrapConfig {
  /** Project that holds the state bucket, the workload identity pool and the deployer service accounts. */
  readonly project: string;
  /** Region of the state bucket (and the provider's default region). */
  readonly region: string;
  /** Globally unique name of the Terraform state bucket the ingest stacks' GCS backend uses. */
  readonly stateBucket: string;
  /** Id of the workload identity pool; a deleted pool's id stays reserved for 30 days, hence configurable. */
  readonly identityPoolId: string;
  readonly github: GitHubRepositoryConfig;
  readonly deployProjects: DeployProjectsConfig;
  readonly deployRegions: DeployRegionsConfig;
}

/** Every field but the GitHub repository, which has no default. */
export type BootstrapDefaults = Omit<BootstrapConfig, 'github'>;

/** Environment variable that overrides each field. */
export const BOOTSTRAP_ENV = {
  project: 'BOOTSTRAP_PROJECT',
  region: 'BOOTSTRAP_REGION',
  // The variables the ingest stacks read too, so both stacks agree on one value.
  stateBucket: ENVIRONMENT_VARIABLES.stateBucket.dev,
  identityPoolId: 'BOOTSTRAP_IDENTITY_POOL_ID',
  'github.owner': 'BOOTSTRAP_GITHUB_OWNER',
  'github.name': 'BOOTSTRAP_GITHUB_REPOSITORY',
  'github.ownerId': 'BOOTSTRAP_GITHUB_OWNER_ID',
  'github.repositoryId': 'BOOTSTRAP_GITHUB_REPOSITORY_ID',
  'deployProjects.dev': ENVIRONMENT_VARIABLES.project.dev,
  'deployProjects.prod': ENVIRONMENT_VARIABLES.project.prod,
  'deployRegions.dev': ENVIRONMENT_VARIABLES.region.dev,
  'deployRegions.prod': ENVIRONMENT_VARIABLES.region.prod,
} as const;

type BootstrapField = keyof typeof BOOTSTRAP_ENV;
type GitHubField = Extract<BootstrapField, `github.${string}`>;

/** The variables naming the repository whose workflows may deploy: required, since trusting a default repository would hand a fork's projects to someone else. */
export const GITHUB_REPOSITORY_VARIABLES: readonly GitHubField[] = ['github.owner', 'github.name', 'github.ownerId', 'github.repositoryId'];

/**
 * The reference deployment: the ingest environments' own defaults for the
 * projects, regions and state bucket, so both stacks agree without an override.
 */
export const DEFAULT_BOOTSTRAP_CONFIG: BootstrapDefaults = {
  project: 'latam-ingest-ops',
  region: DEV.region,
  stateBucket: DEV.stateBucket,
  identityPoolId: 'github-actions',
  deployProjects: { dev: DEV.project, prod: PROD.project },
  deployRegions: { dev: DEV.region, prod: PROD.region },
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
  deployRegions: { dev: named(REGION), prod: named(REGION) },
};

/** Where each repository variable's value comes from, for the line that asks for it. */
const GITHUB_REPOSITORY_SOURCES: Readonly<Record<GitHubField, string>> = {
  'github.owner': 'the OWNER of the repository URL',
  'github.name': 'the REPO of the repository URL',
  'github.ownerId': 'the second line `gh api repos/OWNER/REPO --jq .id,.owner.id` prints (ids, unlike names, are never reused)',
  'github.repositoryId': 'the first line `gh api repos/OWNER/REPO --jq .id,.owner.id` prints (ids, unlike names, are never reused)',
};

const line = (field: BootstrapField, message: string): string => `bootstrap.${field} (set by ${BOOTSTRAP_ENV[field]}): ${message}`;

/**
 * Every problem with a bootstrap config, one line each, naming the field as
 * `bootstrap.<path>` and the variable that sets it. Empty when valid. Rules
 * between fields are checked once every field is well formed.
 */
function bootstrapConfigProblems(config: BootstrapConfig, missing: readonly GitHubField[] = []): string[] {
  const fieldProblems = [
    ...missing.map((field) => line(field, `is required (the bootstrap trusts one repository's workflows, and has no default): ${GITHUB_REPOSITORY_SOURCES[field]}`)),
    ...configProblems(config, BOOTSTRAP_CONFIG_CHECKS)
      .filter(({ field }) => !(missing as readonly string[]).includes(field))
      .map(({ field, message }) => (field in BOOTSTRAP_ENV ? line(field as BootstrapField, message) : `bootstrap.${field}: ${message}`)),
  ];
  if (fieldProblems.length > 0) return fieldProblems;
  return config.deployProjects.dev === config.deployProjects.prod
    ? [line('deployProjects.prod', 'must differ from deployProjects.dev: each environment has its own deployer, holding roles in its own project only')]
    : [];
}

function defaultValue(field: Exclude<BootstrapField, GitHubField>): string {
  return field.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], DEFAULT_BOOTSTRAP_CONFIG) as string;
}

/**
 * The config from `BOOTSTRAP_ENV` variables set to a non-empty value (an
 * unset repository secret reaches a workflow as ""), over the defaults. The
 * GitHub repository variables have no default. A missing or invalid value is
 * a `ConfigurationError` listing every problem, one line each.
 */
export function bootstrapConfigFromEnv(env: NodeJS.ProcessEnv = process.env): BootstrapConfig {
  const value = (field: BootstrapField): string | undefined => env[BOOTSTRAP_ENV[field]] || undefined;
  const missing = GITHUB_REPOSITORY_VARIABLES.filter((field) => value(field) === undefined);
  const pick = (field: Exclude<BootstrapField, GitHubField>): string => value(field) ?? defaultValue(field);
  const config: BootstrapConfig = {
    project: pick('project'),
    region: pick('region'),
    stateBucket: pick('stateBucket'),
    identityPoolId: pick('identityPoolId'),
    github: {
      owner: value('github.owner') ?? '',
      name: value('github.name') ?? '',
      ownerId: value('github.ownerId') ?? '',
      repositoryId: value('github.repositoryId') ?? '',
    },
    deployProjects: { dev: pick('deployProjects.dev'), prod: pick('deployProjects.prod') },
    deployRegions: { dev: pick('deployRegions.dev'), prod: pick('deployRegions.prod') },
  };
  const problems = bootstrapConfigProblems(config, missing);
  if (problems.length > 0) throw new ConfigurationError(problems);
  return config;
}
