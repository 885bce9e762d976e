import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Testing } from 'cdktf';
import {
  BootstrapStack,
  DEPLOYER_PROJECT_ROLES,
  GITHUB_OIDC_ISSUER,
  PLANNER_PROJECT_ROLES,
  REQUIRED_SERVICES,
  ROLES_GRANTED_BY_INGEST_STACKS,
} from '../../stacks/bootstrap-stack';
import { BOOTSTRAP_ENV, DEFAULT_BOOTSTRAP_CONFIG, bootstrapConfigFromEnv, type BootstrapConfig } from '../../stacks/bootstrap-config';
import type { ConfigurationError } from '../../stacks/config-checks';
import { buildApp } from '../../stacks/main';
import { ALL_STACKS_ENV } from '../support/synth';

type Resource = Record<string, any>;
interface Synthesized {
  resource: Record<string, Record<string, Resource>>;
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
};

const synthesized: Synthesized = JSON.parse(Testing.synth(new BootstrapStack(Testing.app(), 'bootstrap', config)));
const resources = (type: string): Resource[] => Object.values(synthesized.resource[type] ?? {});
const POOL_NAME = '${google_iam_workload_identity_pool.github-pool.name}';
const DEPLOYER = '${google_service_account.github-deployer.member}';
const PLANNER = '${google_service_account.github-planner.member}';

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

  test('lets the deployer read and lock state, and the planner only read it', () => {
    const grants = resources('google_storage_bucket_iam_member').map(({ role, member, bucket: name }) => ({ role, member, name }));
    expect(grants).toEqual(
      expect.arrayContaining([
        { role: 'roles/storage.objectUser', member: DEPLOYER, name: '${google_storage_bucket.state-bucket.name}' },
        { role: 'roles/storage.objectViewer', member: PLANNER, name: '${google_storage_bucket.state-bucket.name}' },
      ]),
    );
    expect(grants).toHaveLength(2);
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

  test('lets only this repository impersonate the deployer and planner, through its exact principal set', () => {
    const bindings = resources('google_service_account_iam_member');
    expect(bindings.map(({ service_account_id, role, member }) => ({ service_account_id, role, member }))).toEqual([
      {
        service_account_id: '${google_service_account.github-deployer.name}',
        role: 'roles/iam.workloadIdentityUser',
        member: `principalSet://iam.googleapis.com/${POOL_NAME}/attribute.repository/acme/ingest`,
      },
      {
        service_account_id: '${google_service_account.github-planner.name}',
        role: 'roles/iam.workloadIdentityUser',
        member: `principalSet://iam.googleapis.com/${POOL_NAME}/attribute.repository/acme/ingest`,
      },
    ]);
    for (const { member } of bindings) expect(member).not.toContain('*');
  });
});

