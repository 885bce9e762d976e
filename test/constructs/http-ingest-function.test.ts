import { join } from 'node:path';
import { TerraformOutput, TerraformStack, Testing } from 'cdktf';
import { Cloudfunctions2Function } from '@cdktf/provider-google/lib/cloudfunctions2-function';
import { CloudRunV2ServiceIamMember } from '@cdktf/provider-google/lib/cloud-run-v2-service-iam-member';
import { SecretManagerSecretIamMember } from '@cdktf/provider-google/lib/secret-manager-secret-iam-member';
import { ServiceAccount } from '@cdktf/provider-google/lib/service-account';
import { StorageBucket } from '@cdktf/provider-google/lib/storage-bucket';
import { StorageBucketObject } from '@cdktf/provider-google/lib/storage-bucket-object';
import { FunctionBuildEnvironment } from '../../constructs/function-build-environment';
import { FunctionBundle } from '../../constructs/function-bundle';
import { FunctionSourceBucket } from '../../constructs/function-source-bucket';
import { HttpIngestFunction, type HttpIngestFunctionOptions, type HttpIngestFunctionProps } from '../../constructs/http-ingest-function';
import { onlyResource, resourceList, synthesize, validationErrors } from '../support/synth';

const entry = join(__dirname, '..', 'fixtures', 'functions', 'hello.ts');
const required: HttpIngestFunctionProps = { entry, entryPoint: 'hello', region: 'us-central1', maxInstanceCount: 4 };

describe('HttpIngestFunction with defaults', () => {
  const { json, parsed, built: fn } = synthesize((stack) => {
    const created = new HttpIngestFunction(stack, 'IngestApi', required);
    new TerraformOutput(stack, 'url', { value: created.url });
    new TerraformOutput(stack, 'member', { value: created.iamMember });
    return created;
  });
  const cloudFunction = onlyResource(parsed, 'google_cloudfunctions2_function');

  it('deploys the bundle from its content-hashed object with the runtime and entry point', () => {
    const object = onlyResource(parsed, 'google_storage_bucket_object');
    expect(object.name).toBe(`ingest-api/${fn.bundle.sha256}.zip`);
    expect(object.source).toBe(fn.bundle.assetPath);
    expect(object.content_type).toBe('application/zip');
    expect(cloudFunction.build_config).toEqual({
      runtime: 'nodejs24',
      entry_point: 'hello',
      service_account: expect.stringMatching(/^\$\{google_service_account\.IngestApi_build_service-account_\w+\.id\}$/),
      docker_repository: expect.stringMatching(/^\$\{google_artifact_registry_repository\.IngestApi_build_repository_\w+\.id\}$/),
      source: {
        storage_source: {
          bucket: expect.stringMatching(/^\$\{google_storage_bucket\.IngestApi_source_bucket_\w+\.name\}$/),
          object: expect.stringMatching(/^\$\{google_storage_bucket_object\.IngestApi_source_ingest-api_\w+\.name\}$/),
        },
      },
    });
  });

  it('names the function after the construct id and sizes it with secure, concurrent defaults', () => {
    expect(json).toHaveResourceWithProperties(Cloudfunctions2Function, {
      name: 'ingest-api',
      location: 'us-central1',
      service_config: {
        available_memory: '512Mi',
        available_cpu: '1',
        timeout_seconds: 60,
        min_instance_count: 0,
        max_instance_count: 4,
        max_instance_request_concurrency: 80,
        ingress_settings: 'ALLOW_ALL',
        all_traffic_on_latest_revision: true,
        service_account_email: expect.stringMatching(/^\$\{google_service_account\.IngestApi_service-account_\w+\.email\}$/),
      },
    });
    const serviceConfig = cloudFunction.service_config as Record<string, unknown>;
    expect(serviceConfig).not.toHaveProperty('environment_variables');
    expect(serviceConfig).not.toHaveProperty('secret_environment_variables');
  });

  it('runs as its own service account, never the default compute account', () => {
    expect(json).toHaveResourceWithProperties(ServiceAccount, { account_id: 'ingest-api-fn' });
    expect(json).toHaveResourceWithProperties(ServiceAccount, { account_id: 'ingest-api-build' });
    expect(parsed.output?.member?.value).toMatch(/^\$\{google_service_account\.IngestApi_service-account_\w+\.member\}$/);
  });

  it('builds in a build environment of its own, named after it, and is created only once its build grants are in place', () => {
    expect(fn.buildEnvironment.location).toBe('us-central1');
    expect(onlyResource(parsed, 'google_artifact_registry_repository')).toMatchObject({ repository_id: 'ingest-api', location: 'us-central1' });
    const grants = [
      ...Object.keys(parsed.resource?.google_artifact_registry_repository_iam_member ?? {}).map((id) => `google_artifact_registry_repository_iam_member.${id}`),
      ...Object.keys(parsed.resource?.google_project_iam_member ?? {}).map((id) => `google_project_iam_member.${id}`),
      ...Object.keys(parsed.resource?.time_sleep ?? {}).map((id) => `time_sleep.${id}`),
    ];
    expect(grants).toHaveLength(4);
    expect([...(cloudFunction.depends_on as string[])].sort()).toEqual(grants.sort());
  });

  it('creates a private source bucket when none is given', () => {
    expect(json).toHaveResourceWithProperties(StorageBucket, {
      location: 'us-central1',
      uniform_bucket_level_access: true,
      public_access_prevention: 'enforced',
      force_destroy: false,
    });
  });

  it('is IAM-only: nobody may invoke it until granted', () => {
    expect(resourceList(parsed, 'google_cloud_run_v2_service_iam_member')).toEqual([]);
    expect(parsed.resource).not.toHaveProperty('google_cloudfunctions2_function_iam_member');
  });

  it('exposes its URL, timeout and name', () => {
    expect(parsed.output?.url?.value).toMatch(/^\$\{google_cloudfunctions2_function\.IngestApi_function_\w+\.url\}$/);
    expect(fn.timeoutSeconds).toBe(60);
    expect(fn.functionName).toBe('ingest-api');
  });
});

