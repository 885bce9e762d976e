import { TerraformOutput, type ITerraformDependable } from 'cdktf';
import { PubsubSubscription } from '@cdktf/provider-google/lib/pubsub-subscription';
import { PubsubSubscriptionIamMember } from '@cdktf/provider-google/lib/pubsub-subscription-iam-member';
import { PubsubTopic } from '@cdktf/provider-google/lib/pubsub-topic';
import { PubsubTopicIamMember } from '@cdktf/provider-google/lib/pubsub-topic-iam-member';
import { ServiceAccountIamMember } from '@cdktf/provider-google/lib/service-account-iam-member';
import { DataGoogleProject } from '@cdktf/provider-google/lib/data-google-project';
import type { Grantee } from '../../constructs/grantee';
import { IngestTopic, type IBigQueryTarget, type IngestTopicProps, type IPushTarget } from '../../constructs/ingest-topic';
import { resourceList, synthesize, validationErrors } from '../support/synth';

const SERVICE_AGENT = 'serviceAccount:service-${data.google_project.google-project.number}@gcp-sa-pubsub.iam.gserviceaccount.com';

/** A stand-in for the binding a target's grant method returns, so a test can see the subscription wait for it. */
let grantCount = 0;
function stubGrant(): ITerraformDependable {
  grantCount += 1;
  return { fqn: `stub_grant.grant_${grantCount}` };
}

/** A push target that records what it was asked to grant. */
class FakeEndpoint implements IPushTarget {
  readonly invokers: Grantee[] = [];
  readonly grants: ITerraformDependable[] = [];
  constructor(
    readonly url: string,
    readonly timeoutSeconds: number,
  ) {}
  grantInvoke(grantee: Grantee): ITerraformDependable {
    this.invokers.push(grantee);
    const grant = stubGrant();
    this.grants.push(grant);
    return grant;
  }
}

class FakeTable implements IBigQueryTarget {
  readonly writers: Grantee[] = [];
  readonly grants: ITerraformDependable[] = [];
  constructor(readonly tableReference: string) {}
  grantInsert(grantee: Grantee): ITerraformDependable {
    this.writers.push(grantee);
    const grant = stubGrant();
    this.grants.push(grant);
    return grant;
  }
}

describe('IngestTopic pushing to a function, with defaults', () => {
  const endpoint = new FakeEndpoint('https://subscriber.example.run.app', 60);
  const { json, parsed, built: topic } = synthesize((stack) => new IngestTopic(stack, 'IngestRecords', { pushTarget: endpoint }));
  const subscriptions = resourceList(parsed, 'google_pubsub_subscription');
  const push = subscriptions.find((s) => s.push_config)!;

  it('creates the ingest topic and the dead-letter topic without retention: no runbook seeks them', () => {
    const topics = resourceList(parsed, 'google_pubsub_topic');
    expect(topics.map((t) => t.name).sort()).toEqual(['ingest-records', 'ingest-records-dead-letter']);
    for (const t of topics) expect(t).not.toHaveProperty('message_retention_duration');
    expect(topics.some((t) => 'kms_key_name' in t)).toBe(false);
  });

  it('keeps unacknowledged dead letters 7 days in a pull subscription that never expires, and drops acknowledged ones', () => {
    expect(json).toHaveResourceWithProperties(PubsubSubscription, {
      name: 'ingest-records-dead-letter',
      topic: expect.stringMatching(/google_pubsub_topic\.IngestRecords_dead-letter-topic_\w+\.id/),
      message_retention_duration: '604800s',
      retain_acked_messages: false,
      expiration_policy: { ttl: '' },
    });
    expect(topic.deadLetterSubscriptionName).toBe('ingest-records-dead-letter');
    expect(topic.topicName).toBe('ingest-records');
  });

  it('pushes with an OIDC token of a dedicated invoker, retry policy, dead-lettering after 5 attempts', () => {
    expect(push).toMatchObject({
      name: 'ingest-records-push',
      topic: expect.stringMatching(/google_pubsub_topic\.IngestRecords_topic_\w+\.id/),
      ack_deadline_seconds: 60,
      push_config: {
        push_endpoint: 'https://subscriber.example.run.app',
        oidc_token: {
          audience: 'https://subscriber.example.run.app',
          service_account_email: expect.stringMatching(/google_service_account\.IngestRecords_push-invoker_\w+\.email/),
        },
      },
      retry_policy: { minimum_backoff: '10s', maximum_backoff: '600s' },
      dead_letter_policy: {
        dead_letter_topic: expect.stringMatching(/google_pubsub_topic\.IngestRecords_dead-letter-topic_\w+\.id/),
        max_delivery_attempts: 5,
      },
      message_retention_duration: '86400s',
      expiration_policy: { ttl: '' },
    });
    expect(onlyInvoker(parsed)).toBe('ingest-records-push');
  });

  it('is created after the invoke grant and the token grant, so the first pushes are not refused', () => {
    expect(push.depends_on).toEqual([
      endpoint.grants[0]!.fqn,
      expect.stringMatching(/^google_service_account_iam_member\.IngestRecords_push-invoker-token-creator_\w+$/),
    ]);
  });

  it('asks the endpoint to let the invoker call it', () => {
    expect(endpoint.invokers).toEqual([topic.invokerServiceAccount]);
  });

  it('grants the Pub/Sub service agent exactly what dead-lettering and OIDC need, on those resources only', () => {
    expect(json).toHaveDataSource(DataGoogleProject);
    expect(json).toHaveResourceWithProperties(PubsubTopicIamMember, {
      role: 'roles/pubsub.publisher',
      member: SERVICE_AGENT,
      topic: expect.stringMatching(/google_pubsub_topic\.IngestRecords_dead-letter-topic_\w+\.name/),
    });
    expect(json).toHaveResourceWithProperties(PubsubSubscriptionIamMember, {
      role: 'roles/pubsub.subscriber',
      member: SERVICE_AGENT,
      subscription: expect.stringMatching(/google_pubsub_subscription\.IngestRecords_push_\w+\.name/),
    });
    expect(json).toHaveResourceWithProperties(ServiceAccountIamMember, {
      role: 'roles/iam.serviceAccountTokenCreator',
      member: SERVICE_AGENT,
      service_account_id: expect.stringMatching(/google_service_account\.IngestRecords_push-invoker_\w+\.name/),
    });
    expect(parsed.resource).not.toHaveProperty('google_project_iam_member');
    expect(resourceList(parsed, 'google_pubsub_topic_iam_member')).toHaveLength(1);
  });
});

