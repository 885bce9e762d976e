/**
 * A prop given as a Terraform token (here a `TerraformVariable`, whose number
 * value is a huge negative float only cdktf can turn back into a reference)
 * is not checked as a literal: it synthesizes, and reaches the Terraform JSON
 * as the reference, never as a mangled number.
 */
import { join } from 'node:path';
import { TerraformVariable, type TerraformStack } from 'cdktf';
import { FunctionBuildEnvironment } from '../../constructs/function-build-environment';
import { FunctionSourceBucket } from '../../constructs/function-source-bucket';
import { HttpIngestFunction } from '../../constructs/http-ingest-function';
import { IngestTopic, type IPushTarget } from '../../constructs/ingest-topic';
import { MonitoringAlerts } from '../../constructs/monitoring-alerts';
import { WarehouseTable } from '../../constructs/warehouse-table';
import { MONITORED_PIPELINE } from '../support/monitored-pipeline';
import { onlyResource, resourceList, synthesize, validationErrors } from '../support/synth';

const entry = join(__dirname, '..', 'fixtures', 'functions', 'hello.ts');
const numberVariable = (stack: TerraformStack, id: string) => new TerraformVariable(stack, id, { type: 'number' }).numberValue;
const stringVariable = (stack: TerraformStack, id: string) => new TerraformVariable(stack, id, { type: 'string' }).stringValue;

/** Synthesizes `build`; the stack must have no validation problem and no number-token literal in its JSON. */
function synthesizedWithVariables(build: (stack: TerraformStack) => void) {
  const result = synthesize(build);
  expect(validationErrors(result.stack)).toEqual([]);
  expect(result.json).not.toMatch(/e\+\d{3}/);
  return result.parsed;
}

describe('props given as Terraform variables', () => {
  it('HttpIngestFunction: instance count, timeout, body limit, memory and name', () => {
    const parsed = synthesizedWithVariables((stack) => {
      new HttpIngestFunction(stack, 'api', {
        entry,
        entryPoint: 'hello',
        region: 'us-central1',
        maxInstanceCount: numberVariable(stack, 'max-instances'),
        timeoutSeconds: numberVariable(stack, 'timeout'),
        maxBodyBytes: numberVariable(stack, 'body-bytes'),
        memory: stringVariable(stack, 'memory'),
        functionName: stringVariable(stack, 'function-name'),
      });
    });
    const fn = onlyResource(parsed, 'google_cloudfunctions2_function');
    expect(fn.name).toBe('${var.function-name}');
    expect(fn.service_config).toMatchObject({
      max_instance_count: '${var.max-instances}',
      timeout_seconds: '${var.timeout}',
      available_memory: '${var.memory}',
      environment_variables: { MAX_BODY_BYTES: '${var.body-bytes}' },
    });
    expect(resourceList(parsed, 'google_service_account').map((account) => account.account_id).sort()).toEqual(['api-build', 'api-fn']);
  });

  it('FunctionSourceBucket: bucket name', () => {
    const parsed = synthesizedWithVariables((stack) => {
      new FunctionSourceBucket(stack, 'source', { location: 'US', bucketName: stringVariable(stack, 'bucket') });
    });
    expect(onlyResource(parsed, 'google_storage_bucket').name).toBe('${var.bucket}');
  });

  it('FunctionBuildEnvironment: kept versions, age in days and repository id', () => {
    const parsed = synthesizedWithVariables((stack) => {
      new FunctionBuildEnvironment(stack, 'build', {
        location: 'us-central1',
        keepRecentVersions: numberVariable(stack, 'keep'),
        deleteAfterDays: numberVariable(stack, 'days'),
        repositoryId: stringVariable(stack, 'repository'),
      });
    });
    const repository = onlyResource(parsed, 'google_artifact_registry_repository');
    expect(repository.repository_id).toBe('${var.repository}');
    expect(repository.cleanup_policies).toEqual([
      expect.objectContaining({ most_recent_versions: { keep_count: '${var.keep}' } }),
      expect.objectContaining({ condition: { tag_state: 'ANY', older_than: '${(var.days * 86400)}s' } }),
    ]);
  });

  it('IngestTopic: delivery attempts, retention, backoff, the target timeout and the topic name', () => {
    const parsed = synthesizedWithVariables((stack) => {
      const target: IPushTarget = { url: 'https://fn.example.run.app', timeoutSeconds: numberVariable(stack, 'target-timeout'), grantInvoke: () => ({ fqn: 'stub.grant' }) };
      new IngestTopic(stack, 'ingest', {
        topicName: stringVariable(stack, 'topic'),
        maxDeliveryAttempts: numberVariable(stack, 'attempts'),
        subscriptionRetentionSeconds: numberVariable(stack, 'retention'),
        maximumBackoffSeconds: numberVariable(stack, 'backoff'),
        pushTarget: target,
      });
    });
    const push = resourceList(parsed, 'google_pubsub_subscription').find((subscription) => subscription.push_config !== undefined)!;
    expect(push).toMatchObject({
      ack_deadline_seconds: '${var.target-timeout}',
      message_retention_duration: '${var.retention}s',
      retry_policy: { maximum_backoff: '${var.backoff}s' },
      dead_letter_policy: expect.objectContaining({ max_delivery_attempts: '${var.attempts}' }),
    });
    expect(resourceList(parsed, 'google_pubsub_topic').map((topic) => topic.name).sort()).toEqual(['${var.topic}', '${var.topic}-dead-letter']);
    expect(onlyResource(parsed, 'google_service_account').account_id).toBe('ingest-push');
  });

  it('WarehouseTable: partition expiry, dataset and table ids', () => {
    const parsed = synthesizedWithVariables((stack) => {
      new WarehouseTable(stack, 'warehouse', {
        datasetId: stringVariable(stack, 'dataset'),
        tableId: stringVariable(stack, 'table'),
        partitionExpirationDays: numberVariable(stack, 'days'),
      });
    });
    expect(onlyResource(parsed, 'google_bigquery_dataset').dataset_id).toBe('${var.dataset}');
    const tables = resourceList(parsed, 'google_bigquery_table');
    expect(tables.find((table) => table.view === undefined)).toMatchObject({ table_id: '${var.table}', time_partitioning: { expiration_ms: '${(var.days * 86400000)}' } });
    expect(tables.find((table) => table.view !== undefined)!.table_id).toBe('${var.table}_latest');
  });

  it('MonitoringAlerts: project, service names and an alert address, when it writes no Grafana file', () => {
    const parsed = synthesizedWithVariables((stack) => {
      new MonitoringAlerts(stack, 'monitoring', {
        ...MONITORED_PIPELINE,
        project: stringVariable(stack, 'project'),
        subscriberServiceName: stringVariable(stack, 'subscriber'),
        notificationChannels: [{ type: 'email', address: stringVariable(stack, 'oncall') }],
        grafanaDashboard: false,
      });
    });
    expect(onlyResource(parsed, 'google_monitoring_notification_channel')).toMatchObject({ project: '${var.project}', labels: { email_address: '${var.oncall}' } });
    expect(onlyResource(parsed, 'google_monitoring_slo').project).toBe('${var.project}');
  });
});