describe('HttpIngestFunction with every prop', () => {
  const { json, parsed } = synthesize((stack) => {
    const sourceBucket = new FunctionSourceBucket(stack, 'shared', { location: 'europe-west1', bucketName: 'shared-sources' });
    const buildEnvironment = new FunctionBuildEnvironment(stack, 'builds', { location: 'europe-west1', project: 'other-project' });
    const runAs = new ServiceAccount(stack, 'runner', { accountId: 'custom-runner' });
    new HttpIngestFunction(stack, 'fn', {
      ...required,
      region: 'europe-west1',
      functionName: 'custom-name',
      description: 'A test function.',
      project: 'other-project',
      runtime: 'nodejs22',
      externalModules: [],
      sourceBucket,
      memory: '1Gi',
      cpu: '2',
      timeoutSeconds: 120,
      minInstanceCount: 1,
      maxInstanceRequestConcurrency: 250,
      ingressSettings: 'ALLOW_INTERNAL_AND_GCLB',
      public: true,
      serviceAccount: runAs,
      environment: { WAREHOUSE: 'bigquery', LOG_LEVEL: 'debug' },
      maxBodyBytes: 2048,
      secretEnvironmentVariables: {
        UPSTREAM_TOKEN: { secret: 'upstream-token' },
        DB_PASSWORD: { secret: 'db-password', version: '3', project: 'secrets-project' },
      },
      labels: { team: 'data' },
      buildEnvironment,
    });
  });
  const cloudFunction = onlyResource(parsed, 'google_cloudfunctions2_function');

  it('passes every setting through to the function', () => {
    expect(json).toHaveResourceWithProperties(Cloudfunctions2Function, {
      name: 'custom-name',
      location: 'europe-west1',
      project: 'other-project',
      description: 'A test function.',
      labels: { team: 'data' },
      build_config: expect.objectContaining({
        runtime: 'nodejs22',
        service_account: expect.stringMatching(/^\$\{google_service_account\.builds_service-account_\w+\.id\}$/),
        docker_repository: expect.stringMatching(/^\$\{google_artifact_registry_repository\.builds_repository_\w+\.id\}$/),
      }),
      service_config: expect.objectContaining({
        available_memory: '1Gi',
        available_cpu: '2',
        timeout_seconds: 120,
        min_instance_count: 1,
        max_instance_request_concurrency: 250,
        ingress_settings: 'ALLOW_INTERNAL_AND_GCLB',
        environment_variables: { WAREHOUSE: 'bigquery', LOG_LEVEL: 'debug', MAX_BODY_BYTES: '2048' },
      }),
    });
    expect((cloudFunction.service_config as { service_account_email: string }).service_account_email).toMatch(
      /^\$\{google_service_account\.runner\.email\}$/,
    );
  });

  it('uses the given bucket, build environment and service account instead of creating its own', () => {
    expect(onlyResource(parsed, 'google_storage_bucket').name).toBe('shared-sources');
    expect(onlyResource(parsed, 'google_artifact_registry_repository').repository_id).toBe('builds');
    expect(resourceList(parsed, 'google_service_account').map((sa) => sa.account_id).sort()).toEqual(['builds-build', 'custom-runner']);
  });

  it('reads secrets from Secret Manager and grants access to each secret alone', () => {
    expect((cloudFunction.service_config as { secret_environment_variables: unknown }).secret_environment_variables).toEqual([
      { key: 'UPSTREAM_TOKEN', secret: 'upstream-token', version: 'latest', project_id: 'other-project' },
      { key: 'DB_PASSWORD', secret: 'db-password', version: '3', project_id: 'secrets-project' },
    ]);
    expect(json).toHaveResourceWithProperties(SecretManagerSecretIamMember, {
      project: 'secrets-project',
      secret_id: 'db-password',
      role: 'roles/secretmanager.secretAccessor',
    });
    expect(resourceList(parsed, 'google_secret_manager_secret_iam_member')).toHaveLength(2);
  });

  it('is created only once its service account can read the secrets: a revision that cannot is refused', () => {
    const secretGrants = Object.keys(parsed.resource?.google_secret_manager_secret_iam_member ?? {}).map((id) => `google_secret_manager_secret_iam_member.${id}`);
    expect(secretGrants).toHaveLength(2);
    expect(cloudFunction.depends_on).toEqual(expect.arrayContaining(secretGrants));
  });

  it('grants run.invoker to allUsers on the Cloud Run service when public', () => {
    expect(json).toHaveResourceWithProperties(CloudRunV2ServiceIamMember, {
      role: 'roles/run.invoker',
      member: 'allUsers',
      location: 'europe-west1',
      name: expect.stringMatching(/^\$\{google_cloudfunctions2_function\.fn_function_\w+\.service_config\[0\]\.service\}$/),
    });
  });

  it('uploads into the shared bucket', () => {
    expect(json).toHaveResourceWithProperties(StorageBucketObject, { name: expect.stringMatching(/^custom-name\/[0-9a-f]{64}\.zip$/) });
  });
});

