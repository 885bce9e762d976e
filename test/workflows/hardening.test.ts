import { resolve } from 'node:path';
import { ENVIRONMENT_VARIABLES } from '../../stacks/config';
import {
  checkWorkflows,
  effectiveEnvironments,
  formatFindings,
  jobAuthenticates,
  loadWorkflows,
  type Job,
  type RuleId,
  type WorkflowFile,
} from './workflow-rules';

const root = resolve(__dirname, '../..');
const workflows = loadWorkflows(root);
const fixtures = loadWorkflows(root, 'test/fixtures/workflows');

function workflow(name: string): WorkflowFile {
  const file = workflows.find((candidate) => candidate.path === `./.github/workflows/${name}`);
  if (!file) throw new Error(`missing workflow ${name}`);
  return file;
}

const ci = workflow('ci.yml');
const deploy = workflow('deploy.yml');
const deployStack = workflow('deploy-stack.yml');

function runScripts(file: WorkflowFile): string[] {
  return Object.values(file.workflow.jobs).flatMap((job) => (job.steps ?? []).flatMap((step) => (step.run ? [step.run] : [])));
}

function needs(job: Job): string[] {
  return job.needs === undefined ? [] : ([] as string[]).concat(job.needs);
}

describe('every workflow', () => {
  test('passes every hardening rule', () => {
    const findings = checkWorkflows(workflows);
    if (findings.length > 0) throw new Error(formatFindings(findings));
  });

  test('pins every action to a commit SHA with its release in a comment', () => {
    const refs = workflows.flatMap((file) => file.usesRefs).filter(({ ref }) => !ref.startsWith('./'));
    expect(refs.length).toBeGreaterThan(0);
    for (const { ref, comment } of refs) {
      expect(ref).toMatch(/^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/);
      expect(comment).toMatch(/^v\d+\.\d+\.\d+$/);
    }
  });

  test('authenticates to Google only through workload identity federation, in jobs that ask for an ID token', () => {
    const authenticating = workflows.flatMap((file) =>
      Object.entries(file.workflow.jobs).filter(([, job]) => jobAuthenticates(job, workflows)).map(([id]) => `${file.path}#${id}`),
    );
    expect(authenticating).toEqual(
      expect.arrayContaining(['./.github/workflows/deploy.yml#dev', './.github/workflows/deploy.yml#prod']),
    );
    for (const file of workflows) expect(file.source).not.toMatch(/credentials_json/);
  });
});

describe('every synthesis in a workflow', () => {
  const synths = workflows.flatMap((file) =>
    Object.entries(file.workflow.jobs).flatMap(([jobId, job]) =>
      (job.steps ?? [])
        .filter((step) => /\bnpm run synth\b/.test(step.run ?? ''))
        .map((step) => ({ where: `${file.path}#${jobId}`, env: { ...file.workflow.env, ...job.env, ...step.env } })),
    ),
  );

  test('passes every variable the ingest stacks read, from the secret of that name, so CI deploys what a local synth would', () => {
    expect(synths.map(({ where }) => where)).toEqual([
      './.github/workflows/ci.yml#test',
      './.github/workflows/ci.yml#review',
      './.github/workflows/deploy.yml#synth',
    ]);
    const variables = [...new Set(Object.values(ENVIRONMENT_VARIABLES).flatMap((byEnvironment) => Object.values(byEnvironment)))];
    for (const { where, env } of synths) {
      const unpassed = variables.filter((variable) => env[variable] !== `\${{ secrets.${variable} }}`);
      expect({ where, unpassed }).toEqual({ where, unpassed: [] });
    }
  });
});

