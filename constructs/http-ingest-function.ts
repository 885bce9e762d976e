import { Construct } from 'constructs';
import { Token } from 'cdktf';
import { Cloudfunctions2Function } from '@cdktf/provider-google/lib/cloudfunctions2-function';
import { CloudRunV2ServiceIamMember } from '@cdktf/provider-google/lib/cloud-run-v2-service-iam-member';
import { SecretManagerSecretIamMember } from '@cdktf/provider-google/lib/secret-manager-secret-iam-member';
import { ServiceAccount } from '@cdktf/provider-google/lib/service-account';
import { FunctionBuildEnvironment } from './function-build-environment';
import { FunctionBundle, type LibraryHandler } from './function-bundle';
import { FunctionSourceBucket } from './function-source-bucket';
import type { Grantee, IGrantable, ServiceAccountReference } from './grantee';
import { INTEGER_SETTINGS, integerTextProblem, MAX_BODY_BYTES } from '../lambda-src/rules/limits';
import { FUNCTION_NAME, kebab, PROJECT_ID_OR_NUMBER, SECRET_ID, SECRET_VERSION, type NameRule } from '../lambda-src/rules/naming';
import { grantOnce } from './private/grants';
import { fitName, serviceAccountId } from './private/naming';
import { projectData } from './private/project';
import { integerIn, isToken, labelProblems, matches, problemIf, type PropProblem, validateProps } from './private/validation';

/** A Secret Manager secret version exposed to the function as an environment variable. */
export interface SecretReference {
  /** Secret id (the last part of `projects/…/secrets/<id>`): 1-255 letters, digits, `-` or `_`. */
  readonly secret: string;
  /**
   * Version to expose: a version number, or `'latest'`. Pin a number in production so a new version rolls out with a deploy.
   * @default 'latest'
   */
  readonly version?: string;
  /**
   * Project that holds the secret: its id or number.
   * @default the function's project
   */
  readonly project?: string;
}

/** Ingress settings of a Cloud Functions 2nd gen function. */
export type IngressSettings = 'ALLOW_ALL' | 'ALLOW_INTERNAL_ONLY' | 'ALLOW_INTERNAL_AND_GCLB';

/**
 * The function runs code of your own: an entry module bundled with esbuild at
 * synth. Give either this or {@link HttpIngestHandlerCode}.
 */
export interface HttpIngestEntryCode {
  /**
   * Entry module (TypeScript or JavaScript; absolute, or relative to the
   * current directory), bundled at synth. Its package must depend on
   * `@google-cloud/functions-framework`.
   */
  readonly entry: string;
  /** Functions Framework target the entry registers with `functions.http(<entryPoint>, …)`. */
  readonly entryPoint: string;
  /**
   * Modules left out of the bundle (code paths the cloud never takes).
   * @default ['@duckdb/node-api']
   */
  readonly externalModules?: string[];
  /** Not with `entry`: see {@link HttpIngestHandlerCode}. */
  readonly handler?: never;
}

/**
 * The function runs one of this library's handlers, configured by the
 * `environment` (pass a `WarehouseTable`'s `warehouseEnvironment`): `api`,
 * the ingest and read API (`POST /`, `GET /records…`, `PUT /records/{id}`),
 * or `subscriber`, the Pub/Sub push subscriber (a target for
 * {@link IngestTopic}). The entry point is the handler's name. Give either
 * this or {@link HttpIngestEntryCode}.
 */
export interface HttpIngestHandlerCode {
  /** The library handler to deploy. */
  readonly handler: LibraryHandler;
  /** Not with `handler`: see {@link HttpIngestEntryCode}. */
  readonly entry?: never;
  /** Not with `handler`: the handler's target is its name. */
  readonly entryPoint?: never;
  /** Not with `handler`: the library's handlers leave out the local-only `@duckdb/node-api`. */
  readonly externalModules?: never;
}

/** Props of {@link HttpIngestFunction}: the code (a library `handler`, or your `entry` and `entryPoint`) and these options. */
export type HttpIngestFunctionProps = HttpIngestFunctionOptions & (HttpIngestHandlerCode | HttpIngestEntryCode);

