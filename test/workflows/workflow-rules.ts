/**
 * Structural hardening rules for GitHub Actions workflows, checked on the
 * parsed YAML (actionlint checks syntax and expressions; these check policy).
 * Each rule returns findings instead of throwing, so a test can prove a rule
 * fires on a bad fixture as well as stay quiet on the real workflows.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { isMap, isPair, isScalar, parseDocument, visit, type Scalar } from 'yaml';

export type RuleId =
  | 'uses-pinned'
  | 'top-level-permissions'
  | 'job-permissions'
  | 'id-token-only-for-auth'
  | 'privileged-trigger'
  | 'expression-in-run'
  | 'key-credentials'
  | 'checkout-persists-credentials'
  | 'reusable-call'
  | 'pull-request-id-token'
  | 'auth-outside-environment';

export interface Finding {
  rule: RuleId;
  file: string;
  where: string;
  message: string;
}

type Permissions = string | Record<string, string> | undefined;

export interface Step {
  name?: string;
  id?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, unknown>;
}

export interface Job {
  name?: string;
  needs?: string | string[];
  if?: string;
  permissions?: Permissions;
  environment?: string | { name: string; url?: string };
  uses?: string;
  with?: Record<string, unknown>;
  secrets?: 'inherit' | Record<string, unknown>;
  env?: Record<string, unknown>;
  steps?: Step[];
}

interface WorkflowCallSpec {
  inputs?: Record<string, { required?: boolean } | null>;
  secrets?: Record<string, { required?: boolean } | null>;
}

export interface Workflow {
  name?: string;
  on: Record<string, unknown> & { workflow_call?: WorkflowCallSpec | null };
  permissions?: Permissions;
  concurrency?: string | { group: string; 'cancel-in-progress'?: boolean };
  env?: Record<string, unknown>;
  jobs: Record<string, Job>;
}

export interface WorkflowFile {
  /** Path relative to the repository root, as a workflow's `uses: ./…` names it. */
  path: string;
  source: string;
  workflow: Workflow;
  /** Every `uses:` value with the comment on its own line, if any. */
  usesRefs: { ref: string; comment: string | undefined; line: number }[];
}

const PINNED_REF = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_./-]+)?@[0-9a-f]{40}$/;
const VERSION_COMMENT = /^v\d+(?:\.\d+){0,2}$/;
const GOOGLE_AUTH = 'google-github-actions/auth@';
/** Events that run a workflow for a pull request, whose code (a provider, a synth step) is under review and not yet trusted. */
const PULL_REQUEST_EVENTS = ['pull_request', 'pull_request_target', 'pull_request_review', 'pull_request_review_comment'];

function normaliseOn(on: unknown): Record<string, unknown> {
  if (typeof on === 'string') return { [on]: null };
  if (Array.isArray(on)) return Object.fromEntries(on.map((event: string) => [event, null]));
  return (on ?? {}) as Record<string, unknown>;
}

