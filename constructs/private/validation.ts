import { Construct } from 'constructs';

/** One finding of a props check: the prop's name and why its value is refused. */
export interface PropProblem {
  readonly prop: string;
  readonly message: string;
}

/**
 * Registers `problems` as a construct validation, so synthesis fails listing
 * every one, prefixed by the construct's path (what `cdktf synth` prints).
 */
export function validateProps(scope: Construct, problems: readonly (PropProblem | undefined)[]): void {
  const found = problems.filter((problem): problem is PropProblem => problem !== undefined);
  scope.node.addValidation({ validate: () => found.map(({ prop, message }) => `${prop}: ${message}`) });
}

/** A problem unless `value` is an integer in [min, max]. */
export function integerIn(prop: string, value: number | undefined, min: number, max: number): PropProblem | undefined {
  if (value === undefined) return undefined;
  if (Number.isInteger(value) && value >= min && value <= max) return undefined;
  return { prop, message: `must be an integer from ${min} to ${max}, got ${value}` };
}

/** A problem unless `value` matches `pattern`. */
export function matches(prop: string, value: string | undefined, pattern: RegExp, rule: string): PropProblem | undefined {
  if (value === undefined || pattern.test(value)) return undefined;
  return { prop, message: `${rule}, got '${value}'` };
}

const LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
const LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;

/** Problems with Google Cloud labels: keys and values are lowercase, at most 63 characters. */
export function labelProblems(prop: string, labels: Readonly<Record<string, string>> | undefined): PropProblem[] {
  return Object.entries(labels ?? {}).flatMap(([key, value]) => {
    if (!LABEL_KEY.test(key)) {
      return [{ prop: `${prop}.${key}`, message: 'label keys start with a lowercase letter and hold at most 63 of [a-z0-9_-]' }];
    }
    if (!LABEL_VALUE.test(value)) {
      return [{ prop: `${prop}.${key}`, message: `label values hold at most 63 of [a-z0-9_-], got '${value}'` }];
    }
    return [];
  });
}
