/**
 * Arithmetic on props that may be Terraform tokens. A number token (a
 * `TerraformVariable`'s `numberValue`) is a huge negative float that only
 * cdktf can turn back into a reference: multiplied or printed in a string
 * it becomes a wrong literal, so these keep it a Terraform expression.
 */
import { Op, Token } from 'cdktf';
import { seconds } from '../../lambda-src/rules/durations';

/** `seconds(value)` (`"600s"`), or the same as a Terraform expression when `value` is a token. */
export function secondsOf(value: number): string {
  return Token.isUnresolved(value) ? `${Token.asString(value)}s` : seconds(value);
}

/** `value * factor`, or the same as a Terraform expression when `value` is a token. */
export function times(value: number, factor: number): number {
  return Token.isUnresolved(value) ? Token.asNumber(Op.mul(value, factor)) : value * factor;
}
