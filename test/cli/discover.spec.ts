import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../fixtures/cli.ts';
import { loadStack } from '../../src/config/load.ts';
import { loadWorldFile } from '../../src/drill/worldFile.ts';
import { ExitCode } from '../../src/errors.ts';
import { systemClock } from '../../src/ports/clock.ts';
import { SimFleet } from '../../src/sim/cluster.ts';
import { KubeApiEmulator } from '../fixtures/kubeApiEmulator.ts';

describe('cli: consumer discovery on a real cluster API (the emulator on 127.0.0.1)', () => {
  let emulator: KubeApiEmulator;
  let dir: string;

  beforeEach(async () => {
    // GIVEN a cluster where api is restarted by a stage and worker also mounts the secret
    const cluster = new SimFleet(systemClock).cluster('eu');
    cluster.applySecret('app', 'app-key', { password: 'x' });
    cluster.addWorkload({ kind: 'deployment', namespace: 'app', name: 'api', replicas: 3, secrets: ['app-key'] });
    cluster.addWorkload({ kind: 'deployment', namespace: 'app', name: 'worker', replicas: 1, secrets: ['app-key'] });
    cluster.addWorkload({ kind: 'deployment', namespace: 'app', name: 'web', secrets: [] });
    emulator = new KubeApiEmulator(cluster, systemClock);
    const server = await emulator.start();
    dir = mkdtempSync(join(tmpdir(), 'keyslot-discover-'));
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters: [{name: eu, cluster: {server: "${server}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: eu, context: {cluster: eu, user: u}}]\ncurrent-context: eu\n`,
    );
    mkdirSync(join(dir, 'stacks'));
    writeFileSync(
      join(dir, 'stacks', 'Pulumi.disc.yaml'),
      `config:\n  keyslot:clusters:\n    - name: eu\n      kubeconfigPath: ${kubeconfig}\n      primary: true\n  keyslot:credentials:\n    - name: app\n      source: { type: random }\n      deliver:\n        - { type: kubernetes-secret, namespace: app, name: app-key, data: { password: "\${value}" } }\n      stages:\n        - { kind: restart, namespace: app, workload: deployment/api }\n`,
    );
  });
  afterEach(async () => {
    await emulator.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('plan --discover reports the consumer no stage restarts; --strict refuses with the config path', async () => {
    const seen = await cli('plan', '--stack', 'disc', '--stacks-dir', join(dir, 'stacks'), '--discover');
    assert.equal(seen.code, ExitCode.ok, seen.err);
    assert.match(seen.out, /2 consumer\(s\) found, 1 not covered/);
    assert.match(seen.out, /eu: app\/deployment\/worker reads app-key but no restart stage covers it/);
    const strict = await cli('plan', '--stack', 'disc', '--stacks-dir', join(dir, 'stacks'), '--discover', '--strict');
    assert.equal(strict.code, ExitCode.badInput);
    assert.match(
      strict.err,
      /^keyslot: stack disc: keyslot:credentials\[0\]\.stages: found 1 consumer\(s\) no stage restarts \(eu app\/deployment\/worker\); fix: add a restart stage/,
    );
    assert.equal(strict.err.trim().split('\n').length, 1);
  });

  it('discover writes a world file that drill --world accepts', async () => {
    const out = join(dir, 'world.yaml');
    const { code, out: printed } = await cli('discover', '--stack', 'disc', '--stacks-dir', join(dir, 'stacks'), '--out', out);
    assert.equal(code, ExitCode.ok);
    assert.match(printed, /2 workload\(s\) on 1 cluster/);
    const world = loadWorldFile(out, loadStack('disc', join(dir, 'stacks')));
    assert.deepEqual(
      world.workloads.map((w) => [w.cluster, w.namespace, w.kind, w.name, w.replicas, w.reads]),
      [
        ['eu', 'app', 'deployment', 'api', 3, ['app-key']],
        ['eu', 'app', 'deployment', 'worker', 1, ['app-key']],
      ],
    );
    assert.doesNotMatch(readFileSync(out, 'utf8'), /password|"x"/);
  });

  it('--strict without --discover judges only what the stack file says (nothing to refuse here)', async () => {
    assert.equal((await cli('plan', '--stack', 'disc', '--stacks-dir', join(dir, 'stacks'), '--strict')).code, ExitCode.ok);
  });
});
