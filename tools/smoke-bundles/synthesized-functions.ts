/**
 * What the bundle smoke reads from a synthesized cdktf app: every stack's
 * Cloud Run functions (zip, runtime, entry point, environment), the
 * BigQuery tables they write to and the Pub/Sub topics they may publish
 * to, with the Terraform references that are
 * known before apply (literal attributes, the provider's project) resolved
 * to values. A value that only exists after apply (a URL, an email) is an
 * error naming where it was needed, never a guess.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BigQueryField } from '../../lambda-src/record';
import { pubsubTopicPath } from '../../lambda-src/rules/naming';
import type { TableRef } from '../bigquery-standin';

type Config = Record<string, unknown>;

/** The parts of a `cdk.tf.json` read here. */
export interface TerraformJson {
  readonly resource?: Record<string, Record<string, Config>>;
  readonly provider?: Record<string, Config[]>;
}

/** One `google_cloudfunctions2_function`, as deployed. */
export interface SynthesizedFunction {
  readonly stack: string;
  /** The function's `name`. */
  readonly name: string;
  /** `build_config.runtime`, e.g. `nodejs24`. */
  readonly runtime: string;
  /** `build_config.entry_point`: the Functions Framework target. */
  readonly entryPoint: string;
  /** Absolute path of the zip its `google_storage_bucket_object` uploads. */
  readonly zipPath: string;
  /** `service_config.environment_variables`, resolved. */
  readonly environment: Readonly<Record<string, string>>;
  /** Full name of the push subscription delivering to it (`projects/p/subscriptions/s`), if one does. */
  readonly pushSubscription: string | undefined;
}

/** One `google_bigquery_table` with a schema (views have none). */
export interface SynthesizedTable {
  readonly ref: TableRef;
  readonly fields: BigQueryField[];
}

export interface SynthesizedStackContents {
  readonly functions: SynthesizedFunction[];
  readonly tables: SynthesizedTable[];
  /** Full names (`projects/<project>/topics/<name>`) of its `google_pubsub_topic`s. */
  readonly topics: string[];
}

/** `${type.id.attribute}`: the only Terraform expression whose value can be known before apply. */
const ATTRIBUTE_REFERENCE = /^([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z0-9_]+)$/;
const INTERPOLATION = /\$\{([^}]*)\}/g;