describe('ci.yml', () => {
  test('runs on pull requests and pushes', () => {
    expect(Object.keys(ci.workflow.on)).toEqual(expect.arrayContaining(['pull_request', 'push']));
  });

  test('installs, runs npm test, synthesizes, validates each stack with terraform and keeps cdktf.out', () => {
    const scripts = runScripts(ci).join('\n');
    expect(scripts).toMatch(/^npm ci\b/m);
    expect(scripts).toMatch(/^npm test$/m);
    expect(scripts).toMatch(/^npm run synth$/m);
    expect(scripts).toMatch(/init -backend=false/);
    expect(scripts).toMatch(/terraform -chdir="\$stack_dir" validate/);
    const upload = ci.workflow.jobs.test.steps?.find((step) => step.uses?.startsWith('actions/upload-artifact@'));
    expect(String(upload?.with?.path)).toMatch(/^cdktf\.out$/m);
  });

  test('reviews a pull request by synthesizing its base and merge commits into the job summary, with no cloud credentials', () => {
    const review = ci.workflow.jobs.review;
    expect(review.if).toBe("github.event_name == 'pull_request'");
    expect(review.permissions).toEqual({ contents: 'read' });
    expect(jobAuthenticates(review, workflows)).toBe(false);
    const checkouts = (review.steps ?? []).filter((step) => step.uses?.startsWith('actions/checkout@'));
    expect(checkouts.map((step) => [step.with?.path, step.with?.ref])).toEqual([
      ['head', undefined],
      ['base', '${{ github.event.pull_request.base.sha }}'],
    ]);
    const script = (review.steps ?? []).map((step) => step.run ?? '').join('\n');
    expect(script).toContain('npm run synth');
    expect(script).toMatch(/tools\/infra-review\/main\.ts \.\.\/base\/cdktf\.out cdktf\.out .*>> "\$GITHUB_STEP_SUMMARY"/);
  });

  test('gives no pull-request job an ID token', () => {
    for (const job of Object.values(ci.workflow.jobs)) {
      expect(typeof job.permissions === 'object' ? job.permissions['id-token'] : undefined).toBeUndefined();
    }
    expect(ci.source).not.toMatch(/google-github-actions\/auth/);
  });
});

