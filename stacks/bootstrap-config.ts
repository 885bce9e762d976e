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
import * as v from 'valibot';
import { ConfigurationError } from './config';
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
  stateBucket: 'TF_STATE_BUCKET',
  identityPoolId: 'BOOTSTRAP_IDENTITY_POOL_ID',
  'github.owner': 'BOOTSTRAP_GITHUB_OWNER',
  'github.name': 'BOOTSTRAP_GITHUB_REPOSITORY',
  'github.ownerId': 'BOOTSTRAP_GITHUB_OWNER_ID',
  'github.repositoryId': 'BOOTSTRAP_GITHUB_REPOSITORY_ID',
  'deployProjects.dev': 'DEV_PROJECT_ID',
  'deployProjects.prod': 'PROD_PROJECT_ID',
  'deployRegions.dev': 'DEV_REGION',
  'deployRegions.prod': 'PROD_REGION',
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

const projectId = v.pipe(
  v.string(),
  v.regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'must be a Google Cloud project id (6-30 lowercase letters, digits or hyphens, starting with a letter)'),
);

const numericId = v.pipe(v.string(), v.regex(/^[1-9][0-9]{0,19}$/, "must be GitHub's numeric id (digits only)"));
const region = v.pipe(v.string(), v.regex(/^[a-z]+-[a-z]+[0-9]+$/, 'must be a Google Cloud region such as us-central1'));

const BootstrapConfigSchema = v.strictObject({
  project: projectId,
  region,
  stateBucket: v.pipe(
    v.string(),
    v.regex(/^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$/, 'must be a bucket name of 3-63 lowercase letters, digits, hyphens or underscores'),
    v.check((name) => !name.startsWith('goog') && !name.includes('google'), 'must not start with "goog" or contain "google"'),
  ),
  identityPoolId: v.pipe(
    v.string(),
    v.regex(/^[a-z0-9-]{4,32}$/, 'must be 4-32 lowercase letters, digits or hyphens'),
    v.check((id) => !id.startsWith('gcp-'), 'must not start with "gcp-" (reserved by Google)'),
  ),
  github: v.strictObject({
    owner: v.pipe(v.string(), v.regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/, 'must be a GitHub user or organisation login')),
    name: v.pipe(v.string(), v.regex(/^[A-Za-z0-9._-]{1,100}$/, 'must be a GitHub repository name (letters, digits, ".", "_" or "-")')),
    ownerId: numericId,
    repositoryId: numericId,
  }),
  deployProjects: v.pipe(
    v.strictObject({ dev: projectId, prod: projectId }),
    v.forward(
      v.check(({ dev, prod }) => dev !== prod, 'must differ from deployProjects.dev: each environment has its own deployer, holding roles in its own project only'),
      ['prod'],
    ),
  ),
  deployRegions: v.strictObject({ dev: region, prod: region }),
});

function fieldValue(config: BootstrapDefaults, field: Exclude<BootstrapField, GitHubField>): string {
  return field.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], config) as string;
}

/** The refusal of a bootstrap that names no repository, or only part of one: every missing variable, and where the ids come from. */
function missingRepositoryError(missing: readonly GitHubField[]): ConfigurationError {
  return new ConfigurationError(
    [
      'The bootstrap stack lets the workflows of one GitHub repository deploy, and it has no default: set',
      ...missing.map((field) => `  ${BOOTSTRAP_ENV[field]} (${field})`),
      'Owner and repository are the OWNER/REPO of the repository URL; their numeric ids (which, unlike names, are never reused) are',
      'the two lines `gh api repos/OWNER/REPO --jq .id,.owner.id` prints: first the repository id, then the owner id.',
    ].join('\n'),
  );
}

/** Checks a complete config; throws one error listing every bad field, its variable and the value received. */
export function validateBootstrapConfig(config: BootstrapConfig): BootstrapConfig {
  const result = v.safeParse(BootstrapConfigSchema, config);
  if (result.success) return result.output;
  const problems = result.issues.map((issue) => {
    const field = v.getDotPath(issue) ?? '(root)';
    const variable = field in BOOTSTRAP_ENV ? ` (${BOOTSTRAP_ENV[field as BootstrapField]})` : '';
    return `  - ${field}${variable} ${issue.message}, got ${JSON.stringify(issue.input)}`;
  });
  throw new ConfigurationError(`Invalid bootstrap config:\n${problems.join('\n')}`);
}

/**
 * The config from `BOOTSTRAP_ENV` variables set to a non-empty value (an
 * unset repository secret reaches a workflow as ""), over the defaults,
 * validated. The GitHub repository variables have no default: when any is
 * missing, one error names every missing one.
 */
export function bootstrapConfigFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  defaults: BootstrapDefaults = DEFAULT_BOOTSTRAP_CONFIG,
): BootstrapConfig {
  const value = (field: BootstrapField): string | undefined => env[BOOTSTRAP_ENV[field]] || undefined;
  const missing = GITHUB_REPOSITORY_VARIABLES.filter((field) => value(field) === undefined);
  if (missing.length > 0) throw missingRepositoryError(missing);
  const pick = (field: Exclude<BootstrapField, GitHubField>): string => value(field) ?? fieldValue(defaults, field);
  return validateBootstrapConfig({
    project: pick('project'),
    region: pick('region'),
    stateBucket: pick('stateBucket'),
    identityPoolId: pick('identityPoolId'),
    github: {
      owner: value('github.owner')!,
      name: value('github.name')!,
      ownerId: value('github.ownerId')!,
      repositoryId: value('github.repositoryId')!,
    },
    deployProjects: { dev: pick('deployProjects.dev'), prod: pick('deployProjects.prod') },
    deployRegions: { dev: pick('deployRegions.dev'), prod: pick('deployRegions.prod') },
  });
}
