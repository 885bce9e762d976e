import { Construct } from 'constructs';
import type { ITerraformDependable } from 'cdktf';
import { PubsubSubscription } from '@cdktf/provider-google/lib/pubsub-subscription';
import { PubsubSubscriptionIamMember } from '@cdktf/provider-google/lib/pubsub-subscription-iam-member';
import { PubsubTopic } from '@cdktf/provider-google/lib/pubsub-topic';
import { PubsubTopicIamMember } from '@cdktf/provider-google/lib/pubsub-topic-iam-member';
import { ServiceAccount } from '@cdktf/provider-google/lib/service-account';
import { ServiceAccountIamMember } from '@cdktf/provider-google/lib/service-account-iam-member';
import { kebab, PUBSUB_NAME, pubsubTopicPath } from '../lambda-src/rules/naming';
import type { IEncryptionKey } from './encryption-key';
import type { Grantee, ServiceAccountReference } from './grantee';
import { grantOnce } from './private/grants';
import { fitName, serviceAccountId } from './private/naming';
import { projectData, pubsubServiceAgentMember } from './private/project';
import { secondsOf } from './private/tokens';
import { encryptionKeyProblem, integerIn, isToken, labelProblems, matches, problemIf, validateProps } from './private/validation';

/** Something a push subscription can deliver to: an HTTPS endpoint that checks IAM (e.g. `HttpIngestFunction`). */
export interface IPushTarget {
  /** HTTPS URL that receives the pushed messages; also the OIDC token's audience. */
  readonly url: string;
  /** How long the endpoint may take per request; the ack deadline follows it. */
  readonly timeoutSeconds: number;
  /** Lets `grantee` call the endpoint; returns the binding, which the subscription waits for. */
  grantInvoke(grantee: Grantee): ITerraformDependable;
}

/** A BigQuery table a BigQuery subscription can write to (e.g. `WarehouseTable`). */
export interface IBigQueryTarget {
  /** `project.dataset.table`. */
  readonly tableReference: string;
  /**
   * Lets `grantee` write rows to the table; returns the binding, which the
   * subscription waits for (Pub/Sub checks the right when it is created).
   */
  grantInsert(grantee: Grantee): ITerraformDependable;
}

/** The identity push deliveries authenticate as, and the service agent's grant to mint its tokens when this construct made it. */
interface PushInvoker {
  readonly account: ServiceAccountReference;
  readonly tokenCreator?: ServiceAccountIamMember;
}

/** Options of {@link IngestTopic.addPushSubscription}. */
export interface PushSubscriptionOptions {
  /** Endpoint the messages are pushed to. */
  readonly target: IPushTarget;
  /**
   * Subscription name.
   * @default `<topic name>-<construct id in kebab case>`
   */
  readonly subscriptionName?: string;
  /**
   * Seconds Pub/Sub waits for the endpoint's answer before redelivering (10-600).
   * @default the target's timeout, clamped to 10-600
   */
  readonly ackDeadlineSeconds?: number;
  /**
   * The identity the target runs as, when the target publishes the messages
   * it can never process to the dead-letter topic itself (with why) rather
   * than nacking them until Pub/Sub gives up, as the subscriber function
   * does given `DEAD_LETTER_TOPIC` ({@link IngestTopic.deadLetterTopicPath}).
   * It gets {@link IngestTopic.grantDeadLetterPublish}, and the subscription
   * is created after that grant, so the first such message is published
   * rather than refused.
   * @default no grant: the target acknowledges or nacks, and only Pub/Sub dead-letters
   */
  readonly deadLetterPublisher?: Grantee;
}