/** Props of {@link HttpIngestFunction} besides the code. */
export interface HttpIngestFunctionOptions {
  /** Region the function runs in, e.g. `us-central1`. */
  readonly region: string;
  /** Upper bound on instances: caps cost and the load the warehouse sees. */
  readonly maxInstanceCount: number;
  /**
   * Function (and Cloud Run service) name: lowercase letters, digits, hyphens.
   * @default the construct id in kebab case
   */
  readonly functionName?: string;
  /**
   * Human-readable description.
   * @default no description
   */
  readonly description?: string;
  /**
   * Project the function runs in.
   * @default the provider's project
   */
  readonly project?: string;
  /**
   * Node.js runtime; the bundle targets the same Node.js version. A
   * decommissioned runtime fails synthesis, a deprecated one warns.
   * @default 'nodejs24'
   */
  readonly runtime?: string;
  /**
   * Bucket the source zip is uploaded to; share one between functions.
   * @default a new private {@link FunctionSourceBucket} in `region`
   */
  readonly sourceBucket?: FunctionSourceBucket;
  /**
   * Memory per instance (`256Mi`, `1Gi`, …).
   * @default '512Mi'
   */
  readonly memory?: string;
  /**
   * vCPUs per instance. Serving more than one request at a time needs at least 1.
   * @default '1'
   */
  readonly cpu?: string;
  /**
   * Request timeout in seconds (1-3600).
   * @default 60
   */
  readonly timeoutSeconds?: number;
  /**
   * Instances kept warm (each one is billed while idle).
   * @default 0
   */
  readonly minInstanceCount?: number;
  /**
   * Requests one instance serves at a time (2-1000). Concurrent requests in
   * one instance are what the group-commit batcher coalesces into one insert.
   * @default 80
   */
  readonly maxInstanceRequestConcurrency?: number;
  /**
   * Where requests may come from. Keep `ALLOW_ALL` for Pub/Sub push
   * targets: push deliveries do not count as internal traffic.
   * @default 'ALLOW_ALL' (callers still need `roles/run.invoker` unless `public`)
   */
  readonly ingressSettings?: IngressSettings;
  /**
   * Let anyone on the internet invoke the function (`allUsers` gets `roles/run.invoker`).
   * @default false: invocation needs IAM, see {@link HttpIngestFunction.grantInvoke}
   */
  readonly public?: boolean;
  /**
   * Service account the function runs as, e.g. one a bootstrap stack made
   * (then whoever deploys needs `iam.serviceAccounts.actAs` on that account
   * only, not the right to create accounts). Use it for this function alone.
   * @default a new service account used by this function alone
   */
  readonly serviceAccount?: ServiceAccountReference;
  /**
   * Plain environment variables. Names that look like secrets (`*SECRET*`,
   * `*PASSWORD*`, `*TOKEN*`, `*API_KEY*`, `*CREDENTIAL*`, `*PRIVATE_KEY*`)
   * are refused: pass those through `secretEnvironmentVariables`. A setting
   * the function reads (`READ_WINDOW_HOURS`, …) is refused out of the range
   * it accepts at load.
   * @default no extra variables
   */
  readonly environment?: Record<string, string>;
  /**
   * Largest request body accepted, in bytes (`MAX_BODY_BYTES`, within the
   * range in `lambda-src/rules/limits.ts` that the function enforces at load).
   * @default unset: the function's own default (1 MiB)
   */
  readonly maxBodyBytes?: number;
  /**
   * Environment variables read from Secret Manager at instance start. The
   * function's service account gets `roles/secretmanager.secretAccessor` on
   * each secret, and on nothing else, before the function is created: a
   * deploy fails when the account cannot read a secret.
   * @default no secrets
   */
  readonly secretEnvironmentVariables?: Record<string, SecretReference>;
  /**
   * Labels on the function (and on the source bucket, when it creates one).
   * @default no labels
   */
  readonly labels?: Record<string, string>;
  /**
   * Build service account and image repository the function builds with;
   * share one between the functions of a region. It must be in the
   * function's region.
   * @default a new {@link FunctionBuildEnvironment} in `region`, used by this function alone
   */
  readonly buildEnvironment?: FunctionBuildEnvironment;
}

