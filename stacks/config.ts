/**
 * The typed configuration of one ingest environment (`dev`, `prod`), where
 * its values come from, and the rules it must pass before anything is
 * synthesized. Defaults live in `environments.ts`; each deployer overrides
 * them from environment variables (`ENVIRONMENT_VARIABLES`) or cdktf context
 * (`ingest.<env>` in cdktf.json, or `CDKTF_CONTEXT_JSON`), never by editing code.
 */
import { MAX_BODY_BYTES, READ_MAX_BYTES_BILLED, READ_WINDOW_HOURS } from '../lambda-src/rules/limits';
import { BUCKET_NAME, DATASET_ID, type NameRule, PROJECT_ID, PUBSUB_NAME, REGION, TABLE_ID } from '../lambda-src/rules/naming';
import { emailAddressProblem } from '../constructs/email-address';
import { FUNCTION_SIZING_RULES } from '../constructs/http-ingest-function';
import { INGEST_TOPIC_RULES } from '../constructs/ingest-topic';
import { notificationChannelIdProblem } from '../constructs/monitoring-channels';
import { WAREHOUSE_TABLE_RULES } from '../constructs/warehouse-table';
import {
  boolean,
  type ConfigChecks,
  type ConfigProblem,
  configProblems,
  ConfigurationError,
  integer,
  isPlainObject,
  labels,
  named,
  nullable,
  strings,
} from './config-checks';

/** Size and scaling of one function. */
export interface FunctionSizing {
  /** Memory per instance, e.g. `512Mi`. */
  readonly memory: string;
  /** vCPUs per instance, e.g. `1`. */
  readonly cpu: string;
  /** Instances kept warm. */
  readonly minInstances: number;
  /** Most instances at once. */
  readonly maxInstances: number;
  /** Requests one instance serves at a time. */
  readonly concurrency: number;
  /** Request timeout in seconds. */
  readonly timeoutSeconds: number;
}

export interface EnvironmentConfig {
  /** Environment name; also the stack name and the state prefix (`ingest/<name>`). */
  readonly name: string;
  /** Google Cloud project everything is deployed into. */
  readonly project: string;
  /** Region of the functions and the source bucket. */
  readonly region: string;
  /** GCS bucket holding Terraform state (created by the bootstrap stack). */
  readonly stateBucket: string;
  /** Labels put on every resource that takes labels. */
  readonly labels: Readonly<Record<string, string>>;
  /** Whether `terraform destroy` may delete data (dataset contents, table, source bucket). Never in prod. */
  readonly disposable: boolean;
  /** Whether the HTTP API accepts unauthenticated calls. Never in prod. */
  readonly public: boolean;
  readonly warehouse: {
    /** BigQuery dataset id. */
    readonly datasetId: string;
    /** Table id; the latest-version view is `<tableId>_latest`. */
    readonly tableId: string;
    /** BigQuery location (`US`, `EU` or a region). */
    readonly location: string;
    /** Days a daily partition is kept; `null` keeps data forever. */
    readonly partitionExpirationDays: number | null;
  };
  /**
   * The HTTP API function, the largest request body it accepts, the most
   * bytes one of its read queries may bill (BigQuery refuses a query that
   * would bill more before running it), and how many hours back a read looks
   * when the client names no `since` (what a read bills grows with it:
   * docs/reads.md).
   */
  readonly api: FunctionSizing & {
    readonly maxBodyBytes: number;
    readonly readMaxBytesBilled: number;
    readonly readWindowHours: number;
  };
  /** The Pub/Sub push subscriber function. */
  readonly subscriber: FunctionSizing;
  readonly pubsub: {
    /** Ingest topic name. */
    readonly topicName: string;
    /** Deliveries before a message is dead-lettered (5-100). */
    readonly maxDeliveryAttempts: number;
    /** First redelivery delay, seconds. */
    readonly minimumBackoffSeconds: number;
    /** Longest redelivery delay, seconds. */
    readonly maximumBackoffSeconds: number;
    /** How long the topics keep every message for seeking, seconds; `null` keeps none. */
    readonly messageRetentionSeconds: number | null;
    /** How long the push subscription keeps an unacknowledged message, seconds. */
    readonly subscriptionRetentionSeconds: number;
    /** How long the dead-letter subscription keeps an unacknowledged dead letter, seconds. */
    readonly deadLetterRetentionSeconds: number;
  };
  /**
   * Who alerts reach (wired by the monitoring construct). Prod needs at least
   * one e-mail address or channel id; addresses at reserved domains
   * (`example.com`, `*.test`, …) are refused everywhere.
   */
  readonly alerting: {
    /** E-mail addresses, each becoming a notification channel. */
    readonly notificationEmails: readonly string[];
    /**
     * Existing notification channels (Slack, PagerDuty, … made elsewhere), by
     * id or `projects/<project>/notificationChannels/<id>`.
     */
    readonly notificationChannelIds: readonly string[];
  };
}

