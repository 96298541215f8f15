import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { namespacedConfig } from '../../src/adapters/engine/namespacedConfig.ts';
import { readStackFile } from '../../src/config/load.ts';
import { programLocation, repoRoot, runProgram } from '../fixtures/pulumiHosts.ts';

const errors = (logs: readonly { severity: number; message: string }[]) => logs.filter((l) => l.severity >= 3).map((l) => l.message);

describe("program: started by Pulumi's own entry point (cmd/run) as the nodejs language host starts it", function () {
  this.timeout(120_000);

  it('runs from the project root, so the host finds the provider plugins in its node_modules', () => {
    const { programDirectory, entryPoint } = programLocation(repoRoot);
    assert.equal(programDirectory, repoRoot);
    assert.equal(entryPoint, '.');
    // What the host's GetRequiredPlugins looks for under the program folder: packages with `pulumi.resource`.
    for (const pkg of ['aws', 'azure-native', 'kubernetes', 'random', 'tls']) {
      const manifest = join(programDirectory, 'node_modules', '@pulumi', pkg, 'package.json');
      assert.ok(existsSync(manifest), pkg);
      assert.equal((JSON.parse(readFileSync(manifest, 'utf8')) as { pulumi?: { resource?: boolean } }).pulumi?.resource, true, pkg);
    }
  });

  it('previews the local stack: nodeargs before the run script, the program folder as --pwd, every resource registered', async () => {
    const run = await runProgram({ stack: 'local', config: namespacedConfig(readStackFile('local').raw), dryRun: true });
    assert.equal(run.code, 0, `${run.stderr}\n${errors(run.logs).join('\n')}`);
    assert.deepEqual(run.argv.slice(0, 3), ['--import', 'tsx', require.resolve('@pulumi/pulumi/cmd/run')]);
    assert.equal(run.argv[run.argv.indexOf('--pwd') + 1], repoRoot);
    const types = run.registrations.map((r) => r.type);
    assert.equal(types[0], 'pulumi:pulumi:Stack');
    assert.equal(types.filter((t) => t === 'random:index/randomPassword:RandomPassword').length, 2);
    const secret = run.registrations.find((r) => r.type === 'kubernetes:core/v1:Secret')!;
    assert.deepEqual([...new Set(secret.additionalSecretOutputs)].sort(), ['data', 'stringData']);
  });

  it('previews an IAM stack: keys are deleted before they are replaced, and carry their generation as the replacement trigger', async () => {
    const run = await runProgram({
      stack: 'kubecost-thanos',
      config: namespacedConfig(readStackFile('kubecost-thanos').raw),
      dryRun: true,
    });
    assert.equal(run.code, 0, `${run.stderr}\n${errors(run.logs).join('\n')}`);
    const keys = run.registrations.filter((r) => r.type === 'aws:iam/accessKey:AccessKey');
    assert.equal(keys.length, 2);
    assert.ok(keys.every((k) => k.deleteBeforeReplace));
    assert.ok(
      keys.every((k) => k.replacementTrigger !== undefined && k.replacementTrigger !== null),
      JSON.stringify(keys.map((k) => k.replacementTrigger)),
    );
  });

  it('fails a bad stack config with one line and registers no key', async () => {
    const raw = { ...readStackFile('local').raw, slots: { demo: 'tertiary' } };
    const run = await runProgram({ stack: 'local', config: namespacedConfig(raw), dryRun: true });
    assert.notEqual(run.code, 0);
    const logged = errors(run.logs);
    assert.equal(logged.length, 1, logged.join('\n'));
    assert.match(logged[0]!, /keyslot:slots\.demo/);
    assert.doesNotMatch(logged[0]!, /\n\s+at /, 'no stack trace');
    assert.equal(run.registrations.filter((r) => r.custom && !r.type.startsWith('pulumi:providers:')).length, 0);
  });
});
