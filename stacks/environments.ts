/**
 * Default values of each environment. The project ids and the state bucket
 * are the ones the bootstrap stack creates by default; a fork or a personal
 * deployment overrides them (see `ENVIRONMENT_VARIABLES` in config.ts and
 * docs/configuration.md) without editing this file.
 */
import { MAX_BODY_BYTES, READ_MAX_BYTES_BILLED, READ_WINDOW_HOURS } from '../lambda-src/rules/limits';
import type { EnvironmentConfig } from './config';

const DAY_SECONDS = 24 * 60 * 60;

const shared = {
  region: 'us-central1',
  stateBucket: 'latam-ingest-tfstate',
  public: false,
  warehouse: { datasetId: 'ingest', tableId: 'records', location: 'US', partitionExpirationDays: null },
  pubsub: {
    topicName: 'ingest-records',
    maxDeliveryAttempts: 5,
    minimumBackoffSeconds: 10,
    maximumBackoffSeconds: 600,
    // No runbook seeks the topics; dead letters are kept for the runbook's week to inspect and replay.
    messageRetentionSeconds: null,
    subscriptionRetentionSeconds: DAY_SECONDS,
    deadLetterRetentionSeconds: 7 * DAY_SECONDS,
  },
} as const;

export const DEV: EnvironmentConfig = {
  ...shared,
  name: 'dev',
  project: 'latam-ingest-dev',
  labels: { app: 'gcp-ingest', env: 'dev', managed_by: 'cdktf' },
  disposable: true,
  api: {
    memory: '512Mi',
    cpu: '1',
    minInstances: 0,
    maxInstances: 3,
    concurrency: 80,
    timeoutSeconds: 60,
    maxBodyBytes: MAX_BODY_BYTES.default,
    readMaxBytesBilled: READ_MAX_BYTES_BILLED.default,
    readWindowHours: READ_WINDOW_HOURS.default,
  },
  subscriber: { memory: '512Mi', cpu: '1', minInstances: 0, maxInstances: 3, concurrency: 80, timeoutSeconds: 60 },
  alerting: { notificationEmails: [], notificationChannelIds: [] },
};

export const PROD: EnvironmentConfig = {
  ...shared,
  name: 'prod',
  project: 'latam-ingest-prod',
  labels: { app: 'gcp-ingest', env: 'prod', managed_by: 'cdktf' },
  disposable: false,
  // One warm instance keeps cold starts off the latency SLO's path.
  api: {
    memory: '1Gi',
    cpu: '1',
    minInstances: 1,
    maxInstances: 20,
    concurrency: 80,
    timeoutSeconds: 60,
    maxBodyBytes: MAX_BODY_BYTES.default,
    readMaxBytesBilled: READ_MAX_BYTES_BILLED.default,
    readWindowHours: READ_WINDOW_HOURS.default,
  },
  subscriber: { memory: '512Mi', cpu: '1', minInstances: 0, maxInstances: 10, concurrency: 80, timeoutSeconds: 60 },
  // Who is paged is each deployment's own: PROD_ALERT_EMAILS or PROD_ALERT_CHANNELS (prod refuses to synthesize without one).
  alerting: { notificationEmails: [], notificationChannelIds: [] },
};

/** Every environment the app synthesizes, by name. */
export const ENVIRONMENTS: readonly EnvironmentConfig[] = [DEV, PROD];
