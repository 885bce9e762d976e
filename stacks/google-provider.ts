import { GoogleProvider } from '@cdktf/provider-google/lib/provider';
import type { TerraformStack } from 'cdktf';

/** Fully qualified, so Terraform and OpenTofu resolve the same provider. */
export const GOOGLE_PROVIDER_SOURCE = 'registry.terraform.io/hashicorp/google';

/** The `google` provider of a stack, pinned to its fully qualified source address. */
export function addGoogleProvider(stack: TerraformStack, settings: { project: string; region: string }): GoogleProvider {
  const provider = new GoogleProvider(stack, 'google', settings);
  stack.addOverride('terraform.required_providers.google.source', GOOGLE_PROVIDER_SOURCE);
  return provider;
}
