import { MAX_BODY_BYTES } from '../../lambda-src/rules/limits';
import { ConfigurationError } from '../../stacks/config-checks';
import { ENVIRONMENT_VARIABLES, environmentConfigProblems, resolveEnvironmentConfig, type EnvironmentConfig } from '../../stacks/config';
import { DEV, ENVIRONMENTS, PROD } from '../../stacks/environments';

const withChanges = (base: EnvironmentConfig, changes: object): EnvironmentConfig =>
  resolveEnvironmentConfig(base, { context: changes });

/** Prod as a deployment configures it: somebody to page. */
const PAGING_PROD = resolveEnvironmentConfig(PROD, { env: { PROD_ALERT_EMAILS: 'ingest-oncall@acme-data.io' } });

const PROD_ALTERNATIVES =
  'set PROD_ALERT_EMAILS to addresses your on-call reads, or PROD_ALERT_CHANNELS to ids of existing notification channels (Slack, PagerDuty, e-mail)';

describe('environment defaults', () => {
  it('dev is valid as it is, so a fresh clone synthesizes it', () => {
    expect(environmentConfigProblems(DEV)).toEqual([]);
  });

  it('prod pages nobody until a deployment says who: one line naming PROD_ALERT_EMAILS and its alternative', () => {
    expect(environmentConfigProblems(PROD)).toEqual([
      `prod.alerting.notificationEmails (set by PROD_ALERT_EMAILS): prod pages nobody; ${PROD_ALTERNATIVES}`,
    ]);
    expect(environmentConfigProblems(PAGING_PROD)).toEqual([]);
  });

  it('names no placeholder destination', () => {
    for (const config of ENVIRONMENTS) expect(config.alerting).toEqual({ notificationEmails: [], notificationChannelIds: [] });
  });

  it('prod is IAM-only and keeps its data', () => {
    expect(PROD.public).toBe(false);
    expect(PROD.disposable).toBe(false);
  });

  it('keeps no topic messages, a day of undelivered ones and a week of dead letters', () => {
    for (const config of ENVIRONMENTS) {
      expect(config.pubsub).toMatchObject({ messageRetentionSeconds: null, subscriptionRetentionSeconds: 86_400, deadLetterRetentionSeconds: 604_800 });
    }
  });

  it('dev may be torn down', () => {
    expect(DEV.disposable).toBe(true);
  });
});

describe('environmentConfigProblems', () => {
  it('refuses a public prod, naming the field and its variable', () => {
    expect(environmentConfigProblems(withChanges(PAGING_PROD, { public: true }))).toEqual([
      'prod.public (set by PROD_PUBLIC): must be false in prod (invocation is IAM-only)',
    ]);
  });

  it('refuses a disposable prod and a prod nobody is alerted for', () => {
    expect(environmentConfigProblems(withChanges(PROD, { disposable: true }))).toEqual([
      'prod.disposable: must be false in prod (data is never destroyable)',
      `prod.alerting.notificationEmails (set by PROD_ALERT_EMAILS): prod pages nobody; ${PROD_ALTERNATIVES}`,
    ]);
  });

  it.each(['ingest-oncall@example.com', 'pager@ops.example.org', 'oncall@team.test', 'x@y.invalid', 'on@call.example'])(
    'refuses a prod paging %s, a reserved domain, in one line naming PROD_ALERT_EMAILS and its alternative',
    (address) => {
      const problems = environmentConfigProblems(resolveEnvironmentConfig(PROD, { env: { PROD_ALERT_EMAILS: address } }));
      expect(problems).toEqual([
        expect.stringMatching(
          new RegExp(`^prod\\.alerting\\.notificationEmails \\(set by PROD_ALERT_EMAILS\\): "${address.replace(/\./g, '\\.')}" is at [^ ]+, a domain reserved for examples where no mail is ever delivered; `),
        ),
      ]);
      expect(problems[0]).toContain(PROD_ALTERNATIVES);
      expect(problems[0]).not.toContain('\n');
    },
  );

  it('refuses a reserved address even beside a good destination, and in dev', () => {
    expect(
      environmentConfigProblems(resolveEnvironmentConfig(PROD, { env: { PROD_ALERT_EMAILS: 'a@acme-data.io,b@example.com', PROD_ALERT_CHANNELS: '42' } })),
    ).toEqual([expect.stringMatching(/^prod\.alerting\.notificationEmails \(set by PROD_ALERT_EMAILS\): "b@example\.com" is at example\.com/)]);
    expect(environmentConfigProblems(resolveEnvironmentConfig(DEV, { env: { DEV_ALERT_EMAILS: 'me@example.com' } }))).toEqual([
      expect.stringMatching(/^dev\.alerting\.notificationEmails \(set by DEV_ALERT_EMAILS\): "me@example\.com" is at example\.com, .*set DEV_ALERT_EMAILS to .* or DEV_ALERT_CHANNELS to /),
    ]);
  });

  it('lets prod page existing notification channels only (Slack, PagerDuty made elsewhere)', () => {
    const config = resolveEnvironmentConfig(PROD, { env: { PROD_ALERT_CHANNELS: '1234567890, projects/acme-shared/notificationChannels/42' } });
    expect(config.alerting).toEqual({ notificationEmails: [], notificationChannelIds: ['1234567890', 'projects/acme-shared/notificationChannels/42'] });
    expect(environmentConfigProblems(config)).toEqual([]);
  });

  it('refuses a channel id that names no channel', () => {
    expect(environmentConfigProblems(resolveEnvironmentConfig(PROD, { env: { PROD_ALERT_CHANNELS: '#ingest-alerts' } }))).toEqual([
      'prod.alerting.notificationChannelIds (set by PROD_ALERT_CHANNELS): "#ingest-alerts" is not a notification channel id (digits) or projects/<project>/notificationChannels/<id>',
    ]);
  });

  it('lets dev be public and alert nobody', () => {
    expect(environmentConfigProblems(withChanges(DEV, { public: true }))).toEqual([]);
  });

  it('names every malformed field with the value it got', () => {
    const problems = environmentConfigProblems(
      withChanges(DEV, {
        project: 'Not A Project',
        labels: { Env: 'dev' },
        api: { maxInstances: 0, maxBodyBytes: 10 * 1024 * 1024 },
        subscriber: { memory: 'big' },
        pubsub: { maxDeliveryAttempts: 101, subscriptionRetentionSeconds: 10 },
        surprise: true,
      }),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'dev.project (set by DEV_PROJECT_ID): must be a Google Cloud project id (6-30 lowercase letters, digits or hyphens, starting with a letter), got "Not A Project"',
        expect.stringMatching(/^dev\.labels\.Env: label keys/),
        'dev.api.maxInstances: must be an integer from 1 to 1000, got 0',
        `dev.api.maxBodyBytes: must be an integer from 1 to ${MAX_BODY_BYTES.max}, got ${10 * 1024 * 1024}`,
        "dev.subscriber.memory: must be a size such as '512Mi' or '1Gi', got \"big\"",
        'dev.pubsub.maxDeliveryAttempts: must be an integer from 5 to 100, got 101',
        'dev.pubsub.subscriptionRetentionSeconds: must be an integer from 600 to 604800, got 10',
        'dev.surprise: is not a config field',
      ]),
    );
  });

  it('checks each alert address once the fields have their types', () => {
    expect(environmentConfigProblems(withChanges(DEV, { alerting: { notificationEmails: ['nobody'] } }))).toEqual([
      'dev.alerting.notificationEmails (set by DEV_ALERT_EMAILS): "nobody" is not an e-mail address; set DEV_ALERT_EMAILS to addresses your on-call reads, or DEV_ALERT_CHANNELS to ids of existing notification channels (Slack, PagerDuty, e-mail)',
    ]);
  });

  it('checks rules between fields', () => {
    expect(
      environmentConfigProblems(withChanges(DEV, { api: { minInstances: 5 }, pubsub: { minimumBackoffSeconds: 700, maximumBackoffSeconds: 60 } })),
    ).toEqual(
      expect.arrayContaining(['dev.pubsub.minimumBackoffSeconds: must be an integer from 0 to 600, got 700']),
    );
    expect(environmentConfigProblems(withChanges(DEV, { api: { minInstances: 5 }, pubsub: { minimumBackoffSeconds: 120, maximumBackoffSeconds: 60 } }))).toEqual([
      'dev.api.minInstances: must not exceed api.maxInstances',
      'dev.pubsub.minimumBackoffSeconds: must not exceed pubsub.maximumBackoffSeconds',
    ]);
  });
});

