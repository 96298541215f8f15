import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateWorkflow } from '@action-validator/core';
import { buildCli } from '../../src/cli/main.ts';

const workflow = readFileSync(join(__dirname, '..', '..', 'examples', 'pipelines', 'github-actions.yml'), 'utf8');

/** The `npx keyslot ...` command lines of a pipeline file, with shell variables and expressions filled in. */
function keyslotCommands(text: string): string[][] {
  return [...text.matchAll(/npx keyslot ([^\n|;]+)/g)].map((m) =>
    m[1]!
      .replaceAll('"$STACK"', 'local')
      .replaceAll('"$credential"', 'demo')
      .replaceAll('"$GITHUB_STEP_SUMMARY"', 'summary.md')
      .replace(/"\$\{\{[^}]*\}\}"/g, 'demo')
      .trim()
      .split(/\s+/),
  );
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
    const commands = keyslotCommands(workflow);
    assert.ok(commands.length >= 4, JSON.stringify(commands));
    const cli = buildCli({ out: () => {}, err: () => {}, interactive: false });
    for (const [verb, ...args] of commands) {
      const command = cli.commands.find((c) => c.name() === verb);
      assert.ok(command, `keyslot has no command ${verb}`);
      const { unknown } = command!.parseOptions(args);
      assert.deepEqual(unknown, [], `${verb}: ${unknown.join(' ')}`);
    }
  });
});
