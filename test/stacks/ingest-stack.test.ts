import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GOOGLE_PROVIDER_SOURCE } from '../../stacks/google-provider';
import { FUNCTION_ENTRIES, IngestStack } from '../../stacks/ingest-stack';
import { buildApp } from '../../stacks/main';
import { freshOutdir, readStackJson, resourceList, resourcesOf, validationErrors, type SynthesizedStack } from '../support/synth';
import { extractZip, loadTargetInRuntime, readZip } from '../../tools/synth-zip';

const outdir = freshOutdir();
const { app, stacks } = buildApp({ outdir, env: {}, context: {} });
app.synth();
const ENVIRONMENT_NAMES = ['dev', 'prod'] as const;
const synthesized = Object.fromEntries(
  ENVIRONMENT_NAMES.map((name) => {
    const text = readStackJson(outdir, name);
    return [name, { text, parsed: JSON.parse(text) as SynthesizedStack }];
  }),
) as Record<(typeof ENVIRONMENT_NAMES)[number], { text: string; parsed: SynthesizedStack }>;

const SHA256 = /[0-9a-f]{64}/g;

/** The bundle hash changes with function code and its dependencies; the snapshot reviews everything else. */
function masked(text: string): string {
  return text.replace(SHA256, '<sha256 of the function zip>');
}

