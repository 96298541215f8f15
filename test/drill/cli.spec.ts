import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { listStacks } from '../../src/config/load.ts';
import { ExitCode } from '../../src/errors.ts';
import { tempDirs } from '../fixtures/tempDirs.ts';
import { cli } from '../fixtures/cli.ts';

const temp = tempDirs();
afterEach(() => temp.cleanup());

describe('cli: keyslot drill', () => {
  it('prints the timeline, traffic, makespan and invariants, and exits 0 when they held', async () => {
    const { code, out, err } = await cli('drill', '--stack', 'alwayson-cosmos');
    assert.equal(code, ExitCode.ok, err);
    assert.match(out, /^drill alwayson-cosmos, seed 1, fault: none/);
    assert.match(out, /step 9 regenerate done .*primary regenerated \(azure-cosmosdb\)/);
    assert.match(out, /requests \d+, failed 0, downtime 0s/);
    assert.match(out, /makespan \S+, critical-path bound \S+ \(×1\.0\d\), 2 up\(s\)/);
    assert.equal(out.match(/^held {4}/gm)?.length, 7);
  });

  it('says where a drawn fault landed, or that the world had nothing to inject it into', async () => {
    const thanos = await cli('drill', '-s', 'kubecost-thanos', '--seed', '2', '--faults');
    assert.match(
      thanos.out,
      /^drill kubecost-thanos, seed 2, fault: crash-on-new-key \(primary kubecost\/deployment\/kubecost-prometheus-server crashes with the new key\)/,
    );
    const gardener = await cli('drill', '-s', 'gardener-kubeconfig', '--seeds', '20', '--faults', '--json');
    const details = gardener.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { fault: string; faultDetail: string });
    assert.ok(
      details.some((d) => d.fault === 'stuck-rollout' && d.faultDetail === 'drawn, but nothing in this world to inject it into'),
      'a Gardener kubeconfig rotation restarts nothing',
    );
  });

  it('--seeds --faults --json prints one result per seed', async () => {
    const { code, out } = await cli('drill', '-s', 'kubecost-thanos', '--seeds', '3', '--faults', '--json');
    assert.equal(code, ExitCode.ok);
    const results = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      results.map((r) => r.seed),
      [1, 2, 3],
    );
    assert.ok(results.every((r) => r.invariants.every((i: { held: boolean }) => i.held)));
  });

  it('--world with a consumer the runbook forgot: the drill fails (exit 1) and names it', async () => {
    const { code, out } = await cli('drill', '-s', 'kubecost-thanos', '--world', 'examples/kubecost-thanos.world.yaml');
    assert.equal(code, ExitCode.failed);
    assert.match(out, /VIOLATED no failed request: \d+ of \d+ failed: secondary-eu kubecost\/thanos-bucket-exporter/);
  });

  it('--world: the same forgotten consumer is safe if it reloads the mounted file before the old key goes, and not if the sync is slower than the rotation', async () => {
    const dir = temp.make('keyslot-world-');
    // The reference world, plus the exporter: a world file describes the whole deployment.
    const reference = readFileSync(join(__dirname, '..', '..', 'worlds', 'kubecost-thanos.yaml'), 'utf8');
    const world = (seconds: number) =>
      `${reference}  - {cluster: secondary-eu, namespace: kubecost, kind: deployment, name: thanos-bucket-exporter, replicas: 1, reads: [kubecost-thanos], takesNewValueBy: reload, reloadSeconds: ${seconds}}\n`;
    writeFileSync(join(dir, 'quick.yaml'), world(60));
    const quick = await cli('drill', '-s', 'kubecost-thanos', '--world', join(dir, 'quick.yaml'));
    assert.equal(quick.code, ExitCode.ok, quick.out);
    writeFileSync(join(dir, 'slow.yaml'), world(3600));
    const slow = await cli('drill', '-s', 'kubecost-thanos', '--world', join(dir, 'slow.yaml'));
    assert.equal(slow.code, ExitCode.failed);
    assert.match(slow.out, /VIOLATED no failed request: .*secondary-eu kubecost\/thanos-bucket-exporter/);
  });

  it('no key token reaches its output, even when consumers fail and log refusals', async () => {
    const texts: string[] = [];
    for (const stack of ['alwayson-cosmos', 'kops-service-account', 'kubecost-federated-etl', 'local']) {
      const { out, err } = await cli('drill', '-s', stack, '--seeds', '8', '--faults', '--json');
      texts.push(out, err);
    }
    const failing = await cli('drill', '-s', 'kubecost-thanos', '--world', 'examples/kubecost-thanos.world.yaml', '--json');
    assert.equal(failing.code, ExitCode.failed);
    texts.push(failing.out, failing.err);
    for (const text of texts) assert.doesNotMatch(text, /sim:[a-z]/);
    assert.ok(texts.join('').length > 10_000, 'there was output to check');
  });

  it('a world file naming a cluster the stack does not have is bad input', async () => {
    const dir = temp.make('keyslot-world-');
    writeFileSync(join(dir, 'w.yaml'), 'workloads:\n  - {cluster: mars, namespace: a, kind: deployment, name: b, reads: [c]}\n');
    const { code, err } = await cli('drill', '-s', 'kubecost-thanos', '--world', join(dir, 'w.yaml'));
    assert.equal(code, ExitCode.badInput);
    assert.match(
      err,
      /world:workloads\[0\]\.cluster: found "mars", which stack kubecost-thanos does not declare; fix: use one of primary, secondary-eu, secondary-us/,
    );
  });

  it('a world file with a name Kubernetes rejects is bad input, as the stack file would be', async () => {
    const dir = temp.make('keyslot-world-');
    writeFileSync(join(dir, 'w.yaml'), 'workloads:\n  - {cluster: primary, namespace: team.apps, kind: deployment, name: b, reads: [c]}\n');
    const { code, err } = await cli('drill', '-s', 'kubecost-thanos', '--world', join(dir, 'w.yaml'));
    assert.equal(code, ExitCode.badInput);
    assert.match(err, /world:workloads\[0\]\.namespace: found "team\.apps".*DNS-1123 label/);
  });

  it('a stack whose first up fails in the simulated world says so in one line (no stack trace), exit 1', async () => {
    const dir = temp.make('keyslot-world-');
    mkdirSync(join(dir, 'stacks'));
    // The AlwaysOn stack without adopt: its vaults already hold the secrets, so the first up fails.
    writeFileSync(
      join(dir, 'stacks', 'Pulumi.noadopt.yaml'),
      readFileSync(join(__dirname, '..', '..', 'stacks', 'Pulumi.alwayson-cosmos.yaml'), 'utf8').replaceAll('adopt: true', 'adopt: false'),
    );
    const { code, out, err } = await cli('drill', '-s', 'noadopt', '--stacks-dir', join(dir, 'stacks'));
    assert.equal(code, ExitCode.failed);
    assert.equal(out, '');
    assert.match(
      err,
      /^keyslot: pulumi up failed: create azure-native:keyvault:Secret::cosmos-d0: Key Vault secret kv-example-eastus2\/CosmosDb-ApiKey already exists; adopt it: set adopt: true/,
    );
    assert.equal(err.trim().split('\n').length, 1, err);
    assert.doesNotMatch(err, /\n\s+at |EPIPE|promises were still active/);
  });

  it('a world file that is missing or not YAML is bad input, said apart', async () => {
    const missing = await cli('drill', '-s', 'local', '--world', join(tmpdir(), 'keyslot-no-such-world.yaml'));
    assert.equal(missing.code, ExitCode.badInput);
    assert.match(missing.err, /world: found no file that can be read there; fix: pass the path of a world file/);
    const dir = temp.make('keyslot-world-');
    writeFileSync(join(dir, 'bad.yaml'), 'workloads: [\n');
    const bad = await cli('drill', '-s', 'local', '--world', join(dir, 'bad.yaml'));
    assert.equal(bad.code, ExitCode.badInput);
    assert.match(bad.err, /world: found a file that cannot be read as YAML/);
  });

  it('rejects a bad stack with exit 2', async () => {
    const { code, err } = await cli('drill', '--stack', 'nope');
    assert.equal(code, ExitCode.badInput);
    assert.match(err, /Pulumi\.nope\.yaml: stack: found no such file/);
  });
});