/** Options of {@link IngestTopic.addBigQuerySubscription}. */
export interface BigQuerySubscriptionOptions {
  /** Table the messages are written to. */
  readonly table: IBigQueryTarget;
  /**
   * Subscription name.
   * @default `<topic name>-<construct id in kebab case>`
   */
  readonly subscriptionName?: string;
  /**
   * Map the JSON message's top-level fields onto the table's columns; each
   * message must then carry every REQUIRED column. `false` writes the raw
   * message into a `data` column instead.
   * @default true
   */
  readonly useTableSchema?: boolean;
  /**
   * Also write `subscription_name`, `message_id`, `publish_time` and `attributes` columns.
   * @default false
   */
  readonly writeMetadata?: boolean;
  /**
   * Drop message fields the table has no column for instead of failing the message.
   * @default false (such messages go to the dead-letter topic)
   */
  readonly dropUnknownFields?: boolean;
}

/** Props of {@link IngestTopic}. */
export interface IngestTopicProps {
  /**
   * Name of the ingest topic; the dead-letter topic and subscriptions are named after it.
   * @default the construct id in kebab case
   */
  readonly topicName?: string;
  /**
   * Project that owns the topics.
   * @default the provider's project
   */
  readonly project?: string;
  /**
   * Labels on the topics and subscriptions.
   * @default no labels
   */
  readonly labels?: Record<string, string>;
  /**
   * How long the topics keep every message, acknowledged or not, so a
   * subscription can seek back to a time (600 s to 31 days). Topic retention
   * is billed storage, and no runbook seeks the topics (dead letters are
   * inspected and replayed from the dead-letter subscription).
   * @default no topic retention
   */
  readonly messageRetentionSeconds?: number;
  /**
   * How long a delivery subscription keeps a message nobody acknowledged
   * (600 s to 7 days). A message is delivered or dead-lettered within
   * `maxDeliveryAttempts` deliveries spaced by at most `maximumBackoffSeconds`
   * (under an hour with the defaults), so a day is ample.
   * @default 86400 (1 day)
   */
  readonly subscriptionRetentionSeconds?: number;
  /**
   * How long the dead-letter subscription keeps an unacknowledged dead
   * letter (600 s to 7 days): the runbook's window to inspect and replay it.
   * Acknowledged dead letters are not retained.
   * @default 604800 (7 days, the most Pub/Sub allows)
   */
  readonly deadLetterRetentionSeconds?: number;
  /**
   * Deliveries of one message before it is moved to the dead-letter topic (5-100).
   * @default 5
   */
  readonly maxDeliveryAttempts?: number;
  /**
   * First redelivery delay after a failed delivery, in seconds (0-600).
   * @default 10
   */
  readonly minimumBackoffSeconds?: number;
  /**
   * Longest redelivery delay, in seconds (0-600).
   * @default 600
   */
  readonly maximumBackoffSeconds?: number;
  /**
   * Cloud KMS key that encrypts both topics (CMEK). The Pub/Sub service
   * agent needs `roles/cloudkms.cryptoKeyEncrypterDecrypter` on it.
   * @default Google-managed encryption
   */
  readonly encryptionKey?: IEncryptionKey;
  /**
   * Push every message to this endpoint (same as calling
   * `addPushSubscription('push', { target })`).
   * @default no push subscription
   */
  readonly pushTarget?: IPushTarget;
  /**
   * Write every message straight into this table, with no code in between
   * (same as calling `addBigQuerySubscription('bigquery', { table })`).
   * For producers whose messages need no validation.
   * @default no BigQuery subscription
   */
  readonly bigQueryTable?: IBigQueryTarget;
  /**
   * An existing service account whose OIDC token authenticates push
   * deliveries, e.g. one a bootstrap stack made. Whoever deploys then needs
   * only `iam.serviceAccounts.actAs` on it. Whoever made it grants the
   * Pub/Sub service agent `roles/iam.serviceAccountTokenCreator` on it: this
   * construct does not, since that takes the right to change the account's
   * IAM policy.
   * @default a new service account, made with the first push subscription, with that grant
   */
  readonly pushInvoker?: ServiceAccountReference;
}

/** The longest Pub/Sub topic or subscription name (`PUBSUB_NAME`). */
const PUBSUB_NAME_LENGTH = 255;