function onlyInvoker(parsed: ReturnType<typeof synthesize>['parsed']): unknown {
  const accounts = resourceList(parsed, 'google_service_account');
  expect(accounts).toHaveLength(1);
  return accounts[0]!.account_id;
}

describe('IngestTopic with every prop', () => {
  const props: IngestTopicProps = {
    topicName: 'orders',
    project: 'other-project',
    labels: { team: 'data' },
    messageRetentionSeconds: 86_400,
    subscriptionRetentionSeconds: 43_200,
    deadLetterRetentionSeconds: 3_600,
    maxDeliveryAttempts: 12,
    minimumBackoffSeconds: 5,
    maximumBackoffSeconds: 120,
    encryptionKey: { id: 'projects/k/locations/us/keyRings/r/cryptoKeys/pubsub' },
    pushTarget: new FakeEndpoint('https://fn.example', 900),
  };
  const { json, parsed } = synthesize((stack) => new IngestTopic(stack, 'topic', props));

  it('applies retention, labels, project and the key to both topics', () => {
    for (const name of ['orders', 'orders-dead-letter']) {
      expect(json).toHaveResourceWithProperties(PubsubTopic, {
        name,
        project: 'other-project',
        labels: { team: 'data' },
        message_retention_duration: '86400s',
        kms_key_name: 'projects/k/locations/us/keyRings/r/cryptoKeys/pubsub',
      });
    }
  });

  it('applies the retry and dead-letter settings and caps the ack deadline at 600 s', () => {
    expect(json).toHaveResourceWithProperties(PubsubSubscription, {
      name: 'orders-push',
      project: 'other-project',
      ack_deadline_seconds: 600,
      retry_policy: { minimum_backoff: '5s', maximum_backoff: '120s' },
      dead_letter_policy: expect.objectContaining({ max_delivery_attempts: 12 }),
      message_retention_duration: '43200s',
    });
    expect(json).toHaveResourceWithProperties(PubsubSubscription, { name: 'orders-dead-letter', message_retention_duration: '3600s' });
    expect(json).toHaveDataSourceWithProperties(DataGoogleProject, { project_id: 'other-project' });
    expect(resourceList(parsed, 'google_service_account')[0]).toMatchObject({ account_id: 'orders-push', project: 'other-project' });
  });
});

