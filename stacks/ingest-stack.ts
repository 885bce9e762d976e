import { Construct } from 'constructs';
import { Aspects, GcsBackend, TerraformStack } from 'cdktf';
import { FunctionBuildEnvironment } from '../constructs/function-build-environment';
import { FunctionSourceBucket } from '../constructs/function-source-bucket';
import { HttpIngestFunction } from '../constructs/http-ingest-function';
import { IngestTopic } from '../constructs/ingest-topic';
import { MonitoringAlerts } from '../constructs/monitoring-alerts';
import { GcpPolicyPack } from '../constructs/policy-pack';
import { WarehouseTable } from '../constructs/warehouse-table';
import { DEAD_LETTER_TOPIC } from '../lambda-src/rules/naming';
import { environmentConfigProblems, type EnvironmentConfig } from './config';
import { ConfigurationError } from './config-checks';
import { addGoogleProvider, addTimeProvider } from './google-provider';
import { ingestIdentity, stateObjectPrefix, tableRoles } from './identities';
import { addOutput } from './outputs';

/**
 * One environment of the ingest pipeline: the warehouse table, the HTTP API
 * function (writes and reads), the Pub/Sub topic pushing to the subscriber
 * function (writes; it publishes the messages it can never store to the
 * dead-letter topic), a shared private source bucket and build environment,
 * monitoring, and the outputs a deployer needs. Terraform state lives in GCS
 * under `ingest/<env>`. It creates no service account, custom role or
 * project-level grant: it attaches the ones the bootstrap stack made
 * (`stacks/identities.ts`), so its deployer needs no IAM-admin right.
 *
 * An invalid config is refused before anything is built, with one line per
 * problem, each naming its field and the variable that sets it
 * (`prod.public (set by PROD_PUBLIC): must be false in prod …`). A violation
 * of the policy pack, checked with the environment's own rules, fails synthesis.
 */
export class IngestStack extends TerraformStack {
  /** The validated config this stack was built from. */
  public readonly config: EnvironmentConfig;
  /** The dataset, table and latest-version view. */
  public readonly table: WarehouseTable;
  /** The HTTP API function (`POST /`, `GET /records…`, `PUT /records/{id}`). */
  public readonly api: HttpIngestFunction;
  /** The Pub/Sub push subscriber function. */
  public readonly subscriber: HttpIngestFunction;
  /** The ingest topic, its push subscription and its dead-letter topic and subscription. */
  public readonly topic: IngestTopic;
  /** The bucket both function zips are uploaded to. */
  public readonly sourceBucket: FunctionSourceBucket;
  /** The build service account and image repository both functions build with. */
  public readonly buildEnvironment: FunctionBuildEnvironment;
  /** Log-based metrics, the availability SLO, alert policies and dashboards. */
  public readonly monitoring: MonitoringAlerts;

