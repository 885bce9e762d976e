/**
 * What Google Cloud accepts as a name, once for the runtime (which reads
 * project, dataset and table from its environment), the constructs and the
 * stack configs. A rule is a pattern plus the sentence that states it, so
 * every refusal of a name reads the same wherever it is made.
 */

/** A naming rule: what a valid name matches, and the rule as a message states it. */
export interface NameRule {
  readonly pattern: RegExp;
  /** Most UTF-8 bytes, for rules that count bytes rather than characters. @default no byte limit */
  readonly maxBytes?: number;
  /** The rule, to follow the name of what is refused: `must be …`. */
  readonly rule: string;
}

/** Why `value` breaks `rule` (to follow the name of the field or variable), or undefined when it keeps it. */
export function nameProblem(value: unknown, rule: NameRule): string | undefined {
  if (typeof value === 'string' && rule.pattern.test(value) && (rule.maxBytes === undefined || Buffer.byteLength(value) <= rule.maxBytes)) {
    return undefined;
  }
  return `${rule.rule}, got ${JSON.stringify(value)}`;
}

/**
 * A project id: 6-30 lowercase letters, digits and hyphens, a letter first
 * and no hyphen last; legacy domain-scoped ids carry a `domain.com:` prefix
 * (https://cloud.google.com/resource-manager/docs/creating-managing-projects).
 */