describe('release.yml', () => {
  const release = workflow('release.yml');

  test('runs on version tags alone', () => {
    expect(release.workflow.on).toEqual({ push: { tags: ['v*'] } });
  });

  test('publishes with provenance only after the tests and the consumer check pass, and only when the tag names the version', () => {
    const { test: tests, publish } = release.workflow.jobs;
    expect(runScripts({ ...release, workflow: { ...release.workflow, jobs: { tests } } })).toEqual(
      expect.arrayContaining(['npm test', 'npm run test:consumer']),
    );
    expect(needs(publish)).toEqual(['test']);
    const script = (publish.steps ?? []).map((step) => step.run ?? '').join('\n');
    expect(script).toMatch(/^npm publish --provenance\b/m);
    expect(script).toMatch(/\$TAG" != "v\$version"/);
    expect(script.indexOf('npm run build')).toBeLessThan(script.indexOf('npm publish'));
  });

  test('gives the ID token to the publishing job alone', () => {
    expect(release.workflow.jobs.publish.permissions).toEqual({ contents: 'read', 'id-token': 'write' });
    expect(release.workflow.jobs.test.permissions).toBeUndefined();
  });
});

describe('deploy.yml', () => {
  test('runs on pushes to main and on manual dispatch', () => {
    expect(deploy.workflow.on).toHaveProperty('workflow_dispatch');
    expect(deploy.workflow.on.push).toEqual({ branches: ['main'] });
  });

  test('never runs two deployments at once and never cancels one midway', () => {
    expect(deploy.workflow.concurrency).toEqual({ group: expect.any(String), 'cancel-in-progress': false });
  });

  test('tests and synthesizes once, then applies dev and prod from that one artifact', () => {
    const { synth, dev, prod } = deploy.workflow.jobs;
    expect((synth.steps ?? []).map((step) => step.run)).toEqual(expect.arrayContaining(['npm test', 'npm run synth']));
    const uploaded = synth.steps?.find((step) => step.uses?.startsWith('actions/upload-artifact@'))?.with?.name;
    expect(dev.with?.artifact).toBe(uploaded);
    expect(prod.with?.artifact).toBe(uploaded);
    expect(needs(dev)).toEqual(['synth']);
  });

  test('gates prod behind the prod environment, after dev succeeded', () => {
    const { dev, prod } = deploy.workflow.jobs;
    expect(needs(prod)).toContain('dev');
    expect(effectiveEnvironments(prod, workflows)).toEqual(['prod']);
    expect(effectiveEnvironments(dev, workflows)).toEqual(['dev']);
    expect(prod.with?.stack).toBe('prod');
  });
});

describe('deploy-stack.yml', () => {
  const apply = deployStack.workflow.jobs.apply;
  const script = (apply.steps ?? []).map((step) => step.run ?? '').join('\n');

  test('applies the saved plan of the downloaded stack, never re-synthesizing', () => {
    expect(apply.steps?.[0].uses).toMatch(/^actions\/download-artifact@/);
    expect(script).toMatch(/plan .*-out=tfplan/);
    expect(script).toMatch(/apply .*tfplan/);
    expect(script).not.toMatch(/cdktf|npm/);
  });

  test("authenticates only in the caller's GitHub environment, as the deployer that environment's secret names", () => {
    expect(apply.environment).toEqual({ name: '${{ inputs.environment }}', url: expect.any(String) });
    const auths = (apply.steps ?? []).filter((step) => step.uses?.startsWith('google-github-actions/auth@'));
    expect(auths.length).toBeGreaterThan(0);
    for (const auth of auths) expect(auth.with?.service_account).toBe('${{ secrets.GCP_DEPLOYER_SERVICE_ACCOUNT }}');
    for (const job of [deploy.workflow.jobs.dev, deploy.workflow.jobs.prod]) {
      expect(job.secrets).toMatchObject({ GCP_DEPLOYER_SERVICE_ACCOUNT: '${{ secrets.GCP_DEPLOYER_SERVICE_ACCOUNT }}' });
      expect(effectiveEnvironments(job, workflows)).toEqual([job.with?.stack]);
    }
  });

  test('smoke-tests the deployed API with an identity token: POST a record, then GET it back', () => {
    const token = apply.steps?.find((step) => step.with?.token_format === 'id_token');
    expect(token?.with?.id_token_audience).toBe('${{ steps.api.outputs.url }}');
    expect(script).toContain('output -raw api_url');
    expect(script).toMatch(/request POST "\$API_URL"/);
    expect(script).toMatch(/request GET "\$\{API_URL%\/\}\/records\/\$\{record_id\}"/);
    expect(script).toContain(`.success == true and .data.id == $id`);
  });
});

describe('the rules catch the insecure fixture', () => {
  const findings = checkWorkflows(fixtures);
  const rulesFired = new Set(findings.map((finding) => finding.rule));

  test.each<RuleId>([
    'uses-pinned',
    'top-level-permissions',
    'job-permissions',
    'id-token-only-for-auth',
    'privileged-trigger',
    'expression-in-run',
    'key-credentials',
    'checkout-persists-credentials',
    'reusable-call',
    'pull-request-id-token',
    'auth-outside-environment',
  ])('%s', (rule) => {
    expect(rulesFired).toContain(rule);
  });

  test('with the precise reasons', () => {
    const messages = formatFindings(findings);
    expect(messages).toContain('"actions/checkout@v4" is not pinned');
    expect(messages).toContain('"actions/setup-node@49933ea5288caeca8642d1e84afbd3f7d6820020" lacks a "# vX.Y.Z" comment');
    expect(messages).toContain('insecure.yml jobs.idle: requests id-token: write but never authenticates');
    expect(messages).toContain('insecure.yml jobs.idle: contents: write is not needed');
    expect(messages).toContain('insecure-callee.yml jobs.apply: authenticates to Google Cloud without id-token: write');
    expect(messages).toContain('insecure.yml jobs.call: authenticates to Google Cloud without id-token: write');
    expect(messages).toContain('passes inputs "unknown"');
    expect(messages).toContain('omits required inputs "stack"');
    expect(messages).toContain('secrets: inherit');
    expect(messages).toContain('absent.yml is not a reusable workflow');
    expect(messages).toContain('on.pull_request_target');
    expect(messages).toContain('insecure.yml jobs.idle: requests id-token: write in a workflow pull_request_target triggers');
    expect(messages).toContain('insecure.yml jobs.build: requests id-token: write in a workflow pull_request_target triggers');
    expect(messages).toContain('insecure-callee.yml jobs.apply: authenticates to Google Cloud outside a GitHub environment');
    expect(findings.filter((finding) => finding.rule === 'expression-in-run')).toHaveLength(2);
  });
});