describe('HttpIngestFunction.grantInvoke', () => {
  const { parsed } = synthesize((stack) => {
    const fn = new HttpIngestFunction(stack, 'fn', required);
    const caller = new ServiceAccount(stack, 'caller', { accountId: 'caller-sa' });
    fn.grantInvoke(caller);
    fn.grantInvoke(caller);
    fn.grantInvoke('user:alice@example.com');
  });

  it('binds roles/run.invoker on the function service, once per grantee', () => {
    const members = resourceList(parsed, 'google_cloud_run_v2_service_iam_member');
    expect(members.map((m) => [m.role, m.member])).toEqual(
      expect.arrayContaining([
        ['roles/run.invoker', '${google_service_account.caller.member}'],
        ['roles/run.invoker', 'user:alice@example.com'],
      ]),
    );
    expect(members).toHaveLength(2);
  });
});

describe('HttpIngestFunction running a library handler', () => {
  const { parsed, built: fn } = synthesize(
    (stack) => new HttpIngestFunction(stack, 'subscriber', { handler: 'subscriber', region: 'us-central1', maxInstanceCount: 2 }),
  );

  it("deploys the handler's bundle with the handler's name as the entry point", () => {
    const cloudFunction = onlyResource(parsed, 'google_cloudfunctions2_function');
    expect((cloudFunction.build_config as { entry_point: string }).entry_point).toBe('subscriber');
    expect(onlyResource(parsed, 'google_storage_bucket_object').name).toBe(`subscriber/${fn.bundle.sha256}.zip`);
    expect(fn.bundle.sha256).toBe(new FunctionBundle(new TerraformStack(Testing.app(), 'same'), 'code', { handler: 'subscriber' }).sha256);
  });
});

