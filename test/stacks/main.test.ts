import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildApp, selectedStacks, STACK_NAMES } from '../../stacks/main';
import { ALL_STACKS_ENV, freshOutdir } from '../support/synth';

const projectRoot = join(__dirname, '..', '..');

/** `npm run synth`'s command, with only the variables given (no STACKS, no alert destination unless set). */
function runSynth(env: NodeJS.ProcessEnv): { status: number | null; stderr: string; stacks: string[] } {
  const outdir = freshOutdir();
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'stacks/main.ts'], {
    cwd: projectRoot,
    env: { PATH: process.env.PATH ?? '', HOME: freshOutdir(), CHECKPOINT_DISABLE: '1', CDKTF_OUTDIR: outdir, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  const stacks = result.status === 0 ? readdirSync(join(outdir, 'stacks')).sort() : [];
  return { status: result.status, stderr: result.stderr, stacks };
}

describe('STACKS', () => {
  it.each<[string | undefined, readonly string[]]>([
    [undefined, ['dev']],
    ['', ['dev']],
    [' , ', ['dev']],
    ['prod', ['prod']],
    ['bootstrap, dev', ['dev', 'bootstrap']],
    ['dev,dev', ['dev']],
    ['all', ['dev', 'prod', 'bootstrap']],
    ['prod,all', ['dev', 'prod', 'bootstrap']],
  ])('%j selects %j', (raw, expected) => {
    expect(selectedStacks(raw)).toEqual(expected);
  });

  it('knows every stack the app can build', () => {
    expect(STACK_NAMES).toEqual(['dev', 'prod', 'bootstrap']);
  });

  it('refuses unknown names in one error listing the known ones', () => {
    expect(() => selectedStacks('prod,staging,qa')).toThrow('STACKS: unknown stack "staging", "qa"; known stacks: dev, prod, bootstrap, all');
  });

  it('builds only the selected stacks, reading no variable a stack it skips would need', () => {
    const { stacks, bootstrap } = buildApp({ outdir: freshOutdir(), env: { STACKS: 'dev', BOOTSTRAP_PROJECT: 'Not A Project' }, context: {} });
    expect(Object.keys(stacks)).toEqual(['dev']);
    expect(bootstrap).toBeUndefined();
    const all = buildApp({ outdir: freshOutdir(), env: ALL_STACKS_ENV, context: {} });
    expect(Object.keys(all.stacks)).toEqual(['dev', 'prod']);
    expect(all.bootstrap).toBeDefined();
  });
});

describe('npm run synth', () => {
  it('works on a fresh clone with no configuration: it synthesizes dev', () => {
    const { status, stderr, stacks } = runSynth({});
    expect({ status, stderr }).toEqual({ status: 0, stderr: '' });
    expect(stacks).toEqual(['dev']);
  }, 120_000);

  it('refuses a bootstrap that names no GitHub repository with the message alone, naming every variable to set', () => {
    const { status, stderr } = runSynth({ STACKS: 'bootstrap' });
    expect(status).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^The bootstrap stack lets the workflows of one GitHub repository deploy, and it has no default/);
    for (const variable of ['BOOTSTRAP_GITHUB_OWNER ', 'BOOTSTRAP_GITHUB_REPOSITORY ', 'BOOTSTRAP_GITHUB_OWNER_ID ', 'BOOTSTRAP_GITHUB_REPOSITORY_ID ']) {
      expect(lines.filter((line) => line.startsWith(`  ${variable}`))).toHaveLength(1);
    }
    expect(stderr).toContain('gh api repos/OWNER/REPO --jq .id,.owner.id');
    expect(stderr).not.toMatch(/\bat .*\.ts:\d+/);
  }, 120_000);

  it('refuses a prod that pages nobody with the message alone, no stack trace', () => {
    const { status, stderr } = runSynth({ STACKS: 'prod' });
    expect(status).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([
      'Invalid configuration of stack prod:',
      expect.stringMatching(/^  prod\.alerting\.notificationEmails \(set by PROD_ALERT_EMAILS\): prod pages nobody; .*PROD_ALERT_CHANNELS/),
    ]);
  }, 120_000);
});
