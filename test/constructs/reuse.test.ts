/**
 * Another app, composed differently from IngestStack, through the library's
 * public entry point: one topic feeding two tables with BigQuery
 * subscriptions (no function at all), in someone else's project.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { App, TerraformStack } from 'cdktf';
import { GoogleProvider } from '@cdktf/provider-google/lib/provider';
import { IngestTopic, WarehouseTable } from '../../constructs';
import { freshOutdir, readStackJson, resourceList, validationErrors, type SynthesizedStack } from '../support/synth';

describe('a second app: one topic feeding two tables', () => {
  const outdir = freshOutdir();
  const app = new App({ outdir, stackTraces: false });
  const stack = new TerraformStack(app, 'fan-out');
  new GoogleProvider(stack, 'google', { project: 'analytics-project', region: 'europe-west1' });
  const topic = new IngestTopic(stack, 'events', { maxDeliveryAttempts: 10 });
  const raw = new WarehouseTable(stack, 'raw', { datasetId: 'raw_events', location: 'EU' });
  const audit = new WarehouseTable(stack, 'audit', { datasetId: 'audit', tableId: 'events', location: 'EU' });
  topic.addBigQuerySubscription('to-raw', { table: raw });
  topic.addBigQuerySubscription('to-audit', { table: audit, writeMetadata: true, useTableSchema: false });
  topic.grantPublish('serviceAccount:producer@analytics-project.iam.gserviceaccount.com');
  raw.grantRead('group:analysts@example.com');
  app.synth();
  const parsed = JSON.parse(readStackJson(outdir, 'fan-out')) as SynthesizedStack;

  it('synthesizes without validation errors', () => {
    expect(validationErrors(stack)).toEqual([]);
    expect(existsSync(join(outdir, 'stacks', 'fan-out', 'cdk.tf.json'))).toBe(true);
  });

  it('writes each subscription into its own table, both dead-lettering', () => {
    const bigquery = resourceList(parsed, 'google_pubsub_subscription').filter((s) => s.bigquery_config);
    expect(bigquery.map((s) => [s.name, (s.bigquery_config as { table: string }).table])).toEqual([
      ['events-to-audit', expect.stringContaining('google_bigquery_dataset.audit_dataset_')],
      ['events-to-raw', expect.stringContaining('google_bigquery_dataset.raw_dataset_')],
    ]);
    for (const subscription of bigquery) {
      expect(subscription.dead_letter_policy).toMatchObject({ max_delivery_attempts: 10 });
    }
  });

  it('lets the Pub/Sub service agent write to each table, and nothing else', () => {
    const writers = resourceList(parsed, 'google_bigquery_table_iam_member').filter((m) => /_table-insert-role_\w+\.name\}$/.test(String(m.role)));
    expect(writers).toHaveLength(2);
    for (const writer of writers) expect(writer.member).toMatch(/^serviceAccount:service-\$\{data\.google_project\.google-project\.number\}@gcp-sa-pubsub/);
    expect(parsed.resource).not.toHaveProperty('google_service_account');
  });

  it('shares one dead-letter topic and subscription', () => {
    expect(resourceList(parsed, 'google_pubsub_topic').map((t) => t.name).sort()).toEqual(['events', 'events-dead-letter']);
    expect(resourceList(parsed, 'google_pubsub_subscription_iam_member')).toHaveLength(2);
  });
});
