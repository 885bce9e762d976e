import { join } from 'node:path';
import { TimeProvider } from '@cdktf/provider-time/lib/provider';
import { BUILD_ROLES, FunctionBuildEnvironment, functionSourcesCondition, type FunctionBuildEnvironmentProps } from '../../constructs/function-build-environment';
import { HttpIngestFunction } from '../../constructs/http-ingest-function';
import { onlyResource, resourceList, resourcesOf, synthesize, validationErrors } from '../support/synth';

const entry = join(__dirname, '..', 'fixtures', 'functions', 'hello.ts');
const PROJECT_NUMBER = '${data.google_project.google-project.number}';

/** `<type>.<logical id>` of every resource of `type`, as `depends_on` names them. */
function addresses(resources: Record<string, unknown>, type: string): string[] {
  return Object.keys(resources).map((id) => `${type}.${id}`);
}

describe('FunctionBuildEnvironment with defaults', () => {
  const { parsed, built: environment } = synthesize((stack) => new FunctionBuildEnvironment(stack, 'functions', { location: 'us-central1' }));
  const account = onlyResource(parsed, 'google_service_account');

  it('creates a dedicated build service account and a Docker repository in the location', () => {
    expect(account).toMatchObject({ account_id: 'functions-build' });
    expect(onlyResource(parsed, 'google_artifact_registry_repository')).toMatchObject({
      repository_id: 'functions',
      location: 'us-central1',
      format: 'DOCKER',
    });
    expect(environment.location).toBe('us-central1');
  });

  it('keeps the 5 newest versions of each image and deletes the others after 30 days, for real (no dry run)', () => {
    expect(onlyResource(parsed, 'google_artifact_registry_repository')).toMatchObject({
      cleanup_policy_dry_run: false,
      cleanup_policies: [
        { id: 'keep-recent-versions', action: 'KEEP', most_recent_versions: { keep_count: 5 } },
        { id: 'delete-old-versions', action: 'DELETE', condition: { tag_state: 'ANY', older_than: `${30 * 86_400}s` } },
      ],
    });
  });

  it('grants the build account only what a build needs, each on the narrowest resource IAM offers', () => {
    const member = expect.stringMatching(/^\$\{google_service_account\.functions_service-account_\w+\.member\}$/);
    expect(resourceList(parsed, 'google_artifact_registry_repository_iam_member')).toEqual([
      expect.objectContaining({
        role: BUILD_ROLES.pushImages,
        repository: expect.stringMatching(/^\$\{google_artifact_registry_repository\.functions_repository_\w+\.name\}$/),
        member,
      }),
    ]);
    const projectGrants = resourceList(parsed, 'google_project_iam_member');
    expect(projectGrants.map((grant) => grant.role).sort()).toEqual([BUILD_ROLES.writeLogs, BUILD_ROLES.readSources].sort());
    expect(projectGrants.find((grant) => grant.role === BUILD_ROLES.writeLogs)).not.toHaveProperty('condition');
    expect(projectGrants.find((grant) => grant.role === BUILD_ROLES.readSources)).toMatchObject({
      member,
      condition: { expression: `resource.name.startsWith("projects/_/buckets/gcf-v2-sources-${PROJECT_NUMBER}-us-central1")` },
    });
    expect(projectGrants.find((grant) => grant.role === BUILD_ROLES.readSources)).toMatchObject({
      condition: functionSourcesCondition(PROJECT_NUMBER, 'us-central1'),
    });
    expect(parsed.resource).not.toHaveProperty('google_storage_bucket_iam_member');
  });

  it('waits for the grants to propagate, and exposes grants and wait as what a function must wait for', () => {
    const grantAddresses = [
      ...addresses(resourcesOf(parsed, 'google_artifact_registry_repository_iam_member'), 'google_artifact_registry_repository_iam_member'),
      ...addresses(resourcesOf(parsed, 'google_project_iam_member'), 'google_project_iam_member'),
    ];
    const wait = onlyResource(parsed, 'time_sleep');
    expect(wait.create_duration).toBe('60s');
    expect(wait.triggers).toEqual({ build_account: expect.stringMatching(/^\$\{google_service_account\.functions_service-account_\w+\.unique_id\}$/) });
    expect([...(wait.depends_on as string[])].sort()).toEqual(grantAddresses.sort());
    expect(environment.grants).toHaveLength(4);
  });

  it('adds the time provider the wait needs', () => {
    expect(parsed.provider).toHaveProperty('time');
    expect(parsed.terraform).toMatchObject({ required_providers: { time: { source: 'hashicorp/time' } } });
  });
});