const DEFAULT_SUBSCRIPTION_RETENTION_SECONDS = 86_400;
const DEFAULT_MAX_DELIVERY_ATTEMPTS = 5;
const DEFAULT_MINIMUM_BACKOFF_SECONDS = 10;
const DEFAULT_MAXIMUM_BACKOFF_SECONDS = 600;
const DEFAULT_DEAD_LETTER_RETENTION_SECONDS = 604_800;

/** What {@link IngestTopic} accepts for its numeric props (Pub/Sub's limits); stack configs check theirs by the same rules. */
export const INGEST_TOPIC_RULES = {
  messageRetentionSeconds: { min: 600, max: 2_678_400 },
  subscriptionRetentionSeconds: { min: 600, max: 604_800 },
  deadLetterRetentionSeconds: { min: 600, max: 604_800 },
  maxDeliveryAttempts: { min: 5, max: 100 },
  minimumBackoffSeconds: { min: 0, max: 600 },
  maximumBackoffSeconds: { min: 0, max: 600 },
  ackDeadlineSeconds: { min: 10, max: 600 },
} as const;

/** `value` within `range`; a token is passed on as it is (Pub/Sub refuses it at apply if out of range). */
function clamped(value: number, range: { readonly min: number; readonly max: number }): number {
  return isToken(value) ? value : Math.min(range.max, Math.max(range.min, value));
}

/**
 * The Pub/Sub side of ingestion: the ingest topic, a dead-letter topic with
 * a pull subscription that keeps dead letters for inspection, and
 * subscriptions that deliver the messages (push with an OIDC token to an
 * HTTP function, or straight into BigQuery).
 *
 * Every subscription retries with exponential backoff and dead-letters after
 * `maxDeliveryAttempts`. The IAM that needs is granted on the exact resources,
 * to the project's Pub/Sub service agent: publisher on the dead-letter topic,
 * subscriber on each subscription, and token creator on the push invoker
 * service account when this construct creates it (to mint its OIDC tokens).
 * A push target that publishes the messages it can never process to the
 * dead-letter topic itself gets publisher on that topic alone
 * (`deadLetterPublisher`, {@link IngestTopic.grantDeadLetterPublish}).
 */
export class IngestTopic extends Construct {
  /** The ingest topic producers publish to. */
  public readonly topic: PubsubTopic;
  /** Name of the ingest topic (a plain string, usable where Terraform references are not, e.g. dashboards). */
  public readonly topicName: string;
  /** Id (`projects/…/topics/…`) of the ingest topic. */
  public readonly topicId: string;
  /** Topic that receives messages no subscription could deliver. */
  public readonly deadLetterTopic: PubsubTopic;
  /** Name of the dead-letter topic (plain string). */
  public readonly deadLetterTopicName: string;
  /**
   * Full name of the dead-letter topic, `projects/<project>/topics/<name>`,
   * as a publisher names it (e.g. a push target's `DEAD_LETTER_TOPIC`): a
   * plain string when the `project` prop is one, else it refers to the
   * topic's project, which Terraform knows at plan (and whatever uses it
   * then waits for the topic).
   */
  public readonly deadLetterTopicPath: string;
  /** Pull subscription that keeps the dead letters until someone inspects them. */
  public readonly deadLetterSubscription: PubsubSubscription;
  /** Name (short id) of the dead-letter subscription, a plain string: alerts watch its backlog. */
  public readonly deadLetterSubscriptionName: string;
  /** Id (`projects/…/subscriptions/…`) of the dead-letter subscription. */
  public readonly deadLetterSubscriptionId: string;

  private readonly props: IngestTopicProps;
  /** The delivery settings every subscription shares, defaults applied. */
  private readonly delivery: {
    readonly retentionSeconds: number;
    readonly maxAttempts: number;
    readonly minimumBackoffSeconds: number;
    readonly maximumBackoffSeconds: number;
  };
  private readonly serviceAgent: string;
  private readonly deliverySubscriptions: PubsubSubscription[] = [];
  private invoker?: PushInvoker;