describe.each(ENVIRONMENT_NAMES)('%s stack', (name) => {
  const { text, parsed } = synthesized[name];
  const stack = stacks[name]!;
  const functions = resourcesOf(parsed, 'google_cloudfunctions2_function');
  const accounts = resourcesOf(parsed, 'google_service_account');

  it('matches the reviewed snapshot (bundle hashes masked)', () => {
    expect(masked(text)).toMatchSnapshot();
  });

  it('holds no absolute path, user or machine-specific value', () => {
    expect(text).not.toMatch(/"\/[^/"]|\/(?:work|tmp|home|root|Users|var)\/|[A-Z]:\\\\/);
    expect(text).not.toContain(process.cwd());
    expect(text).not.toContain(join(__dirname, '..', '..'));
  });

  it('keeps its state in GCS under its own prefix, with the provider at its full address', () => {
    expect(parsed.terraform).toMatchObject({
      backend: { gcs: { bucket: stack.config.stateBucket, prefix: `ingest/${name}` } },
      required_providers: { google: { source: GOOGLE_PROVIDER_SOURCE, version: '6.50.0' } },
    });
    expect(parsed.provider?.google).toEqual([{ project: stack.config.project, region: stack.config.region }]);
  });

  it('deploys two functions, each as its own service account', () => {
    const entries = Object.values(functions).map((fn) => (fn.build_config as { entry_point: string }).entry_point);
    expect(entries.sort()).toEqual(['api', 'subscriber']);
    const emails = Object.values(functions).map((fn) => (fn.service_config as { service_account_email: string }).service_account_email);
    expect(new Set(emails).size).toBe(2);
    for (const email of emails) {
      const logicalId = /^\$\{google_service_account\.([^.]+)\.email\}$/.exec(email)?.[1];
      expect(accounts).toHaveProperty([logicalId!]);
    }
  });

  it('uploads zips that exist, are named by their hash, and hold the bundled index.js', () => {
    const objects = resourceList(parsed, 'google_storage_bucket_object');
    expect(objects).toHaveLength(2);
    for (const object of objects) {
      const zip = readFileSync(join(outdir, 'stacks', name, object.source as string));
      const hash = createHash('sha256').update(zip).digest('hex');
      expect(object.name).toMatch(new RegExp(`^ingest-(api|subscriber)/${hash}\\.zip$`));
      expect(readZip(zip).map((entry) => entry.name)).toEqual(['index.js', 'package-lock.json', 'package.json']);
    }
  });

  it('pushes to the subscriber with an OIDC token, a retry policy and dead-lettering after 5 to 100 attempts', () => {
    const push = resourceList(parsed, 'google_pubsub_subscription').find((s) => s.push_config)!;
    expect(push.push_config).toMatchObject({
      push_endpoint: expect.stringMatching(/google_cloudfunctions2_function\.subscriber_function_\w+\.url/),
      oidc_token: { service_account_email: expect.stringMatching(/google_service_account\.ingest_push-invoker_\w+\.email/) },
    });
    expect(push.retry_policy).toEqual({ minimum_backoff: '10s', maximum_backoff: '600s' });
    const attempts = (push.dead_letter_policy as { max_delivery_attempts: number }).max_delivery_attempts;
    expect(attempts).toBeGreaterThanOrEqual(5);
    expect(attempts).toBeLessThanOrEqual(100);
    expect(push.ack_deadline_seconds).toBe(stack.config.subscriber.timeoutSeconds);
  });

  it('grants the Pub/Sub service agent what dead-lettering and OIDC need', () => {
    const agent = 'serviceAccount:service-${data.google_project.google-project.number}@gcp-sa-pubsub.iam.gserviceaccount.com';
    const agentGrants = [
      ...resourceList(parsed, 'google_pubsub_topic_iam_member'),
      ...resourceList(parsed, 'google_pubsub_subscription_iam_member'),
      ...resourceList(parsed, 'google_service_account_iam_member'),
    ].filter((grant) => grant.member === agent);
    expect(agentGrants.map((grant) => grant.role).sort()).toEqual([
      'roles/iam.serviceAccountTokenCreator',
      'roles/pubsub.publisher',
      'roles/pubsub.subscriber',
    ]);
  });

  it('grants data access on the table and view only: insert to both functions, read to the API', () => {
    const tableGrants = resourceList(parsed, 'google_bigquery_table_iam_member').map((grant) => [grant.role, grant.member]);
    expect(tableGrants).toHaveLength(4);
    expect(resourceList(parsed, 'google_project_iam_member').map((grant) => grant.role)).toEqual(['roles/bigquery.jobUser']);
    expect(parsed.resource).not.toHaveProperty('google_bigquery_dataset_iam_member');
  });

  it("grants read only to the API's own service account: dataViewer on the table and the view, jobUser on the project", () => {
    const apiMember = /^\$\{google_service_account\.api_service-account_[^.]+\.member\}$/;
    const readGrants = [...resourceList(parsed, 'google_bigquery_table_iam_member'), ...resourceList(parsed, 'google_project_iam_member')].filter(
      (grant) => grant.role === 'roles/bigquery.dataViewer' || grant.role === 'roles/bigquery.jobUser',
    );
    expect(readGrants.map((grant) => [grant.role, String(grant.table_id ?? 'project').replace(/_[0-9A-F]{8}\./, '.')]).sort()).toEqual([
      ['roles/bigquery.dataViewer', '${google_bigquery_table.warehouse_latest-view.table_id}'],
      ['roles/bigquery.dataViewer', '${google_bigquery_table.warehouse_table.table_id}'],
      ['roles/bigquery.jobUser', 'project'],
    ]);
    for (const grant of readGrants) expect(grant.member).toMatch(apiMember);
  });

  it('tells the API, and only the API, which view to read and how many bytes a read may bill', () => {
    const environmentOf = (fn: 'api' | 'subscriber') =>
      (functions[Object.keys(functions).find((id) => id.startsWith(`${fn}_`))!]!.service_config as { environment_variables: Record<string, string> })
        .environment_variables;
    expect(environmentOf('api')).toMatchObject({
      BIGQUERY_LATEST_VIEW: expect.stringMatching(/^\$\{google_bigquery_table\.warehouse_latest-view_[^.]+\.table_id\}$/),
      BIGQUERY_MAX_BYTES_BILLED: String(stack.config.api.readMaxBytesBilled),
    });
    expect(environmentOf('subscriber')).not.toHaveProperty('BIGQUERY_MAX_BYTES_BILLED');
  });

  it('outputs what a deployer needs', () => {
    expect(Object.keys(parsed.output ?? {}).sort()).toEqual(
      ['api_url', 'dataset_id', 'dead_letter_subscription', 'latest_view_id', 'table_id', 'topic_id', 'topic_name'].sort(),
    );
    expect(parsed.output?.topic_name?.value).toBe(stack.config.pubsub.topicName);
  });

  it('exposes its parts for the monitoring construct, as plain names', () => {
    expect(stack.api.functionName).toBe('ingest-api');
    expect(stack.subscriber.functionName).toBe('ingest-subscriber');
    expect(stack.topic.deadLetterSubscriptionName).toBe('ingest-records-dead-letter');
    expect(stack.table.tableId).toBe(stack.config.warehouse.tableId);
  });

  it.each([
    ['api', 'api'],
    ['subscriber', 'subscriber'],
  ] as const)('ships a %s bundle whose target the Functions Framework finds, under the environment it is deployed with', (fn, target) => {
    const zip = readFileSync(join(outdir, 'stacks', name, stack[fn].bundle.assetPath));
    // The synthesized variables hold Terraform references; these are the values they resolve to.
    const deployed = (functions[Object.keys(functions).find((id) => id.startsWith(`${fn}_`))!]!.service_config as {
      environment_variables: Record<string, string>;
    }).environment_variables;
    const resolved: Record<string, string> = {
      ...deployed,
      GOOGLE_CLOUD_PROJECT: stack.config.project,
      BIGQUERY_DATASET: stack.config.warehouse.datasetId,
      BIGQUERY_TABLE: stack.config.warehouse.tableId,
      BIGQUERY_LATEST_VIEW: stack.table.latestViewId,
    };
    expect(Object.keys(resolved).sort()).toEqual(Object.keys(deployed).sort());
    expect(loadTargetInRuntime(extractZip(zip), target, resolved)).toBe('http');
  });

  it('bundles the real entry points', () => {
    expect(stack.api.bundle.bundleBytes).toBeGreaterThan(0);
    expect(FUNCTION_ENTRIES.api).toMatch(/lambda-src\/functions\/api\.ts$/);
    expect(FUNCTION_ENTRIES.subscriber).toMatch(/lambda-src\/functions\/subscriber\.ts$/);
  });
});