  constructor(scope: Construct, config: EnvironmentConfig) {
    super(scope, config.name);
    this.config = config;
    // Built from a bad config, the constructs would fail on their own terms (a prop name, not the variable to set).
    const problems = environmentConfigProblems(config);
    if (problems.length > 0) throw new ConfigurationError(problems);
    Aspects.of(this).add(new GcpPolicyPack({ environment: config.name }));

    addGoogleProvider(this, { project: config.project, region: config.region });
    addTimeProvider(this);
    new GcsBackend(this, { bucket: config.stateBucket, prefix: stateObjectPrefix(config.name) });

    const labels = { ...config.labels };
    this.sourceBucket = new FunctionSourceBucket(this, 'function-source', {
      location: config.region,
      bucketName: `${config.project}-ingest-fn-source`,
      labels,
      forceDestroy: config.disposable,
    });
    this.buildEnvironment = new FunctionBuildEnvironment(this, 'function-build', {
      location: config.region,
      repositoryId: 'ingest-functions',
      // Made by the bootstrap stack, with its project-level grants (stacks/identities.ts).
      serviceAccount: ingestIdentity('build', config.project),
      grantProjectRoles: false,
      labels,
    });

    this.table = new WarehouseTable(this, 'warehouse', {
      datasetId: config.warehouse.datasetId,
      tableId: config.warehouse.tableId,
      location: config.warehouse.location,
      partitionExpirationDays: config.warehouse.partitionExpirationDays ?? undefined,
      labels,
      disposable: config.disposable,
      roles: tableRoles(config.project),
    });

    const common = {
      region: config.region,
      sourceBucket: this.sourceBucket,
      buildEnvironment: this.buildEnvironment,
      labels,
      environment: { ...this.table.warehouseEnvironment },
    };
    this.api = new HttpIngestFunction(this, 'api', {
      ...common,
      environment: {
        ...common.environment,
        BIGQUERY_MAX_BYTES_BILLED: String(config.api.readMaxBytesBilled),
        READ_WINDOW_HOURS: String(config.api.readWindowHours),
      },
      handler: 'api',
      functionName: 'ingest-api',
      serviceAccount: ingestIdentity('api', config.project),
      description: 'Ingest and read API: POST / stores records, GET /records reads their latest versions.',
      memory: config.api.memory,
      cpu: config.api.cpu,
      minInstanceCount: config.api.minInstances,
      maxInstanceCount: config.api.maxInstances,
      maxInstanceRequestConcurrency: config.api.concurrency,
      timeoutSeconds: config.api.timeoutSeconds,
      maxBodyBytes: config.api.maxBodyBytes,
      public: config.public,
    });
    if (config.public) {
      GcpPolicyPack.suppress(
        this.api,
        'GCP-IAM-001',
        `${config.name}.public is true: this environment's API deliberately accepts unauthenticated calls (config validation refuses it in prod)`,
      );
    }
    // Before the subscriber, whose environment names the dead-letter topic; the push subscription follows it.
    this.topic = new IngestTopic(this, 'ingest', {
      topicName: config.pubsub.topicName,
      labels,
      pushInvoker: ingestIdentity('pushInvoker', config.project),
      maxDeliveryAttempts: config.pubsub.maxDeliveryAttempts,
      minimumBackoffSeconds: config.pubsub.minimumBackoffSeconds,
      maximumBackoffSeconds: config.pubsub.maximumBackoffSeconds,
      messageRetentionSeconds: config.pubsub.messageRetentionSeconds ?? undefined,
      subscriptionRetentionSeconds: config.pubsub.subscriptionRetentionSeconds,
      deadLetterRetentionSeconds: config.pubsub.deadLetterRetentionSeconds,
    });
    this.subscriber = new HttpIngestFunction(this, 'subscriber', {
      ...common,
      environment: { ...common.environment, [DEAD_LETTER_TOPIC.variable]: this.topic.deadLetterTopicPath },
      handler: 'subscriber',
      functionName: 'ingest-subscriber',
      serviceAccount: ingestIdentity('subscriber', config.project),
      description: 'Pub/Sub push subscriber: stores each pushed record, nacks transient failures, dead-letters what it can never store.',
      memory: config.subscriber.memory,
      cpu: config.subscriber.cpu,
      minInstanceCount: config.subscriber.minInstances,
      maxInstanceCount: config.subscriber.maxInstances,
      maxInstanceRequestConcurrency: config.subscriber.concurrency,
      timeoutSeconds: config.subscriber.timeoutSeconds,
    });

    // The API's jobUser on the project is the bootstrap stack's grant.
    this.table.grantReadWrite(this.api, { grantJobUser: false });
    this.table.grantInsert(this.subscriber);
    this.topic.addPushSubscription('push', { target: this.subscriber, deadLetterPublisher: this.subscriber });

    this.monitoring = new MonitoringAlerts(this, 'monitoring', {
      project: config.project,
      namePrefix: `ingest-${config.name}`,
      apiServiceName: this.api.functionName,
      subscriberServiceName: this.subscriber.functionName,
      deadLetterSubscriptionName: this.topic.deadLetterSubscriptionName,
      notificationChannels: config.alerting.notificationEmails.map((address) => ({ type: 'email' as const, address })),
      notificationChannelIds: config.alerting.notificationChannelIds,
      userLabels: labels,
    });

    const outputs: Record<string, [string, string]> = {
      api_url: [this.api.url, 'HTTPS URL of the ingest API (IAM-authenticated unless public).'],
      topic_name: [this.topic.topicName, 'Pub/Sub topic producers publish records to.'],
      topic_id: [this.topic.topicId, 'Full id of the ingest topic.'],
      dead_letter_subscription: [this.topic.deadLetterSubscriptionName, 'Pull subscription holding messages that could not be delivered.'],
      dataset_id: [this.table.datasetId, 'BigQuery dataset id.'],
      table_id: [this.table.tableId, 'BigQuery table id (every version of every record).'],
      latest_view_id: [this.table.latestViewId, 'BigQuery view with the latest version of each record.'],
    };
    for (const [name, [value, description]] of Object.entries(outputs)) addOutput(this, name, value, description);
  }
}
