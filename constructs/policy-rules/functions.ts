import { Token } from 'cdktf';
import { Cloudfunctions2Function } from '@cdktf/provider-google/lib/cloudfunctions2-function';
import type { PolicyRule } from './rule';

// The accounts Google uses when none is given: the Compute Engine default (2nd gen) and App Engine default (1st gen).
const DEFAULT_SERVICE_ACCOUNT = /(-compute@developer\.gserviceaccount\.com|@appspot\.gserviceaccount\.com)$/;

function serviceAccountProblem(field: string, email: string | undefined): string[] {
  if (email === undefined) return [`${field} is not set, so it runs as the default compute service account`];
  if (DEFAULT_SERVICE_ACCOUNT.test(email)) return [`${field} is the default service account ${email}`];
  return [];
}

export const functionRunsAsDedicatedServiceAccount: PolicyRule = {
  id: 'GCP-FN-001',
  title: 'Every Cloud Functions (2nd gen) function, and its event trigger, runs as a dedicated service account, never a default one.',
  references: [],
  fix: 'create a google_service_account for this function alone and set its email (HttpIngestFunction does this)',
  findProblems(node) {
    if (!(node instanceof Cloudfunctions2Function)) return [];
    const problems = serviceAccountProblem('service_config.service_account_email', node.serviceConfig.serviceAccountEmailInput);
    if (node.eventTriggerInput !== undefined) {
      problems.push(...serviceAccountProblem('event_trigger.service_account_email', node.eventTrigger.serviceAccountEmailInput));
    }
    return problems;
  },
};

// What builds run as when none is named: the Compute Engine default (projects since mid-2024) or the legacy Cloud Build account.
const DEFAULT_BUILD_ACCOUNT = /(-compute@developer\.gserviceaccount\.com|@cloudbuild\.gserviceaccount\.com)$/;

export const functionBuildsAsDedicatedServiceAccount: PolicyRule = {
  id: 'GCP-FN-004',
  title: 'Every Cloud Functions (2nd gen) function builds as a dedicated build service account, never a default one.',
  references: [],
  fix: 'set build_config.service_account to a service account holding only the roles a build needs (FunctionBuildEnvironment does this)',
  findProblems(node) {
    if (!(node instanceof Cloudfunctions2Function)) return [];
    const account = node.buildConfig.serviceAccountInput;
    if (account === undefined) {
      return ['build_config.service_account is not set, so builds run as a default account, which organization policies often leave without the rights a build needs'];
    }
    return !Token.isUnresolved(account) && DEFAULT_BUILD_ACCOUNT.test(account) ? [`build_config.service_account is the default account ${account}`] : [];
  },
};

export const functionBuildsIntoManagedRepository: PolicyRule = {
  id: 'GCP-FN-005',
  title: 'Every Cloud Functions (2nd gen) function pushes its images to a repository the stack manages.',
  references: [],
  fix: 'set build_config.docker_repository to an Artifact Registry repository with cleanup policies (FunctionBuildEnvironment does this)',
  findProblems(node) {
    if (!(node instanceof Cloudfunctions2Function)) return [];
    return node.buildConfig.dockerRepositoryInput === undefined
      ? ['build_config.docker_repository is not set, so every build adds an image to the unmanaged gcf-artifacts repository, kept and billed forever']
      : [];
  },
};

export const functionHasMaxInstances: PolicyRule = {
  id: 'GCP-FN-002',
  title: 'Every Cloud Functions (2nd gen) function sets service_config.max_instance_count to at least 1.',
  references: [],
  fix: 'set max_instance_count to what the downstream (BigQuery quota, budget) can absorb',
  findProblems(node) {
    if (!(node instanceof Cloudfunctions2Function)) return [];
    const maxInstances = node.serviceConfig.maxInstanceCountInput;
    if (maxInstances === undefined) return ['service_config.max_instance_count is not set, so scale-out (and cost) is unbounded'];
    if (!Token.isUnresolved(maxInstances) && maxInstances < 1) {
      return [`service_config.max_instance_count is ${maxInstances}, which does not bound scale-out`];
    }
    return [];
  },
};

const SECRET_NAME_WORD = /(^|_)(PASSWORDS?|PASSWD|PASSPHRASE|SECRETS?|TOKENS?|CREDENTIALS?|API_?KEYS?|PRIVATE_?KEYS?|ACCESS_?KEYS?)(_|$)/;

const SECRET_VALUE_SHAPES: readonly RegExp[] = [
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/, // PEM private key
  /AIza[0-9A-Za-z_-]{35}/, // Google API key
  /:\/\/[^\s/:@]+:[^\s/@]+@/, // URL with user:password
];

/** `apiKey`, `API-KEY` and `api_key` all become `API_KEY`. */
function normalizedName(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase().replace(/[^A-Z0-9]+/g, '_');
}

function secretLookingVariables(field: string, variables: Record<string, string> | undefined): string[] {
  if (variables === undefined || Token.isUnresolved(variables)) return [];
  return Object.entries(variables).flatMap(([name, value]) => {
    if (SECRET_NAME_WORD.test(normalizedName(name))) return [`${field}.${name} has a secret-looking name`];
    if (SECRET_VALUE_SHAPES.some((shape) => shape.test(value))) return [`${field}.${name} has a secret-looking value`];
    return [];
  });
}

export const noSecretsInPlainEnvironment: PolicyRule = {
  id: 'GCP-FN-003',
  title: 'No secret-looking plain environment variable (name or value) on a Cloud Functions (2nd gen) function.',
  references: [],
  fix: 'store the value in Secret Manager and pass it with service_config.secret_environment_variables',
  findProblems(node) {
    if (!(node instanceof Cloudfunctions2Function)) return [];
    return [
      ...secretLookingVariables('service_config.environment_variables', node.serviceConfig.environmentVariablesInput),
      ...secretLookingVariables('build_config.environment_variables', node.buildConfig.environmentVariablesInput),
    ];
  },
};
