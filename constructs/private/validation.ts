/**
 * The one way constructs check their props: each check returns the problems
 * it finds, and {@link validateProps} registers them as a construct
 * validation, so a synth reports every problem of every construct together,
 * one line each, as `[<construct path>] <prop>: <why>`.
 *
 * A value that is a Terraform token (a `TerraformVariable`, a resource
 * attribute, a number or list encoded as a token) is not known until
 * Terraform runs: the checks pass it, and it synthesizes.
 */
import { Token } from 'cdktf';
import { Construct } from 'constructs';
import { integerProblem, type IntegerRange } from '../../lambda-src/rules/limits';
import { labelProblems as labelRuleProblems, nameProblem, type NameRule } from '../../lambda-src/rules/naming';
import type { IEncryptionKey } from '../encryption-key';

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
  if (found.length > 0) scope.node.addValidation({ validate: () => found.map(({ prop, message }) => `${prop}: ${message}`) });
}

/** Whether `value` is only known once Terraform runs. */
export function isToken(value: unknown): boolean {
  return Token.isUnresolved(value);
}

/** A problem unless `value` is an integer in `range` (or absent, or a token). */
export function integerIn(prop: string, value: number | undefined, range: IntegerRange): PropProblem | undefined {
  if (value === undefined || isToken(value)) return undefined;
  const message = integerProblem(value, range);
  return message === undefined ? undefined : { prop, message };
}

/** A problem unless `value` keeps `rule` (or is absent, or a token). */
export function matches(prop: string, value: string | undefined, rule: NameRule): PropProblem | undefined {
  if (value === undefined || isToken(value)) return undefined;
  const message = nameProblem(value, rule);
  return message === undefined ? undefined : { prop, message };
}

/**
 * A problem when `broken` holds, a rule between props, unless one of
 * `operands` is a token: what the comparison saw then is not the value.
 */
export function problemIf(prop: string, broken: boolean, message: string, operands: readonly unknown[]): PropProblem | undefined {
  return broken && !operands.some(isToken) ? { prop, message } : undefined;
}

/** Problems with Google Cloud labels (the map, a key or a value may be a token). */
export function labelProblems(prop: string, labels: Readonly<Record<string, string>> | undefined): PropProblem[] {
  if (labels === undefined || isToken(labels)) return [];
  const literal = Object.fromEntries(Object.entries(labels).filter(([key, value]) => !isToken(key) && !isToken(value)));
  return labelRuleProblems(literal).map(({ key, message }) => ({ prop: `${prop}.${key}`, message }));
}


const CRYPTO_KEY: NameRule = {
  pattern: /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/,
  rule: 'must be a Cloud KMS key: a google_kms_crypto_key, or { id: "projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>" }',
};

/** A problem unless `key` names a Cloud KMS crypto key (its id may be a Terraform reference). */
export function encryptionKeyProblem(prop: string, key: IEncryptionKey | undefined): PropProblem | undefined {
  return key === undefined ? undefined : matches(prop, key.id, CRYPTO_KEY);
}