describe('FunctionBuildEnvironment shared by two functions', () => {
  const { parsed, stack } = synthesize((scope) => {
    new TimeProvider(scope, 'my-time', { alias: 'waits' });
    const buildEnvironment = new FunctionBuildEnvironment(scope, 'functions', { location: 'us-central1', keepRecentVersions: 2, deleteAfterDays: 7 });
    for (const name of ['api', 'subscriber']) {
      new HttpIngestFunction(scope, name, { entry, entryPoint: 'hello', region: 'us-central1', maxInstanceCount: 1, buildEnvironment });
    }
  });

  it('holds one repository and one build account for both, and each function waits for the same grants', () => {
    expect(resourceList(parsed, 'google_artifact_registry_repository')).toHaveLength(1);
    expect(resourceList(parsed, 'google_service_account').map((account) => account.account_id).sort()).toEqual(['api-fn', 'functions-build', 'subscriber-fn']);
    const [api, subscriber] = resourceList(parsed, 'google_cloudfunctions2_function');
    expect(api!.build_config).toEqual(expect.objectContaining({ service_account: (subscriber!.build_config as Record<string, unknown>).service_account }));
    expect(api!.depends_on).toEqual(subscriber!.depends_on);
    expect(api!.depends_on).toContain(`time_sleep.${Object.keys(resourcesOf(parsed, 'time_sleep'))[0]}`);
  });

  it('applies the cleanup settings', () => {
    expect(onlyResource(parsed, 'google_artifact_registry_repository').cleanup_policies).toEqual([
      expect.objectContaining({ most_recent_versions: { keep_count: 2 } }),
      expect.objectContaining({ condition: { tag_state: 'ANY', older_than: `${7 * 86_400}s` } }),
    ]);
  });

  it('keeps a time provider the stack already has instead of adding another', () => {
    expect(parsed.provider?.time).toEqual([expect.objectContaining({ alias: 'waits' })]);
    expect(validationErrors(stack)).toEqual([]);
  });
});

describe('FunctionBuildEnvironment and a function, with accounts made elsewhere', () => {
  const reference = (email: string) => ({ email, member: `serviceAccount:${email}` });
  const builder = reference('ingest-build@acme-ingest-dev.iam.gserviceaccount.com');
  const runner = reference('ingest-api-fn@acme-ingest-dev.iam.gserviceaccount.com');
  const { parsed } = synthesize((scope) => {
    const buildEnvironment = new FunctionBuildEnvironment(scope, 'functions', {
      location: 'us-central1',
      project: 'acme-ingest-dev',
      serviceAccount: builder,
      grantProjectRoles: false,
    });
    new HttpIngestFunction(scope, 'api', { entry, entryPoint: 'hello', region: 'us-central1', project: 'acme-ingest-dev', maxInstanceCount: 1, buildEnvironment, serviceAccount: runner });
  });
  const fn = onlyResource(parsed, 'google_cloudfunctions2_function');

  it('creates no service account: it builds and runs as the given ones', () => {
    expect(parsed.resource).not.toHaveProperty('google_service_account');
    expect(fn.build_config).toMatchObject({ service_account: `projects/acme-ingest-dev/serviceAccounts/${builder.email}` });
    expect(fn.service_config).toMatchObject({ service_account_email: runner.email });
  });

  it('grants the build account push on its repository only, leaving the project grants to whoever made it', () => {
    expect(resourceList(parsed, 'google_artifact_registry_repository_iam_member')).toEqual([
      expect.objectContaining({ role: BUILD_ROLES.pushImages, member: builder.member }),
    ]);
    expect(parsed.resource).not.toHaveProperty('google_project_iam_member');
  });

  it('still makes the function wait for that grant to propagate', () => {
    const wait = onlyResource(parsed, 'time_sleep');
    expect(wait.triggers).toEqual({ build_account: builder.email });
    expect(wait.depends_on).toEqual(addresses(resourcesOf(parsed, 'google_artifact_registry_repository_iam_member'), 'google_artifact_registry_repository_iam_member'));
    expect(fn.depends_on).toContain(`time_sleep.${Object.keys(resourcesOf(parsed, 'time_sleep'))[0]}`);
  });
});

describe('FunctionBuildEnvironment validation', () => {
  const errorsOf = (props: Partial<FunctionBuildEnvironmentProps>) =>
    validationErrors(synthesize((stack) => new FunctionBuildEnvironment(stack, 'functions', { location: 'us-central1', ...props })).stack);

  it('accepts the defaults', () => {
    expect(errorsOf({})).toEqual([]);
  });

  it.each<[string, Partial<FunctionBuildEnvironmentProps>, RegExp]>([
    ['repository id', { repositoryId: 'Images_1' }, /^repositoryId: must be 1-63 lowercase letters/],
    ['service account id', { serviceAccountId: 'b' }, /^serviceAccountId: must be 6-30 lowercase letters/],
    ['number of versions kept', { keepRecentVersions: 0 }, /^keepRecentVersions: must be an integer from 1 to 100/],
    ['age', { deleteAfterDays: 0.5 }, /^deleteAfterDays: must be an integer from 1 to 3650/],
    ['label', { labels: { Team: 'x' } }, /^labels\.Team: label keys/],
  ])('refuses a bad %s, naming the prop', (_case, props, expected) => {
    expect(errorsOf(props)).toEqual([expect.stringMatching(expected)]);
  });
});
