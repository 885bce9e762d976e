import { GoogleProvider } from '@cdktf/provider-google/lib/provider';
import { TimeProvider } from '@cdktf/provider-time/lib/provider';
import type { TerraformStack } from 'cdktf';

/** Fully qualified, so Terraform and OpenTofu resolve the same provider. */
export const GOOGLE_PROVIDER_SOURCE = 'registry.terraform.io/hashicorp/google';

/** The `time` provider's address, fully qualified for the same reason. */
export const TIME_PROVIDER_SOURCE = 'registry.terraform.io/hashicorp/time';

/** The `google` provider of a stack, pinned to its fully qualified source address. */
export function addGoogleProvider(stack: TerraformStack, settings: { project: string; region: string }): GoogleProvider {
  const provider = new GoogleProvider(stack, 'google', settings);
  stack.addOverride('terraform.required_providers.google.source', GOOGLE_PROVIDER_SOURCE);
  return provider;
}

/**
 * The `time` provider (propagation waits) at its fully qualified address.
 * Constructs that need it add a default one when a stack has none; adding it
 * first keeps the address uniform.
 */
export function addTimeProvider(stack: TerraformStack): TimeProvider {
  const provider = new TimeProvider(stack, 'time');
  stack.addOverride('terraform.required_providers.time.source', TIME_PROVIDER_SOURCE);
  return provider;
}
