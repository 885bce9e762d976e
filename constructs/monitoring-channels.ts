/**
 * Notification channels from configuration. Secrets (a Slack bot token, a
 * PagerDuty integration key) are never configuration values: the config names
 * a Secret Manager secret and Terraform reads it at plan time into the
 * channel's `sensitive_labels`, so the token is in neither the code, the
 * synthesized JSON nor the CI logs.
 */
import { DataGoogleSecretManagerSecretVersionAccess } from '@cdktf/provider-google/lib/data-google-secret-manager-secret-version-access';
import { MonitoringNotificationChannel } from '@cdktf/provider-google/lib/monitoring-notification-channel';
import type { Construct } from 'constructs';
import { kebab, nameProblem, PROJECT_ID } from '../lambda-src/rules/naming';
import { emailAddressProblem } from './email-address';
import type { SecretReference } from './http-ingest-function';
import { isToken, type PropProblem } from './private/validation';

/** An e-mail notification channel. */
export interface EmailChannelConfig {
  readonly type: 'email';
  /** Address that receives the alert e-mails. */
  readonly address: string;
}

/** A Slack notification channel (Cloud Monitoring's Slack app). */
export interface SlackChannelConfig {
  readonly type: 'slack';
  /** Channel to post to, e.g. `#ingest-alerts`. */
  readonly channelName: string;
  /** Secret holding the Slack OAuth token of the Cloud Monitoring app (project defaults to the pipeline's). */
  readonly authTokenSecret: SecretReference;
}

/** A PagerDuty notification channel. */
export interface PagerDutyChannelConfig {
  readonly type: 'pagerduty';
  /** Secret holding the PagerDuty service integration key (project defaults to the pipeline's). */
  readonly serviceKeySecret: SecretReference;
}

export type NotificationChannelConfig = EmailChannelConfig | SlackChannelConfig | PagerDutyChannelConfig;

const SLACK_CHANNEL = /^#?[a-z0-9][a-z0-9._-]{0,79}$/;
const SECRET = /^(projects\/[a-z0-9-]+\/secrets\/)?[A-Za-z0-9_-]{1,255}$/;
const SECRET_VERSION = /^(latest|[1-9][0-9]*)$/;

function secretProblems(reference: SecretReference | undefined, field: string): PropProblem[] {
  if (reference === undefined || typeof reference.secret !== 'string') {
    return [{ prop: `${field}.secret`, message: 'is required: the Secret Manager secret that holds the credential (never the credential itself)' }];
  }
  const problems: PropProblem[] = [];
  if (!isToken(reference.secret) && !SECRET.test(reference.secret)) {
    problems.push({ prop: `${field}.secret`, message: `${JSON.stringify(reference.secret)} is not a Secret Manager secret id or projects/<project>/secrets/<id> name` });
  }
  if (reference.version !== undefined && !isToken(reference.version) && !SECRET_VERSION.test(reference.version)) {
    problems.push({ prop: `${field}.version`, message: `${JSON.stringify(reference.version)} is not "latest" or a version number` });
  }
  return problems;
}

/**
 * Problems with a list of channel configs, each naming its field
 * (`notificationChannels[1].address`); empty when the list is valid. A
 * value given as a Terraform reference is left for Google to check.
 */
export function notificationChannelProblems(channels: readonly NotificationChannelConfig[], field = 'notificationChannels'): PropProblem[] {
  const problems: PropProblem[] = [];
  const seen = new Map<string, number>();
  channels.forEach((channel, index) => {
    const at = `${field}[${index}]`;
    switch (channel.type) {
      case 'email': {
        const problem = isToken(channel.address) ? undefined : emailAddressProblem(channel.address);
        if (problem !== undefined) problems.push({ prop: `${at}.address`, message: `${JSON.stringify(channel.address)} ${problem}` });
        break;
      }
      case 'slack':
        if (typeof channel.channelName !== 'string' || (!isToken(channel.channelName) && !SLACK_CHANNEL.test(channel.channelName))) {
          problems.push({ prop: `${at}.channelName`, message: `${JSON.stringify(channel.channelName)} is not a Slack channel name like #ingest-alerts` });
        }
        problems.push(...secretProblems(channel.authTokenSecret, `${at}.authTokenSecret`));
        break;
      case 'pagerduty':
        problems.push(...secretProblems(channel.serviceKeySecret, `${at}.serviceKeySecret`));
        break;
      default:
        problems.push({ prop: `${at}.type`, message: `${JSON.stringify((channel as { type?: unknown }).type)} is not one of email, slack, pagerduty` });
        return;
    }
    const id = channelId(channel);
    const first = seen.get(id);
    if (first !== undefined) problems.push({ prop: at, message: `repeats ${field}[${first}]` });
    else seen.set(id, index);
  });
  return problems;
}

