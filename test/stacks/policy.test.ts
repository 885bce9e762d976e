import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aspects, TerraformStack, Testing } from 'cdktf';
import { GcpPolicyPack } from '../../constructs/policy-pack';
import { BootstrapStack } from '../../stacks/bootstrap-stack';
import { IngestStack } from '../../stacks/ingest-stack';
import { buildApp } from '../../stacks/main';
import { ALL_STACKS_ENV } from '../support/synth';

/**
 * Every stack we ship, as the workflows synthesize them (every stack, prod
 * paging somebody, bootstrap trusting a repository), plus the configuration
 * that adds resources: a dev API open to unauthenticated calls.
 */
function stacksToCheck(): Array<[string, TerraformStack]> {
  const build = (env: NodeJS.ProcessEnv) =>
    buildApp({ outdir: mkdtempSync(join(tmpdir(), 'cdktf-policy-')), env: { ...ALL_STACKS_ENV, ...env } })
      .app.node.findAll()
      .filter(TerraformStack.isStack);
  const checked: Array<[string, TerraformStack]> = build({}).map((stack) => [`${stack.node.id} (default config)`, stack]);
  for (const stack of build({ DEV_PUBLIC: 'true', STACKS: 'dev' })) {
    if (stack instanceof IngestStack && stack.config.public) checked.push([`${stack.node.id} (public API)`, stack]);
  }
  return checked;
}

const STACKS = stacksToCheck();

it('checks the bootstrap stack, under the production rules (it holds the prod deployer)', () => {
  const bootstrap = STACKS.map(([, stack]) => stack).find((stack) => stack instanceof BootstrapStack);
  expect(bootstrap).toBeDefined();
  expect(packsOf(bootstrap!).map((pack) => pack.environment)).toEqual(['prod']);
});

function packsOf(stack: TerraformStack): GcpPolicyPack[] {
  return Aspects.of(stack).all.filter((aspect): aspect is GcpPolicyPack => aspect instanceof GcpPolicyPack);
}

describe.each(STACKS)('%s stack', (_name, stack) => {
  it('runs GcpPolicyPack on every synth, once', () => {
    expect(packsOf(stack)).toHaveLength(1);
  });

  if (stack instanceof IngestStack) {
    it("checks for the stack's own environment, so prod gets the prod-only rules", () => {
      expect(packsOf(stack).map((pack) => pack.environment)).toEqual([stack.config.name]);
    });
  }

  it('synthesizes with no policy violation (suppressions, if any, carry their reasons)', () => {
    // Without the pack nothing would be found, and this test would pass without checking anything.
    expect(packsOf(stack)).not.toHaveLength(0);
    Testing.synth(stack);
    const errors = GcpPolicyPack.findings(stack).filter((finding) => finding.level === 'error');
    expect(errors.map((error) => `${error.constructPath}: ${error.message}`)).toEqual([]);
  });
});