describe('cli: discover then drill, on every shipped stack', () => {
  it('keyslot discover --simulate --out F, then keyslot drill --world F: the discovered world drills clean', async function () {
    this.timeout(5 * 60_000);
    const dir = temp.make('keyslot-discovered-');
    for (const stack of listStacks()) {
      const file = join(dir, `${stack}.yaml`);
      const found = await cli('discover', '--stack', stack, '--simulate', '--out', file);
      assert.equal(found.code, ExitCode.ok, `${stack}: ${found.err}`);
      const drilled = await cli('drill', '--stack', stack, '--world', file);
      assert.equal(drilled.code, ExitCode.ok, `${stack}:\n${drilled.out}${drilled.err}`);
      assert.match(drilled.out, new RegExp(`^world: world file ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`, 'm'));
    }
  });

  it('plan --strict --discover against a reference world names every consumer of a delivered Secret that no stage restarts', async () => {
    const dir = temp.make('keyslot-forgot-');
    mkdirSync(join(dir, 'stacks'));
    // kubecost-thanos as the runbook has it: prometheus and thanos-store only.
    const text = readFileSync(join(__dirname, '..', '..', 'stacks', 'Pulumi.kubecost-thanos.yaml'), 'utf8');
    const doc = parseYaml(text) as { config: Record<string, { stages: { workload?: string }[] }[]> };
    const cred = doc.config['keyslot:credentials']![0]!;
    cred.stages = cred.stages.filter((s) => !/compact|cost-analyzer|diagnostics/.test(s.workload ?? ''));
    writeFileSync(join(dir, 'stacks', 'Pulumi.kubecost-thanos.yaml'), stringifyYaml(doc));
    const { code, out, err } = await cli(
      'plan',
      '-s',
      'kubecost-thanos',
      '--stacks-dir',
      join(dir, 'stacks'),
      '--simulate',
      '--discover',
      '--strict',
    );
    assert.equal(code, ExitCode.badInput, out);
    for (const missed of [
      'primary kubecost/deployment/kubecost-thanos-compact',
      'primary kubecost/deployment/kubecost-cost-analyzer',
      'secondary-eu kubecost/deployment/kubecost-diagnostics',
    ])
      assert.ok(err.includes(missed), `${missed} in ${err}`);
  });
});