describe('prod', () => {
  const { text, parsed } = synthesized.prod;

  it('has no public invoker anywhere', () => {
    expect(text).not.toMatch(/"allUsers"|"allAuthenticatedUsers"/);
  });

  it('protects the table and view from deletion and keeps dataset contents', () => {
    for (const table of resourceList(parsed, 'google_bigquery_table')) expect(table.deletion_protection).toBe(true);
    expect(resourceList(parsed, 'google_bigquery_dataset')[0]).toMatchObject({ delete_contents_on_destroy: false });
    expect(resourceList(parsed, 'google_storage_bucket')[0]).toMatchObject({ force_destroy: false });
  });

  it('binds no data role at project level', () => {
    const projectRoles = resourceList(parsed, 'google_project_iam_member').map((grant) => String(grant.role));
    expect(projectRoles.filter((role) => /bigquery\.data|pubsub\.|storage\.|owner|editor|viewer/.test(role))).toEqual([]);
  });
});

describe('dev', () => {
  it('may be torn down', () => {
    const { parsed } = synthesized.dev;
    for (const table of resourceList(parsed, 'google_bigquery_table')) expect(table.deletion_protection).toBe(false);
    expect(resourceList(parsed, 'google_bigquery_dataset')[0]).toMatchObject({ delete_contents_on_destroy: true });
  });
});

describe("the README's architecture diagram", () => {
  const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('<!-- section: architecture -->'), readme.indexOf('<!-- section: constructs -->'));

  it('names what the stacks build', () => {
    const stack = stacks.prod!;
    const pushName = resourceList(synthesized.prod.parsed, 'google_pubsub_subscription').find((s) => s.push_config)!.name as string;
    const names = [
      stack.api.functionName,
      stack.subscriber.functionName,
      stack.topic.topicName,
      stack.topic.deadLetterTopicName,
      stack.topic.deadLetterSubscriptionName,
      pushName,
      `${stack.table.datasetId}.${stack.table.tableId}`,
      `${stack.table.datasetId}.${stack.table.latestViewId}`,
      `after ${stack.config.pubsub.maxDeliveryAttempts} failed deliveries`,
      `retry ${stack.config.pubsub.minimumBackoffSeconds} s to ${stack.config.pubsub.maximumBackoffSeconds} s`,
      'ingest-fn-source',
    ];
    for (const name of names) expect({ name, inDiagram: section.includes(name) }).toEqual({ name, inDiagram: true });
    expect(section).toContain('```mermaid');
  });
});

describe('config validation at synth', () => {
  const build = (env: NodeJS.ProcessEnv) => buildApp({ outdir: freshOutdir(), env, context: {} }).stacks;

  it('refuses a public prod, naming the field', () => {
    const prod = build({ PROD_PUBLIC: 'true' }).prod as IngestStack;
    expect(validationErrors(prod)).toContain('prod.public (set by PROD_PUBLIC): must be false in prod (invocation is IAM-only)');
    expect(() => prod.runAllValidations()).toThrow(/prod\.public \(set by PROD_PUBLIC\): must be false in prod/);
  });

  it('lets dev be public, granting the invoker role to allUsers on the API alone', () => {
    const { dev } = build({ DEV_PUBLIC: 'true' });
    expect(validationErrors(dev!)).toEqual([]);
    const { app: publicApp } = buildApp({ outdir: freshOutdir(), env: { DEV_PUBLIC: 'true' }, context: {} });
    publicApp.synth();
  });

  it('takes overrides from cdktf context', () => {
    const { prod } = buildApp({ outdir: freshOutdir(), env: {}, context: { ingest: { prod: { project: 'someone-else' } } } }).stacks;
    expect(prod!.config.project).toBe('someone-else');
  });
});
