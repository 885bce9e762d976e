import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigurationError } from '../../stacks/config-checks';
import { buildApp, type BuildAppOptions, selectedStacks, STACK_NAMES } from '../../stacks/main';
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
    expect(selectedStacks(raw)).toEqual({ stacks: expected, problems: [] });
  });

  it('knows every stack the app can build', () => {
    expect(STACK_NAMES).toEqual(['dev', 'prod', 'bootstrap']);
  });

  it('refuses unknown names in one problem listing the known ones, and keeps the known names', () => {
    expect(selectedStacks('prod,staging,qa')).toEqual({
      stacks: ['prod'],
      problems: ['STACKS: unknown stack "staging", "qa"; known stacks: dev, prod, bootstrap, all'],
    });
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

  // One run for every kind of mistake: each run loads the whole app, and what it proves is how the CLI reports
  // problems (every one, one line each, exit 1, no stack trace); the messages themselves are checked in-process.
  it('reports every mistake of every selected stack, one line each, and no stack trace', () => {
    const { status, stderr } = runSynth({
      STACKS: 'dev,prod,bootstrap',
      DEV_PROJECT_ID: 'Not A Project',
      PROD_PUBLIC: 'true',
      PROD_ALERT_EMAILS: 'oncall@example.com',
    });
    expect(status).toBe(1);
    const badProject = 'must be a Google Cloud project id (6-30 lowercase letters, digits or hyphens, starting with a letter), got "Not A Project"';
    expect(stderr.trim().split('\n')).toEqual([
      `dev.project (set by DEV_PROJECT_ID): ${badProject}`,
      'prod.public (set by PROD_PUBLIC): must be false in prod (invocation is IAM-only)',
      expect.stringMatching(/^prod\.alerting\.notificationEmails \(set by PROD_ALERT_EMAILS\): "oncall@example\.com" is at example\.com, /),
      expect.stringMatching(/^bootstrap\.github\.owner \(set by BOOTSTRAP_GITHUB_OWNER\): is required /),
      expect.stringMatching(/^bootstrap\.github\.name \(set by BOOTSTRAP_GITHUB_REPOSITORY\): is required /),
      expect.stringMatching(/^bootstrap\.github\.ownerId \(set by BOOTSTRAP_GITHUB_OWNER_ID\): is required .*`gh api repos\/OWNER\/REPO --jq \.id,\.owner\.id`/),
      expect.stringMatching(/^bootstrap\.github\.repositoryId \(set by BOOTSTRAP_GITHUB_REPOSITORY_ID\): is required .*`gh api repos\/OWNER\/REPO --jq \.id,\.owner\.id`/),
      `bootstrap.deployProjects.dev (set by DEV_PROJECT_ID): ${badProject}`,
    ]);
    expect(stderr).not.toMatch(/\bat .*\.ts:\d+/);
  }, 120_000);
});

describe('buildApp', () => {
  const problemsOf = (options: BuildAppOptions): readonly string[] => {
    try {
      buildApp({ outdir: freshOutdir(), ...options });
      return [];
    } catch (error) {
      if (!(error instanceof ConfigurationError)) throw error;
      return error.problems;
    }
  };

  it('reports the config problems of one stack with the props the constructs of the others refuse', () => {
    expect(
      problemsOf({
        env: { ...ALL_STACKS_ENV, PROD_PUBLIC: 'true', BOOTSTRAP_REGION: 'mars' },
        context: { ingest: { dev: { api: { cpu: '0.5' }, subscriber: { cpu: '0.5' } } } },
      }),
    ).toEqual([
      'prod.public (set by PROD_PUBLIC): must be false in prod (invocation is IAM-only)',
      'bootstrap.region (set by BOOTSTRAP_REGION): must be a Google Cloud region such as us-central1, got "mars"',
      '[dev/api] cpu: must be at least 1 to serve more than one request per instance',
      '[dev/subscriber] cpu: must be at least 1 to serve more than one request per instance',
    ]);
  });

  it('reports a context section replaced by a non-object with the problems of the other stacks', () => {
    expect(problemsOf({ env: { ...ALL_STACKS_ENV, BOOTSTRAP_REGION: 'mars' }, context: { ingest: { prod: { warehouse: 'ingest' } } } })).toEqual([
      'prod.warehouse: the context override must be an object, got "ingest"',
      'bootstrap.region (set by BOOTSTRAP_REGION): must be a Google Cloud region such as us-central1, got "mars"',
    ]);
  });

  it('reports an unknown name in STACKS with the problems of the stacks it names that exist', () => {
    expect(problemsOf({ env: { ...ALL_STACKS_ENV, STACKS: 'prd,bootstrap', BOOTSTRAP_REGION: 'mars' }, context: {} })).toEqual([
      'STACKS: unknown stack "prd"; known stacks: dev, prod, bootstrap, all',
      'bootstrap.region (set by BOOTSTRAP_REGION): must be a Google Cloud region such as us-central1, got "mars"',
    ]);
  });

  it('refuses context for an environment that does not exist, and context that names no environments', () => {
    expect(problemsOf({ env: ALL_STACKS_ENV, context: { ingest: { prd: { public: false } } } })).toEqual([
      'ingest.prd: is not an environment; environments: dev, prod',
    ]);
    expect(problemsOf({ env: ALL_STACKS_ENV, context: { ingest: ['prod'] } })).toEqual(['ingest: the context must be an object of environments, got ["prod"]']);
  });

  it('builds a valid app without a problem', () => {
    expect(problemsOf({ env: ALL_STACKS_ENV, context: {} })).toEqual([]);
  });
});
