import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Testing } from 'cdktf';
import { TABLE_INSERT_PERMISSIONS, TABLE_READ_PERMISSIONS } from '../../constructs/warehouse-table';
import {
  BootstrapStack,
  DEPLOY_ENVIRONMENTS,
  DEPLOYER_PROJECT_ROLES,
  DEPLOYER_RESOURCE_ROLES,
  GITHUB_OIDC_ISSUER,
  IDENTITY_PROJECT_ROLES,
  REQUIRED_SERVICES,
} from '../../stacks/bootstrap-stack';
import { BOOTSTRAP_ENV, DEFAULT_BOOTSTRAP_CONFIG, bootstrapConfigFromEnv, type BootstrapConfig } from '../../stacks/bootstrap-config';
import { ConfigurationError } from '../../stacks/config-checks';
import { INGEST_IDENTITIES, TABLE_ROLE_IDS, ingestIdentity, tableRoles } from '../../stacks/identities';
import { buildApp } from '../../stacks/main';
import { ALL_STACKS_ENV } from '../support/synth';

type Resource = Record<string, any>;
interface Synthesized {
  resource: Record<string, Record<string, Resource>>;
  data?: Record<string, Record<string, Resource>>;
  output: Record<string, { value: string }>;
  terraform: { backend: Record<string, { path: string }>; required_providers: Record<string, { source: string }> };
}

const config: BootstrapConfig = {
  project: 'ops-project-1',
  region: 'southamerica-east1',
  stateBucket: 'acme-ingest-tfstate',
  identityPoolId: 'github-actions',
  github: { owner: 'acme', name: 'ingest', ownerId: '4242', repositoryId: '98765' },
  deployProjects: { dev: 'acme-ingest-dev', prod: 'acme-ingest-prod' },
  deployRegions: { dev: 'southamerica-east1', prod: 'us-east4' },
};
const PROJECT_OF = { dev: 'acme-ingest-dev', prod: 'acme-ingest-prod' } as const;

const synthesized: Synthesized = JSON.parse(Testing.synth(new BootstrapStack(Testing.app(), 'bootstrap', config)));
const resources = (type: string): Resource[] => Object.values(synthesized.resource[type] ?? {});
const POOL_NAME = '${google_iam_workload_identity_pool.github-pool.name}';
const DEPLOYER = { dev: '${google_service_account.github-deployer-dev.member}', prod: '${google_service_account.github-deployer-prod.member}' } as const;
const everyBindingRole = () => Object.values(synthesized.resource).flatMap((byName) => Object.values(byName)).map((resource) => resource.role).filter(Boolean);

describe('state bucket', () => {
  const [bucket] = resources('google_storage_bucket');

  test('is versioned, locked down and protected from deletion', () => {
    expect(resources('google_storage_bucket')).toHaveLength(1);
    expect(bucket).toMatchObject({
      name: 'acme-ingest-tfstate',
      project: 'ops-project-1',
      location: 'southamerica-east1',
      uniform_bucket_level_access: true,
      public_access_prevention: 'enforced',
      versioning: { enabled: true },
      force_destroy: false,
      lifecycle: { prevent_destroy: true },
    });
  });

  test('deletes only old noncurrent versions, keeping the newest ones whatever their age', () => {
    expect(bucket.lifecycle_rule).toEqual([
      {
        action: { type: 'Delete' },
        condition: { with_state: 'ARCHIVED', days_since_noncurrent_time: expect.any(Number), num_newer_versions: expect.any(Number) },
      },
    ]);
    expect(bucket.lifecycle_rule[0].condition.num_newer_versions).toBeGreaterThanOrEqual(3);
  });

  test("lets each deployer read and lock its own environment's state, and no other's", () => {
    const grants = resources('google_storage_bucket_iam_member').map(({ role, member, bucket: name, condition }) => ({ role, member, name, expression: condition?.expression }));
    expect(grants).toEqual(
      DEPLOY_ENVIRONMENTS.map((environment) => ({
        role: 'roles/storage.objectUser',
        member: DEPLOYER[environment],
        name: '${google_storage_bucket.state-bucket.name}',
        expression: `resource.type == "storage.googleapis.com/Bucket" || resource.name.startsWith("projects/_/buckets/acme-ingest-tfstate/objects/ingest/${environment}/")`,
      })),
    );
  });

  test('this stack itself keeps local state, at a path that is the same on every machine', () => {
    expect(synthesized.terraform.backend).toEqual({ local: { path: '../../../terraform.bootstrap.tfstate' } });
  });
});

