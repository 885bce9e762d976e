/**
 * How the stacks check a config: a tree of checks shaped like the config,
 * each field's check built from the same rule the construct or the function
 * applies to that value (`lambda-src/rules/`, the constructs' `*_RULES`), so
 * a config is refused exactly where they would refuse it, but with the
 * config field (and its environment variable) named.
 */
import { integerProblem, type IntegerRange } from '../lambda-src/rules/limits';
import { labelProblems, nameProblem, type NameRule } from '../lambda-src/rules/naming';

/**
 * A configuration the app refuses. Each of its `problems` is one line that
 * names a setting to change, so the app prints them without a stack trace.
 */
export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';

  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
  }
}

/** One reason a config is refused: the dotted field (`api.maxBodyBytes`) and why. */
export interface ConfigProblem {
  readonly field: string;
  readonly message: string;
}

/** Checks one field's value; `field` is its dotted path, for problems about parts of it. */
export type FieldCheck = (value: unknown, field: string) => ConfigProblem[];

/** Checks for the fields of an object, by name; a field absent from it is not a config field. */
export interface ConfigChecks {
  readonly [key: string]: FieldCheck | ConfigChecks;
}

const problem = (field: string, message: string | undefined): ConfigProblem[] => (message === undefined ? [] : [{ field, message }]);

/** An integer in `range`. */
export const integer =
  (range: IntegerRange): FieldCheck =>
  (value, field) =>
    problem(field, integerProblem(value, range));

/** A string that keeps `rule`. */
export const named =
  (rule: NameRule): FieldCheck =>
  (value, field) =>
    problem(field, nameProblem(value, rule));

/** `true` or `false`. */
export const boolean: FieldCheck = (value, field) =>
  problem(field, typeof value === 'boolean' ? undefined : `must be true or false, got ${JSON.stringify(value)}`);

/** `null`, or what `check` accepts. */
export const nullable =
  (check: FieldCheck): FieldCheck =>
  (value, field) =>
    value === null ? [] : check(value, field);

/** A list of strings (each checked where the list is used). */
export const strings: FieldCheck = (value, field) =>
  problem(field, Array.isArray(value) && value.every((item) => typeof item === 'string') ? undefined : `must be a list of strings, got ${JSON.stringify(value)}`);

/** Google Cloud labels: an object of label keys to label values. */
export const labels: FieldCheck = (value, field) => {
  if (!isPlainObject(value)) return problem(field, `must be an object of labels, got ${JSON.stringify(value)}`);
  return labelProblems(value).map(({ key, message }) => ({ field: `${field}.${key}`, message }));
};

/** Whether `value` is an object of fields (not null, not a list). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every problem of `value` against `checks`, each naming its dotted field below `prefix`. */
export function configProblems(value: unknown, checks: ConfigChecks, prefix = ''): ConfigProblem[] {
  const at = (key: string) => (prefix === '' ? key : `${prefix}.${key}`);
  if (!isPlainObject(value)) return [{ field: prefix || '(root)', message: `must be an object, got ${JSON.stringify(value)}` }];
  const unknown = Object.keys(value)
    .filter((key) => !(key in checks))
    .map((key) => ({ field: at(key), message: 'is not a config field' }));
  const known = Object.entries(checks).flatMap(([key, check]) =>
    typeof check === 'function' ? check(value[key], at(key)) : configProblems(value[key], check, at(key)),
  );
  return [...known, ...unknown];
}