describe('IngestTopic pushing as an invoker made elsewhere', () => {
  const invoker = { email: 'ingest-records-push@acme-ingest-dev.iam.gserviceaccount.com', member: 'serviceAccount:ingest-records-push@acme-ingest-dev.iam.gserviceaccount.com' };
  const endpoint = new FakeEndpoint('https://subscriber.example.run.app', 60);
  const { parsed, built: topic } = synthesize((stack) => new IngestTopic(stack, 'IngestRecords', { pushTarget: endpoint, pushInvoker: invoker }));
  const push = resourceList(parsed, 'google_pubsub_subscription').find((s) => s.push_config)!;

  it("pushes with that account's token and asks the endpoint to let it call", () => {
    expect(push.push_config).toMatchObject({ oidc_token: { service_account_email: invoker.email } });
    expect(endpoint.invokers).toEqual([invoker]);
    expect(topic.invokerServiceAccount).toBe(invoker);
  });

  it('creates no account and sets no IAM on it (its maker grants the service agent token creation), waiting for the invoke grant only', () => {
    expect(parsed.resource).not.toHaveProperty('google_service_account');
    expect(parsed.resource).not.toHaveProperty('google_service_account_iam_member');
    expect(push.depends_on).toEqual([endpoint.grants[0]!.fqn]);
  });
});

describe('IngestTopic writing to BigQuery', () => {
  const table = new FakeTable('p.d.t');
  const { json, parsed } = synthesize((stack) => new IngestTopic(stack, 'events', { bigQueryTable: table }));

  it('creates a BigQuery subscription with table schema, no metadata, unknown fields refused', () => {
    expect(json).toHaveResourceWithProperties(PubsubSubscription, {
      name: 'events-bigquery',
      bigquery_config: { table: 'p.d.t', use_table_schema: true, write_metadata: false, drop_unknown_fields: false },
      dead_letter_policy: expect.objectContaining({ max_delivery_attempts: 5 }),
    });
  });

  it('lets the service agent insert into that table, and creates no invoker', () => {
    expect(table.writers).toEqual([expect.stringMatching(/^serviceAccount:service-.+@gcp-sa-pubsub\.iam\.gserviceaccount\.com$/)]);
    expect(parsed.resource).not.toHaveProperty('google_service_account');
  });

  it('is created after that grant: Pub/Sub refuses a BigQuery subscription it cannot write through', () => {
    const subscription = resourceList(parsed, 'google_pubsub_subscription').find((s) => s.bigquery_config)!;
    expect(subscription.depends_on).toEqual([table.grants[0]!.fqn]);
  });
});

describe('IngestTopic.grantPublish', () => {
  const { parsed } = synthesize((stack) => {
    const topic = new IngestTopic(stack, 'ingest');
    topic.grantPublish('serviceAccount:producer@p.iam.gserviceaccount.com');
    topic.grantPublish('serviceAccount:producer@p.iam.gserviceaccount.com');
  });

  it('grants publisher on the ingest topic only, once', () => {
    const publishers = resourceList(parsed, 'google_pubsub_topic_iam_member').filter((m) => m.member !== SERVICE_AGENT);
    expect(publishers).toEqual([
      expect.objectContaining({
        role: 'roles/pubsub.publisher',
        member: 'serviceAccount:producer@p.iam.gserviceaccount.com',
        topic: expect.stringMatching(/google_pubsub_topic\.ingest_topic_\w+\.name/),
      }),
    ]);
  });
});

describe('IngestTopic.grantDeadLetterPublish', () => {
  const producer = 'serviceAccount:producer@p.iam.gserviceaccount.com';
  const { parsed, built: granted } = synthesize((stack) => {
    const topic = new IngestTopic(stack, 'ingest');
    const first = topic.grantDeadLetterPublish(producer);
    return { first, again: topic.grantDeadLetterPublish(producer), ingest: topic.grantPublish(producer) };
  });
  const byTopic = (name: string) =>
    resourceList(parsed, 'google_pubsub_topic_iam_member').filter((m) => m.member === producer && new RegExp(`google_pubsub_topic\\.ingest_${name}_\\w+\\.name`).test(String(m.topic)));

  it('grants publisher on the dead-letter topic only, once, apart from a grant on the ingest topic', () => {
    expect(byTopic('dead-letter-topic')).toEqual([expect.objectContaining({ role: 'roles/pubsub.publisher', project: expect.stringMatching(/dead-letter-topic_\w+\.project/) })]);
    expect(byTopic('topic')).toHaveLength(1);
    expect(granted.again).toBe(granted.first);
    expect(granted.ingest).not.toBe(granted.first);
  });
});