describe('GitHub OIDC federation', () => {
  const [provider] = resources('google_iam_workload_identity_pool_provider');

  test('trusts GitHub Actions tokens', () => {
    expect(resources('google_iam_workload_identity_pool')).toHaveLength(1);
    expect(provider.oidc).toEqual({ issuer_uri: GITHUB_OIDC_ISSUER });
    expect(GITHUB_OIDC_ISSUER).toBe('https://token.actions.githubusercontent.com');
  });

  test('maps the subject, repository, owner id and ref', () => {
    expect(provider.attribute_mapping).toEqual({
      'google.subject': 'assertion.sub',
      'attribute.repository': 'assertion.repository',
      'attribute.repository_owner_id': 'assertion.repository_owner_id',
      'attribute.ref': 'assertion.ref',
    });
  });

  test('accepts only tokens of this repository, by its immutable ids', () => {
    expect(provider.attribute_condition).toBe("assertion.repository_id == '98765' && assertion.repository_owner_id == '4242'");
  });

  test("lets only a job in a deployer's own GitHub environment impersonate it, by GitHub's subject in both its forms", () => {
    const federated = resources('google_service_account_iam_member').filter((binding) => binding.role === 'roles/iam.workloadIdentityUser');
    const subject = (claim: string) => `principal://iam.googleapis.com/${POOL_NAME}/subject/${claim}`;
    expect(federated.map(({ service_account_id, member }) => [service_account_id, member]).sort()).toEqual(
      DEPLOY_ENVIRONMENTS.flatMap((environment) => [
        [`\${google_service_account.github-deployer-${environment}.name}`, subject(`repo:acme/ingest:environment:${environment}`)],
        [`\${google_service_account.github-deployer-${environment}.name}`, subject(`repo:acme@4242/ingest@98765:environment:${environment}`)],
      ]).sort(),
    );
    expect(JSON.stringify(synthesized.resource)).not.toContain('principalSet://');
  });
});

describe('deployers', () => {
  const projectGrants = resources('google_project_iam_member');
  const rolesOf = (member: string, project: string) =>
    projectGrants.filter((grant) => grant.member === member && grant.project === project).map((grant) => grant.role).sort();

  test.each(DEPLOY_ENVIRONMENTS)('the %s deployer holds exactly the listed project roles, in its own project only', (environment) => {
    const other = environment === 'dev' ? 'prod' : 'dev';
    expect(rolesOf(DEPLOYER[environment], PROJECT_OF[environment])).toEqual(Object.keys(DEPLOYER_PROJECT_ROLES).sort());
    expect(rolesOf(DEPLOYER[environment], PROJECT_OF[other])).toEqual([]);
    expect(rolesOf(DEPLOYER[environment], 'ops-project-1')).toEqual([]);
  });

  test('no one holds a service-account or IAM admin role, or a primitive role, on any project', () => {
    for (const { role } of projectGrants) {
      expect(role).not.toMatch(/^roles\/(iam\.serviceAccount(User|Admin|TokenCreator)|resourcemanager\.projectIamAdmin|iam\.roleAdmin|owner|editor|viewer)$/);
    }
    for (const role of everyBindingRole()) expect(role).not.toMatch(/^roles\/(owner|editor|viewer)$/);
  });

  test.each(DEPLOY_ENVIRONMENTS)('the %s deployer may act as exactly the four accounts its ingest stack attaches', (environment) => {
    const actsAs = resources('google_service_account_iam_member')
      .filter((binding) => binding.member === DEPLOYER[environment])
      .map((binding) => [binding.role, binding.service_account_id]);
    expect(actsAs.sort()).toEqual(
      Object.values(INGEST_IDENTITIES)
        .map(({ accountId }) => ['roles/iam.serviceAccountUser', `\${google_service_account.${environment}-${accountId}.name}`])
        .sort(),
    );
  });

  test('no service account has a key, anywhere', () => {
    expect(Object.keys(synthesized.resource)).not.toContain('google_service_account_key');
    expect(JSON.stringify(synthesized)).not.toMatch(/service_account_key|private_key/);
  });

  test('the outputs are what the environment secrets are set from', () => {
    expect(synthesized.output).toEqual({
      workload_identity_provider: { value: '${google_iam_workload_identity_pool_provider.github-provider.name}' },
      dev_deployer_service_account: { value: '${google_service_account.github-deployer-dev.email}' },
      prod_deployer_service_account: { value: '${google_service_account.github-deployer-prod.email}' },
      state_bucket: { value: '${google_storage_bucket.state-bucket.name}' },
    });
  });
});