const MEMORY: NameRule = { pattern: /^[1-9][0-9]*(?:Mi|Gi|M|G)$/, rule: "must be a size such as '512Mi' or '1Gi'" };
const CPU: NameRule = { pattern: /^(?:[0-9]+(?:\.[0-9]+)?)$/, rule: "must be a number of vCPUs such as '1' or '0.5'" };
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const RESERVED_ENV = /^(?:X_GOOGLE_|FUNCTION_TARGET$|FUNCTION_SIGNATURE_TYPE$|K_SERVICE$|K_REVISION$|K_CONFIGURATION$|PORT$)/;
const SECRET_LOOKING_ENV = /SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL/i;
const SETTINGS = new Map(INTEGER_SETTINGS.map((setting) => [setting.variable, setting]));

/** What {@link HttpIngestFunction} accepts for its size and scaling props; stack configs check theirs by the same rules. */
export const FUNCTION_SIZING_RULES = {
  memory: MEMORY,
  cpu: CPU,
  timeoutSeconds: { min: 1, max: 3600 },
  minInstanceCount: { min: 0, max: 1000 },
  maxInstanceCount: { min: 1, max: 1000 },
  maxInstanceRequestConcurrency: { min: 2, max: 1000 },
} as const;

/** Why Cloud Functions would refuse `name` for an environment variable, plain or secret, if it would. */
function variableNameProblem(name: string): string | undefined {
  if (!ENV_NAME.test(name)) return 'names hold letters, digits and underscores and do not start with a digit';
  if (RESERVED_ENV.test(name)) return 'is reserved by Cloud Functions';
  return undefined;
}

/** One entry per variable: its problem, or undefined (what {@link validateProps} takes). */
function environmentProblems(
  environment: Record<string, string>,
  secrets: Record<string, SecretReference>,
): (PropProblem | undefined)[] {
  const plain = Object.keys(environment).map((name): PropProblem | undefined => {
    const prop = `environment.${name}`;
    const nameProblem = variableNameProblem(name);
    if (nameProblem !== undefined) return { prop, message: nameProblem };
    if (SECRET_LOOKING_ENV.test(name)) {
      return { prop, message: 'looks like a secret: pass it through secretEnvironmentVariables (Secret Manager), never as plain text' };
    }
    const setting = SETTINGS.get(name);
    const problem = setting === undefined || isToken(environment[name]) ? undefined : integerTextProblem(environment[name]!, setting);
    return problem === undefined ? undefined : { prop, message: problem };
  });
  const secret = Object.entries(secrets).flatMap(([name, reference]): (PropProblem | undefined)[] => {
    const prop = `secretEnvironmentVariables.${name}`;
    const message = variableNameProblem(name) ?? (name in environment ? 'is also set in environment' : undefined);
    return [
      message === undefined ? undefined : { prop, message },
      matches(`${prop}.secret`, reference.secret, SECRET_ID),
      matches(`${prop}.version`, reference.version, SECRET_VERSION),
      matches(`${prop}.project`, reference.project, PROJECT_ID_OR_NUMBER),
    ];
  });
  return [...plain, ...secret];
}

/** Cloud Run functions reads a function's source in the function's region, which is where the build account may read. */
function buildRegionProblem(environment: FunctionBuildEnvironment | undefined, region: string): PropProblem | undefined {
  if (environment === undefined || Token.isUnresolved(environment.location) || Token.isUnresolved(region)) return undefined;
  if (environment.location === region) return undefined;
  return { prop: 'buildEnvironment', message: `is in ${environment.location}, but the function runs in ${region}; use a build environment of the function's region` };
}