  constructor(scope: Construct, id: string, props: IngestTopicProps = {}) {
    super(scope, id);
    this.props = props;
    const topicName = props.topicName ?? kebab(id);
    const minimumBackoff = props.minimumBackoffSeconds ?? DEFAULT_MINIMUM_BACKOFF_SECONDS;
    const maximumBackoff = props.maximumBackoffSeconds ?? DEFAULT_MAXIMUM_BACKOFF_SECONDS;
    this.delivery = {
      retentionSeconds: props.subscriptionRetentionSeconds ?? DEFAULT_SUBSCRIPTION_RETENTION_SECONDS,
      maxAttempts: props.maxDeliveryAttempts ?? DEFAULT_MAX_DELIVERY_ATTEMPTS,
      minimumBackoffSeconds: minimumBackoff,
      maximumBackoffSeconds: maximumBackoff,
    };
    const rules = INGEST_TOPIC_RULES;
    validateProps(this, [
      matches('topicName', topicName, PUBSUB_NAME),
      integerIn('messageRetentionSeconds', props.messageRetentionSeconds, rules.messageRetentionSeconds),
      integerIn('subscriptionRetentionSeconds', props.subscriptionRetentionSeconds, rules.subscriptionRetentionSeconds),
      integerIn('deadLetterRetentionSeconds', props.deadLetterRetentionSeconds, rules.deadLetterRetentionSeconds),
      integerIn('maxDeliveryAttempts', props.maxDeliveryAttempts, rules.maxDeliveryAttempts),
      integerIn('minimumBackoffSeconds', minimumBackoff, rules.minimumBackoffSeconds),
      integerIn('maximumBackoffSeconds', maximumBackoff, rules.maximumBackoffSeconds),
      problemIf('minimumBackoffSeconds', minimumBackoff > maximumBackoff, 'must not exceed maximumBackoffSeconds', [minimumBackoff, maximumBackoff]),
      ...labelProblems('labels', props.labels),
      encryptionKeyProblem('encryptionKey', props.encryptionKey),
    ]);
    this.serviceAgent = pubsubServiceAgentMember(projectData(this, props.project));

    const topicRetention = props.messageRetentionSeconds === undefined ? undefined : secondsOf(props.messageRetentionSeconds);
    this.topic = new PubsubTopic(this, 'topic', {
      name: topicName,
      project: props.project,
      labels: props.labels,
      messageRetentionDuration: topicRetention,
      kmsKeyName: props.encryptionKey?.id,
    });
    this.topicName = topicName;
    this.topicId = this.topic.id;

    this.deadLetterTopicName = fitName(`${topicName}-dead-letter`, PUBSUB_NAME_LENGTH);
    this.deadLetterSubscriptionName = fitName(`${topicName}-dead-letter`, PUBSUB_NAME_LENGTH);
    this.deadLetterTopic = new PubsubTopic(this, 'dead-letter-topic', {
      name: this.deadLetterTopicName,
      project: props.project,
      labels: props.labels,
      messageRetentionDuration: topicRetention,
      kmsKeyName: props.encryptionKey?.id,
    });
    const knownProject = props.project !== undefined && !isToken(props.project);
    this.deadLetterTopicPath = pubsubTopicPath(knownProject ? props.project! : this.deadLetterTopic.project, this.deadLetterTopicName);
    new PubsubTopicIamMember(this, 'dead-letter-publisher', {
      project: this.deadLetterTopic.project,
      topic: this.deadLetterTopic.name,
      role: 'roles/pubsub.publisher',
      member: this.serviceAgent,
    });
    this.deadLetterSubscription = new PubsubSubscription(this, 'dead-letter-subscription', {
      name: this.deadLetterSubscriptionName,
      project: props.project,
      topic: this.deadLetterTopic.id,
      labels: props.labels,
      ackDeadlineSeconds: 60,
      messageRetentionDuration: secondsOf(props.deadLetterRetentionSeconds ?? DEFAULT_DEAD_LETTER_RETENTION_SECONDS),
      // A dead letter is acknowledged once replayed or recorded as lost: keeping it after that is storage nobody reads.
      retainAckedMessages: false,
      expirationPolicy: { ttl: '' },
    });
    this.deadLetterSubscriptionId = this.deadLetterSubscription.id;

    if (props.pushTarget) this.addPushSubscription('push', { target: props.pushTarget });
    if (props.bigQueryTable) this.addBigQuerySubscription('bigquery', { table: props.bigQueryTable });
  }