describe.each(DEPLOY_ENVIRONMENTS)('what the %s ingest stack attaches', (environment) => {
  const project = PROJECT_OF[environment];
  const accounts = resources('google_service_account').filter((account) => account.project === project);
  const memberOf = (name: keyof typeof INGEST_IDENTITIES) => `\${google_service_account.${environment}-${INGEST_IDENTITIES[name].accountId}.member}`;

  test('is made in its project: the API, subscriber, push-invoker and build accounts', () => {
    expect(accounts.map((account) => account.account_id).sort()).toEqual(Object.values(INGEST_IDENTITIES).map(({ accountId }) => accountId).sort());
  });

  test('gets on the project only what IAM offers nowhere narrower: jobs for the API, logs and the conditioned source read for the build', () => {
    const grants = resources('google_project_iam_member').filter((grant) => grant.project === project && !Object.values(DEPLOYER).includes(grant.member));
    expect(grants.map((grant) => [grant.member, grant.role]).sort()).toEqual(
      Object.entries(IDENTITY_PROJECT_ROLES)
        .flatMap(([name, roles]) => Object.keys(roles!).map((role) => [memberOf(name as keyof typeof INGEST_IDENTITIES), role]))
        .sort(),
    );
    expect(grants.find((grant) => grant.role === 'roles/storage.objectViewer')?.condition?.expression).toBe(
      `resource.name.startsWith("projects/_/buckets/gcf-v2-sources-\${data.google_project.${environment}-project.number}-${config.deployRegions[environment]}")`,
    );
  });

  test('lets the Pub/Sub service agent sign tokens as the push invoker, and as no other account', () => {
    const tokenCreators = resources('google_service_account_iam_member').filter(
      (binding) => binding.role === 'roles/iam.serviceAccountTokenCreator' && binding.service_account_id.includes(`.${environment}-`),
    );
    expect(tokenCreators).toEqual([
      expect.objectContaining({
        service_account_id: `\${google_service_account.${environment}-${INGEST_IDENTITIES.pushInvoker.accountId}.name}`,
        member: `serviceAccount:service-\${data.google_project.${environment}-project.number}@gcp-sa-pubsub.iam.gserviceaccount.com`,
      }),
    ]);
  });

  test('includes the table roles, with exactly the permissions the table construct binds', () => {
    const roles = resources('google_project_iam_custom_role').filter((role) => role.project === project);
    expect(roles.map((role) => [role.role_id, role.permissions]).sort()).toEqual(
      [
        [TABLE_ROLE_IDS.insert, [...TABLE_INSERT_PERMISSIONS]],
        [TABLE_ROLE_IDS.read, [...TABLE_READ_PERMISSIONS]],
      ].sort(),
    );
  });
});

