import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { templates } from '../../src/cli/commands/init.ts';
import { openStack } from '../../src/config/load.ts';
import { ExitCode } from '../../src/errors.ts';
import { tempDirs } from '../fixtures/tempDirs.ts';
import { cli } from '../fixtures/cli.ts';

const temp = tempDirs();
afterEach(() => temp.cleanup());

describe('keyslot init', () => {
  it('scaffolds a project from a runbook template: Pulumi.yaml, the program entry, a stack that parses, the schema editors pick up', async () => {
    const dir = temp.make('keyslot-init-');
    assert.ok(templates().includes('alwayson-cosmos') && templates().includes('kops-service-account'));
    const r = await cli('init', '--template', 'kubecost-thanos', '--stack', 'prod', '--dir', dir, '--project', 'platform-keys');
    assert.equal(r.code, ExitCode.ok, r.err);
    assert.match(
      readFileSync(join(dir, 'Pulumi.yaml'), 'utf8'),
      /^name: platform-keys$[\s\S]*typescript: false[\s\S]*stackConfigDir: stacks/m,
    );
    assert.match(readFileSync(join(dir, 'index.js'), 'utf8'), /module\.exports = require\('keyslot\/program\.cjs'\);/);
    const stack = readFileSync(join(dir, 'stacks', 'Pulumi.prod.yaml'), 'utf8');
    assert.match(stack, /^# yaml-language-server: \$schema=\.\.\/keyslot\.schema\.json\n/);
    assert.equal(openStack('prod', join(dir, 'stacks')).config.credentials[0]!.name, 'thanos-store');
    assert.equal(
      JSON.parse(readFileSync(join(dir, 'keyslot.schema.json'), 'utf8')).title,
      'keyslot stack file (stacks/Pulumi.<stack>.yaml)',
    );
    assert.match(r.out, /next: .*\n.*keyslot plan --stack prod; keyslot drill --stack prod/);
  });

  it('never overwrites: with any of its files present it writes nothing and exits 2 naming it; an unknown template is exit 2 naming the choices', async () => {
    const dir = temp.make('keyslot-init-');
    writeFileSync(join(dir, 'Pulumi.yaml'), 'name: theirs\n');
    const before = statSync(join(dir, 'Pulumi.yaml')).mtimeMs;
    const r = await cli('init', '--template', 'local', '--dir', dir);
    assert.equal(r.code, ExitCode.badInput);
    assert.match(r.err, /^keyslot: .*Pulumi\.yaml already exists; keyslot init never overwrites a file/);
    assert.equal(r.err.trim().split('\n').length, 1);
    assert.equal(readFileSync(join(dir, 'Pulumi.yaml'), 'utf8'), 'name: theirs\n');
    assert.equal(statSync(join(dir, 'Pulumi.yaml')).mtimeMs, before);
    assert.throws(() => statSync(join(dir, 'index.js')), 'nothing else was written');
    const unknown = await cli('init', '--template', 'cosmos', '--dir', temp.make('keyslot-init-'));
    assert.equal(unknown.code, ExitCode.badInput);
    assert.match(unknown.err, /--template cosmos: no such runbook template; use one of .*alwayson-cosmos/);
  });

  it('--discovered adds a restart stage for every consumer the deployment shows that the template leaves out: the drill that failed on it now holds', async () => {
    // examples/kubecost-thanos.world.yaml: the reference world plus a team's exporter on
    // secondary-eu that mounts kubecost-thanos and that no stage of the template restarts.
    const world = join(__dirname, '..', '..', 'examples', 'kubecost-thanos.world.yaml');
    const bare = await cli('drill', '--stack', 'kubecost-thanos', '--world', world);
    assert.equal(bare.code, ExitCode.failed, 'the template alone forgets the exporter');
    const dir = temp.make('keyslot-init-');
    const r = await cli('init', '--template', 'kubecost-thanos', '--discovered', world, '--dir', dir);
    assert.equal(r.code, ExitCode.ok, r.err);
    assert.match(r.out, /added from .*: thanos-store: restart \S+\/deployment\/\S+ on secondary-eu/);
    const text = readFileSync(join(dir, 'stacks', 'Pulumi.kubecost-thanos.yaml'), 'utf8');
    assert.match(text, /# added by keyslot init from kubecost-thanos\.world\.yaml/);
    assert.match(text, /# kOps|# Kubecost|#/, "the template's comments are kept");
    const drilled = await cli('drill', '--stack', 'kubecost-thanos', '--world', world, '--stacks-dir', join(dir, 'stacks'));
    assert.equal(drilled.code, ExitCode.ok, drilled.out + drilled.err);
  });
});
