/** The plain names a `MonitoringAlerts` is built from, shared by the tests that synthesize it. */
export const MONITORED_PIPELINE = {
  project: 'acme-ingest-dev',
  namePrefix: 'ingest-dev',
  apiServiceName: 'ingest-dev-api',
  subscriberServiceName: 'ingest-dev-subscriber',
  deadLetterSubscriptionName: 'ingest-dev-dead-letter',
} as const;