describe('APIs and provider', () => {
  test('every required API is enabled in every project involved, and stays on if this stack is destroyed', () => {
    const enabled = resources('google_project_service');
    for (const project of ['ops-project-1', 'acme-ingest-dev', 'acme-ingest-prod']) {
      expect(enabled.filter((service) => service.project === project).map((service) => service.service).sort()).toEqual([...REQUIRED_SERVICES].sort());
    }
    for (const service of enabled) expect(service.disable_on_destroy).toBe(false);
  });

  test('enables each API once when the ops project is also the dev project', () => {
    const shared = { ...config, deployProjects: { dev: config.project, prod: config.deployProjects.prod } };
    const single: Synthesized = JSON.parse(Testing.synth(new BootstrapStack(Testing.app(), 'bootstrap', shared)));
    expect(Object.keys(single.resource.google_project_service)).toHaveLength(2 * REQUIRED_SERVICES.length);
  });

  test('uses the fully qualified google provider source', () => {
    expect(synthesized.terraform.required_providers.google.source).toBe('registry.terraform.io/hashicorp/google');
  });
});

describe('bootstrap config', () => {
  const repository = {
    [BOOTSTRAP_ENV['github.owner']]: 'acme',
    [BOOTSTRAP_ENV['github.name']]: 'ingest',
    [BOOTSTRAP_ENV['github.ownerId']]: '4242',
    [BOOTSTRAP_ENV['github.repositoryId']]: '98765',
  };

  test('holds no repository identity: the defaults cover everything else', () => {
    expect(DEFAULT_BOOTSTRAP_CONFIG).not.toHaveProperty('github');
    expect(bootstrapConfigFromEnv(repository)).toEqual({ ...DEFAULT_BOOTSTRAP_CONFIG, github: { owner: 'acme', name: 'ingest', ownerId: '4242', repositoryId: '98765' } });
  });

  test('refuses to build without the repository, one line per missing variable saying where its value comes from', () => {
    let error: unknown;
    try {
      bootstrapConfigFromEnv({ [BOOTSTRAP_ENV['github.owner']]: 'acme', [BOOTSTRAP_ENV['github.ownerId']]: '' });
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).problems).toEqual([
      expect.stringMatching(/^bootstrap\.github\.name \(set by BOOTSTRAP_GITHUB_REPOSITORY\): is required .*the REPO of the repository URL$/),
      expect.stringMatching(/^bootstrap\.github\.ownerId \(set by BOOTSTRAP_GITHUB_OWNER_ID\): is required .*the second line `gh api repos\/OWNER\/REPO --jq \.id,\.owner\.id` prints/),
      expect.stringMatching(/^bootstrap\.github\.repositoryId \(set by BOOTSTRAP_GITHUB_REPOSITORY_ID\): is required .*the first line `gh api repos\/OWNER\/REPO --jq \.id,\.owner\.id` prints/),
    ]);
  });

  test('every field can be overridden from its environment variable, and empty variables are ignored', () => {
    const env = {
      ...repository,
      [BOOTSTRAP_ENV.project]: 'other-ops',
      [BOOTSTRAP_ENV['deployProjects.prod']]: 'other-prod',
      [BOOTSTRAP_ENV['deployRegions.prod']]: 'europe-west1',
      [BOOTSTRAP_ENV.stateBucket]: '',
    };
    const overridden = bootstrapConfigFromEnv(env);
    expect(overridden.project).toBe('other-ops');
    expect(overridden.deployProjects.prod).toBe('other-prod');
    expect(overridden.deployRegions).toEqual({ dev: DEFAULT_BOOTSTRAP_CONFIG.deployRegions.dev, prod: 'europe-west1' });
    expect(overridden.stateBucket).toBe(DEFAULT_BOOTSTRAP_CONFIG.stateBucket);
  });

  test('a bad value fails with the field, its variable and the value', () => {
    expect(() => bootstrapConfigFromEnv({ ...repository, [BOOTSTRAP_ENV['github.ownerId']]: 'acme' })).toThrow(
      'bootstrap.github.ownerId (set by BOOTSTRAP_GITHUB_OWNER_ID): must be GitHub\'s numeric id (digits only), got "acme"',
    );
    expect(() => bootstrapConfigFromEnv({ ...repository, [BOOTSTRAP_ENV.stateBucket]: 'Has Spaces' })).toThrow(
      /^bootstrap\.stateBucket \(set by TF_STATE_BUCKET\): must be a bucket name/,
    );
    expect(() => bootstrapConfigFromEnv({ ...repository, [BOOTSTRAP_ENV['deployProjects.dev']]: 'x' })).toThrow(
      /^bootstrap\.deployProjects\.dev \(set by DEV_PROJECT_ID\): must be a Google Cloud project id/,
    );
  });

  test('refuses one project for dev and prod: each deployer holds roles in its own project only', () => {
    expect(() => bootstrapConfigFromEnv({ ...repository, [BOOTSTRAP_ENV['deployProjects.prod']]: DEFAULT_BOOTSTRAP_CONFIG.deployProjects.dev })).toThrow(
      /^bootstrap\.deployProjects\.prod \(set by PROD_PROJECT_ID\): must differ from deployProjects\.dev/,
    );
  });

  test('reports every bad field at once, one line each', () => {
    let problems: readonly string[] = [];
    try {
      bootstrapConfigFromEnv({ ...repository, [BOOTSTRAP_ENV.region]: 'mars', [BOOTSTRAP_ENV['github.owner']]: '-bad' });
    } catch (error) {
      problems = (error as ConfigurationError).problems;
    }
    expect(problems).toEqual([
      'bootstrap.region (set by BOOTSTRAP_REGION): must be a Google Cloud region such as us-central1, got "mars"',
      'bootstrap.github.owner (set by BOOTSTRAP_GITHUB_OWNER): must be a GitHub user or organisation login, got "-bad"',
    ]);
  });

  test('refuses a state bucket name Cloud Storage reserves, as the ingest stacks do', () => {
    expect(() => bootstrapConfigFromEnv({ ...repository, [BOOTSTRAP_ENV.stateBucket]: 'google-state' })).toThrow(/not starting with "goog" nor holding "google"/);
  });
});