function isConfig(value: unknown): value is Config {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `value`, which Terraform JSON may write as an object or a one-element list, as an object. */
function block(value: unknown): Config | undefined {
  const single = Array.isArray(value) && value.length === 1 ? value[0] : value;
  return isConfig(single) ? single : undefined;
}

class Stack {
  constructor(
    readonly name: string,
    private readonly json: TerraformJson,
  ) {}

  resources(type: string): [string, Config][] {
    return Object.entries(this.json.resource?.[type] ?? {});
  }

  /** The resource a value like `${type.id.attribute}` points at. */
  referenced(value: unknown, type: string, where: string): Config {
    const match = typeof value === 'string' ? /^\$\{(.*)\}$/.exec(value) : null;
    const reference = match ? ATTRIBUTE_REFERENCE.exec(match[1]!) : null;
    if (!reference || reference[1] !== type) throw new Error(`${where} is ${JSON.stringify(value)}, expected a reference to a ${type}`);
    const resource = this.json.resource?.[type]?.[reference[2]!];
    if (!resource) throw new Error(`${where} refers to ${type}.${reference[2]}, which the stack does not define`);
    return resource;
  }

  /** A string attribute with every `${type.id.attribute}` in it replaced by that attribute's value. */
  resolve(value: unknown, where: string): string {
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    if (typeof value !== 'string') throw new Error(`${where} is ${JSON.stringify(value)}, expected a string`);
    return value.replace(INTERPOLATION, (_whole, expression: string) => this.attribute(expression, where));
  }

  /** The value of `type.id.attribute`, as a reference to it would resolve. */
  attribute(expression: string, where: string): string {
    const reference = ATTRIBUTE_REFERENCE.exec(expression);
    if (!reference) throw new Error(`${where} holds \${${expression}}, which is only known after apply`);
    const [, type, id, name] = reference as unknown as [string, string, string, string];
    const resource = this.json.resource?.[type]?.[id];
    if (!resource) throw new Error(`${where} refers to ${type}.${id}, which the stack does not define`);
    const value = resource[name];
    const via = `${where} (via ${expression})`;
    if (value !== undefined) return this.resolve(value, via);
    // An unset `project` is the provider's: the one attribute Terraform fills in before apply.
    if (name === 'project') return this.providerProject(resource, via);
    throw new Error(`${where} refers to ${expression}, which is only known after apply`);
  }

  private providerProject(resource: Config, where: string): string {
    const alias = typeof resource.provider === 'string' ? resource.provider.split('.')[1] : undefined;
    const provider = (this.json.provider?.google ?? []).find((candidate) => candidate.alias === alias);
    if (provider?.project === undefined) throw new Error(`${where} takes the google provider's project, which the stack does not set`);
    return this.resolve(provider.project, where);
  }

  /** `projects/<project>/subscriptions/<name>` of each push subscription, by the function resource id it delivers to. */
  pushSubscriptions(): Map<string, string> {
    const byFunction = new Map<string, string>();
    for (const [id, subscription] of this.resources('google_pubsub_subscription')) {
      const endpoint = block(subscription.push_config)?.push_endpoint;
      if (typeof endpoint !== 'string') continue;
      const where = `${this.name}: google_pubsub_subscription.${id}`;
      const project = this.attribute(`google_pubsub_subscription.${id}.project`, `${where}.project`);
      const fullName = `projects/${project}/subscriptions/${this.attribute(`google_pubsub_subscription.${id}.name`, `${where}.name`)}`;
      for (const [, expression] of endpoint.matchAll(INTERPOLATION)) {
        const reference = ATTRIBUTE_REFERENCE.exec(expression!);
        if (reference?.[1] === 'google_cloudfunctions2_function') byFunction.set(reference[2]!, fullName);
      }
    }
    return byFunction;
  }
}

function functionOf(stack: Stack, stackDir: string, id: string, config: Config, pushSubscription: string | undefined): SynthesizedFunction {
  const where = `${stack.name}: google_cloudfunctions2_function.${id}`;
  const build = block(config.build_config);
  if (!build) throw new Error(`${where} has no build_config`);
  const storage = block(block(build.source)?.storage_source);
  if (!storage) throw new Error(`${where}.build_config.source.storage_source is missing: the function has no source zip`);
  const object = stack.referenced(storage.object, 'google_storage_bucket_object', `${where}.build_config.source.storage_source.object`);
  if (typeof object.source !== 'string') throw new Error(`${where}: its google_storage_bucket_object has no local source file`);
  const zipPath = join(stackDir, object.source);
  if (!existsSync(zipPath)) throw new Error(`${where}: the zip ${object.source} is not in the synthesized stack directory`);
  const variables = block(config.service_config)?.environment_variables ?? {};
  if (!isConfig(variables)) throw new Error(`${where}.service_config.environment_variables is not an object`);
  return {
    stack: stack.name,
    name: stack.resolve(config.name, `${where}.name`),
    runtime: stack.resolve(build.runtime, `${where}.build_config.runtime`),
    entryPoint: stack.resolve(build.entry_point, `${where}.build_config.entry_point`),
    zipPath,
    environment: Object.fromEntries(
      Object.entries(variables).map(([name, value]) => [name, stack.resolve(value, `${where}.service_config.environment_variables.${name}`)]),
    ),
    pushSubscription,
  };
}

function tableOf(stack: Stack, id: string, config: Config): SynthesizedTable | undefined {
  if (config.schema === undefined) return undefined;
  const where = `${stack.name}: google_bigquery_table.${id}`;
  const attribute = (name: string) => stack.attribute(`google_bigquery_table.${id}.${name}`, `${where}.${name}`);
  return {
    ref: { projectId: attribute('project'), datasetId: attribute('dataset_id'), tableId: attribute('table_id') },
    fields: JSON.parse(stack.resolve(config.schema, `${where}.schema`)) as BigQueryField[],
  };
}

/** The functions and tables of one synthesized stack; `stackDir` holds its `cdk.tf.json` and assets. */
export function readStackContents(stackName: string, stackDir: string, json: TerraformJson): SynthesizedStackContents {
  const stack = new Stack(stackName, json);
  const pushed = stack.pushSubscriptions();
  return {
    functions: stack
      .resources('google_cloudfunctions2_function')
      .map(([id, config]) => functionOf(stack, stackDir, id, config, pushed.get(id))),
    tables: stack.resources('google_bigquery_table').flatMap(([id, config]) => tableOf(stack, id, config) ?? []),
    topics: stack.resources('google_pubsub_topic').map(([id]) => {
      const attribute = (name: string) => stack.attribute(`google_pubsub_topic.${id}.${name}`, `${stackName}: google_pubsub_topic.${id}.${name}`);
      return pubsubTopicPath(attribute('project'), attribute('name'));
    }),
  };
}

interface Manifest {
  stacks: Record<string, { name: string; synthesizedStackPath: string; workingDirectory: string }>;
}

/** Every stack of the app synthesized into `outdir`, read through its `manifest.json`. */
export function readSynthesizedApp(outdir: string): SynthesizedStackContents[] {
  const manifest = JSON.parse(readFileSync(join(outdir, 'manifest.json'), 'utf8')) as Manifest;
  return Object.values(manifest.stacks).map((stack) =>
    readStackContents(
      stack.name,
      join(outdir, stack.workingDirectory),
      JSON.parse(readFileSync(join(outdir, stack.synthesizedStackPath), 'utf8')) as TerraformJson,
    ),
  );
}