/** Parses a workflow; `path` is how other workflows refer to it (e.g. `./.github/workflows/x.yml`). */
export function parseWorkflow(path: string, source: string): WorkflowFile {
  const doc = parseDocument(source);
  if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors.map((error) => error.message).join('; ')}`);
  const usesRefs: WorkflowFile['usesRefs'] = [];
  visit(doc, {
    Pair(_, pair) {
      if (!isPair(pair) || !isScalar(pair.key) || pair.key.value !== 'uses' || !isScalar(pair.value)) return;
      const value = pair.value as Scalar;
      const [start, valueEnd, nodeEnd] = value.range ?? [0, 0, 0];
      const trailing = source.slice(valueEnd, nodeEnd).split('\n')[0];
      const comment = /^\s+#\s*(\S.*?)\s*$/.exec(trailing)?.[1];
      usesRefs.push({ ref: String(value.value), comment, line: source.slice(0, start).split('\n').length });
    },
  });
  const raw = doc.toJS() as Record<string, unknown>;
  if (!isMap(doc.contents) || typeof raw.jobs !== 'object' || raw.jobs === null) {
    throw new Error(`${path}: not a workflow (no jobs)`);
  }
  const workflow = { ...raw, on: normaliseOn(raw.on) } as unknown as Workflow;
  return { path, source, workflow, usesRefs };
}

/** Every workflow under `dir`, addressed as `./<dir>/<file>` the way `uses:` refers to reusable workflows. */
export function loadWorkflows(root: string, dir = '.github/workflows'): WorkflowFile[] {
  return readdirSync(join(root, dir))
    .filter((file) => /\.ya?ml$/.test(file))
    .sort()
    .map((file) => parseWorkflow(`./${dir}/${file}`, readFileSync(join(root, dir, file), 'utf8')));
}

export function authenticatesToGoogle(steps: Step[] | undefined): boolean {
  return (steps ?? []).some((step) => step.uses?.startsWith(GOOGLE_AUTH));
}

/** The reusable workflow a job calls, when it calls one of `files`. */
export function calledWorkflow(job: Job, files: WorkflowFile[]): WorkflowFile | undefined {
  return job.uses ? files.find((file) => file.path === job.uses) : undefined;
}

/** Whether a job (or the reusable workflow it calls) exchanges a GitHub ID token for Google credentials. */
export function jobAuthenticates(job: Job, files: WorkflowFile[]): boolean {
  if (authenticatesToGoogle(job.steps)) return true;
  const callee = calledWorkflow(job, files);
  return callee !== undefined && Object.values(callee.workflow.jobs).some((calleeJob) => jobAuthenticates(calleeJob, files));
}

/** Whether a job publishes to npm with provenance, which signs with the workflow's ID token. */
export function signsNpmProvenance(job: Job): boolean {
  return (job.steps ?? []).some((step) => /^npm publish\b.*--provenance\b/m.test(step.run ?? ''));
}

function grantsIdToken(permissions: Permissions): boolean {
  if (typeof permissions === 'string') return permissions === 'write-all';
  return permissions?.['id-token'] === 'write';
}

/**
 * The GitHub environment a job deploys to, looking through a reusable
 * workflow call: `environment: ${{ inputs.x }}` in the callee resolves to the
 * caller's `with.x`.
 */
export function effectiveEnvironments(job: Job, files: WorkflowFile[]): string[] {
  const nameOf = (environment: Job['environment']) =>
    typeof environment === 'string' ? environment : environment?.name;
  const own = nameOf(job.environment);
  if (own !== undefined) return [own];
  const callee = calledWorkflow(job, files);
  if (!callee) return [];
  return Object.values(callee.workflow.jobs).flatMap((calleeJob) => {
    const name = nameOf(calleeJob.environment);
    if (name === undefined) return [];
    const input = /^\$\{\{\s*inputs\.([A-Za-z0-9_-]+)\s*\}\}$/.exec(name)?.[1];
    return [input === undefined ? name : String(job.with?.[input] ?? '')];
  });
}

function checkUses(file: WorkflowFile, findings: Finding[]): void {
  for (const { ref, comment, line } of file.usesRefs) {
    if (ref.startsWith('./')) continue;
    const where = `line ${line}`;
    if (!PINNED_REF.test(ref)) {
      findings.push({ rule: 'uses-pinned', file: file.path, where, message: `"${ref}" is not pinned to a full 40-hex commit SHA` });
    } else if (!comment || !VERSION_COMMENT.test(comment)) {
      findings.push({ rule: 'uses-pinned', file: file.path, where, message: `"${ref}" lacks a "# vX.Y.Z" comment naming the pinned release` });
    }
  }
}

function checkPermissions(file: WorkflowFile, files: WorkflowFile[], findings: Finding[]): void {
  const top = file.workflow.permissions;
  if (top === undefined) {
    findings.push({ rule: 'top-level-permissions', file: file.path, where: 'permissions', message: 'no top-level permissions: the token would get the repository default' });
  } else if (typeof top === 'string' || Object.values(top).some((level) => level !== 'read' && level !== 'none')) {
    findings.push({ rule: 'top-level-permissions', file: file.path, where: 'permissions', message: `top-level permissions must be a read-only map, got ${JSON.stringify(top)}` });
  }
  for (const [jobId, job] of Object.entries(file.workflow.jobs)) {
    const where = `jobs.${jobId}`;
    const permissions = job.permissions;
    if (typeof permissions === 'string') {
      findings.push({ rule: 'job-permissions', file: file.path, where, message: `permissions "${permissions}" grants every scope; list the scopes the job needs` });
    } else if (permissions) {
      for (const [scope, level] of Object.entries(permissions)) {
        if (level === 'write' && scope !== 'id-token') {
          findings.push({ rule: 'job-permissions', file: file.path, where, message: `${scope}: write is not needed by any job here` });
        }
      }
    }
    const authenticates = jobAuthenticates(job, files);
    if (grantsIdToken(permissions) && !authenticates && !signsNpmProvenance(job)) {
      findings.push({ rule: 'id-token-only-for-auth', file: file.path, where, message: 'requests id-token: write but never authenticates to Google Cloud' });
    }
    if (authenticates && !grantsIdToken(permissions)) {
      findings.push({ rule: 'id-token-only-for-auth', file: file.path, where, message: 'authenticates to Google Cloud without id-token: write, so the OIDC exchange would fail' });
    }
  }
}

/** Pull-request runs get no cloud identity: their reviewers read the synthesized JSON, not a live plan. */
function checkPullRequestIdentity(file: WorkflowFile, findings: Finding[]): void {
  const trigger = PULL_REQUEST_EVENTS.find((event) => event in file.workflow.on);
  if (trigger === undefined) return;
  for (const [jobId, job] of Object.entries(file.workflow.jobs)) {
    if (!grantsIdToken(job.permissions)) continue;
    findings.push({
      rule: 'pull-request-id-token',
      file: file.path,
      where: `jobs.${jobId}`,
      message: `requests id-token: write in a workflow ${trigger} triggers, so code under review could obtain a cloud identity; move the job to a workflow pull requests do not run`,
    });
  }
}

/** The deployers can be impersonated only from a job running in their GitHub environment (the OIDC subject names it). */
function checkAuthenticationEnvironment(file: WorkflowFile, findings: Finding[]): void {
  for (const [jobId, job] of Object.entries(file.workflow.jobs)) {
    if (!authenticatesToGoogle(job.steps) || job.environment !== undefined) continue;
    findings.push({
      rule: 'auth-outside-environment',
      file: file.path,
      where: `jobs.${jobId}`,
      message: 'authenticates to Google Cloud outside a GitHub environment: the deployers trust only a job running in theirs (set environment:)',
    });
  }
}

function checkTriggers(file: WorkflowFile, findings: Finding[]): void {
  for (const trigger of ['pull_request_target', 'workflow_run']) {
    if (trigger in file.workflow.on) {
      findings.push({ rule: 'privileged-trigger', file: file.path, where: `on.${trigger}`, message: `${trigger} runs with repository secrets on behalf of untrusted code` });
    }
  }
}

function checkSteps(file: WorkflowFile, findings: Finding[]): void {
  for (const [jobId, job] of Object.entries(file.workflow.jobs)) {
    (job.steps ?? []).forEach((step, index) => {
      const where = `jobs.${jobId}.steps[${index}]${step.name ? ` (${step.name})` : ''}`;
      if (step.run?.includes('${{')) {
        findings.push({ rule: 'expression-in-run', file: file.path, where, message: 'an expression inside run: is pasted into the script before the shell parses it; pass the value through env:' });
      }
      if (step.uses?.startsWith(GOOGLE_AUTH)) {
        if (!step.with?.workload_identity_provider || !step.with?.service_account) {
          findings.push({ rule: 'key-credentials', file: file.path, where, message: 'google auth must use workload_identity_provider and service_account' });
        }
      }
      if (step.uses?.startsWith('actions/checkout@') && step.with?.['persist-credentials'] !== false) {
        findings.push({ rule: 'checkout-persists-credentials', file: file.path, where, message: 'checkout must set persist-credentials: false so later steps cannot reuse the token' });
      }
    });
  }
  if (/^\s*credentials_json\s*:/m.test(file.source)) {
    findings.push({ rule: 'key-credentials', file: file.path, where: 'credentials_json', message: 'service-account keys are forbidden; authenticate through workload identity federation' });
  }
}

function checkReusableCalls(file: WorkflowFile, files: WorkflowFile[], findings: Finding[]): void {
  for (const [jobId, job] of Object.entries(file.workflow.jobs)) {
    if (!job.uses?.startsWith('./')) continue;
    const where = `jobs.${jobId}`;
    const spec = calledWorkflow(job, files)?.workflow.on.workflow_call;
    if (spec === undefined) {
      findings.push({ rule: 'reusable-call', file: file.path, where, message: `${job.uses} is not a reusable workflow in this repository` });
      continue;
    }
    if (job.secrets === 'inherit') {
      findings.push({ rule: 'reusable-call', file: file.path, where, message: 'secrets: inherit hands every secret over; pass the ones the callee declares' });
    }
    const passed = { inputs: job.with ?? {}, secrets: job.secrets === 'inherit' ? {} : (job.secrets ?? {}) };
    for (const kind of ['inputs', 'secrets'] as const) {
      const declared = spec?.[kind] ?? {};
      for (const name of Object.keys(passed[kind])) {
        if (!(name in declared)) findings.push({ rule: 'reusable-call', file: file.path, where, message: `passes ${kind} "${name}" that ${job.uses} does not declare` });
      }
      for (const [name, declaration] of Object.entries(declared)) {
        const inherited = kind === 'secrets' && job.secrets === 'inherit';
        if (declaration?.required && !(name in passed[kind]) && !inherited) {
          findings.push({ rule: 'reusable-call', file: file.path, where, message: `omits required ${kind} "${name}" of ${job.uses}` });
        }
      }
    }
  }
}

/** Every hardening finding across `files` (reusable-workflow calls resolve within `files`). */
export function checkWorkflows(files: WorkflowFile[]): Finding[] {
  const findings: Finding[] = [];
  for (const file of files) {
    checkUses(file, findings);
    checkPermissions(file, files, findings);
    checkTriggers(file, findings);
    checkPullRequestIdentity(file, findings);
    checkAuthenticationEnvironment(file, findings);
    checkSteps(file, findings);
    checkReusableCalls(file, files, findings);
  }
  return findings;
}

export function formatFindings(findings: { file: string; where?: string; line?: number; message: string }[]): string {
  return findings.map((finding) => `${basename(finding.file)} ${finding.where ?? `line ${finding.line}`}: ${finding.message}`).join('\n');
}
