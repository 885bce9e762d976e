/**
 * A first `cdktf deploy` on a fresh project runs everything at once, in the
 * order `depends_on` and references allow. These tests read that order from
 * the synthesized JSON of both ingest stacks (and of a stack with a BigQuery
 * subscription, which the ingest stacks do not have):
 * - an alert policy on a log-based metric comes after the metric and after a
 *   propagation wait, which itself comes after the metric;
 * - a BigQuery subscription comes after the grant that lets Pub/Sub write the table;
 * - a push subscription comes after the grants its deliveries need: its
 *   invoker's right to call the function, and the function's right to
 *   publish the messages it refuses to the dead-letter topic;
 * - a function comes after every grant the stack makes to its build account.
 */
import { Testing, TerraformStack } from 'cdktf';
import { IngestTopic } from '../../constructs/ingest-topic';
import { WarehouseTable } from '../../constructs/warehouse-table';
import { buildApp } from '../../stacks/main';
import { ALL_STACKS_ENV, freshOutdir, synthesize, type SynthesizedStack } from '../support/synth';

type Resource = Record<string, unknown>;

/** Every resource as `<type>.<logical id>`, the form `depends_on` uses. */
function addressed(parsed: SynthesizedStack): Map<string, Resource> {
  return new Map(
    Object.entries(parsed.resource ?? {}).flatMap(([type, resources]) => Object.entries(resources).map(([id, resource]) => [`${type}.${id}`, resource] as const)),
  );
}

const dependsOn = (resource: Resource): string[] => (resource.depends_on as string[] | undefined) ?? [];
const ofType = (resources: Map<string, Resource>, type: string) => [...resources].filter(([address]) => address.startsWith(`${type}.`));
/** The address a `${type.id.attribute}` reference points at. */
const referenced = (reference: unknown): string | undefined => /^\$\{([a-z0-9_]+\.[^.}]+)\.[a-z_]+\}$/.exec(String(reference))?.[1];

const LOG_METRIC_TYPE = /logging\.googleapis\.com\/user\/([A-Za-z0-9_./-]+?)"/g;

function checkAlertsWaitForTheirMetrics(resources: Map<string, Resource>): number {
  const metricByName = new Map(ofType(resources, 'google_logging_metric').map(([address, metric]) => [metric.name as string, address]));
  let checked = 0;
  for (const [address, policy] of ofType(resources, 'google_monitoring_alert_policy')) {
    const filters = (policy.conditions as { condition_threshold?: { filter: string } }[]).map((condition) => condition.condition_threshold?.filter ?? '');
    const metricNames = [...new Set(filters.flatMap((filter) => [...filter.matchAll(LOG_METRIC_TYPE)].map((match) => match[1]!)))];
    if (metricNames.length === 0) continue;
    checked += 1;
    const metrics = metricNames.map((name) => metricByName.get(name));
    expect({ policy: address, metrics }).toEqual({ policy: address, metrics: metricNames.map(() => expect.any(String)) });
    const needs = dependsOn(policy);
    for (const metric of metrics) expect({ policy: address, dependsOnMetric: needs.includes(metric!) }).toEqual({ policy: address, dependsOnMetric: true });
    const waits = needs.filter((dependency) => dependency.startsWith('time_sleep.'));
    expect({ policy: address, waits: waits.length }).toEqual({ policy: address, waits: 1 });
    const wait = resources.get(waits[0]!)!;
    for (const [index, metric] of metrics.entries()) {
      expect({ wait: waits[0], dependsOnMetric: dependsOn(wait).includes(metric!) }).toEqual({ wait: waits[0], dependsOnMetric: true });
      // Keyed on the metric: created once, again only when this metric is new.
      expect((wait.triggers as Record<string, string>)[metricNames[index]!]).toBe(`\${${metric}.id}`);
    }
    expect(wait.create_duration).toMatch(/^[1-9][0-9]*s$/);
  }
  return checked;
}

function checkBigQuerySubscriptionsWaitForTheirGrant(resources: Map<string, Resource>): number {
  const subscriptions = ofType(resources, 'google_pubsub_subscription').filter(([, subscription]) => subscription.bigquery_config !== undefined);
  for (const [address, subscription] of subscriptions) {
    const tableReference = (subscription.bigquery_config as { table: string }).table;
    const grants = ofType(resources, 'google_bigquery_table_iam_member').filter(
      ([, grant]) => String(grant.member).includes('@gcp-sa-pubsub.iam.gserviceaccount.com') && tableReference.includes(String(grant.table_id)),
    );
    expect({ subscription: address, grants: grants.length }).toEqual({ subscription: address, grants: 1 });
    expect({ subscription: address, dependsOnGrant: dependsOn(subscription).includes(grants[0]![0]) }).toEqual({ subscription: address, dependsOnGrant: true });
  }
  return subscriptions.length;
}