/**
 * Which deployer role manages each resource type the ingest stacks define.
 * A type missing here is one the deployer may not be able to create: add it
 * with its role (and the role to DEPLOYER_PROJECT_ROLES and docs/iam.md).
 */
const DEPLOYER_ROLE_FOR: Readonly<Record<string, string>> = {
  google_cloudfunctions2_function: 'roles/cloudfunctions.developer',
  google_artifact_registry_repository: 'roles/artifactregistry.admin',
  google_artifact_registry_repository_iam_member: 'roles/artifactregistry.admin',
  google_cloud_run_v2_service_iam_member: 'roles/run.admin',
  google_storage_bucket: 'roles/storage.admin',
  google_storage_bucket_object: 'roles/storage.admin',
  google_storage_bucket_iam_member: 'roles/storage.admin',
  google_pubsub_topic: 'roles/pubsub.admin',
  google_pubsub_schema: 'roles/pubsub.admin',
  google_pubsub_subscription: 'roles/pubsub.admin',
  google_pubsub_topic_iam_member: 'roles/pubsub.admin',
  google_pubsub_subscription_iam_member: 'roles/pubsub.admin',
  google_bigquery_dataset: 'roles/bigquery.dataOwner',
  google_bigquery_table: 'roles/bigquery.dataOwner',
  google_bigquery_table_iam_member: 'roles/bigquery.dataOwner',
  google_monitoring_alert_policy: 'roles/monitoring.editor',
  google_monitoring_notification_channel: 'roles/monitoring.editor',
  google_monitoring_custom_service: 'roles/monitoring.editor',
  google_monitoring_slo: 'roles/monitoring.editor',
  google_monitoring_dashboard: 'roles/monitoring.editor',
  google_logging_metric: 'roles/logging.configWriter',
};