export const PROJECT_ID: NameRule = {
  pattern: /^(?:[a-z0-9][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/,
  rule: 'must be a Google Cloud project id (6-30 lowercase letters, digits or hyphens, starting with a letter)',
};

/** A BigQuery dataset id: letters, digits and underscores, at most 1024 (https://cloud.google.com/bigquery/docs/datasets#dataset-naming). */
export const DATASET_ID: NameRule = {
  pattern: /^[A-Za-z0-9_]{1,1024}$/,
  rule: 'must be 1-1024 letters, digits or underscores',
};

/**
 * A BigQuery table (or view) id: Unicode letters, marks, digits, connectors
 * (e.g. `_`), dashes and spaces, at most 1024 UTF-8 bytes
 * (https://cloud.google.com/bigquery/docs/tables#table_naming).
 */
export const TABLE_ID: NameRule = {
  pattern: /^[\p{L}\p{M}\p{N}\p{Pc}\p{Pd}\p{Zs}]+$/u,
  maxBytes: 1024,
  rule: 'must be at most 1024 bytes of letters, marks, digits, underscores, dashes or spaces',
};

/** A label key: a lowercase letter, then at most 62 lowercase letters, digits, `_` or `-` (https://cloud.google.com/resource-manager/docs/labels-overview). */
export const LABEL_KEY: NameRule = {
  pattern: /^[a-z][a-z0-9_-]{0,62}$/,
  rule: 'label keys are 1-63 lowercase letters, digits, "_" or "-", starting with a letter',
};

/** A label value: at most 63 lowercase letters, digits, `_` or `-`, possibly empty. */
export const LABEL_VALUE: NameRule = {
  pattern: /^[a-z0-9_-]{0,63}$/,
  rule: 'label values are at most 63 lowercase letters, digits, "_" or "-"',
};

/** One bad label: its key, and why it is refused. */
export interface LabelProblem {
  readonly key: string;
  readonly message: string;
}

/** Every label of `labels` that Google Cloud refuses; empty when all are valid. */
export function labelProblems(labels: Readonly<Record<string, unknown>>): LabelProblem[] {
  return Object.entries(labels).flatMap(([key, value]) => {
    const message = nameProblem(key, LABEL_KEY) ?? nameProblem(value, LABEL_VALUE);
    return message === undefined ? [] : [{ key, message }];
  });
}

/** A region: `us-central1`, `europe-west4`, … */
export const REGION: NameRule = {
  pattern: /^[a-z]+-[a-z]+[0-9]+$/,
  rule: 'must be a Google Cloud region such as us-central1',
};

/**
 * A Cloud Storage bucket name: 3-63 lowercase letters, digits, `.`, `_` or
 * `-`, a letter or digit at each end, not starting with `goog` nor holding
 * `google` (https://cloud.google.com/storage/docs/buckets#naming).
 */
export const BUCKET_NAME: NameRule = {
  pattern: /^(?!goog)(?!.*google)[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$/,
  rule: 'must be a bucket name (3-63 lowercase letters, digits, ".", "_" or "-", a letter or digit at each end, not starting with "goog" nor holding "google")',
};

/** A Pub/Sub topic or subscription name: 3-255 of `[A-Za-z0-9-_.~+%]`, a letter first, not starting with `goog`. */
export const PUBSUB_NAME: NameRule = {
  pattern: /^(?!goog)[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/,
  rule: "must be 3-255 of [A-Za-z0-9-_.~+%], start with a letter and not with 'goog'",
};

/** A rule's pattern without its `^…$` anchors, to compose it into a longer one. */
function unanchored(rule: NameRule): string {
  return rule.pattern.source.replace(/^\^/, '').replace(/\$$/, '');
}

/** A project id or a project number, where an API takes either (a secret's project). */
export const PROJECT_ID_OR_NUMBER: NameRule = {
  pattern: new RegExp(`^(?:${unanchored(PROJECT_ID)}|[1-9][0-9]*)$`),
  rule: 'must be a Google Cloud project id (6-30 lowercase letters, digits or hyphens, starting with a letter) or project number',
};

/** A Secret Manager secret id: 1-255 letters, digits, `-` or `_` (https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets/create). */
export const SECRET_ID: NameRule = {
  pattern: /^[A-Za-z0-9_-]{1,255}$/,
  rule: 'must be a Secret Manager secret id (1-255 letters, digits, "-" or "_"), the last part of projects/…/secrets/<id>',
};

/** The version of a secret a function reads: a version number, or `latest`. */
export const SECRET_VERSION: NameRule = {
  pattern: /^(?:latest|[1-9][0-9]*)$/,
  rule: 'must be a version number or "latest"',
};

/** A Pub/Sub topic's full name, as the Pub/Sub API and `DEAD_LETTER_TOPIC` spell it: `projects/<project id>/topics/<topic name>`. */
export const PUBSUB_TOPIC_PATH: NameRule = {
  pattern: new RegExp(`^projects/${unanchored(PROJECT_ID)}/topics/${unanchored(PUBSUB_NAME)}$`),
  rule: "must be a Pub/Sub topic's full name, projects/<project id>/topics/<topic name>, with a valid project id and topic name",
};

/** The full name of topic `topic` in project `project` (either may be a Terraform reference). */
export function pubsubTopicPath(project: string, topic: string): string {
  return `projects/${project}/topics/${topic}`;
}

/** A function setting that names something, read from an environment variable and checked against a naming rule. */
export interface NameSetting {
  /** The environment variable the function reads it from. */
  readonly variable: string;
  readonly rule: NameRule;
}

/**
 * `DEAD_LETTER_TOPIC`: the topic the push subscriber publishes the messages
 * it refuses to, by full name. Unset, it publishes none (see
 * handlers/push.ts).
 */
export const DEAD_LETTER_TOPIC: NameSetting = { variable: 'DEAD_LETTER_TOPIC', rule: PUBSUB_TOPIC_PATH };

/**
 * Reads `setting` from `env`: undefined when the variable is unset or empty,
 * else the name it holds. A name the rule refuses throws, naming the variable.
 */
export function nameFromEnv(env: Readonly<Record<string, string | undefined>>, setting: NameSetting): string | undefined {
  const raw = env[setting.variable];
  if (raw === undefined || raw.trim() === '') return undefined;
  const problem = nameProblem(raw, setting.rule);
  if (problem !== undefined) throw new Error(`${setting.variable} ${problem}`);
  return raw;
}

/** A Cloud Run functions (2nd gen) name, which is also the name of its Cloud Run service. */
export const FUNCTION_NAME: NameRule = {
  pattern: /^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$/,
  rule: 'must be 1-63 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen',
};

/** A construct id: lowercase words of letters and digits joined by single hyphens (`dead-letter-topic`). */
export const CONSTRUCT_ID: NameRule = {
  pattern: /^[a-z0-9]+(?:-[a-z0-9]+)*$/,
  rule: 'must be kebab-case: lowercase letters and digits, words joined by single hyphens',
};

/** `text` as a kebab-case construct id: camelCase words split, lower-cased, every run of other characters one hyphen. */
export function kebab(text: string): string {
  return text
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}