/** Checks every push subscription waits for its invoker's run.invoker grant and for its function's dead-letter publish grant. */
function checkPushSubscriptionsWaitForTheirGrants(resources: Map<string, Resource>): number {
  const subscriptions = ofType(resources, 'google_pubsub_subscription').filter(([, subscription]) => subscription.push_config !== undefined);
  for (const [address, subscription] of subscriptions) {
    const push = subscription.push_config as { push_endpoint: string; oidc_token: { service_account_email: string } };
    const fn = resources.get(referenced(push.push_endpoint)!)!;
    const runtimeMember = `serviceAccount:${(fn.service_config as { service_account_email: string }).service_account_email}`;
    const invokeGrants = ofType(resources, 'google_cloud_run_v2_service_iam_member').filter(
      ([, grant]) => grant.member === `serviceAccount:${push.oidc_token.service_account_email}` && grant.role === 'roles/run.invoker',
    );
    const publishGrants = ofType(resources, 'google_pubsub_topic_iam_member').filter(([, grant]) => grant.member === runtimeMember && grant.role === 'roles/pubsub.publisher');
    const needs = [...invokeGrants, ...publishGrants].map(([grant]) => grant);
    expect({ subscription: address, grants: needs.length }).toEqual({ subscription: address, grants: 2 });
    expect({ subscription: address, dependsOn: dependsOn(subscription) }).toEqual({ subscription: address, dependsOn: expect.arrayContaining(needs) });
  }
  return subscriptions.length;
}

const GRANT_TYPES = ['google_project_iam_member', 'google_artifact_registry_repository_iam_member', 'google_storage_bucket_iam_member'];

/** The IAM member of the account a `build_config.service_account` names: a created account's reference, or an existing account's e-mail. */
function buildAccountMember(serviceAccount: string | undefined): string | undefined {
  const created = referenced(serviceAccount);
  if (created !== undefined) return created.startsWith('google_service_account.') ? `\${${created}.member}` : undefined;
  const email = /^projects\/[^/]+\/serviceAccounts\/([^/]+@[^/]+)$/.exec(String(serviceAccount))?.[1];
  return email === undefined ? undefined : `serviceAccount:${email}`;
}

/** Checks every function waits for the grants the stack makes to its build account, which must be `roles`. */
function checkFunctionsWaitForTheirBuildGrants(resources: Map<string, Resource>, roles: readonly string[]): number {
  const functions = ofType(resources, 'google_cloudfunctions2_function');
  for (const [address, fn] of functions) {
    const buildConfig = fn.build_config as { service_account?: string; docker_repository?: string };
    const member = buildAccountMember(buildConfig.service_account);
    expect({ function: address, buildAccount: member }).toEqual({ function: address, buildAccount: expect.any(String) });
    const grants = GRANT_TYPES.flatMap((type) => ofType(resources, type)).filter(([, grant]) => grant.member === member);
    expect(grants.map(([, grant]) => grant.role).sort()).toEqual([...roles].sort());
    const pushGrant = grants.find(([, grant]) => grant.role === 'roles/artifactregistry.writer')![1];
    expect(referenced(pushGrant.repository)).toBe(referenced(buildConfig.docker_repository));
    const needs = dependsOn(fn);
    for (const [grant] of grants) expect({ function: address, dependsOnGrant: grant, ok: needs.includes(grant) }).toEqual({ function: address, dependsOnGrant: grant, ok: true });
    // And on the IAM propagation wait that follows those grants.
    const wait = needs.find((dependency) => dependency.startsWith('time_sleep.'));
    expect(dependsOn(resources.get(wait!)!).sort()).toEqual(grants.map(([grant]) => grant).sort());
  }
  return functions.length;
}

const { stacks } = buildApp({ outdir: freshOutdir(), env: ALL_STACKS_ENV, context: {} });

describe.each(['dev', 'prod'])('the %s ingest stack, on a first apply', (name) => {
  const resources = addressed(JSON.parse(Testing.synth(stacks[name]!)) as SynthesizedStack);

  it('creates each alert on a log-based metric after the metric and after its propagation wait', () => {
    expect(checkAlertsWaitForTheirMetrics(resources)).toBe(2);
  });

  it('creates each function after every grant the stack makes to its build account (its project grants are the bootstrap stack\'s)', () => {
    expect(checkFunctionsWaitForTheirBuildGrants(resources, ['roles/artifactregistry.writer'])).toBe(2);
  });

  it("creates the push subscription after its invoker may call the subscriber and the subscriber may publish dead letters", () => {
    expect(checkPushSubscriptionsWaitForTheirGrants(resources)).toBe(1);
  });

  it('has no BigQuery subscription to order', () => {
    expect(checkBigQuerySubscriptionsWaitForTheirGrant(resources)).toBe(0);
  });
});

describe('a stack with a BigQuery subscription, on a first apply', () => {
  const { parsed } = synthesize((stack: TerraformStack) => {
    const table = new WarehouseTable(stack, 'warehouse', { datasetId: 'raw', disposable: true });
    const topic = new IngestTopic(stack, 'events');
    topic.addBigQuerySubscription('raw', { table });
  });

  it('creates the subscription after the grant that lets Pub/Sub write the table', () => {
    expect(checkBigQuerySubscriptionsWaitForTheirGrant(addressed(parsed))).toBe(1);
  });
});