describe('resolveEnvironmentConfig', () => {
  it('takes project, region, state bucket, public and alert destinations from the environment variables', () => {
    const config = resolveEnvironmentConfig(DEV, {
      env: {
        DEV_PROJECT_ID: 'my-own-dev',
        DEV_REGION: 'europe-west1',
        TF_STATE_BUCKET: 'my-state',
        DEV_PUBLIC: 'true',
        DEV_ALERT_EMAILS: 'a@acme-data.io, b@acme-data.io',
        DEV_ALERT_CHANNELS: '77,',
        PROD_PROJECT_ID: 'not-for-dev',
      },
    });
    expect(config).toEqual({
      ...DEV,
      project: 'my-own-dev',
      region: 'europe-west1',
      stateBucket: 'my-state',
      public: true,
      alerting: { notificationEmails: ['a@acme-data.io', 'b@acme-data.io'], notificationChannelIds: ['77'] },
    });
  });

  it('never changes the defaults it starts from', () => {
    const before = structuredClone(PROD);
    resolveEnvironmentConfig(PROD, { env: { PROD_PUBLIC: 'true', PROD_ALERT_EMAILS: 'x@acme-data.io' }, context: { api: { maxInstances: 7 } } });
    expect(PROD).toEqual(before);
  });

  it('treats empty variables (unset repository secrets) as unset', () => {
    expect(resolveEnvironmentConfig(PROD, { env: { PROD_PROJECT_ID: '', TF_STATE_BUCKET: '' } })).toEqual(PROD);
  });

  it('keeps a bad boolean so validation can name it', () => {
    const config = resolveEnvironmentConfig(PROD, { env: { PROD_PUBLIC: 'yes' } });
    expect(environmentConfigProblems(config)).toEqual(['prod.public (set by PROD_PUBLIC): must be true or false, got "yes"']);
  });

  it('deep-merges context overrides under the variables', () => {
    const config = resolveEnvironmentConfig(PROD, {
      context: { project: 'from-context', api: { maxInstances: 50 } },
      env: { PROD_PROJECT_ID: 'from-env' },
    });
    expect(config.project).toBe('from-env');
    expect(config.api).toEqual({ ...PROD.api, maxInstances: 50 });
    expect(PROD.api.maxInstances).not.toBe(50);
  });

  it('refuses a context override that replaces a section by something else', () => {
    expect(() => resolveEnvironmentConfig(DEV, { context: { api: 3 } })).toThrow(
      new ConfigurationError(['dev.api: the context override must be an object, got 3']),
    );
  });

  it('documents a variable for every environment', () => {
    for (const variables of Object.values(ENVIRONMENT_VARIABLES)) {
      expect(Object.keys(variables).sort()).toEqual(ENVIRONMENTS.map((e) => e.name).sort());
    }
  });
});
