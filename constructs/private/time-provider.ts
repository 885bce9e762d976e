import { TerraformProvider, TerraformStack } from 'cdktf';
import type { Construct } from 'constructs';
import { TimeProvider } from '@cdktf/provider-time/lib/provider';

/**
 * Makes sure the stack of `scope` configures the `time` provider, which the
 * propagation waits (`time_sleep`) need. A provider the app added itself
 * (with its own source address or alias) is kept; one is added only when the
 * stack has none.
 */
export function ensureTimeProvider(scope: Construct): void {
  const stack = TerraformStack.of(scope);
  const hasOne = stack.node.findAll().some((node) => node instanceof TerraformProvider && node.terraformResourceType === 'time');
  if (!hasOne) new TimeProvider(stack, 'time');
}