/** Environment variables that override single fields, per environment. Empty values count as unset. */
export const ENVIRONMENT_VARIABLES = {
  project: { dev: 'DEV_PROJECT_ID', prod: 'PROD_PROJECT_ID' },
  region: { dev: 'DEV_REGION', prod: 'PROD_REGION' },
  stateBucket: { dev: 'TF_STATE_BUCKET', prod: 'TF_STATE_BUCKET' },
  public: { dev: 'DEV_PUBLIC', prod: 'PROD_PUBLIC' },
  'alerting.notificationEmails': { dev: 'DEV_ALERT_EMAILS', prod: 'PROD_ALERT_EMAILS' },
  'alerting.notificationChannelIds': { dev: 'DEV_ALERT_CHANNELS', prod: 'PROD_ALERT_CHANNELS' },
} as const satisfies Readonly<Record<string, Readonly<Record<string, string>>>>;

/** The variable that sets `field` (a dotted path) in `environment`, if one does. */
function environmentVariable(field: string, environment: string): string | undefined {
  const byField: Readonly<Record<string, Readonly<Record<string, string>>>> = ENVIRONMENT_VARIABLES;
  return byField[field]?.[environment];
}

/** Fields set from comma-separated variables. */
const LIST_FIELDS: ReadonlySet<string> = new Set(['alerting.notificationEmails', 'alerting.notificationChannelIds']);

const sizing: ConfigChecks = {
  memory: named(FUNCTION_SIZING_RULES.memory),
  cpu: named(FUNCTION_SIZING_RULES.cpu),
  minInstances: integer(FUNCTION_SIZING_RULES.minInstanceCount),
  maxInstances: integer(FUNCTION_SIZING_RULES.maxInstanceCount),
  concurrency: integer(FUNCTION_SIZING_RULES.maxInstanceRequestConcurrency),
  timeoutSeconds: integer(FUNCTION_SIZING_RULES.timeoutSeconds),
};

/** An environment's name: it names the stack, the state prefix and every resource's prefix. */
const ENVIRONMENT_NAME: NameRule = { pattern: /^[a-z][a-z0-9-]{0,19}$/, rule: 'must be 1-20 lowercase letters, digits or hyphens, starting with a letter' };
/** A BigQuery location: a multi-region or a region. */
const BIGQUERY_LOCATION: NameRule = { pattern: /^(?:US|EU|[a-z]+-[a-z]+[0-9]+)$/, rule: "must be 'US', 'EU' or a region" };

/**
 * Each field's check, by the rule of whatever takes the value: the
 * function's limits for what it reads at load, the construct's for its props.
 */
const ENVIRONMENT_CONFIG_CHECKS: ConfigChecks = {
  name: named(ENVIRONMENT_NAME),
  project: named(PROJECT_ID),
  region: named(REGION),
  stateBucket: named(BUCKET_NAME),
  labels,
  disposable: boolean,
  public: boolean,
  warehouse: {
    datasetId: named(DATASET_ID),
    tableId: named(TABLE_ID),
    location: named(BIGQUERY_LOCATION),
    partitionExpirationDays: nullable(integer(WAREHOUSE_TABLE_RULES.partitionExpirationDays)),
  },
  api: {
    ...sizing,
    maxBodyBytes: integer(MAX_BODY_BYTES),
    readMaxBytesBilled: integer(READ_MAX_BYTES_BILLED),
    readWindowHours: integer(READ_WINDOW_HOURS),
  },
  subscriber: sizing,
  pubsub: {
    topicName: named(PUBSUB_NAME),
    maxDeliveryAttempts: integer(INGEST_TOPIC_RULES.maxDeliveryAttempts),
    minimumBackoffSeconds: integer(INGEST_TOPIC_RULES.minimumBackoffSeconds),
    maximumBackoffSeconds: integer(INGEST_TOPIC_RULES.maximumBackoffSeconds),
    messageRetentionSeconds: nullable(integer(INGEST_TOPIC_RULES.messageRetentionSeconds)),
    subscriptionRetentionSeconds: integer(INGEST_TOPIC_RULES.subscriptionRetentionSeconds),
    deadLetterRetentionSeconds: integer(INGEST_TOPIC_RULES.deadLetterRetentionSeconds),
  },
  // Each address and id is checked by alertingProblems, with the rules the monitoring construct applies.
  alerting: { notificationEmails: strings, notificationChannelIds: strings },
};

/** Where a deployer sets who is paged, for the messages that refuse a destination. */
function alertingAlternatives(name: string): string {
  const emails = environmentVariable('alerting.notificationEmails', name);
  const channels = environmentVariable('alerting.notificationChannelIds', name);
  return `set ${emails} to addresses your on-call reads, or ${channels} to ids of existing notification channels (Slack, PagerDuty, e-mail)`;
}