  /** Subscriptions that deliver the ingest topic's messages (not the dead-letter one). */
  public get subscriptions(): readonly PubsubSubscription[] {
    return [...this.deliverySubscriptions];
  }

  /**
   * Service account whose OIDC token authenticates push deliveries (the
   * `pushInvoker` prop, or one created with the first push subscription), or
   * `undefined` while there is no push subscription.
   */
  public get invokerServiceAccount(): ServiceAccountReference | undefined {
    return this.invoker?.account;
  }

  /**
   * Pushes every message to `options.target` with an OIDC token of the
   * invoker service account, which gets `roles/run.invoker` on the target
   * (and `options.deadLetterPublisher`, if given, publish rights on the
   * dead-letter topic). The subscription is created after those grants, so
   * the first pushes are not refused and dead-lettered.
   */
  public addPushSubscription(id: string, options: PushSubscriptionOptions): PubsubSubscription {
    const ackDeadline = options.ackDeadlineSeconds ?? clamped(options.target.timeoutSeconds, INGEST_TOPIC_RULES.ackDeadlineSeconds);
    validateProps(this, [integerIn(`${id}.ackDeadlineSeconds`, ackDeadline, INGEST_TOPIC_RULES.ackDeadlineSeconds)]);
    const invoker = this.invokerAccount();
    const grants: ITerraformDependable[] = [options.target.grantInvoke(invoker.account)];
    if (invoker.tokenCreator !== undefined) grants.push(invoker.tokenCreator);
    if (options.deadLetterPublisher !== undefined) grants.push(this.grantDeadLetterPublish(options.deadLetterPublisher));
    return this.addDeliverySubscription(id, options.subscriptionName, grants, {
      ackDeadlineSeconds: ackDeadline,
      pushConfig: {
        pushEndpoint: options.target.url,
        oidcToken: { serviceAccountEmail: invoker.account.email, audience: options.target.url },
      },
    });
  }

  /**
   * Writes every message into `options.table` (a BigQuery subscription).
   * The Pub/Sub service agent gets insert rights on that table only, and the
   * subscription is created after that grant: Pub/Sub refuses to create a
   * BigQuery subscription it cannot write through.
   */
  public addBigQuerySubscription(id: string, options: BigQuerySubscriptionOptions): PubsubSubscription {
    const insertGrant = options.table.grantInsert(this.serviceAgent);
    const useTableSchema = options.useTableSchema ?? true;
    return this.addDeliverySubscription(id, options.subscriptionName, [insertGrant], {
      ackDeadlineSeconds: 60,
      bigqueryConfig: {
        table: options.table.tableReference,
        useTableSchema,
        writeMetadata: options.writeMetadata ?? false,
        dropUnknownFields: options.dropUnknownFields ?? false,
      },
    });
  }

  /**
   * Lets `grantee` publish to the ingest topic (`roles/pubsub.publisher` on this topic only).
   * @returns the binding (the one an earlier identical call made, if any)
   */
  public grantPublish(grantee: Grantee): PubsubTopicIamMember {
    return grantOnce(this, 'roles/pubsub.publisher', grantee, (id, member) =>
      new PubsubTopicIamMember(this, id, { project: this.topic.project, topic: this.topic.name, role: 'roles/pubsub.publisher', member }),
    );
  }