describe('alignment with the ingest stacks of stacks/main.ts', () => {
  const outdir = mkdtempSync(join(tmpdir(), 'bootstrap-alignment-'));
  const defaults = bootstrapConfigFromEnv(ALL_STACKS_ENV);
  let stacks: ReturnType<typeof buildApp>['stacks'];
  let ingest: Record<string, Synthesized>;
  beforeAll(() => {
    stacks = buildApp({ outdir, env: { ...ALL_STACKS_ENV, STACKS: 'dev,prod' } }).stacks;
    ingest = Object.fromEntries(Object.entries(stacks).map(([name, stack]) => [name, JSON.parse(Testing.synth(stack!)) as Synthesized]));
  });
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  test('the ingest stacks keep state in the bootstrap bucket and live in the projects each deployer deploys to', () => {
    expect(Object.keys(ingest).sort()).toEqual([...DEPLOY_ENVIRONMENTS].sort());
    for (const [name, stack] of Object.entries(ingest)) {
      expect(stack.terraform.backend.gcs).toMatchObject({ bucket: defaults.stateBucket });
      expect(stacks[name]!.config.project).toBe(defaults.deployProjects[name as 'dev' | 'prod']);
      expect(stacks[name]!.config.region).toBe(defaults.deployRegions[name as 'dev' | 'prod']);
    }
  });

  test('the ingest stacks create no service account, key, custom role or project grant: the deployer could not', () => {
    for (const stack of Object.values(ingest)) {
      for (const type of ['google_service_account', 'google_service_account_key', 'google_service_account_iam_member', 'google_project_iam_custom_role', 'google_project_iam_member']) {
        expect(Object.keys(stack.resource)).not.toContain(type);
      }
    }
  });

  test('every account the ingest stacks attach, and every role they bind on the table, is one the bootstrap stack makes', () => {
    for (const [name, stack] of Object.entries(ingest)) {
      const project = stacks[name]!.config.project;
      const text = JSON.stringify(stack.resource);
      const attached = [...new Set([...text.matchAll(/[a-z0-9-]+@[a-z0-9-]+\.iam\.gserviceaccount\.com/g)].map((match) => match[0]))].sort();
      expect(attached).toEqual(Object.keys(INGEST_IDENTITIES).map((identity) => ingestIdentity(identity as keyof typeof INGEST_IDENTITIES, project).email).sort());
      const bound = [...new Set(Object.values(stack.resource.google_bigquery_table_iam_member ?? {}).map((grant) => grant.role))].sort();
      expect(bound).toEqual(Object.values(tableRoles(project)).sort());
    }
  });

  test('the deployer holds a role for every Google resource type the ingest stacks define', () => {
    for (const stack of Object.values(ingest)) {
      // time_sleep waits on the machine running terraform; it calls no Google API.
      for (const type of Object.keys(stack.resource).filter((type) => type.startsWith('google_'))) {
        expect({ type, role: DEPLOYER_ROLE_FOR[type] }).toEqual({ type, role: expect.any(String) });
        expect(Object.keys(DEPLOYER_PROJECT_ROLES)).toContain(DEPLOYER_ROLE_FOR[type]);
      }
    }
  });

  test('the deploy workflow reads an output the ingest stacks define', () => {
    const deployStack = readFileSync(resolve(__dirname, '../../.github/workflows/deploy-stack.yml'), 'utf8');
    const output = /output -raw (\w+)/.exec(deployStack)?.[1];
    for (const stack of Object.values(ingest)) expect(Object.keys(stack.output)).toContain(output);
  });
});

test('docs/iam.md justifies every role the deployers and the attached identities hold', () => {
  const doc = readFileSync(resolve(__dirname, '../../docs/iam.md'), 'utf8');
  const roles = [
    ...Object.keys(DEPLOYER_PROJECT_ROLES),
    ...Object.keys(DEPLOYER_RESOURCE_ROLES),
    ...Object.values(IDENTITY_PROJECT_ROLES).flatMap((roles) => Object.keys(roles!)),
    'roles/iam.workloadIdentityUser',
    'roles/iam.serviceAccountTokenCreator',
  ];
  for (const role of roles) expect({ role, documented: doc.includes(`\`${role}\``) }).toEqual({ role, documented: true });
  for (const type of Object.keys(DEPLOYER_ROLE_FOR)) expect({ type, documented: doc.includes(`\`${type}\``) }).toEqual({ type, documented: true });
});
