import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GOOGLE_PROVIDER_SOURCE, TIME_PROVIDER_SOURCE } from '../../stacks/google-provider';
import { buildBundle } from '../../constructs/private/bundler';
import { ConfigurationError } from '../../stacks/config-checks';
import { ingestIdentity, tableRoles } from '../../stacks/identities';
import { buildApp } from '../../stacks/main';
import { ALL_STACKS_ENV, freshOutdir, onlyResource, readStackJson, resourceList, resourcesOf, validationErrors, type SynthesizedStack } from '../support/synth';
import { terraformSnapshot, terraformSnapshotSerializer } from '../support/terraform-snapshot';
import { extractZip, loadTargetInRuntime, readZip } from '../../tools/synth-zip';

expect.addSnapshotSerializer(terraformSnapshotSerializer);

const outdir = freshOutdir();
const { app, stacks } = buildApp({ outdir, env: ALL_STACKS_ENV, context: {} });
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
    expect(terraformSnapshot(JSON.parse(masked(text)))).toMatchSnapshot();
  });

  it('holds no absolute path, user or machine-specific value', () => {
    expect(text).not.toMatch(/"\/[^/"]|\/(?:work|tmp|home|root|Users|var)\/|[A-Z]:\\\\/);
    expect(text).not.toContain(process.cwd());
    expect(text).not.toContain(join(__dirname, '..', '..'));
  });

  it('keeps its state in GCS under its own prefix, with the providers at their full addresses', () => {
    expect(parsed.terraform).toMatchObject({
      backend: { gcs: { bucket: stack.config.stateBucket, prefix: `ingest/${name}` } },
      required_providers: { google: { source: GOOGLE_PROVIDER_SOURCE, version: '6.50.0' }, time: { source: TIME_PROVIDER_SOURCE } },
    });
    expect(parsed.provider?.google).toEqual([{ project: stack.config.project, region: stack.config.region }]);
    expect(parsed.provider?.time).toEqual([{}]);
  });

  it('runs both functions on nodejs24, built by one dedicated build account into one managed image repository', () => {
    const buildAccount = ingestIdentity('build', stack.config.project);
    const repository = onlyResource(parsed, 'google_artifact_registry_repository');
    expect(repository).toMatchObject({ repository_id: 'ingest-functions', location: stack.config.region, format: 'DOCKER', cleanup_policy_dry_run: false });
    expect((repository.cleanup_policies as { action: string }[]).map((policy) => policy.action)).toEqual(['KEEP', 'DELETE']);
    for (const fn of Object.values(functions)) {
      expect(fn.build_config).toMatchObject({
        runtime: 'nodejs24',
        service_account: `projects/\${data.google_project.google-project.project_id}/serviceAccounts/${buildAccount.email}`,
        docker_repository: expect.stringMatching(/^\$\{google_artifact_registry_repository\.function-build_repository_\w+\.id\}$/),
      });
    }
  });

  it('alerts on the latency of successful ingest requests, and counts 429 against availability', () => {
    const policies = resourceList(parsed, 'google_monitoring_alert_policy');
    const latency = policies.find((policy) => String(policy.display_name).includes('ingest p99 latency > 200 ms'));
    expect((latency?.conditions as { condition_threshold: { filter: string } }[])[0]!.condition_threshold.filter).toBe(
      `metric.type="logging.googleapis.com/user/ingest-${name}/ingest_latency_ms" AND resource.type="cloud_run_revision" AND metric.label.outcome="success"`,
    );
    const slo = onlyResource(parsed, 'google_monitoring_slo');
    expect((slo.request_based_sli as { good_total_ratio: { good_service_filter: string } }).good_total_ratio.good_service_filter).toMatch(
      /metric\.label\.response_code_class!="5xx" AND metric\.label\.response_code!="429"$/,
    );
  });

  it('keeps no topic messages, undelivered ones for a day, and unacknowledged dead letters for a week', () => {
    for (const topic of resourceList(parsed, 'google_pubsub_topic')) expect(topic).not.toHaveProperty('message_retention_duration');
    const subscriptions = resourceList(parsed, 'google_pubsub_subscription');
    expect(subscriptions.find((s) => s.push_config)).toMatchObject({ message_retention_duration: '86400s' });
    expect(subscriptions.find((s) => s.name === stack.topic.deadLetterSubscriptionName)).toMatchObject({
      message_retention_duration: '604800s',
      retain_acked_messages: false,
    });
  });

  it('deploys two functions, each as its own service account, made by the bootstrap stack: it creates none', () => {
    const runAs = Object.fromEntries(
      Object.values(functions).map((fn) => [(fn.build_config as { entry_point: string }).entry_point, (fn.service_config as { service_account_email: string }).service_account_email]),
    );
    expect(runAs).toEqual({ api: ingestIdentity('api', stack.config.project).email, subscriber: ingestIdentity('subscriber', stack.config.project).email });
    expect(accounts).toEqual({});
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
      oidc_token: { service_account_email: ingestIdentity('pushInvoker', stack.config.project).email },
    });
    expect(push.retry_policy).toEqual({ minimum_backoff: '10s', maximum_backoff: '600s' });
    const attempts = (push.dead_letter_policy as { max_delivery_attempts: number }).max_delivery_attempts;
    expect(attempts).toBeGreaterThanOrEqual(5);
    expect(attempts).toBeLessThanOrEqual(100);
    expect(push.ack_deadline_seconds).toBe(stack.config.subscriber.timeoutSeconds);
  });

  it('grants the Pub/Sub service agent what dead-lettering needs (its token creation on the invoker is the bootstrap stack\'s)', () => {
    const agent = 'serviceAccount:service-${data.google_project.google-project.number}@gcp-sa-pubsub.iam.gserviceaccount.com';
    const agentGrants = [
      ...resourceList(parsed, 'google_pubsub_topic_iam_member'),
      ...resourceList(parsed, 'google_pubsub_subscription_iam_member'),
    ].filter((grant) => grant.member === agent);
    expect(agentGrants.map((grant) => grant.role).sort()).toEqual(['roles/pubsub.publisher', 'roles/pubsub.subscriber']);
    expect(parsed.resource).not.toHaveProperty('google_service_account_iam_member');
  });

  it('grants on the table only, with the roles the bootstrap stack made: insert to both functions, read to the API', () => {
    const roles = tableRoles(stack.config.project);
    const tableGrants = resourceList(parsed, 'google_bigquery_table_iam_member').map((grant) => [grant.member, grant.role, grant.table_id]);
    const onTable = expect.stringMatching(/^\$\{google_bigquery_table\.warehouse_table_\w+\.table_id\}$/);
    expect(tableGrants.sort()).toEqual(
      [
        [ingestIdentity('api', stack.config.project).member, roles.insert, onTable],
        [ingestIdentity('api', stack.config.project).member, roles.read, onTable],
        [ingestIdentity('subscriber', stack.config.project).member, roles.insert, onTable],
      ].sort(),
    );
    expect(parsed.resource).not.toHaveProperty('google_bigquery_dataset_iam_member');
    expect(parsed.resource).not.toHaveProperty('google_project_iam_custom_role');
  });

  it('changes no project IAM: the grants only a project takes are the bootstrap stack\'s', () => {
    expect(parsed.resource).not.toHaveProperty('google_project_iam_member');
  });

  it('tells the API, and only the API, how far back a read looks and how many bytes it may bill', () => {
    const environmentOf = (fn: 'api' | 'subscriber') =>
      (functions[Object.keys(functions).find((id) => id.startsWith(`${fn}_`))!]!.service_config as { environment_variables: Record<string, string> })
        .environment_variables;
    expect(environmentOf('api')).toMatchObject({
      BIGQUERY_MAX_BYTES_BILLED: String(stack.config.api.readMaxBytesBilled),
      READ_WINDOW_HOURS: String(stack.config.api.readWindowHours),
    });
    expect(environmentOf('subscriber')).not.toHaveProperty('BIGQUERY_MAX_BYTES_BILLED');
    expect(environmentOf('subscriber')).not.toHaveProperty('READ_WINDOW_HOURS');
  });

  it('tells the subscriber, and only the subscriber, which topic takes its dead letters, and lets it publish there alone', () => {
    const environmentOf = (fn: 'api' | 'subscriber') =>
      (functions[Object.keys(functions).find((id) => id.startsWith(`${fn}_`))!]!.service_config as { environment_variables: Record<string, string> })
        .environment_variables;
    const deadLetterTopicId = Object.keys(resourcesOf(parsed, 'google_pubsub_topic')).find((id) => id.startsWith('ingest_dead-letter-topic'))!;
    expect(environmentOf('subscriber').DEAD_LETTER_TOPIC).toBe(
      `projects/\${google_pubsub_topic.${deadLetterTopicId}.project}/topics/${stack.topic.deadLetterTopicName}`,
    );
    expect(environmentOf('api')).not.toHaveProperty('DEAD_LETTER_TOPIC');
    const subscriberMember = ingestIdentity('subscriber', stack.config.project).member;
    const publishGrants = resourceList(parsed, 'google_pubsub_topic_iam_member').filter((grant) => grant.member === subscriberMember);
    expect(publishGrants).toEqual([
      expect.objectContaining({ topic: `\${google_pubsub_topic.${deadLetterTopicId}.name}`, role: 'roles/pubsub.publisher' }),
    ]);
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
      ...(fn === 'subscriber' ? { DEAD_LETTER_TOPIC: `projects/${stack.config.project}/topics/${stack.topic.deadLetterTopicName}` } : {}),
    };
    expect(Object.keys(resolved).sort()).toEqual(Object.keys(deployed).sort());
    expect(loadTargetInRuntime(extractZip(zip), target, resolved)).toBe('http');
  });

  it('deploys the library handlers, bundled from their sources in this repository', () => {
    for (const [fn, name] of [[stack.api, 'api'], [stack.subscriber, 'subscriber']] as const) {
      const fromSource = buildBundle({ entry: join(__dirname, '..', '..', 'lambda-src', 'functions', `${name}.ts`), nodeMajor: 24, externalModules: ['@duckdb/node-api'] });
      expect(fn.bundle.sha256).toBe(fromSource.sha256);
    }
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

  it('pages the configured e-mail address and the existing channel', () => {
    expect(resourceList(parsed, 'google_monitoring_notification_channel').map((channel) => channel.labels)).toEqual([
      { email_address: ALL_STACKS_ENV.PROD_ALERT_EMAILS },
    ]);
    for (const policy of resourceList(parsed, 'google_monitoring_alert_policy')) {
      expect(policy.notification_channels).toEqual([
        expect.stringMatching(/^\$\{google_monitoring_notification_channel\./),
        `projects/latam-ingest-prod/notificationChannels/${ALL_STACKS_ENV.PROD_ALERT_CHANNELS}`,
      ]);
    }
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
  const build = (env: NodeJS.ProcessEnv) => buildApp({ outdir: freshOutdir(), env: { ...ALL_STACKS_ENV, ...env }, context: {} });

  it('refuses a public prod, naming the field and its variable, before building anything', () => {
    expect(() => build({ PROD_PUBLIC: 'true' })).toThrow(new ConfigurationError(['prod.public (set by PROD_PUBLIC): must be false in prod (invocation is IAM-only)']));
  });

  it.each([
    ['no destination', { PROD_ALERT_EMAILS: '', PROD_ALERT_CHANNELS: '' }, 'prod pages nobody; '],
    ['the old placeholder', { PROD_ALERT_EMAILS: 'ingest-oncall@example.com', PROD_ALERT_CHANNELS: '' }, '"ingest-oncall@example.com" is at example.com, a domain reserved'],
  ])('refuses a prod with %s in one line naming PROD_ALERT_EMAILS and PROD_ALERT_CHANNELS', (_case, env, reason) => {
    let problems: readonly string[] = [];
    try {
      build(env);
    } catch (error) {
      problems = (error as ConfigurationError).problems;
    }
    expect(problems).toEqual([expect.stringContaining(reason)]);
    expect(problems[0]).toMatch(/^prod\.alerting\.notificationEmails \(set by PROD_ALERT_EMAILS\): .*or PROD_ALERT_CHANNELS to ids of existing notification channels/);
  });

  it('lets dev be public, granting the invoker role to allUsers on the API alone', () => {
    const { app: publicApp, stacks } = build({ DEV_PUBLIC: 'true', STACKS: 'dev' });
    expect(validationErrors(stacks.dev!)).toEqual([]);
    publicApp.synth();
  });

  it('takes overrides from cdktf context', () => {
    const { prod } = buildApp({ outdir: freshOutdir(), env: ALL_STACKS_ENV, context: { ingest: { prod: { project: 'someone-else' } } } }).stacks;
    expect(prod!.config.project).toBe('someone-else');
  });
});