/**
 * An HTTP function (Cloud Functions 2nd gen) running one of this library's
 * handlers (`handler: 'api'` or `'subscriber'`) or an entry of your own.
 *
 * The code is bundled at synth ({@link FunctionBundle}), uploaded under its
 * content hash to a private {@link FunctionSourceBucket}, and deployed with
 * its own service account (never the default compute account), an explicit
 * instance range and per-instance concurrency. It is built by a dedicated
 * build service account into a managed image repository
 * ({@link FunctionBuildEnvironment}), and created only once that account's
 * grants are in place. Invocation is IAM-only unless
 * `public: true`: {@link grantInvoke} grants `roles/run.invoker` on the Cloud
 * Run service behind the function, which is where 2nd gen functions check it.
 */
export class HttpIngestFunction extends Construct implements IGrantable {
  /** The `google_cloudfunctions2_function`. */
  public readonly function: Cloudfunctions2Function;
  /** The service account the function runs as. */
  public readonly serviceAccount: ServiceAccountReference;
  /** The bundled source. */
  public readonly bundle: FunctionBundle;
  /** The bucket holding the source zip. */
  public readonly sourceBucket: FunctionSourceBucket;
  /** The build service account and image repository the function builds with. */
  public readonly buildEnvironment: FunctionBuildEnvironment;
  /** HTTPS URL of the function. */
  public readonly url: string;
  /** Function name. */
  public readonly functionName: string;
  /** Full resource name of the Cloud Run service serving the function. */
  public readonly serviceName: string;
  /** Region the function runs in. */
  public readonly region: string;
  /** Request timeout in seconds (push subscriptions match their ack deadline to it). */
  public readonly timeoutSeconds: number;
  /** IAM member of the function's service account: pass the function itself to `grant*` methods. */
  public readonly iamMember: string;