  /**
   * Lets `grantee` publish to the dead-letter topic
   * (`roles/pubsub.publisher` on that topic only), for a push target that
   * routes the messages it can never process there itself. It can neither
   * publish to the ingest topic nor read either topic.
   * @returns the binding (the one an earlier identical call made, if any)
   */
  public grantDeadLetterPublish(grantee: Grantee): PubsubTopicIamMember {
    return grantOnce(this, 'dead-letter-pubsub.publisher', grantee, (id, member) =>
      new PubsubTopicIamMember(this, id, {
        project: this.deadLetterTopic.project,
        topic: this.deadLetterTopic.name,
        role: 'roles/pubsub.publisher',
        member,
      }),
    );
  }

  private addDeliverySubscription(
    id: string,
    subscriptionName: string | undefined,
    grants: readonly ITerraformDependable[],
    delivery: Pick<
      ConstructorParameters<typeof PubsubSubscription>[2],
      'ackDeadlineSeconds' | 'pushConfig' | 'bigqueryConfig'
    >,
  ): PubsubSubscription {
    const name = subscriptionName ?? fitName(`${this.topicName}-${kebab(id)}`, PUBSUB_NAME_LENGTH);
    const { retentionSeconds: retention, maxAttempts: attempts, maximumBackoffSeconds: maximumBackoff } = this.delivery;
    // Each attempt may wait out its ack deadline, then the longest backoff, before the next one.
    const ackDeadline = delivery.ackDeadlineSeconds ?? 0;
    const deliveryWindow = attempts * (ackDeadline + maximumBackoff);
    validateProps(this, [
      matches(`${id}.subscriptionName`, name, PUBSUB_NAME),
      problemIf(
        'subscriptionRetentionSeconds',
        retention < deliveryWindow,
        `must be at least ${deliveryWindow} for subscription ${id} (${attempts} attempts of up to ${ackDeadline} s plus backoff), or a message expires before it is dead-lettered and is lost`,
        [retention, attempts, ackDeadline, maximumBackoff],
      ),
    ]);
    const subscription = new PubsubSubscription(this, id, {
      name,
      project: this.props.project,
      topic: this.topic.id,
      labels: this.props.labels,
      messageRetentionDuration: secondsOf(retention),
      expirationPolicy: { ttl: '' },
      retryPolicy: {
        minimumBackoff: secondsOf(this.delivery.minimumBackoffSeconds),
        maximumBackoff: secondsOf(maximumBackoff),
      },
      deadLetterPolicy: {
        deadLetterTopic: this.deadLetterTopic.id,
        maxDeliveryAttempts: attempts,
      },
      ...delivery,
      dependsOn: [...grants],
    });
    // Moving a message to the dead-letter topic acknowledges it here, which needs subscriber rights.
    new PubsubSubscriptionIamMember(this, `${id}-dead-letter-subscriber`, {
      project: subscription.project,
      subscription: subscription.name,
      role: 'roles/pubsub.subscriber',
      member: this.serviceAgent,
    });
    this.deliverySubscriptions.push(subscription);
    return subscription;
  }

  private invokerAccount(): PushInvoker {
    if (this.invoker) return this.invoker;
    if (this.props.pushInvoker !== undefined) {
      this.invoker = { account: this.props.pushInvoker };
      return this.invoker;
    }
    // Named after the construct id when the topic's name is known only to Terraform.
    const stem = isToken(this.topicName) ? kebab(this.node.id) : this.topicName;
    const account = new ServiceAccount(this, 'push-invoker', {
      accountId: serviceAccountId(stem, '-push'),
      displayName: `Authenticates push deliveries of ${this.topicName}`,
      project: this.props.project,
    });
    // The service agent mints the OIDC token of this account, and of no other.
    const tokenCreator = new ServiceAccountIamMember(this, 'push-invoker-token-creator', {
      serviceAccountId: account.name,
      role: 'roles/iam.serviceAccountTokenCreator',
      member: this.serviceAgent,
    });
    this.invoker = { account, tokenCreator };
    return this.invoker;
  }
}
