import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { cli } from '../fixtures/cli.ts';
import { ExitCode } from '../../src/errors.ts';

describe('cli: keyslot plan', () => {
  it('prints the kubecost-thanos plan with concrete clusters per stage', async () => {
    const { code, out } = await cli('plan', '--stack', 'kubecost-thanos');
    assert.equal(code, ExitCode.ok);
    const prom = out.indexOf('restart kubecost/deployment/kubecost-prometheus-server on primary, secondary-eu, secondary-us');
    const store = out.indexOf('restart kubecost/deployment/kubecost-thanos-store on primary\n');
    assert.ok(prom > 0 && store > prom, out);
    assert.match(out, /flip +consumers move primary → secondary/);
  });

  it('--json prints the documented shape', async () => {
    const { code, out } = await cli('plan', '--stack', 'alwayson-cosmos', '--json');
    assert.equal(code, ExitCode.ok);
    const plan = JSON.parse(out);
    assert.equal(plan.stack, 'alwayson-cosmos');
    const [cred] = plan.credentials;
    assert.deepEqual([cred.name, cred.scheme, cred.from, cred.to], ['cosmos', 'dual', 'primary', 'secondary']);
    const kinds = new Set([
      'preflight',
      'flip',
      'up',
      'restart',
      'verify-logs',
      'verify-http',
      'wait-reconciled',
      'wait-secret-sync',
      'annotate',
      'exec',
      'gate',
      'regenerate',
      'record',
    ]);
    for (const step of cred.steps) assert.ok(kinds.has(step.kind), step.kind);
    const restart = cred.steps.find((s: { kind: string }) => s.kind === 'restart');
    assert.deepEqual(
      [restart.namespace, restart.workload, restart.clusters],
      ['workload', 'deployment/catalogservice-deploy', ['stamp-eastus2', 'stamp-westeurope']],
    );
  });

  it('--credential narrows the plan', async () => {
    const { out } = await cli('plan', '-s', 'local', '-c', 'demo', '--json');
    assert.deepEqual(
      JSON.parse(out).credentials.map((c: { name: string }) => c.name),
      ['demo'],
    );
  });

  it('exits 2 with one line for a missing stack, an unknown credential and a usage error', async () => {
    for (const argv of [['plan', '--stack', 'nope'], ['plan', '-s', 'local', '-c', 'nope'], ['plan']]) {
      const { code, err } = await cli(...argv);
      assert.equal(code, ExitCode.badInput, argv.join(' '));
      assert.equal(err.trim().split('\n').length, 1, err);
    }
  });

  it('runs as a process through bin/keyslot.js with the documented exit code and no stack trace', () => {
    const run = spawnSync(process.execPath, [join(__dirname, '..', '..', 'bin', 'keyslot.js'), 'plan', '--stack', 'nope'], {
      encoding: 'utf8',
    });
    assert.equal(run.status, ExitCode.badInput);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /^keyslot: stacks\/Pulumi\.nope\.yaml: stack: found no such file; fix: .*\n$/);
  });

  it('warns, naming the stage and cluster, when a stage acts where no delivery of the credential reaches', async () => {
    // kubecost-thanos, with the Secret delivered to two of its three clusters.
    const doc = parse(readFileSync(join(__dirname, '..', '..', 'stacks', 'Pulumi.kubecost-thanos.yaml'), 'utf8')) as {
      config: Record<string, any>;
    };
    doc.config['keyslot:credentials'][0].deliver[0].clusters = ['primary', 'secondary-eu'];
    const dir = mkdtempSync(join(tmpdir(), 'keyslot-plan-'));
    try {
      mkdirSync(join(dir, 'stacks'));
      writeFileSync(join(dir, 'stacks', 'Pulumi.partial.yaml'), stringify(doc));
      const { code, err } = await cli('plan', '--stack', 'partial', '--stacks-dir', join(dir, 'stacks'));
      assert.equal(code, ExitCode.ok);
      assert.match(
        err,
        /^keyslot: warning: keyslot:credentials\[0\]\.stages\[0\]: kubecost\/deployment\/kubecost-prometheus-server on cluster secondary-us, where no delivery of thanos-store reaches/m,
      );
      assert.doesNotMatch(err, /on cluster secondary-eu/);
      // --strict: an error, before anything is printed.
      const strict = await cli('plan', '--stack', 'partial', '--stacks-dir', join(dir, 'stacks'), '--strict');
      assert.equal(strict.code, ExitCode.badInput);
      assert.equal(strict.out, '');
      assert.match(
        strict.err,
        /^keyslot: stacks\/Pulumi\.partial\.yaml: keyslot:credentials\[0\]\.stages\[0\]: found kubecost\/deployment\/kubecost-prometheus-server on cluster secondary-us, where no delivery of thanos-store reaches; fix: add the cluster to a delivery/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("warns when a stamp's vault got no delivery (each Key Vault delivery declares the stamps it serves)", async () => {
    const doc = parse(readFileSync(join(__dirname, '..', '..', 'stacks', 'Pulumi.alwayson-cosmos.yaml'), 'utf8')) as {
      config: Record<string, any>;
    };
    // Both deliveries go to the eastus2 vault: the westeurope stamp's vault keeps the old key.
    doc.config['keyslot:credentials'][0].deliver[1].clusters = ['stamp-eastus2'];
    const dir = mkdtempSync(join(tmpdir(), 'keyslot-plan-'));
    try {
      writeFileSync(join(dir, 'Pulumi.stamps.yaml'), stringify(doc));
      const { code, err } = await cli('plan', '--stack', 'stamps', '--stacks-dir', dir);
      assert.equal(code, ExitCode.ok);
      assert.match(
        err,
        /keyslot:credentials\[0\]\.stages\[0\]: workload\/azure-kv on cluster stamp-westeurope, where no delivery of cosmos reaches/,
      );
      assert.match(err, /stages\[1\]: workload\/deployment\/catalogservice-deploy on cluster stamp-westeurope/);
      assert.doesNotMatch(err, /stamp-eastus2/);
      assert.equal((await cli('plan', '--stack', 'stamps', '--stacks-dir', dir, '--strict')).code, ExitCode.badInput);
      // The shipped stack declares a vault per stamp: nothing to warn about.
      assert.equal((await cli('plan', '--stack', 'alwayson-cosmos', '--strict')).code, ExitCode.ok);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says parser errors in one keyslot line with a hint, names a misspelt option, and has --version', async () => {
    const cases: [string[], RegExp][] = [
      [['plan', '--stak', 'local'], /^keyslot: unknown option '--stak' \(did you mean --stack\?\); see keyslot --help\n$/],
      [['rotat', '--stack', 'local'], /^keyslot: unknown command 'rotat' \(did you mean rotate\?\); see keyslot --help\n$/],
      [['plan'], /^keyslot: required option '-s, --stack <name>' not specified; see keyslot --help\n$/],
      [['discover', '--stack', 'local'], /^keyslot: required option '-o, --out <file>' not specified; see keyslot --help\n$/],
      [
        ['resume', '--stack', 'local', '--yes'],
        /^keyslot: resume needs --credential; fix: name the credential in flight \(keyslot status --stack local shows it\)\n$/,
      ],
      [
        ['rollback', '--stack', 'local'],
        /^keyslot: refusing to rollback without --yes when not on a TTY; fix: pass --yes, or run it in a terminal to be asked\n$/,
      ],
    ];
    for (const [argv, expected] of cases) {
      const { code, err } = await cli(...argv);
      assert.equal(code, ExitCode.badInput, argv.join(' '));
      assert.match(err, expected);
    }
    const version = await cli('--version');
    assert.equal(version.code, ExitCode.ok);
    assert.equal(
      version.out.trim(),
      (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version,
    );
    const strict = await cli('plan', '--stack', 'local', '--strict');
    assert.equal(strict.code, ExitCode.ok, 'nothing to refuse in the local stack');
  });
});
