import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { validateWorkflow } from '@action-validator/core';
import { parse } from 'yaml';
import { buildCli } from '../../src/cli/main.ts';

const examples = join(__dirname, '..', '..', 'examples', 'pipelines');
const workflow = readFileSync(join(examples, 'github-actions.yml'), 'utf8');
const azure = readFileSync(join(examples, 'azure-pipelines.yml'), 'utf8');

/** The `npx keyslot ...` command lines of a pipeline file, with shell variables and expressions filled in. */
function keyslotCommands(text: string): string[][] {
  return [...text.matchAll(/npx keyslot ([^\n|;]+)/g)].map((m) =>
    m[1]!
      .replaceAll('"$STACK"', 'local')
      .replaceAll('"$credential"', 'demo')
      .replaceAll('"$CREDENTIAL"', 'demo')
      .replaceAll('"$GITHUB_STEP_SUMMARY"', 'summary.md')
      .replaceAll('"$report"', 'summary.md')
      .replace(/"\$\{\{[^}]*\}\}"/g, 'demo')
      .trim()
      .split(/\s+/),
  );
}

/** Checks that every `npx keyslot ...` line of a pipeline names a command and flags keyslot has. */
function assertKeyslotCommands(text: string): void {
  const commands = keyslotCommands(text);
  assert.ok(commands.length >= 4, JSON.stringify(commands));
  const cli = buildCli({ out: () => {}, err: () => {}, interactive: false });
  for (const [verb, ...args] of commands) {
    const command = cli.commands.find((c) => c.name() === verb);
    assert.ok(command, `keyslot has no command ${verb}`);
    const { unknown } = command!.parseOptions(args);
    assert.deepEqual(unknown, [], `${verb}: ${unknown.join(' ')}`);
  }
}

/** bash's own parser (`bash -n`) on a script, with the pipeline's `$(macro)` and `${{ expr }}` syntax filled in first. */
function bashSyntax(script: string): string {
  const filled = script.replace(/\$\{\{[^}]*\}\}/g, 'x').replace(/\$\((?:[A-Za-z]+\.)*[A-Za-z]+\)/g, 'x');
  const r = spawnSync('bash', ['-n'], { input: filled, encoding: 'utf8' });
  return r.status === 0 ? '' : r.stderr;
}

interface AzureStep {
  readonly script?: string;
  readonly task?: string;
  readonly checkout?: string;
  readonly persistCredentials?: boolean;
  readonly inputs?: Record<string, unknown>;
  readonly condition?: string;
}