/** A channel made elsewhere: its full name (`projects/<project id>/notificationChannels/<id>`), or its numeric id in the pipeline's project. */
const CHANNEL_REFERENCE = /^(?:projects\/([^/]+)\/notificationChannels\/)?[0-9]{1,30}$/;

/** Why `id` does not reference a notification channel (to follow the id in a message), or undefined when it does. */
export function notificationChannelIdProblem(id: unknown): string | undefined {
  const match = typeof id === 'string' ? CHANNEL_REFERENCE.exec(id) : null;
  const project = match?.[1];
  return match !== null && (project === undefined || nameProblem(project, PROJECT_ID) === undefined)
    ? undefined
    : 'is not a notification channel id (digits) or projects/<project>/notificationChannels/<id>';
}

/**
 * Problems with references to existing notification channels, each naming
 * its field (`notificationChannelIds[0]`); empty when every one is valid.
 */
export function notificationChannelIdProblems(ids: readonly string[], field = 'notificationChannelIds'): PropProblem[] {
  const problems: PropProblem[] = [];
  ids.forEach((id, index) => {
    if (isToken(id)) return;
    const problem = notificationChannelIdProblem(id);
    if (problem !== undefined) {
      problems.push({ prop: `${field}[${index}]`, message: `${JSON.stringify(id)} ${problem}` });
    } else if (ids.indexOf(id) !== index) {
      problems.push({ prop: `${field}[${index}]`, message: `repeats ${field}[${ids.indexOf(id)}]` });
    }
  });
  return problems;
}

/** The full resource name of an existing channel, given as a name or as an id in `project`. */
export function notificationChannelName(project: string, id: string): string {
  return id.startsWith('projects/') ? id : `projects/${project}/notificationChannels/${id}`;
}

/** A construct id derived from the channel's content, so reordering the list does not replace channels. */
function channelId(channel: NotificationChannelConfig): string {
  switch (channel.type) {
    case 'email':
      return `email-${kebab(channel.address)}`;
    case 'slack':
      return `slack-${kebab(channel.channelName)}`;
    case 'pagerduty':
      return `pagerduty-${kebab(channel.serviceKeySecret.secret)}`;
  }
}

/** Options for {@link addNotificationChannels}. */
export interface NotificationChannelsOptions {
  readonly project: string;
  /** Prefix of the channels' display names. */
  readonly namePrefix: string;
  readonly channels: readonly NotificationChannelConfig[];
  readonly userLabels?: Record<string, string>;
}

/** Creates one `google_monitoring_notification_channel` per config, under `scope`. */
export function addNotificationChannels(scope: Construct, options: NotificationChannelsOptions): MonitoringNotificationChannel[] {
  const { project, namePrefix, userLabels } = options;
  const readSecret = (id: string, reference: SecretReference): string =>
    new DataGoogleSecretManagerSecretVersionAccess(scope, `${id}-secret`, {
      project: reference.project ?? project,
      secret: reference.secret,
      version: reference.version ?? 'latest',
    }).secretData;
  return options.channels.map((channel) => {
    const id = channelId(channel);
    const common = { project, userLabels, enabled: true };
    switch (channel.type) {
      case 'email':
        return new MonitoringNotificationChannel(scope, id, {
          ...common,
          type: 'email',
          displayName: `${namePrefix} e-mail ${channel.address}`,
          labels: { email_address: channel.address },
        });
      case 'slack':
        return new MonitoringNotificationChannel(scope, id, {
          ...common,
          type: 'slack',
          displayName: `${namePrefix} Slack ${channel.channelName}`,
          labels: { channel_name: channel.channelName.startsWith('#') ? channel.channelName : `#${channel.channelName}` },
          sensitiveLabels: { authToken: readSecret(id, channel.authTokenSecret) },
        });
      case 'pagerduty':
        return new MonitoringNotificationChannel(scope, id, {
          ...common,
          type: 'pagerduty',
          displayName: `${namePrefix} PagerDuty`,
          sensitiveLabels: { serviceKey: readSecret(id, channel.serviceKeySecret) },
        });
    }
  });
}