describe('HttpIngestFunction validation', () => {
  const errorsOf = (props: Partial<HttpIngestFunctionOptions>) =>
    validationErrors(synthesize((stack) => new HttpIngestFunction(stack, 'fn', { ...required, ...props })).stack);

  it('accepts the defaults', () => {
    expect(errorsOf({})).toEqual([]);
  });

  it.each<[string, Partial<HttpIngestFunctionOptions>, RegExp]>([
    ['maxInstanceCount', { maxInstanceCount: 0 }, /^maxInstanceCount: must be an integer from 1 to 1000/],
    ['concurrency of 1', { maxInstanceRequestConcurrency: 1 }, /^maxInstanceRequestConcurrency: must be an integer from 2/],
    ['fractional cpu with concurrency', { cpu: '0.5' }, /^cpu: must be at least 1 to serve more than one request/],
    ['min above max', { minInstanceCount: 5 }, /^minInstanceCount: must not exceed maxInstanceCount/],
    ['timeout', { timeoutSeconds: 4000 }, /^timeoutSeconds: must be an integer from 1 to 3600/],
    ['memory', { memory: 'lots' }, /^memory: must be a size/],
    ['function name', { functionName: 'Bad_Name' }, /^functionName: must be 1-63 lowercase/],
    ['runtime', { runtime: 'python312' }, /^runtime: 'python312' is not a Node.js runtime of Cloud Run functions/],
    ['body limit', { maxBodyBytes: 0 }, /^maxBodyBytes: must be an integer from 1/],
    ['body limit the function refuses at load', { maxBodyBytes: 32 * 1024 * 1024 }, /^maxBodyBytes: must be an integer from 1 to 4194304, got 33554432$/],
    ['body limit set twice', { maxBodyBytes: 2048, environment: { MAX_BODY_BYTES: '4096' } }, /^environment\.MAX_BODY_BYTES: is also set by maxBodyBytes; set one of them$/],
    ['setting the function refuses at load', { environment: { READ_WINDOW_HOURS: 'a day' } }, /^environment\.READ_WINDOW_HOURS: must be an integer from 1 to 8760, got "a day"$/],
    ['secret-looking plain variable', { environment: { API_KEY: 'x' } }, /^environment\.API_KEY: looks like a secret: pass it through secretEnvironmentVariables/],
    ['reserved variable', { environment: { PORT: '1' } }, /^environment\.PORT: is reserved by Cloud Functions/],
    ['variable set twice', { environment: { A: '1' }, secretEnvironmentVariables: { A: { secret: 's' } } }, /^secretEnvironmentVariables\.A: is also set in environment/],
    ['variable name', { environment: { '1ST': 'x' } }, /^environment\.1ST: names hold letters, digits and underscores/],
    ['reserved secret variable', { secretEnvironmentVariables: { K_SERVICE: { secret: 's' } } }, /^secretEnvironmentVariables\.K_SERVICE: is reserved by Cloud Functions/],
    ['secret variable name', { secretEnvironmentVariables: { 'DB-PASSWORD': { secret: 's' } } }, /^secretEnvironmentVariables\.DB-PASSWORD: names hold letters, digits and underscores/],
    ['secret id, given as its full name', { secretEnvironmentVariables: { TOKEN: { secret: 'projects/p/secrets/token' } } }, /^secretEnvironmentVariables\.TOKEN\.secret: must be a Secret Manager secret id \(1-255 letters, digits, "-" or "_"\), the last part of projects\/…\/secrets\/<id>, got "projects\/p\/secrets\/token"$/],
    ['secret version', { secretEnvironmentVariables: { TOKEN: { secret: 'token', version: 'v3' } } }, /^secretEnvironmentVariables\.TOKEN\.version: must be a version number or "latest", got "v3"$/],
    ['secret project', { secretEnvironmentVariables: { TOKEN: { secret: 'token', project: 'My Project' } } }, /^secretEnvironmentVariables\.TOKEN\.project: must be a Google Cloud project id .* or project number, got "My Project"$/],
    ['label', { labels: { env: 'Prod' } }, /^labels\.env: label values/],
  ])('refuses a bad %s, naming the prop', (_case, props, expected) => {
    expect(errorsOf(props)).toEqual(expect.arrayContaining([expect.stringMatching(expected)]));
  });

  it('refuses a build environment of another region: the build reads sources in the function region', () => {
    const errors = validationErrors(
      synthesize((stack) => {
        const buildEnvironment = new FunctionBuildEnvironment(stack, 'builds', { location: 'europe-west1' });
        new HttpIngestFunction(stack, 'fn', { ...required, buildEnvironment });
      }).stack,
    );
    expect(errors).toEqual([
      "buildEnvironment: is in europe-west1, but the function runs in us-central1; use a build environment of the function's region",
    ]);
  });
});