describe('IngestTopic pushing to a target that publishes its own dead letters', () => {
  const endpoint = new FakeEndpoint('https://subscriber.example.run.app', 60);
  const runtime = 'serviceAccount:subscriber-fn@acme-ingest-dev.iam.gserviceaccount.com';
  const { parsed } = synthesize((stack) => {
    const topic = new IngestTopic(stack, 'IngestRecords');
    topic.addPushSubscription('push', { target: endpoint, deadLetterPublisher: runtime });
  });
  const push = resourceList(parsed, 'google_pubsub_subscription').find((s) => s.push_config)!;
  const grantIds = Object.entries(parsed.resource?.google_pubsub_topic_iam_member ?? {}).filter(([, grant]) => (grant as { member?: string }).member === runtime);

  it("lets the target's identity publish to the dead-letter topic, and creates the subscription after that grant", () => {
    expect(grantIds).toEqual([[expect.any(String), expect.objectContaining({ role: 'roles/pubsub.publisher', topic: expect.stringMatching(/IngestRecords_dead-letter-topic_\w+\.name/) })]]);
    expect(push.depends_on).toEqual(expect.arrayContaining([endpoint.grants[0]!.fqn, `google_pubsub_topic_iam_member.${grantIds[0]![0]}`]));
  });
});

describe('IngestTopic.deadLetterTopicPath', () => {
  it("is a plain full name when the project is, else it refers to the topic's project", () => {
    const { built: known } = synthesize((stack) => new IngestTopic(stack, 'ingest', { project: 'acme-ingest-dev' }));
    expect(known.deadLetterTopicPath).toBe('projects/acme-ingest-dev/topics/ingest-dead-letter');
    const { parsed } = synthesize((stack) => new TerraformOutput(stack, 'path', { value: new IngestTopic(stack, 'ingest').deadLetterTopicPath }));
    expect(parsed.output?.path?.value).toMatch(/^projects\/\$\{google_pubsub_topic\.ingest_dead-letter-topic_\w+\.project\}\/topics\/ingest-dead-letter$/);
  });
});

describe('IngestTopic validation', () => {
  it('refuses out-of-range settings, naming the prop', () => {
    const { stack } = synthesize((s) => {
      const topic = new IngestTopic(s, 'topic', {
        topicName: 'google-topic',
        maxDeliveryAttempts: 3,
        minimumBackoffSeconds: 300,
        maximumBackoffSeconds: 60,
        messageRetentionSeconds: 10,
        subscriptionRetentionSeconds: 604_801,
        deadLetterRetentionSeconds: 599,
      });
      topic.addPushSubscription('late', { target: new FakeEndpoint('https://x', 60), ackDeadlineSeconds: 5 });
    });
    expect(validationErrors(stack)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^topicName: must be 3-255/),
        expect.stringMatching(/^maxDeliveryAttempts: must be an integer from 5 to 100/),
        'minimumBackoffSeconds: must not exceed maximumBackoffSeconds',
        expect.stringMatching(/^messageRetentionSeconds: must be an integer from 600/),
        expect.stringMatching(/^subscriptionRetentionSeconds: must be an integer from 600 to 604800/),
        expect.stringMatching(/^deadLetterRetentionSeconds: must be an integer from 600 to 604800/),
        expect.stringMatching(/^late\.ackDeadlineSeconds: must be an integer from 10 to 600/),
      ]),
    );
  });

  it('accepts the defaults', () => {
    expect(validationErrors(synthesize((s) => new IngestTopic(s, 'ingest', { pushTarget: new FakeEndpoint('https://x', 600) })).stack)).toEqual([]);
  });

  it('refuses a subscription retention shorter than the deliveries before dead-lettering: messages would expire and be lost', () => {
    const { stack } = synthesize(
      (s) => new IngestTopic(s, 'ingest', { pushTarget: new FakeEndpoint('https://x', 600), maxDeliveryAttempts: 10, subscriptionRetentionSeconds: 3_600 }),
    );
    expect(validationErrors(stack)).toEqual([
      'subscriptionRetentionSeconds: must be at least 12000 for subscription push (10 attempts of up to 600 s plus backoff), or a message expires before it is dead-lettered and is lost',
    ]);
  });
});