describe('examples/pipelines: a pipeline a team can copy', () => {
  it('the GitHub Actions workflow passes a real workflow validator (the workflow schema GitHub documents)', () => {
    const result = validateWorkflow(workflow);
    assert.deepEqual(result.errors, [], JSON.stringify(result.errors, null, 2));
  });

  it('a broken workflow fails the same validator (the check can fail)', () => {
    assert.notDeepEqual(validateWorkflow(workflow.replace('runs-on:', 'runz-on:')).errors, []);
  });

  it('logs in by OIDC only, serializes each stack, and runs only commands and flags keyslot has', () => {
    assert.match(workflow, /id-token: write/);
    assert.doesNotMatch(workflow, /secrets\.[A-Z_]*(TOKEN|KEY|SECRET|PASSWORD)/, 'no long-lived secret');
    assert.match(workflow, /concurrency:\n\s+group: keyslot-\$\{\{ matrix\.stack \}\}\n\s+cancel-in-progress: false/);
    assertKeyslotCommands(workflow);
  });

  it('every run script of the GitHub workflow is valid bash', () => {
    const runs = Object.values(parse(workflow).jobs as Record<string, { steps: Array<{ run?: string }> }>).flatMap((j) =>
      j.steps.flatMap((st) => (st.run ? [st.run] : [])),
    );
    assert.ok(runs.length >= 4);
    for (const run of runs) assert.equal(bashSyntax(run), '', run);
    assert.notEqual(bashSyntax('if true; then echo'), '', 'the check can fail');
  });

  describe('the Azure Pipelines definition (the AlwaysOn reference deploys with Azure DevOps)', () => {
    // No Azure Pipelines validator is published on the npm registry (Microsoft's language service
    // takes the schema from the azure-pipelines-vscode repository at run time); the checks below use
    // the YAML parser, bash's parser, keyslot's own command table and the documented keywords.
    const doc = parse(azure) as Record<string, unknown>;
    const jobs = ((doc.stages as Array<{ jobs: unknown[] }>)[0]!.jobs[0] as Record<string, unknown[]>)[
      '${{ each stack in parameters.stacks }}'
    ]![0] as Record<string, unknown[]>;
    const [job] = Object.values(jobs)[0] as Array<Record<string, unknown>>;
    const steps = (job!.strategy as { runOnce: { deploy: { steps: AzureStep[] } } }).runOnce.deploy.steps;

    it('uses only documented root keywords, a schedule, manual parameters and no CI or PR trigger', () => {
      const documented = [
        'name',
        'appendCommitMessageToRunName',
        'trigger',
        'pr',
        'schedules',
        'parameters',
        'variables',
        'pool',
        'resources',
        'lockBehavior',
        'stages',
        'jobs',
        'steps',
        'extends',
      ];
      assert.deepEqual(
        Object.keys(doc).filter((k) => !documented.includes(k)),
        [],
      );
      assert.equal(doc.trigger, 'none');
      assert.equal(doc.pr, 'none');
      assert.match((doc.schedules as Array<{ cron: string }>)[0]!.cron, /^(\S+ ){4}\S+$/);
      assert.deepEqual(
        (doc.parameters as Array<{ name: string }>).map((p) => p.name),
        ['stacks', 'emergencyStack', 'emergencyCredential'],
      );
    });

    it("one deployment job per stack, serialized by its environment's exclusive lock", () => {
      assert.match(
        Object.keys(jobs)[0]!,
        /^\$\{\{ if or\(eq\(parameters\.emergencyStack, 'none'\), eq\(parameters\.emergencyStack, stack\)\) \}\}$/,
      );
      assert.equal(job!.deployment, "rotate_${{ replace(stack, '-', '_') }}");
      assert.equal(job!.environment, 'keyslot-${{ stack }}');
      assert.equal(doc.lockBehavior, 'sequential');
      assert.deepEqual(steps[0], { checkout: 'self', persistCredentials: true });
    });

    it('logs in by workload identity federation only: no stored secret anywhere', () => {
      const login = steps.find((st) => st.task === 'AzureCLI@2');
      assert.ok(login);
      assert.equal(login.inputs!.addSpnToEnvironment, true);
      assert.match(String(login.inputs!.inlineScript), /ARM_USE_OIDC=true ARM_OIDC_TOKEN="\$idToken"/);
      assert.doesNotMatch(azure, /servicePrincipalKey|\$\((?!System\.JobAttempt|Build\.|Agent\.)[\w.]*(Token|Key|Secret|Password|PAT)\)/i);
      assert.doesNotMatch(azure, /PULUMI_ACCESS_TOKEN|PULUMI_CONFIG_PASSPHRASE/);
    });

    it('resumes on a re-run, uploads the report to the run summary, and runs only commands and flags keyslot has', () => {
      const script = String(steps.find((st) => st.task === 'AzureCLI@2')!.inputs!.inlineScript);
      assert.match(script, /System\.JobAttempt\)" -gt 1[\s\S]*keyslot resume/);
      assert.match(script, /##vso\[task\.uploadsummary\]\$report/);
      assert.match(script, /--emergency/);
      assertKeyslotCommands(azure);
      for (const run of [script, ...steps.flatMap((st) => (st.script ? [st.script] : []))]) assert.equal(bashSyntax(run), '', run);
    });
  });
});