/** Alert destinations that reach nobody, and a prod nobody is paged for. */
function alertingProblems(config: EnvironmentConfig): ConfigProblem[] {
  const { notificationEmails, notificationChannelIds } = config.alerting;
  const problems: ConfigProblem[] = [];
  for (const address of notificationEmails) {
    const problem = emailAddressProblem(address);
    if (problem !== undefined) {
      problems.push({ field: 'alerting.notificationEmails', message: `${JSON.stringify(address)} ${problem}; ${alertingAlternatives(config.name)}` });
    }
  }
  for (const id of notificationChannelIds) {
    const problem = notificationChannelIdProblem(id);
    if (problem !== undefined) problems.push({ field: 'alerting.notificationChannelIds', message: `${JSON.stringify(id)} ${problem}` });
  }
  if (config.name === 'prod' && notificationEmails.length === 0 && notificationChannelIds.length === 0) {
    problems.push({ field: 'alerting.notificationEmails', message: `prod pages nobody; ${alertingAlternatives(config.name)}` });
  }
  return problems;
}

/** Rules that hold between fields, or only in production. */
function policyProblems(config: EnvironmentConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const production = config.name === 'prod';
  if (production && config.public) problems.push({ field: 'public', message: 'must be false in prod (invocation is IAM-only)' });
  if (production && config.disposable) problems.push({ field: 'disposable', message: 'must be false in prod (data is never destroyable)' });
  problems.push(...alertingProblems(config));
  for (const fn of ['api', 'subscriber'] as const) {
    if (config[fn].minInstances > config[fn].maxInstances) {
      problems.push({ field: `${fn}.minInstances`, message: `must not exceed ${fn}.maxInstances` });
    }
  }
  if (config.pubsub.minimumBackoffSeconds > config.pubsub.maximumBackoffSeconds) {
    problems.push({ field: 'pubsub.minimumBackoffSeconds', message: 'must not exceed pubsub.maximumBackoffSeconds' });
  }
  return problems;
}

function variableHint(config: { name?: unknown }, field: string): string {
  const variable = typeof config.name === 'string' ? environmentVariable(field, config.name) : undefined;
  return variable ? ` (set by ${variable})` : '';
}

/**
 * Every problem with `config`, each naming its field as `<env>.<path>` (and
 * the environment variable that sets it, if one does). Empty when valid.
 * Rules between fields are checked once every field is well formed.
 */
export function environmentConfigProblems(config: EnvironmentConfig): string[] {
  const name = typeof config.name === 'string' ? config.name : '(unnamed)';
  const format = ({ field, message }: ConfigProblem) => `${name}.${field}${variableHint(config, field)}: ${message}`;
  const fieldProblems = configProblems(config, ENVIRONMENT_CONFIG_CHECKS);
  return (fieldProblems.length > 0 ? fieldProblems : policyProblems(config)).map(format);
}

function mergeOverrides<T>(base: T, overrides: unknown, field: string): T {
  if (overrides === undefined) return base;
  if (!isPlainObject(base)) return overrides as T;
  // A section replaced by a non-object would leave the stack nothing to build from.
  if (!isPlainObject(overrides)) throw new ConfigurationError([`${field}: the context override must be an object, got ${JSON.stringify(overrides)}`]);
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overrides)) merged[key] = mergeOverrides(merged[key], value, `${field}.${key}`);
  return merged as T;
}

function fromVariable(field: string, raw: string): unknown {
  if (field === 'public') return raw === 'true' ? true : raw === 'false' ? false : raw;
  if (LIST_FIELDS.has(field)) return raw.split(',').map((item) => item.trim()).filter(Boolean);
  return raw;
}

function setField(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  const last = keys.pop()!;
  let node = target;
  for (const key of keys) {
    node[key] = isPlainObject(node[key]) ? { ...node[key] } : {};
    node = node[key] as Record<string, unknown>;
  }
  node[last] = value;
}

/** Where overrides come from. */
export interface ConfigSources {
  /** Process environment (see {@link ENVIRONMENT_VARIABLES}). */
  readonly env?: NodeJS.ProcessEnv;
  /** Context overrides for this environment (`ingest.<env>` in cdktf context), deep-merged. */
  readonly context?: unknown;
}

/**
 * `defaults`, then context overrides, then environment variables. Values
 * are not checked here: `IngestStack` reports every problem at synth. A
 * context section replaced by a non-object is a `ConfigurationError`.
 */
export function resolveEnvironmentConfig(defaults: EnvironmentConfig, sources: ConfigSources = {}): EnvironmentConfig {
  const merged = mergeOverrides(structuredClone(defaults), sources.context, defaults.name) as unknown as Record<string, unknown>;
  const env = sources.env ?? {};
  for (const field of Object.keys(ENVIRONMENT_VARIABLES)) {
    const variable = environmentVariable(field, defaults.name);
    const raw = variable ? env[variable] : undefined;
    if (raw) setField(merged, field, fromVariable(field, raw));
  }
  return merged as unknown as EnvironmentConfig;
}
