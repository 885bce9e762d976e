/**
 * The construct library, the package's root (`import { WarehouseTable } from
 * 'gcp-ingest-cdktf'`): compose the ingest pipeline's pieces in your own
 * cdktf app.
 *
 * @packageDocumentation
 */
export * from './grantee';
export * from './function-runtimes';
export * from './function-bundle';
export * from './function-source-bucket';
export * from './function-build-environment';
export * from './email-address';
export * from './encryption-key';
export * from './warehouse-table';
export * from './http-ingest-function';
export * from './ingest-topic';
export { MonitoringAlerts, type AlertKey, type MonitoringAlertsProps } from './monitoring-alerts';
export type { EmailChannelConfig, NotificationChannelConfig, PagerDutyChannelConfig, SlackChannelConfig } from './monitoring-channels';
export type { LogMetricKey, MonitoredPipeline } from './monitoring-signals';
export { GcpPolicyPack, type GcpPolicyPackOptions, type PolicyFinding } from './policy-pack';