  constructor(scope: Construct, id: string, props: HttpIngestFunctionProps) {
    super(scope, id);
    this.functionName = props.functionName ?? fitName(kebab(id), 63);
    // Names derived from the function's: from the construct id when the function's is known only to Terraform.
    const nameStem = isToken(this.functionName) ? fitName(kebab(id), 63) : this.functionName;
    this.region = props.region;
    this.timeoutSeconds = props.timeoutSeconds ?? 60;
    const cpu = props.cpu ?? '1';
    const concurrency = props.maxInstanceRequestConcurrency ?? 80;
    const minInstances = props.minInstanceCount ?? 0;
    const environment = { ...props.environment };
    const secrets = props.secretEnvironmentVariables ?? {};
    const rules = FUNCTION_SIZING_RULES;
    validateProps(this, [
      matches('functionName', this.functionName, FUNCTION_NAME),
      matches('memory', props.memory, rules.memory),
      matches('cpu', cpu, rules.cpu),
      integerIn('timeoutSeconds', this.timeoutSeconds, rules.timeoutSeconds),
      integerIn('minInstanceCount', minInstances, rules.minInstanceCount),
      integerIn('maxInstanceCount', props.maxInstanceCount, rules.maxInstanceCount),
      problemIf('minInstanceCount', minInstances > props.maxInstanceCount, 'must not exceed maxInstanceCount', [minInstances, props.maxInstanceCount]),
      integerIn('maxInstanceRequestConcurrency', concurrency, rules.maxInstanceRequestConcurrency),
      problemIf('cpu', Number(cpu) < 1 && concurrency > 1, 'must be at least 1 to serve more than one request per instance', [cpu, concurrency]),
      integerIn('maxBodyBytes', props.maxBodyBytes, MAX_BODY_BYTES),
      problemIf(`environment.${MAX_BODY_BYTES.variable}`, props.maxBodyBytes !== undefined && MAX_BODY_BYTES.variable in environment, 'is also set by maxBodyBytes; set one of them', []),
      ...environmentProblems(environment, secrets),
      ...labelProblems('labels', props.labels),
      buildRegionProblem(props.buildEnvironment, props.region),
    ]);
    if (props.maxBodyBytes !== undefined) environment[MAX_BODY_BYTES.variable] = isToken(props.maxBodyBytes) ? Token.asString(props.maxBodyBytes) : String(props.maxBodyBytes);

    this.bundle = new FunctionBundle(
      this,
      'bundle',
      props.handler === undefined
        ? { entry: props.entry, runtime: props.runtime, externalModules: props.externalModules }
        : { handler: props.handler, runtime: props.runtime },
    );
    this.sourceBucket =
      props.sourceBucket ??
      new FunctionSourceBucket(this, 'source', { location: props.region, project: props.project, labels: props.labels });
    const sourceObject = this.sourceBucket.addBundle(nameStem, this.bundle);
    this.buildEnvironment =
      props.buildEnvironment ??
      new FunctionBuildEnvironment(this, 'build', {
        location: props.region,
        project: props.project,
        repositoryId: nameStem,
        serviceAccountId: serviceAccountId(nameStem, '-build'),
        labels: props.labels,
      });

    this.serviceAccount =
      props.serviceAccount ??
      new ServiceAccount(this, 'service-account', {
        accountId: serviceAccountId(nameStem, '-fn'),
        displayName: `Runs the ${this.functionName} function`,
        project: props.project,
      });
    this.iamMember = this.serviceAccount.member;

    const functionProject = props.project ?? projectData(this).projectId;
    const secretGrants: SecretManagerSecretIamMember[] = [];
    const secretEnvironmentVariables = Object.entries(secrets).map(([key, reference]) => {
      const secretProject = reference.project ?? functionProject;
      const grant = grantOnce(this, `secret-${reference.project ?? 'own-project'}-${reference.secret}`, this, (grantId, member) =>
        new SecretManagerSecretIamMember(this, grantId, {
          project: secretProject,
          secretId: reference.secret,
          role: 'roles/secretmanager.secretAccessor',
          member,
        }),
      );
      if (!secretGrants.includes(grant)) secretGrants.push(grant);
      return { key, secret: reference.secret, version: reference.version ?? 'latest', projectId: secretProject };
    });

    this.function = new Cloudfunctions2Function(this, 'function', {
      name: this.functionName,
      location: props.region,
      project: props.project,
      description: props.description,
      labels: props.labels,
      buildConfig: {
        runtime: this.bundle.runtime,
        entryPoint: props.handler ?? props.entryPoint,
        serviceAccount: this.buildEnvironment.buildServiceAccount,
        dockerRepository: this.buildEnvironment.dockerRepository,
        source: { storageSource: { bucket: this.sourceBucket.bucketName, object: sourceObject.name } },
      },
      serviceConfig: {
        availableMemory: props.memory ?? '512Mi',
        availableCpu: cpu,
        timeoutSeconds: this.timeoutSeconds,
        minInstanceCount: minInstances,
        maxInstanceCount: props.maxInstanceCount,
        maxInstanceRequestConcurrency: concurrency,
        ingressSettings: props.ingressSettings ?? 'ALLOW_ALL',
        allTrafficOnLatestRevision: true,
        serviceAccountEmail: this.serviceAccount.email,
        environmentVariables: Object.keys(environment).length > 0 ? environment : undefined,
        secretEnvironmentVariables: secretEnvironmentVariables.length > 0 ? secretEnvironmentVariables : undefined,
      },
      // The first build runs as soon as the function exists: the build account's rights must be there first.
      // Deploying a revision checks that the runtime account can read each secret, so those grants come first too.
      dependsOn: [...this.buildEnvironment.grants, ...secretGrants],
    });
    this.url = this.function.url;
    this.serviceName = this.function.serviceConfig.service;

    if (props.public ?? false) this.grantInvoke('allUsers');
  }

  /**
   * Lets `grantee` call the function: `roles/run.invoker` on its Cloud Run
   * service. (The `google_cloudfunctions2_function_iam_*` resources refuse
   * this role; 2nd gen functions check it on the service.)
   * @returns the binding (the one an earlier identical call made, if any)
   */
  public grantInvoke(grantee: Grantee): CloudRunV2ServiceIamMember {
    return grantOnce(this, 'roles/run.invoker', grantee, (id, member) =>
      new CloudRunV2ServiceIamMember(this, id, {
        project: this.function.project,
        location: this.region,
        name: this.serviceName,
        role: 'roles/run.invoker',
        member,
      }),
    );
  }
}