describe('identities', () => {
  const projectGrants = resources('google_project_iam_member');
  const rolesOf = (member: string, project: string) =>
    projectGrants.filter((grant) => grant.member === member && grant.project === project).map((grant) => grant.role).sort();

  test('no service account has a key, anywhere', () => {
    expect(Object.keys(synthesized.resource)).not.toContain('google_service_account_key');
    expect(JSON.stringify(synthesized)).not.toMatch(/service_account_key|private_key/);
  });

  test('no one gets a primitive role', () => {
    const roles = Object.values(synthesized.resource).flatMap((byName) => Object.values(byName)).map((resource) => resource.role).filter(Boolean);
    expect(roles.length).toBeGreaterThan(0);
    for (const role of roles) expect(role).not.toMatch(/^roles\/(owner|editor|viewer)$/);
  });

  test('the deployer holds exactly the listed roles in dev and prod, and none in the ops project', () => {
    const listed = Object.keys(DEPLOYER_PROJECT_ROLES).sort();
    expect(rolesOf(DEPLOYER, 'acme-ingest-dev')).toEqual(listed);
    expect(rolesOf(DEPLOYER, 'acme-ingest-prod')).toEqual(listed);
    expect(rolesOf(DEPLOYER, 'ops-project-1')).toEqual([]);
  });

  test('the deployer may change project IAM only to grant or revoke the roles the ingest stacks grant', () => {
    const conditioned = projectGrants.filter((grant) => grant.condition !== undefined);
    expect(conditioned.map((grant) => [grant.project, grant.role])).toEqual([
      ['acme-ingest-dev', 'roles/resourcemanager.projectIamAdmin'],
      ['acme-ingest-prod', 'roles/resourcemanager.projectIamAdmin'],
    ]);
    for (const grant of conditioned) {
      expect(grant.member).toBe(DEPLOYER);
      expect(grant.condition.expression).toBe(
        "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly(['roles/bigquery.jobUser', 'roles/logging.logWriter', 'roles/storage.objectViewer'])",
      );
    }
    expect(ROLES_GRANTED_BY_INGEST_STACKS).toEqual(['roles/bigquery.jobUser', 'roles/logging.logWriter', 'roles/storage.objectViewer']);
  });

  test('the planner reads dev only, and only through read-only roles', () => {
    expect(rolesOf(PLANNER, 'acme-ingest-dev')).toEqual(Object.keys(PLANNER_PROJECT_ROLES).sort());
    expect(rolesOf(PLANNER, 'acme-ingest-prod')).toEqual([]);
    for (const role of Object.keys(PLANNER_PROJECT_ROLES)) expect(role).toMatch(/(viewer|Viewer|Reviewer|reader|browser)$/);
  });

  test('the outputs are what the repository secrets are set from', () => {
    expect(synthesized.output).toEqual({
      workload_identity_provider: { value: '${google_iam_workload_identity_pool_provider.github-provider.name}' },
      deployer_service_account: { value: '${google_service_account.github-deployer.email}' },
      planner_service_account: { value: '${google_service_account.github-planner.email}' },
      state_bucket: { value: '${google_storage_bucket.state-bucket.name}' },
    });
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

  test('enables each API once when dev, prod and ops share one project', () => {
    const shared = { ...config, deployProjects: { dev: config.project, prod: config.project } };
    const single: Synthesized = JSON.parse(Testing.synth(new BootstrapStack(Testing.app(), 'bootstrap', shared)));
    expect(Object.keys(single.resource.google_project_service)).toHaveLength(REQUIRED_SERVICES.length);
  });

  test('uses the fully qualified google provider source', () => {
    expect(synthesized.terraform.required_providers.google.source).toBe('registry.terraform.io/hashicorp/google');
  });
});

describe('bootstrap config', () => {
  test('defaults are valid', () => {
    expect(bootstrapConfigFromEnv({})).toEqual(DEFAULT_BOOTSTRAP_CONFIG);
  });

  test('every field can be overridden from its environment variable, and empty variables are ignored', () => {
    const env = {
      [BOOTSTRAP_ENV.project]: 'other-ops',
      [BOOTSTRAP_ENV['github.repositoryId']]: '555',
      [BOOTSTRAP_ENV['deployProjects.prod']]: 'other-prod',
      [BOOTSTRAP_ENV.stateBucket]: '',
    };
    const overridden = bootstrapConfigFromEnv(env);
    expect(overridden.project).toBe('other-ops');
    expect(overridden.github.repositoryId).toBe('555');
    expect(overridden.deployProjects.prod).toBe('other-prod');
    expect(overridden.stateBucket).toBe(DEFAULT_BOOTSTRAP_CONFIG.stateBucket);
  });

  test('a bad value fails with the field, its variable and the value', () => {
    expect(() => bootstrapConfigFromEnv({ [BOOTSTRAP_ENV['github.ownerId']]: 'acme' })).toThrow(
      'bootstrap.github.ownerId (set by BOOTSTRAP_GITHUB_OWNER_ID): must be GitHub\'s numeric id (digits only), got "acme"',
    );
    expect(() => bootstrapConfigFromEnv({ [BOOTSTRAP_ENV.stateBucket]: 'Has Spaces' })).toThrow(/^bootstrap\.stateBucket \(set by TF_STATE_BUCKET\): must be a bucket name/);
    expect(() => bootstrapConfigFromEnv({ [BOOTSTRAP_ENV['deployProjects.dev']]: 'x' })).toThrow(
      /^bootstrap\.deployProjects\.dev \(set by DEV_PROJECT_ID\): must be a Google Cloud project id/,
    );
  });

  test('reports every bad field at once, one line each', () => {
    let problems: readonly string[] = [];
    try {
      bootstrapConfigFromEnv({ [BOOTSTRAP_ENV.region]: 'mars', [BOOTSTRAP_ENV['github.owner']]: '-bad' });
    } catch (error) {
      problems = (error as ConfigurationError).problems;
    }
    expect(problems).toEqual([
      'bootstrap.region (set by BOOTSTRAP_REGION): must be a Google Cloud region such as us-central1, got "mars"',
      'bootstrap.github.owner (set by BOOTSTRAP_GITHUB_OWNER): must be a GitHub user or organisation login, got "-bad"',
    ]);
  });

  test('refuses a state bucket name Cloud Storage reserves, as the ingest stacks do', () => {
    expect(() => bootstrapConfigFromEnv({ [BOOTSTRAP_ENV.stateBucket]: 'google-state' })).toThrow(/not starting with "goog" nor holding "google"/);
  });
});

/**
 * Which deployer role manages each resource type the ingest stacks define.
 * A type missing here is one the deployer may not be able to create: add it
 * with its role (and the role to DEPLOYER_PROJECT_ROLES and the README).
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
  google_bigquery_dataset_iam_member: 'roles/bigquery.dataOwner',
  google_bigquery_table_iam_member: 'roles/bigquery.dataOwner',
  google_monitoring_alert_policy: 'roles/monitoring.editor',
  google_monitoring_notification_channel: 'roles/monitoring.editor',
  google_monitoring_custom_service: 'roles/monitoring.editor',
  google_monitoring_slo: 'roles/monitoring.editor',
  google_monitoring_dashboard: 'roles/monitoring.editor',
  google_logging_metric: 'roles/logging.configWriter',
  google_service_account: 'roles/iam.serviceAccountAdmin',
  google_service_account_iam_member: 'roles/iam.serviceAccountAdmin',
  google_project_iam_member: 'roles/resourcemanager.projectIamAdmin',
};

describe('alignment with the ingest stacks of stacks/main.ts', () => {
  const outdir = mkdtempSync(join(tmpdir(), 'bootstrap-alignment-'));
  const defaults = bootstrapConfigFromEnv({});
  let stacks: ReturnType<typeof buildApp>['stacks'];
  let ingest: Record<string, Synthesized>;
  beforeAll(() => {
    stacks = buildApp({ outdir, env: { ...ALL_STACKS_ENV, STACKS: 'dev,prod' } }).stacks;
    ingest = Object.fromEntries(Object.entries(stacks).map(([name, stack]) => [name, JSON.parse(Testing.synth(stack!)) as Synthesized]));
  });
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  test('the ingest stacks keep state in the bootstrap bucket and live in the projects the deployer deploys to', () => {
    expect(Object.keys(ingest).sort()).toEqual(['dev', 'prod']);
    for (const [name, stack] of Object.entries(ingest)) {
      expect(stack.terraform.backend.gcs).toMatchObject({ bucket: defaults.stateBucket });
      expect(stacks[name]!.config.project).toBe(defaults.deployProjects[name as 'dev' | 'prod']);
    }
  });

  test('no stack defines a service-account key', () => {
    for (const stack of Object.values(ingest)) expect(Object.keys(stack.resource)).not.toContain('google_service_account_key');
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

  test('the ingest stacks grant at project level only the roles the deployer may hand out', () => {
    const granted = Object.values(ingest).flatMap((stack) => Object.values(stack.resource.google_project_iam_member ?? {}).map((grant) => grant.role));
    for (const role of granted) expect(ROLES_GRANTED_BY_INGEST_STACKS).toContain(role);
  });

  test('the deploy workflow reads an output the ingest stacks define', () => {
    const deployStack = readFileSync(resolve(__dirname, '../../.github/workflows/deploy-stack.yml'), 'utf8');
    const output = /output -raw (\w+)/.exec(deployStack)?.[1];
    for (const stack of Object.values(ingest)) expect(Object.keys(stack.output)).toContain(output);
  });
});

test('the README justifies every role the deployer and planner hold', () => {
  const readme = readFileSync(resolve(__dirname, '../../README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('<!-- section: deploying-from-github -->'), readme.indexOf('<!-- section: operations -->'));
  for (const role of [...Object.keys(DEPLOYER_PROJECT_ROLES), ...Object.keys(PLANNER_PROJECT_ROLES)]) {
    expect(section).toContain(`\`${role}\``);
  }
});
