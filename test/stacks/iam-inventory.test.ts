/**
 * The IAM inventory: every binding of the bootstrap, dev and prod stacks as
 * (member, role, resource), compared with the allowlist beside this test
 * (`iam-allowlist.ts`), which gives each one its reason. A binding the
 * allowlist lacks fails, and so does an entry no stack makes any more: every
 * change of who may do what shows up in review as an edit of that file.
 */
import { bootstrapConfigFromEnv } from '../../stacks/bootstrap-config';
import { DEPLOY_ENVIRONMENTS } from '../../stacks/bootstrap-stack';
import { buildApp } from '../../stacks/main';
import { ALL_STACKS_ENV, freshOutdir, readStackJson, type SynthesizedStack } from '../support/synth';
import { ALLOWED_BINDINGS, type AllowedBinding } from './iam-allowlist';

/** The attribute naming the resource each kind of binding grants on. */
const TARGET_OF: Readonly<Record<string, string>> = {
  google_project_iam_member: 'project',
  google_service_account_iam_member: 'service_account_id',
  google_storage_bucket_iam_member: 'bucket',
  google_bigquery_table_iam_member: 'table_id',
  google_bigquery_dataset_iam_member: 'dataset_id',
  google_pubsub_topic_iam_member: 'topic',
  google_pubsub_subscription_iam_member: 'subscription',
  google_cloud_run_v2_service_iam_member: 'name',
  google_artifact_registry_repository_iam_member: 'repository',
  google_secret_manager_secret_iam_member: 'secret_id',
};
const IAM_RESOURCE = /_iam_(member|binding|policy)$/;

/** References without the hash cdktf appends to logical ids, so an entry reads like the construct path. */
function withoutHashes(text: string): string {
  return text.replace(/_[0-9A-F]{8}(?=[.}\[])/g, '');
}

interface Binding {
  readonly stack: string;
  readonly member: string;
  readonly role: string;
  readonly resource: string;
}

const key = ({ stack, member, role, resource }: Binding) => `${stack} | ${member} | ${role} | ${resource}`;

function bindingsOf(stack: string, parsed: SynthesizedStack): Binding[] {
  return Object.entries(parsed.resource ?? {})
    .filter(([type]) => IAM_RESOURCE.test(type))
    .flatMap(([type, resources]) =>
      Object.entries(resources).map(([logicalId, config]) => {
        const target = TARGET_OF[type];
        // An authoritative binding or policy, or a new kind of member binding, needs its own reading (and a TARGET_OF entry).
        if (target === undefined || typeof config.member !== 'string') throw new Error(`${stack}: ${type}.${logicalId}: the inventory cannot read this kind of binding`);
        const condition = (config.condition as { expression?: string } | undefined)?.expression;
        const resource = `${type} ${String(config[target])}${condition === undefined ? '' : ` if ${condition}`}`;
        return { stack, member: withoutHashes(config.member), role: String(config.role), resource: withoutHashes(resource) };
      }),
    );
}

const outdir = freshOutdir();
buildApp({ outdir, env: ALL_STACKS_ENV, context: {} }).app.synth();
const actual = ['bootstrap', ...DEPLOY_ENVIRONMENTS].flatMap((stack) => bindingsOf(stack, JSON.parse(readStackJson(outdir, stack)) as SynthesizedStack));

const bootstrap = bootstrapConfigFromEnv(ALL_STACKS_ENV);
const { owner, name, ownerId, repositoryId } = bootstrap.github;

/** An allowlist entry as the bindings of one environment. */
function expand(entry: AllowedBinding, environment: (typeof DEPLOY_ENVIRONMENTS)[number]): Binding {
  const values: Record<string, string> = {
    env: environment,
    project: bootstrap.deployProjects[environment],
    region: bootstrap.deployRegions[environment],
    stateBucket: bootstrap.stateBucket,
    repository: `${owner}/${name}`,
    repositoryIds: `${owner}@${ownerId}/${name}@${repositoryId}`,
  };
  const fill = (text: string) => text.replace(/\{(env|project|region|stateBucket|repository|repositoryIds)\}/g, (_, placeholder: string) => values[placeholder]!);
  return { stack: entry.stack === 'bootstrap' ? 'bootstrap' : environment, member: fill(entry.member), role: fill(entry.role), resource: fill(entry.resource) };
}

const allowed = ALLOWED_BINDINGS.flatMap((entry) => DEPLOY_ENVIRONMENTS.map((environment) => expand(entry, environment)));

describe('the IAM inventory of the bootstrap, dev and prod stacks', () => {
  it('finds bindings in every stack', () => {
    for (const stack of ['bootstrap', ...DEPLOY_ENVIRONMENTS]) expect(actual.filter((binding) => binding.stack === stack).length).toBeGreaterThan(0);
  });

  it('holds no binding the allowlist lacks', () => {
    const known = new Set(allowed.map(key));
    expect(actual.map(key).filter((binding) => !known.has(binding))).toEqual([]);
  });

  it('has no allowlist entry that no stack makes any more', () => {
    const made = new Set(actual.map(key));
    expect(allowed.map(key).filter((binding) => !made.has(binding))).toEqual([]);
  });

  it('gives every entry a reason', () => {
    for (const entry of ALLOWED_BINDINGS) expect({ entry: `${entry.member} ${entry.role}`, reason: entry.reason.trim().length >= 20 }).toEqual({ entry: `${entry.member} ${entry.role}`, reason: true });
  });

  it('lists each binding once', () => {
    expect(new Set(allowed.map(key)).size).toBe(allowed.length);
    expect(new Set(actual.map(key)).size).toBe(actual.length);
  });
});
