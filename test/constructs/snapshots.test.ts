/**
 * One reviewed snapshot per construct, each alone on a minimal stack (a
 * google provider and what the construct needs), so a change to one
 * construct shows in its own snapshot and not in a 4,000-line stack.
 * Function zip hashes are masked: they change with any code or dependency.
 */
import { FunctionBuildEnvironment } from '../../constructs/function-build-environment';
import { FunctionSourceBucket } from '../../constructs/function-source-bucket';
import { HttpIngestFunction } from '../../constructs/http-ingest-function';
import { IngestTopic } from '../../constructs/ingest-topic';
import { MonitoringAlerts } from '../../constructs/monitoring-alerts';
import { WarehouseTable } from '../../constructs/warehouse-table';
import { synthesize } from '../support/synth';
import { terraformSnapshot, terraformSnapshotSerializer } from '../support/terraform-snapshot';

expect.addSnapshotSerializer(terraformSnapshotSerializer);

const SHA256 = /[0-9a-f]{64}/g;

const cases: [string, Parameters<typeof synthesize>[0]][] = [
  ['WarehouseTable', (stack) => new WarehouseTable(stack, 'warehouse', { datasetId: 'ingest' })],
  ['HttpIngestFunction', (stack) => new HttpIngestFunction(stack, 'api', { handler: 'api', region: 'us-central1', maxInstanceCount: 4 })],
  ['IngestTopic', (stack) => new IngestTopic(stack, 'ingest')],
  [
    'MonitoringAlerts',
    (stack) =>
      new MonitoringAlerts(stack, 'monitoring', {
        project: 'test-project',
        namePrefix: 'ingest-test',
        apiServiceName: 'ingest-api',
        subscriberServiceName: 'ingest-subscriber',
        deadLetterSubscriptionName: 'ingest-dead-letter',
        notificationChannelIds: ['projects/test-project/notificationChannels/4216082937160418571'],
        grafanaDashboard: false,
      }),
  ],
  ['FunctionSourceBucket', (stack) => new FunctionSourceBucket(stack, 'sources', { location: 'us-central1' })],
  ['FunctionBuildEnvironment', (stack) => new FunctionBuildEnvironment(stack, 'build', { location: 'us-central1' })],
];

describe.each(cases)('%s alone', (_, build) => {
  it('matches the reviewed snapshot (zip hashes masked)', () => {
    const { json } = synthesize(build);
    expect(terraformSnapshot(JSON.parse(json.replace(SHA256, '<sha256 of the function zip>')))).toMatchSnapshot();
  });
});
