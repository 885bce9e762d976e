import { TerraformOutput } from 'cdktf';
import type { Construct } from 'constructs';
import { kebab } from '../lambda-src/rules/naming';

/**
 * A Terraform output named as Terraform names things (`api_url`, what
 * `terraform output` and the workflows read), under a kebab-case construct
 * id like every other construct's (`api-url-output`, which no resource's
 * id can take).
 */
export function addOutput(scope: Construct, name: string, value: string, description?: string): TerraformOutput {
  const output = new TerraformOutput(scope, `${kebab(name)}-output`, { value, description });
  output.overrideLogicalId(name);
  return output;
}
