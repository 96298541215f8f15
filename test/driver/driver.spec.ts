import assert from 'node:assert/strict';
import { Driver } from '../../src/driver/index.ts';
import {
  ClusterUnreachableError,
  ConfigError,
  PulumiCliMissingError,
  EngineError,
  exitCodeFor,
  PreflightRefusedError,
  LockedError,
  NothingInFlightError,
  RollbackImpossibleError,
  RolledBackError,
  RotationInFlightError,
  StaleStackError,
  TooSoonError,
  UncoveredConsumersError,
} from '../../src/errors.ts';
import { Crash, crashing, dyingPorts, isAgentCrash, takeOver, type CrashCounter } from './crash.ts';
import { scenario, selfManagedKeyset, twoCredentials, type Scenario } from './world.ts';
import { SimulatedClusterFleet } from '../../src/adapters/clusters/simulated.ts';
import { parseStackConfig } from '../../src/config/parse.ts';
import { stackLock } from '../../src/driver/lock.ts';

/** The run must die of the agent's crash at call `at`, and of nothing else. */
async function dies(run: Promise<unknown>, at: number): Promise<void> {
  await run.then(
    () => assert.fail(`no crash at call ${at}`),
    (e: unknown) => assert.ok(isAgentCrash(e), `call ${at}: ${String(e)}`),
  );
}

/** Every pod in the fleet presents a key its backend accepts (the cloud, or the cluster's API servers for tokens): no consumer is left on a dead key. */
function everyPodAccepted(s: Scenario) {
  for (const cluster of s.world.fleet.clusters.values()) {
    for (const { workload, pod } of cluster.presentedKeys()) {
      if (!/sim:|"token":"ey/.test(pod.loaded)) continue;
      assert.ok(
        cluster.accepts ? cluster.accepts(pod.loaded) : s.world.cloud.accepts(pod.loaded),
        `${cluster.name} ${workload.namespace}/${workload.name} pod ${pod.name} holds a dead key`,
      );
    }
  }
}

function restartsOf(s: Scenario, rotationId: string) {
  return s.world.clusters.restarts.filter((r) => r.endsWith(` ${rotationId}`)).map((r) => r.split(' ').slice(0, 2).join(' '));
}

describe('driver: dual rotation', () => {
  it('alwayson-cosmos: flips, restarts every consumer on both stamps, then regenerates the freed key and records it', async () => {
    const s = await scenario('alwayson-cosmos');
    const { driver, engine } = s.driver();
    const result = await driver.rotate('cosmos');
    assert.equal(result.outcome, 'rotated');
    const file = engine.checkout() as any;
    assert.equal(file.slots.cosmos, 'secondary');
    assert.equal(Number(file.generations.cosmos.primary.generation), 3);
    assert.equal(
      file.generations.cosmos.primary.createdAt,
      s.world.clock.now().toISOString().slice(0, 10) + file.generations.cosmos.primary.createdAt.slice(10),
    );
    assert.ok(file.generations.cosmos.lastRotatedAt);
    assert.equal(file.rotations?.cosmos, undefined);
    assert.deepEqual(s.world.cloud.regenerations, ['cosmos:cosmos-example-global/primary']);
    assert.deepEqual(
      restartsOf(s, result.rotationId).sort(),
      ['stamp-eastus2', 'stamp-westeurope']
        .flatMap((c) => ['backgroundprocessor', 'catalogservice', 'healthservice'].map((d) => `${c} workload/deployment/${d}-deploy`))
        .sort(),
    );
    // No command stands in for the CSI driver's sync: the wait read it on each stamp.
    assert.deepEqual(s.world.commands.runs, []);
    assert.equal(s.events.filter((e) => e.type === 'cluster-finished' && e.kind === 'wait-secret-sync' && e.outcome === 'done').length, 2);
    const deployed = await engine.deployed();
    assert.equal(deployed.cosmos!.activeSlot, 'secondary');
    assert.equal(deployed.cosmos!.rotation, undefined);
    assert.ok(
      s.world.backend.ups.slice(1).every((u) => u.policyPacks.includes('policy')),
      'every up of the rotation gets the policy pack',
    );
  });

  it('kubecost-thanos: prometheus everywhere before thanos-store on the primary; the gate precedes the new key', async () => {
    const s = await scenario('kubecost-thanos');
    const { driver } = s.driver();
    const result = await driver.rotate('thanos-store');
    const finished = s.events
      .filter((e) => e.type === 'cluster-finished' && e.kind === 'restart')
      .map((e) => e as { cluster: string; step: number; at: string; durationMs: number });
    // Steps 3 (prometheus) and 4 (thanos-store); 5-7 (compact, cost-analyzer, diagnostics) run beside them.
    const prometheus = finished.filter((e) => e.step === 3);
    const store = finished.filter((e) => e.step === 4);
    assert.equal(prometheus.length, 3);
    assert.deepEqual(
      store.map((e) => e.cluster),
      ['primary'],
    );
    const storeStart = Date.parse(store[0]!.at) - store[0]!.durationMs;
    assert.ok(
      prometheus.every((e) => Date.parse(e.at) <= storeStart),
      'thanos-store starts once prometheus rolled out everywhere',
    );
    const kinds = s.events.filter((e) => e.type === 'step-finished').map((e) => (e as { kind: string }).kind);
    assert.deepEqual(kinds.slice(0, 3), ['preflight', 'flip', 'up']);
    assert.deepEqual(kinds.slice(-3), ['gate', 'regenerate', 'record']);
    // Each restart stage ran in the canary phase (where it has the canary cluster) and then on the rest.
    const restartSteps = s.events
      .filter((e) => e.type === 'step-finished' && e.kind === 'restart')
      .map((e) => (e as { step: number }).step);
    assert.equal(new Set(restartSteps).size, 5);
    assert.deepEqual(s.world.cloud.regenerations, ['iam:kubecost-thanos-example/primary'], 'the freed key is replaced once, by pulumi up');
    // prometheus x3, store, compact, cost-analyzer x3, diagnostics where the assumed world has it (primary).
    assert.equal(restartsOf(s, result.rotationId).length, 9);
    everyPodAccepted(s);
  });

  it('the canary is the lightest cluster (fewest pods of the consumers discovery saw); within a wave the biggest rollouts start first', async () => {
    const restartOrder = async (discovery: 'warn' | 'off') => {
      const s = await scenario('kubecost-thanos');
      for (const [cluster, replicas] of [
        ['primary', 1],
        ['secondary-eu', 2],
        ['secondary-us', 4],
      ] as const) {
        const c = s.world.fleet.cluster(cluster);
        c.workloads.delete('kubecost/deployment/kubecost-prometheus-server');
        c.addWorkload({
          kind: 'deployment',
          namespace: 'kubecost',
          name: 'kubecost-prometheus-server',
          replicas,
          containers: ['kubecost-prometheus-server', 'thanos-sidecar'],
          secrets: ['kubecost-thanos'],
        });
      }
      assert.equal((await s.driver(s.checkout, { concurrency: 1, discovery }).driver.rotate('thanos-store')).outcome, 'rotated');
      return s.world.clusters.restarts.filter((r) => r.includes('kubecost-prometheus-server')).map((r) => r.split(' ')[0]);
    };
    // Pods per cluster: primary 1 + 2 (the store), secondary-eu 2, secondary-us 4. Waves 1, 10%, 100%
    // of three clusters: the canary (secondary-eu), then the other two, the biggest rollout first.
    assert.deepEqual(await restartOrder('warn'), ['secondary-eu', 'secondary-us', 'primary']);
    assert.deepEqual(await restartOrder('off'), ['primary', 'secondary-eu', 'secondary-us'], 'without discovery: declared order');
  });

  it('gardener-provider-secret: waits for every Shoot to reconcile before the old key is replaced', async () => {
    const s = await scenario('gardener-provider-secret');
    const { driver } = s.driver();
    await driver.rotate('provider-aws');
    const garden = s.world.fleet.cluster('garden');
    for (const shoot of garden.shoots.values()) assert.equal(shoot.lastOperation?.state, 'Succeeded');
    assert.deepEqual(s.world.cloud.regenerations, ['iam:gardener-shoots-example/primary']);
  });

  it('gardener-kubeconfig: annotates every Shoot and waits for the rotation to complete', async () => {
    const s = await scenario('gardener-kubeconfig');
    const { driver } = s.driver();
    await driver.rotate('shoot-kubeconfigs');
    for (const shoot of s.world.fleet.cluster('garden').shoots.values())
      assert.ok(shoot.rotation.kubeconfig?.lastCompletionTime, shoot.name);
  });
});

describe('driver: a kOps keyset (kops-service-account), through kops', () => {
  const kopsVerbs = (s: Scenario) =>
    s.world.commands.runs.filter((r) => r.command[0] === 'kops').map((r) => r.command.slice(1, r.command[1] === 'get' ? 3 : 4).join(' '));
  const keyIds = (checkout: any) =>
    Object.fromEntries(
      Object.entries(checkout.generations['service-account'])
        .filter(([k]) => !k.endsWith('At'))
        .map(([k, v]) => [k, (v as { keyId: string }).keyId]),
    );

  it('distrusts previous, promotes next, stages a new next and applies it after the up, then rolls the control plane; records the ids', async () => {
    const s = await scenario('kops-service-account');
    const store = s.world.kops.get('kops-example.k8s.local')!;
    const [previous, primary, next] = store.keysets.get('service-account')!.items.map((i) => i.id);
    const { driver, engine } = s.driver();
    assert.equal((await driver.rotate('service-account')).outcome, 'rotated');
    assert.deepEqual(kopsVerbs(s), [
      'get keypairs',
      'get keypairs',
      'distrust keypair service-account',
      'promote keypair service-account',
      'create keypair service-account',
      'get keypairs',
      'update cluster --name',
      'rolling-update cluster --name',
      'validate cluster --name',
    ]);
    // The keyset moved only after the rotation was deployed (crash-safe), and the API servers use it.
    const upAt = s.events.findIndex((e) => e.type === 'step-finished' && e.kind === 'up');
    assert.match((s.events[upAt] as { detail: string }).detail, /kops: previous .*, primary .*, next/);
    const keyset = store.keysets.get('service-account')!;
    assert.equal(keyset.primary, next);
    assert.ok(keyset.items.find((i) => i.id === previous)!.distrustedAt !== undefined);
    const newNext = keyset.items.at(-1)!.id;
    assert.deepEqual(keyIds(engine.checkout()), { previous: primary, primary: next, next: newNext });
    assert.deepEqual(store.applied.get('service-account'), { primary: next, trusted: [primary, next, newNext] });
    everyPodAccepted(s);
  });

  it('refuses the next rotation until projected tokens were reissued (tokenRefreshHours), --force or not, before any change', async () => {
    const s = await scenario('kops-service-account');
    const { driver, engine } = s.driver();
    await driver.rotate('service-account');
    s.world.clock.advance(3 * 3600_000);
    const before = s.world.commands.runs.length;
    await assert.rejects(
      s.driver(engine.checkout(), { force: true }).driver.rotate('service-account'),
      (e: unknown) => e instanceof TooSoonError && /tokenRefreshHours \(24h\).*--force does not skip this/.test((e as Error).message),
    );
    assert.ok(
      s.world.commands.runs.slice(before).every((r) => r.command[1] === 'get'),
      'nothing but reads',
    );
    s.world.clock.advance(22 * 3600_000);
    // The legacy token Secret made at boot is still signed by the old primary, now the previous key.
    await assert.rejects(s.driver(engine.checkout()).driver.rotate('service-account'), PreflightRefusedError);
    s.world.fleet.cluster('kops').reissueLegacyToken('monitoring', 'legacy-exporter-token');
    s.world.clock.advance(2 * 60_000);
    assert.equal((await s.driver(engine.checkout()).driver.rotate('service-account')).outcome, 'rotated');
    everyPodAccepted(s);
  });

  it('refuses while a legacy token Secret is signed by a key other than the primary, naming it and never its token', async () => {
    const s = await scenario('kops-service-account');
    const c = s.world.fleet.cluster('kops');
    const store = s.world.kops.get('kops-example.k8s.local')!;
    const previous = store.keysets.get('service-account')!.items[0]!.id;
    c.addLegacyToken('ci', 'deployer-token', 'deployer', `sim:kops:kops-example.k8s.local/private@${previous}`);
    const { driver } = s.driver();
    await assert.rejects(driver.rotate('service-account'), (e: unknown) => {
      assert.ok(e instanceof PreflightRefusedError, String(e));
      assert.match(
        (e as Error).message,
        /1 legacy service-account token Secret\(s\) on cluster kops .*\(ci\/deployer-token\).*remove its data\.token/,
      );
      assert.doesNotMatch((e as Error).message, /eyJ/);
      return true;
    });
    assert.equal(store.keysets.get('service-account')!.items.filter((i) => i.distrustedAt).length, 0, 'nothing distrusted');
  });

  it('a rollout failure before the gate promotes the old primary back and distrusts the key the flip made', async () => {
    const s = await scenario('kops-service-account');
    const store = s.world.kops.get('kops-example.k8s.local')!;
    const [, primary, next] = store.keysets.get('service-account')!.items.map((i) => i.id);
    // kops validate cluster finds a node NotReady after the rolling update (once).
    const validate = store.validate;
    let calls = 0;
    store.validate = () => (++calls === 1 ? 'node i-0abc is NotReady' : validate?.());
    const { driver, engine } = s.driver();
    await assert.rejects(driver.rotate('service-account'), RolledBackError);
    const keyset = store.keysets.get('service-account')!;
    assert.equal(keyset.primary, primary);
    const made = keyset.items.at(-1)!;
    assert.ok(made.distrustedAt !== undefined && made.id !== next, 'the new next is distrusted');
    assert.deepEqual(keyIds(engine.checkout()), Object.fromEntries(Object.entries({ previous: keyset.items[0]!.id, primary, next })));
    // The rolling update ran again, so the API servers sign with the old primary; the next rotation can start.
    assert.deepEqual(store.applied.get('service-account')!.primary, primary);
    everyPodAccepted(s);
  });

  it('refuses to promote a next the running API servers do not trust yet, naming the rolling update', async () => {
    const s = await scenario('kops-service-account');
    // The next keypair was staged after the last rolling update: the servers verify with two keys.
    for (const server of s.world.fleet.cluster('kops').controlPlane!.servers)
      server.trusted = server.trusted.split('\n').slice(0, 2).join('\n');
    const store = s.world.kops.get('kops-example.k8s.local')!;
    const primary = store.keysets.get('service-account')!.primary;
    await assert.rejects(
      s.driver().driver.rotate('service-account'),
      /API servers of cluster kops verify tokens with 2 key\(s\) but the service-account keyset has 3 trusted keypairs.*kops rolling-update cluster --instance-group-roles=control-plane,apiserver --yes/,
    );
    assert.equal(store.keysets.get('service-account')!.primary, primary, 'nothing promoted');
  });

  it('refuses a keyset with no staged next, naming how a human stages one', async () => {
    const s = await scenario('kops-service-account');
    const keyset = s.world.kops.get('kops-example.k8s.local')!.keysets.get('service-account')!;
    keyset.items.pop();
    await assert.rejects(
      s.driver().driver.rotate('service-account'),
      /no staged next keypair to promote; stage one first \(kops create keypair service-account/,
    );
  });

  it('--disruptive (an exposed signing key): every keypair replaced, tokens reissued, every workload restarted, kops validate', async () => {
    const s = await scenario('kops-service-account');
    const store = s.world.kops.get('kops-example.k8s.local')!;
    const old = store.keysets.get('service-account')!.items.map((i) => i.id);
    const c = s.world.fleet.cluster('kops');
    const result = await s.driver().driver.rotate('service-account', 'disruptive');
    assert.equal(result.outcome, 'rotated');
    assert.deepEqual(result.unconfirmed, []);
    const keyset = store.keysets.get('service-account')!;
    const trusted = keyset.items.filter((i) => i.distrustedAt === undefined).map((i) => i.id);
    assert.equal(trusted.length, 3);
    assert.ok(
      trusted.every((id) => !old.includes(id)),
      'no old keypair is trusted',
    );
    assert.equal(keyset.primary, trusted[1]);
    // The legacy token is signed by the new primary, and every workload restarted onto it.
    assert.deepEqual(
      c.serviceAccountTokenSecrets().map((t) => t.keyId),
      [c.signingKeyId()],
    );
    assert.deepEqual(restartsOf(s, result.rotationId).sort(), [
      'kops default/deployment/sa-token-client',
      'kops monitoring/deployment/legacy-exporter',
    ]);
    assert.ok(s.world.commands.runs.some((r) => r.command.slice(1, 3).join(' ') === 'validate cluster'));
    everyPodAccepted(s);
  });
});

describe('driver: refusals', () => {
  it('reports a consumer no stage restarts, and under --strict refuses before changing anything', async () => {
    // GIVEN a compactor on secondary-eu that mounts the Thanos secret but is in no stage
    const s = await scenario('kubecost-thanos');
    s.world.fleet
      .cluster('secondary-eu')
      .addWorkload({ kind: 'deployment', namespace: 'kubecost', name: 'thanos-compact', replicas: 1, secrets: ['kubecost-thanos'] });
    const strict = s.driver(undefined, { discovery: 'strict' });
    await assert.rejects(
      strict.driver.rotate('thanos-store'),
      (e: unknown) =>
        e instanceof UncoveredConsumersError &&
        /keyslot:credentials\[0\]\.stages: found 1 consumer\(s\) no stage restarts \(secondary-eu kubecost\/deployment\/thanos-compact\)/.test(
          e.message,
        ),
    );
    assert.equal(await strict.engine.getConfig('rotations.thanos-store.id'), undefined, 'no rotation was recorded');
    assert.equal(await strict.engine.getConfig('slots.thanos-store'), undefined);
    // WHEN the same rotation runs in the default (warn) mode THEN it proceeds and says what it saw
    await s.driver().driver.rotate('thanos-store');
    assert.ok(
      s.events.some(
        (e) =>
          e.type === 'warning' &&
          /secondary-eu: kubecost\/deployment\/thanos-compact reads kubecost-thanos but no restart stage covers it/.test(e.message),
      ),
    );
  });

  it('refuses a rotation sooner than minIntervalHours: --force passes the driver, the pack still refuses before any change, --no-policy lets it through', async () => {
    const s = await scenario('kubecost-thanos', (raw) => {
      raw.generations = { 'thanos-store': { lastRotatedAt: '2026-11-25T23:00:00Z' } };
    });
    await assert.rejects(s.driver().driver.rotate('thanos-store'), (e: unknown) => e instanceof TooSoonError && /--force/.test(e.message));
    const forced = s.driver(undefined, { force: true });
    const ups = s.world.backend.ups.length;
    await assert.rejects(
      forced.driver.rotate('thanos-store'),
      (e: unknown) =>
        e instanceof PreflightRefusedError && exitCodeFor(e) === 8 && /min-rotation-interval \(mandatory\).*--no-policy/.test(e.message),
    );
    assert.equal(s.world.backend.ups.length, ups, 'nothing was deployed');
    assert.equal(await forced.engine.getConfig('rotations.thanos-store.id'), undefined, 'no rotation is left in flight');
    assert.equal((await s.driver(undefined, { force: true, policyPacks: [] }).driver.rotate('thanos-store')).outcome, 'rotated');
  });

  it('previews with the pack before every up of a rotation (flip, regeneration, record), so no up meets a mandatory violation halfway', async () => {
    const s = await scenario('kubecost-thanos');
    const from = s.world.backend.runs.length;
    assert.equal((await s.driver().driver.rotate('thanos-store')).outcome, 'rotated');
    const runs = s.world.backend.runs.slice(from);
    const ups = runs.flatMap((r, i) => (r.kind === 'up' ? [i] : []));
    assert.ok(ups.length >= 2, JSON.stringify(runs));
    for (const i of ups) {
      assert.equal(runs[i - 1]?.kind, 'preview', `up #${i} follows a preview: ${runs.map((r) => r.kind).join(' ')}`);
      assert.deepEqual(runs[i - 1]!.policyPacks, ['policy']);
    }
  });

  it("a mandatory violation that appears mid-rotation is met by the preview before the record's up: that up never runs", async () => {
    // GIVEN a one-day limit and a standby key 23 hours old: the flip passes; a two-hour soak before
    // the freed key's regeneration ages it past the limit before the record's up
    const s = await scenario('alwayson-cosmos', (raw) => {
      const creds = raw.credentials as Array<Record<string, unknown>>;
      Object.assign(creds[0]!, { maxAgeDays: 1, soakMinutes: 120 });
    });
    const standby = new Date(s.world.clock.now().getTime() - 23 * 3600_000).toISOString();
    const { driver, engine } = s.driver();
    await engine.setConfig('generations.cosmos.secondary.createdAt', standby);
    await engine.setConfig('generations.cosmos.primary.createdAt', new Date(s.world.clock.now().getTime() - 3600_000).toISOString());
    const ups = () => s.world.backend.runs.filter((r) => r.kind === 'up').length;
    let upsAtFailure = -1;
    await assert.rejects(driver.rotate('cosmos'), (e: unknown) => {
      upsAtFailure = ups();
      return /max-key-age \(mandatory\).*slot secondary.*the up was not run: nothing changed/.test(String((e as Error).message));
    });
    assert.equal(s.world.backend.runs.at(-1)?.kind, 'preview', 'the last engine run was the refusing preview');
    assert.equal(ups(), upsAtFailure);
  });

  it('halts after the gate when a generation bump did not replace the IAM key (a CLI that ignores replacementTrigger)', async () => {
    const s = await scenario('kubecost-thanos');
    s.world.backend.ignoresReplacementTrigger = true;
    const before = s.world.backend.outputs['thanos-store']!.slots.primary!.keyId!;
    await assert.rejects(
      s.driver().driver.rotate('thanos-store'),
      (e: unknown) =>
        e instanceof EngineError &&
        exitCodeFor(e) === 1 &&
        new RegExp(`slot primary still has key …${before.slice(-4)} .*3\\.226 or newer.*keyslot resume`).test(e.message),
    );
    assert.equal(s.world.backend.outputs['thanos-store']!.slots.primary!.keyId, before, 'the old key is still the one deployed');
  });

  it('rotates a key past maxAgeDays with the pack on: the slot being freed is judged by its rotation', async () => {
    // GIVEN thanos-store rotated once, then its active key left to age past the 90-day limit
    const s = await scenario('kubecost-thanos');
    const first = s.driver();
    await first.driver.rotate('thanos-store');
    s.world.clock.advance(40 * 86_400_000);
    const second = s.driver(first.engine.checkout());
    await second.driver.rotate('thanos-store');
    s.world.clock.advance(60 * 86_400_000);
    const aged = s.world.backend.outputs['thanos-store']!;
    const freed = aged.activeSlot;
    assert.ok(Date.parse(aged.slots[freed]!.createdAt!) < s.world.clock.now().getTime() - 90 * 86_400_000, 'the active key is over age');
    // WHEN it is rotated with the pack on THEN every up passes and the over-age key is replaced
    const result = await s.driver(second.engine.checkout()).driver.rotate('thanos-store');
    assert.equal(result.outcome, 'rotated');
    assert.ok(s.world.backend.ups.slice(-2).every((u) => u.policyPacks.includes('policy')));
    const after = s.world.backend.outputs['thanos-store']!;
    assert.ok(Date.parse(after.slots[freed]!.createdAt!) > s.world.clock.now().getTime() - 86_400_000, 'the freed slot holds a new key');
  });

  it('refuses a stale stack file that would flip onto a regenerated key', async () => {
    const s = await scenario('alwayson-cosmos');
    await s.driver().driver.rotate('cosmos');
    s.world.clock.advance(48 * 3600_000);
    await assert.rejects(
      s.driver(s.checkout).driver.rotate('cosmos'),
      (e: unknown) =>
        e instanceof StaleStackError &&
        /keyslot:generations\.cosmos: found newest generation 2 but newest generation 3 is deployed; fix: pull the current/.test(e.message),
    );
  });

  it('refuses a second rotation while one is in flight and points at resume', async () => {
    const s = await scenario('alwayson-cosmos');
    const counter: CrashCounter = { calls: 0, at: 40, dead: false };
    const ports = s.world.ports(s.checkout);
    const dying = new Driver(
      { ...ports, engine: crashing(ports.engine, counter), clusters: crashing(ports.clusters, counter) },
      { policyPacks: [], holder: 'a' },
    );
    await assert.rejects(dying.rotate('cosmos'), Crash);
    await assert.rejects(
      s.driver().driver.rotate('cosmos'),
      (e: unknown) => e instanceof RotationInFlightError && /keyslot resume --stack alwayson-cosmos --credential cosmos/.test(e.message),
    );
  });

  it('resume with nothing in flight is bad input', async () => {
    const s = await scenario('local');
    await assert.rejects(s.driver().driver.resume('demo'), NothingInFlightError);
  });
});

describe('driver: the lock', () => {
  it('a second rotation of the stack is refused with the holder named; an expired lock is taken over', async () => {
    const s = await scenario('kubecost-thanos');
    const lease = await s.world.clusters.acquireLease('primary', {
      name: 'keyslot-rotation-kubecost-thanos',
      holder: 'ci@agent-1',
      ttlSeconds: 600,
      now: s.world.clock.now(),
    });
    assert.ok(lease.acquired);
    await assert.rejects(s.driver().driver.rotate('thanos-store'), (e: unknown) => e instanceof LockedError && e.holder === 'ci@agent-1');
    s.world.clock.advance(601_000);
    assert.equal((await s.driver().driver.rotate('thanos-store')).outcome, 'rotated');
  });

  it("a lock a killed agent left is free only to a driver that watched it unchanged for its duration (--lock-wait), whatever the dead agent's clock wrote", async () => {
    const s = await scenario('kubecost-thanos');
    const name = 'keyslot-rotation-kubecost-thanos';
    // The dead agent's clock ran two hours behind: by renewTime + duration its lease expired long ago.
    s.world.fleet.cluster('primary').leases.set(`kube-system/${name}`, {
      holder: 'ci@killed',
      renewTime: s.world.clock.now().getTime() - 7_200_000,
      acquireTime: s.world.clock.now().getTime() - 7_200_000,
      durationSeconds: 600,
    });
    // Each agent is a process of its own: its own adapter, its own observations.
    const agent = () => ({
      engine: s.world.ports(s.checkout).engine,
      clusters: new SimulatedClusterFleet(s.world.fleet, s.world.clock),
      clock: s.world.clock,
    });
    const config = parseStackConfig('kubecost-thanos', s.checkout, 'kubecost-thanos');
    await assert.rejects(
      stackLock(config, agent(), 'ci@now', 600).acquire(),
      (e: unknown) => e instanceof LockedError && e.holder === 'ci@killed',
    );
    const started = s.world.clock.now().getTime();
    await stackLock(config, agent(), 'ci@patient', 600, 700).acquire();
    assert.ok(s.world.clock.now().getTime() - started >= 600_000, 'it waited the lease duration, by its own clock');
    assert.equal(s.world.fleet.cluster('primary').leases.get(`kube-system/${name}`)?.holder, 'ci@patient');
  });

  it('without clusters the lock is a stack tag', async () => {
    const s = await scenario('alwayson-cosmos', (raw) => {
      raw.clusters = [];
      (raw.credentials as any[])[0].stages = [];
    });
    await s.world
      .ports(s.checkout)
      .engine.setTag('keyslot:lock', `ci@agent-9|${new Date(s.world.clock.now().getTime() + 60_000).toISOString()}`);
    await assert.rejects(s.driver().driver.rotate('cosmos'), (e: unknown) => e instanceof LockedError && /stack tag/.test(e.message));
  });
});

describe('the simulated engine judges a pack as the engine does', () => {
  it('an up meets resource policies one resource at a time, on inputs: a mandatory violation stops it there, the steps before it applied; a preview changes nothing', async () => {
    const s = await scenario('kubecost-thanos');
    const { engine } = s.driver();
    const before = structuredClone(s.world.backend.outputs['thanos-store']!);
    const stateBefore = new Map(s.world.backend.state);
    // A rotation recorded an hour after the last one (min-rotation-interval, a resource policy on
    // the recorded state), and a bump that replaces the primary IAM key, registered before that state.
    const now = s.world.clock.now().getTime();
    const at = (h: number) => new Date(now + h * 3600_000).toISOString();
    await engine.setConfig('generations.thanos-store.lastRotatedAt', at(-1));
    for (const [k, v] of Object.entries({ id: 'r-probe-thanos-store', startedAt: at(0), from: 'primary', to: 'primary', mode: 'rotate' }))
      await engine.setConfig(`rotations.thanos-store.${k}`, v);
    for (const [slot, g] of Object.entries(before.slots))
      await engine.setConfig(`rotations.thanos-store.generations.${slot}`, String(g.generation));
    await engine.setConfig(
      'generations.thanos-store.primary.generation',
      String(Math.max(...Object.values(before.slots).map((x) => x.generation)) + 1),
    );
    await assert.rejects(engine.preview({ policyPacks: ['policy'] }), /min-rotation-interval \(mandatory\)/);
    assert.deepEqual(new Map(s.world.backend.state), stateBefore, 'a preview changes nothing');
    await assert.rejects(engine.up({ policyPacks: ['policy'] }), /pulumi up failed: policy min-rotation-interval \(mandatory\)/);
    const key = [...s.world.backend.state.keys()].find((k) => k.startsWith('aws:iam/accessKey:AccessKey::') && k.includes('primary'))!;
    assert.ok(key, [...s.world.backend.state.keys()].join('\n'));
    assert.notEqual(s.world.backend.state.get(key)!.id, stateBefore.get(key)!.id, 'the key registered before the violation was replaced');
    assert.deepEqual(s.world.backend.outputs['thanos-store'], before, "the stack outputs are the last finished up's");
  });
});

describe('driver: refusals before any change', () => {
  it('a stack that adopts an existing secret (import) needs Pulumi CLI 3.252 or newer: one line naming why, exit 6, nothing changed', async () => {
    const s = await scenario('alwayson-cosmos');
    s.world.backend.cliVersion = '3.240.0';
    const runs = s.world.backend.runs.length;
    await assert.rejects(
      s.driver().driver.rotate('cosmos'),
      (e: unknown) =>
        e instanceof PulumiCliMissingError &&
        exitCodeFor(e) === 6 &&
        !e.message.includes('\n') &&
        /v3\.240\.0; keyslot:credentials\[0\]\.deliver\[0\] adopts .*v3\.252\.0 or newer.*pulumi\/pulumi#23834/.test(e.message),
    );
    assert.equal(s.world.backend.runs.length, runs, 'no preview or up ran');
    assert.equal(await s.driver().engine.getConfig('rotations.cosmos.id'), undefined);
    s.world.backend.cliVersion = '3.252.0';
    assert.equal((await s.driver().driver.rotate('cosmos')).outcome, 'rotated');
  });

  it('refuses to point an adopted delivery at another secret than the deployed one (Pulumi would import-replace it), before anything changes', async () => {
    const s = await scenario('alwayson-cosmos');
    const checkout = structuredClone(s.driver().engine.checkout()) as { credentials: Array<{ deliver: Array<Record<string, unknown>> }> };
    checkout.credentials[0]!.deliver[1]!.secretName = 'CosmosDb-ApiKey-2';
    const runs = s.world.backend.runs.length;
    await assert.rejects(
      s.driver(checkout as Record<string, unknown>).driver.rotate('cosmos'),
      (e: unknown) =>
        e instanceof ConfigError &&
        exitCodeFor(e) === 2 &&
        /keyslot:credentials\[0\]\.deliver\[1\]: .*secrets\/CosmosDb-ApiKey \(deployed\) to .*secrets\/CosmosDb-ApiKey-2.*import-replace/.test(
          e.message,
        ),
    );
    assert.equal(s.world.backend.runs.length, runs, 'no preview or up ran');
  });

  it('refuses to deliver into a Secret a Helm release owns, naming it and the chart setting that fixes it', async () => {
    const s = await scenario('kubecost-federated-etl');
    // The chart made federated-store from inline values (kubecostModel.federatedStorageConfig).
    s.world.fleet.cluster('agent-eu').secrets.get('kubecost/federated-store')!.labels = { 'app.kubernetes.io/managed-by': 'Helm' };
    s.world.fleet.cluster('agent-eu').secrets.get('kubecost/federated-store')!.annotations['meta.helm.sh/release-name'] = 'kubecost';
    s.world.fleet.cluster('agent-eu').secrets.get('kubecost/federated-store')!.annotations['meta.helm.sh/release-namespace'] = 'kubecost';
    const ups = s.world.backend.ups.length;
    await assert.rejects(s.driver().driver.rotate('federated-store'), (e: unknown) => {
      assert.ok(e instanceof PreflightRefusedError, String(e));
      assert.match(
        (e as Error).message,
        /Secret kubecost\/federated-store on agent-eu belongs to Helm release kubecost\/kubecost, so the next helm upgrade would write .*fix: .*kubecostModel\.federatedStorageConfigSecret/,
      );
      return true;
    });
    assert.equal(s.world.backend.ups.length, ups, 'nothing deployed');
    // Pulumi's own label is not Helm's: a Secret keyslot created is its own.
    s.world.fleet.cluster('agent-eu').secrets.get('kubecost/federated-store')!.labels = { 'app.kubernetes.io/managed-by': 'pulumi' };
    s.world.fleet.cluster('agent-eu').secrets.get('kubecost/federated-store')!.annotations = {};
    assert.equal((await s.driver().driver.rotate('federated-store')).outcome, 'rotated');
  });
});

describe('driver: failures before the gate roll back', () => {
  const failures: [string, (s: Scenario) => void][] = [
    [
      'a rollout that never finishes',
      (s) => {
        s.world.fleet.cluster('primary').workload('kubecost', 'deployment', 'kubecost-thanos-store')!.failRollout = true;
      },
    ],
    [
      'auth errors in the sidecar logs',
      (s) => {
        const cluster = s.world.fleet.cluster('secondary-eu');
        // The backend on this cluster's side still only knows the old key.
        cluster.accepts = (loaded) => !/secondary/.test(loaded);
      },
    ],
    [
      'a cluster that stops answering mid-rotation',
      (s) => {
        const checkLogs = s.world.clusters.checkLogs.bind(s.world.clusters);
        s.world.clusters.checkLogs = async (cluster, check) => {
          if (cluster === 'secondary-us') throw new ClusterUnreachableError('cluster secondary-us is not reachable');
          return checkLogs(cluster, check);
        };
      },
    ],
  ];
  for (const [name, breakIt] of failures) {
    it(`kubecost-thanos with ${name}: flips back, restarts what was restarted, records rolled-back, keeps the old key`, async () => {
      const s = await scenario('kubecost-thanos');
      breakIt(s);
      const { driver, engine } = s.driver();
      await assert.rejects(driver.rotate('thanos-store'), (e: unknown) => e instanceof RolledBackError && /rolled back/.test(e.message));
      const file = engine.checkout() as any;
      assert.equal(file.slots['thanos-store'], 'primary');
      assert.equal(file.rotations?.['thanos-store'], undefined);
      assert.deepEqual(s.world.cloud.regenerations, [], 'nothing regenerated');
      const deployed = await engine.deployed();
      assert.equal(deployed['thanos-store']!.activeSlot, 'primary');
      assert.equal(deployed['thanos-store']!.rotation, undefined);
      assert.ok(s.events.some((e) => e.type === 'rotation-finished' && e.outcome === 'rolled-back'));
      assert.ok(
        s.world.clusters.restarts.some((r) => r.endsWith('-rollback')),
        'restarted consumers restarted again onto the old key',
      );
    });
  }

  it('a failure at each step between the flip and the gate rolls back (kubecost-thanos)', async () => {
    const steps = ['flip', 'up', 'restart', 'restart', 'verify-logs', 'verify-logs'];
    for (const [offset, kind] of steps.entries()) {
      const s = await scenario('kubecost-thanos');
      const ports = s.world.ports(s.checkout);
      let armed = false;
      const inject = <T extends object>(target: T): T =>
        new Proxy(target, {
          get(t, p, r) {
            const value = Reflect.get(t, p, r);
            if (typeof value !== 'function') return value;
            return (...args: unknown[]) => {
              if (armed) {
                armed = false;
                throw new EngineError(`injected failure in ${kind}`);
              }
              return value.apply(t, args);
            };
          },
        });
      const driver = new Driver(
        { ...ports, engine: inject(ports.engine), clusters: inject(ports.clusters) },
        {
          policyPacks: [],
          holder: 'a',
          onEvent: (e) => {
            if (e.type === 'step-started' && e.step === offset + 1) armed = true;
          },
        },
      );
      await assert.rejects(
        driver.rotate('thanos-store'),
        (e: unknown) => e instanceof RolledBackError && e.message.includes(`injected failure in ${kind}`),
        `step ${offset + 1} (${kind})`,
      );
      const deployed = await ports.engine.deployed();
      assert.equal(deployed['thanos-store']!.activeSlot, 'primary', `${kind}: old key active again`);
      assert.equal(deployed['thanos-store']!.rotation, undefined);
      assert.deepEqual(s.world.cloud.regenerations, []);
    }
  });

  it('a self-managed keyset (tls-signing-key): a failed probe rolls it back to the old signer without reusing a generation', async () => {
    const s = await scenario('kops-service-account', selfManagedKeyset);
    s.world.http.statuses.set('https://api.kops-example.k8s.local/readyz', 503);
    const { driver, engine } = s.driver();
    await assert.rejects(driver.rotate('service-account'), RolledBackError);
    const gens = (engine.checkout() as any).generations['service-account'];
    assert.deepEqual([gens.previous.generation, gens.primary.generation, gens.next.generation].map(Number), [3, 2, 4]);
    const signer = s.world.fleet.cluster('kops').secrets.get('kube-system/service-account-signer')!;
    assert.equal(signer.annotations['keyslot.dev/generation'], '2');
    assert.equal(
      s.world.fleet.cluster('kops').secrets.get('kube-system/service-account-verifiers')!.annotations['keyslot.dev/trusts'],
      '3,2,4',
    );
  });

  it('a stamp whose CSI driver never syncs the vault: the wait times out naming it, and the rotation rolls back before any restart there', async () => {
    const s = await scenario('alwayson-cosmos');
    const west = s.world.fleet.cluster('stamp-westeurope');
    // A driver whose rotation poll is off (hours apart): the mounts keep the old version.
    west.enableCsi(24 * 3600_000, (id) => s.world.cloud.storeVersion(id));
    west.csi!.lastPollAt = s.world.clock.nowMs();
    const { driver, engine } = s.driver();
    await assert.rejects(driver.rotate('cosmos'), (e: unknown) => {
      assert.ok(e instanceof RolledBackError, String(e));
      assert.match(
        (e as Error).message,
        /the CSI driver had not synced kv-example-westeurope\/CosmosDb-ApiKey into \d+ pod\(s\) on stamp-westeurope within 600s/,
      );
      return true;
    });
    assert.equal((engine.checkout() as any).slots?.cosmos ?? 'primary', 'primary');
    assert.ok(!s.world.clusters.restarts.some((r) => r.startsWith('stamp-westeurope')), s.world.clusters.restarts.join('\n'));
    assert.equal(s.world.cloud.regenerations.length, 0);
  });

  it('a stamp where no pod reports a mount of the class is not synced: the wait times out naming it, and the rotation rolls back', async () => {
    const s = await scenario('alwayson-cosmos');
    // No workload on the west stamp mounts the SecretProviderClass: nothing there reports a version.
    for (const w of s.world.fleet.cluster('stamp-westeurope').workloads.values())
      delete (w as { secretProviderClass?: string }).secretProviderClass;
    await assert.rejects(s.driver().driver.rotate('cosmos'), (e: unknown) => {
      assert.ok(e instanceof RolledBackError, String(e));
      assert.match((e as Error).message, /no pod of SecretProviderClass \S+ on stamp-westeurope reports a mount/);
      return true;
    });
    assert.equal(s.world.cloud.regenerations.length, 0);
  });

  it('auth errors in logs are reported as the real adapter words them: the pod and container, never the line', async () => {
    const s = await scenario('kubecost-thanos');
    // The backend on secondary-eu still only knows the old key.
    s.world.fleet.cluster('secondary-eu').accepts = (loaded) => !/secondary/.test(loaded);
    await assert.rejects(s.driver().driver.rotate('thanos-store'), (e: unknown) => {
      assert.match(
        (e as Error).message,
        /auth error line\(s\) in kubecost\/deployment\/kubecost-prometheus-server logs on secondary-eu \(kubecost-prometheus-server-\d+-\d+ \[thanos-sidecar\]: auth error/,
      );
      assert.doesNotMatch((e as Error).message, /sim:|Unauthorized|InvalidAccessKeyId/);
      return true;
    });
  });

  it('a standby key the cloud rejects stops the rotation in preflight with nothing changed', async () => {
    const s = await scenario('alwayson-cosmos');
    s.world.cloudKeys.rejected.add('cosmos:cosmos-example-global/secondary');
    const { driver, engine } = s.driver();
    await assert.rejects(driver.rotate('cosmos'), /rejected/);
    assert.equal((engine.checkout() as any).slots, undefined);
    assert.equal(s.world.clusters.restarts.length, 0);
  });
});

describe('driver: failures after the gate halt without rolling back', () => {
  it('a failed regeneration leaves the rotation in flight; resume finishes it', async () => {
    const s = await scenario('alwayson-cosmos');
    const ports = s.world.ports(s.checkout);
    const cloud = {
      ...ports.cloud,
      testKey: ports.cloud.testKey.bind(ports.cloud),
      keyCreatedAt: ports.cloud.keyCreatedAt.bind(ports.cloud),
      keyLastUsedAt: ports.cloud.keyLastUsedAt.bind(ports.cloud),
      setActive: ports.cloud.setActive.bind(ports.cloud),
      vaultSecretVersion: ports.cloud.vaultSecretVersion.bind(ports.cloud),
      regenerate: async () => {
        throw new RollbackImpossibleError('ARM said 500');
      },
    };
    const broken = new Driver({ ...ports, cloud }, { policyPacks: [], holder: 'test@runner' });
    await assert.rejects(broken.rotate('cosmos'), /ARM said 500/);
    const deployed = await ports.engine.deployed();
    assert.ok(deployed.cosmos!.rotation, 'still in flight');
    assert.equal(deployed.cosmos!.activeSlot, 'secondary', 'not rolled back');
    const { driver } = s.driver(ports.engine.checkout());
    await driver.resume('cosmos');
    assert.deepEqual(s.world.cloud.regenerations, ['cosmos:cosmos-example-global/primary']);
  });

  it('rollback after the freed key was regenerated is refused with the reason', async () => {
    const s = await scenario('alwayson-cosmos');
    const ports = s.world.ports(s.checkout);
    const counter: CrashCounter = { calls: 0, at: Number.POSITIVE_INFINITY, dead: false };
    const cloud = crashing(ports.cloud, counter);
    // Die right after the cloud regenerated the freed key.
    const regenerate = cloud.regenerate.bind(cloud);
    cloud.regenerate = async (...args) => {
      const at = await regenerate(...args);
      counter.dead = true;
      return at;
    };
    await assert.rejects(
      new Driver({ ...ports, cloud, engine: crashing(ports.engine, counter) }, { policyPacks: [], holder: 'a' }).rotate('cosmos'),
      Crash,
    );
    s.world.clock.advance(7200_000);
    await assert.rejects(
      s.driver(s.checkout).driver.rollback('cosmos'),
      (e: unknown) => e instanceof RollbackImpossibleError && /already regenerated/.test(e.message),
    );
  });
});

describe('driver: emergency and disruptive paths', () => {
  it('--emergency regenerates the exposed key even when a consumer did not confirm, and lists it', async () => {
    const s = await scenario('kubecost-thanos', (raw) => {
      raw.generations = { 'thanos-store': { lastRotatedAt: '2026-11-25T23:00:00Z' } };
    });
    s.world.fleet.cluster('secondary-us').workload('kubecost', 'deployment', 'kubecost-prometheus-server')!.failRollout = true;
    const result = await s.driver().driver.rotate('thanos-store', 'emergency');
    assert.equal(result.outcome, 'rotated');
    assert.ok(
      result.unconfirmed.some((u) => /kubecost-prometheus-server on secondary-us/.test(u)),
      result.unconfirmed.join('\n'),
    );
    assert.deepEqual(s.world.cloud.regenerations, ['iam:kubecost-thanos-example/primary']);
  });

  it('--disruptive replaces both slots', async () => {
    const s = await scenario('alwayson-cosmos');
    await s.driver().driver.rotate('cosmos', 'disruptive');
    assert.deepEqual(s.world.cloud.regenerations.sort(), [
      'cosmos:cosmos-example-global/primary',
      'cosmos:cosmos-example-global/secondary',
    ]);
  });
});

describe('driver: a crash at any step, resumed from a fresh checkout', () => {
  for (const stack of ['alwayson-cosmos', 'kubecost-thanos']) {
    it(`${stack}: every consumer restarted once after the flip, the freed slot regenerated once`, async () => {
      const clean = await scenario(stack, undefined, { replay: true });
      const credential = Object.keys(await clean.world.ports(clean.checkout).engine.deployed())[0]!;
      const counter: CrashCounter = { calls: 0, at: Number.POSITIVE_INFINITY, dead: false };
      const ports = clean.world.ports(clean.checkout);
      const dying = ['engine', 'clusters', 'cloud'] as const;
      await new Driver(dyingPorts(ports, counter, dying), { policyPacks: [], holder: 'a' }).rotate(credential);
      const total = counter.calls;
      const consumers = clean.world.clusters.restarts.length;

      for (let at = 1; at <= total; at++) {
        const s = await scenario(stack, undefined, { replay: true });
        const c: CrashCounter = { calls: 0, at, dead: false };
        await dies(
          new Driver(dyingPorts(s.world.ports(s.checkout), c, dying), { policyPacks: [], holder: 'ci@agent-1' }).rotate(credential),
          at,
        );
        // A new agent, a fresh checkout, after the dead agent's lock expired.
        s.world.clock.advance(2 * 3600_000);
        const { driver, engine } = s.driver(structuredClone(s.checkout), { holder: 'ci@agent-2' });
        const finished = await takeOver(driver, () => engine.deployed(), [credential]);
        // Died after the last up: nothing was left, and the restarts carry the dead agent's rotation id.
        const rotationId = finished.get(credential)?.rotationId ?? s.world.clusters.restarts[0]!.split(' ').at(-1)!;
        const after = (await engine.deployed())[credential]!;
        assert.equal(after.rotation, undefined, `call ${at}: finished`);
        assert.equal(after.activeSlot, 'secondary', `call ${at}: flipped`);
        assert.equal(s.world.cloud.regenerations.length, 1, `call ${at}: regenerated once (${s.world.cloud.regenerations.join(', ')})`);
        const restarted = restartsOf(s, rotationId);
        assert.equal(restarted.length, consumers, `call ${at}: each consumer restarted once (${restarted.join(', ')})`);
        assert.equal(new Set(restarted).size, consumers);
        everyPodAccepted(s);
      }
    });
  }
});

describe('driver: a kOps rotation killed at any call, kops commands included, finished by a new agent', () => {
  it('the keyset advances exactly once: one keypair made, the old next primary, the old primary previous', async () => {
    const clean = await scenario('kops-service-account', undefined, { replay: true });
    const counter: CrashCounter = { calls: 0, at: Number.POSITIVE_INFINITY, dead: false };
    const ports = clean.world.ports(clean.checkout);
    const dying = ['engine', 'clusters', 'commands'] as const;
    await new Driver(dyingPorts(ports, counter, dying), { policyPacks: [], holder: 'a' }).rotate('service-account');
    const total = counter.calls;
    for (let at = 1; at <= total; at++) {
      const s = await scenario('kops-service-account', undefined, { replay: true });
      const keyset = s.world.kops.get('kops-example.k8s.local')!.keysets.get('service-account')!;
      const [, primary, next] = keyset.items.map((i) => i.id);
      const c: CrashCounter = { calls: 0, at, dead: false };
      await dies(
        new Driver(dyingPorts(s.world.ports(s.checkout), c, dying), { policyPacks: [], holder: 'ci@agent-1' }).rotate('service-account'),
        at,
      );
      s.world.clock.advance(2 * 3600_000);
      const { driver, engine } = s.driver(structuredClone(s.checkout), { holder: 'ci@agent-2' });
      await takeOver(driver, () => engine.deployed(), ['service-account']);
      assert.equal(keyset.items.length, 4, `call ${at}: one keypair made (${keyset.items.map((i) => i.id).join(', ')})`);
      assert.equal(keyset.primary, next, `call ${at}: the old next signs`);
      const trusted = keyset.items.filter((i) => i.distrustedAt === undefined).map((i) => i.id);
      assert.deepEqual(trusted, [primary, next, keyset.items[3]!.id], `call ${at}: previous, primary, next`);
      assert.equal((await engine.deployed())['service-account']!.rotation, undefined, `call ${at}: finished`);
      everyPodAccepted(s);
    }
  });
});

describe('driver: optional stages', () => {
  it('says where an optional workload does not exist, in the events, instead of skipping it silently', async () => {
    const s = await scenario('kubecost-federated-etl');
    const agent = s.world.fleet.cluster('agent-eu');
    for (const key of [...agent.workloads.keys()]) if (key.includes('aggregator')) agent.workloads.delete(key);
    assert.equal((await s.driver().driver.rotate('federated-store')).outcome, 'rotated');
    const skipped = s.events.filter((e) => e.type === 'cluster-finished' && e.outcome === 'skipped');
    assert.ok(skipped.length >= 1, JSON.stringify(skipped));
    for (const e of skipped)
      assert.match(
        (e as { detail: string }).detail,
        /^kubecost\/(statefulset\/kubecost-aggregator or deployment\/kubecost-aggregator|deployment\/kubecost-cloud-cost|deployment\/kubecost-diagnostics) does not exist on (\S+) \(optional\)$/,
      );
    assert.ok(
      skipped.some(
        (e) => (e as { cluster: string; detail: string }).cluster === 'agent-eu' && /aggregator/.test((e as { detail: string }).detail),
      ),
    );
  });
});

describe('driver: a two-credential run killed at any step, finished from a fresh checkout', () => {
  const names = ['thanos-store', 'thanos-store-b'];

  it('adopts what is deployed for every credential (no commit ever landed), then resumes or starts what is left', async () => {
    const clean = await scenario('kubecost-thanos', twoCredentials, { replay: true });
    const counter: CrashCounter = { calls: 0, at: Number.POSITIVE_INFINITY, dead: false };
    const ports = clean.world.ports(clean.checkout);
    const dying = ['engine', 'clusters', 'cloud'] as const;
    const whole = new Driver(dyingPorts(ports, counter, dying), { policyPacks: ['policy'], holder: 'a' });
    for (const name of names) await whole.rotate(name);
    const total = counter.calls;

    for (let at = 1; at <= total; at += 3) {
      // GIVEN an agent rotating both, one after the other, that dies at call `at`
      const s = await scenario('kubecost-thanos', twoCredentials, { replay: true });
      const c: CrashCounter = { calls: 0, at, dead: false };
      const agent1 = new Driver(dyingPorts(s.world.ports(s.checkout), c, dying), { policyPacks: ['policy'], holder: 'ci@agent-1' });
      await dies(
        (async () => {
          for (const name of names) await agent1.rotate(name);
        })(),
        at,
      );
      // WHEN a new agent with a fresh checkout of the repository (nothing was committed) finishes the run
      s.world.clock.advance(2 * 3600_000);
      const { driver, engine } = s.driver(structuredClone(s.checkout), { holder: 'ci@agent-2' });
      const finishing = (await takeOver(driver, () => engine.deployed(), names)).size > 0;
      // THEN both credentials finished, each freed key regenerated once, and the checkout matches the stack
      const after = await engine.deployed();
      for (const name of names) {
        assert.equal(after[name]!.rotation, undefined, `call ${at}: ${name} finished`);
        assert.equal(after[name]!.activeSlot, 'secondary', `call ${at}: ${name} flipped`);
      }
      assert.equal(
        s.world.cloud.regenerations.length,
        2,
        `call ${at}: each freed key replaced once (${s.world.cloud.regenerations.join(', ')})`,
      );
      // Died on its very last call (both rotations deployed and recorded): nothing is left to finish,
      // and what `rotate` does when nothing is due brings the checkout up to date.
      if (!finishing) assert.deepEqual(await driver.adopt(), names, `call ${at}: the checkout was behind`);
      assert.deepEqual(
        names.map((n) =>
          Number(
            (engine.checkout().generations as Record<string, Record<string, { generation: number | string }>>)[n]!.primary!.generation,
          ),
        ),
        names.map((n) => after[n]!.slots.primary!.generation),
        `call ${at}: the checkout holds what is deployed`,
      );
      assert.deepEqual(await driver.adopt(), [], `call ${at}: nothing left to adopt`);
      everyPodAccepted(s);
    }
  });
});

describe('driver: waves and the pipelined schedule', () => {
  const prometheus = (s: Scenario) =>
    s.world.clusters.restarts.filter((r) => r.includes('kubecost-prometheus-server')).map((r) => r.split(' ')[0]);

  it('a failure in the canary stops the rotation before any other cluster is touched, and rolls it back', async () => {
    const s = await scenario('kubecost-thanos');
    // The canary is the lightest cluster: secondary-eu (2 pods; the primary also runs the store).
    s.world.fleet.cluster('secondary-eu').workload('kubecost', 'deployment', 'kubecost-prometheus-server')!.failRollout = true;
    await assert.rejects(s.driver().driver.rotate('thanos-store'), RolledBackError);
    // The rest of the fleet never started the stage (the rollback restarts the canary once more,
    // back onto the old key).
    assert.deepEqual([...new Set(prometheus(s))], ['secondary-eu']);
    assert.ok(!s.events.some((e) => e.type === 'cluster-finished' && e.cluster !== 'secondary-eu' && e.kind === 'restart'));
  });

  it('a failure in a later wave: the canary was done, nothing after that wave starts (the store on the primary never restarts)', async () => {
    const s = await scenario('kubecost-thanos');
    s.world.fleet.cluster('secondary-us').workload('kubecost', 'deployment', 'kubecost-prometheus-server')!.failRollout = true;
    await assert.rejects(s.driver().driver.rotate('thanos-store'), RolledBackError);
    // The canary (secondary-eu) ran every stage; the next wave (secondary-us) failed, so the primary,
    // in the wave after it, was never touched. (The rollback restarts what the rotation restarted.)
    assert.deepEqual([...new Set(prometheus(s))].sort(), ['secondary-eu', 'secondary-us']);
    assert.ok(!s.world.clusters.restarts.some((r) => r.startsWith('primary ')), s.world.clusters.restarts.join('\n'));
  });

  it('independent stages (after: the sync) start together on each stamp, and only once the CSI driver synced it', async () => {
    const s = await scenario('alwayson-cosmos');
    assert.equal((await s.driver().driver.rotate('cosmos')).outcome, 'rotated');
    const starts = s.events.filter((e) => e.type === 'step-started' && e.kind === 'restart').map((e) => e.at);
    // Once on the canary stamp, then once on the other: each time the three start together.
    assert.equal(starts.length, 6);
    assert.equal(new Set(starts.slice(0, 3)).size, 1, `the three deployments start together: ${starts.join(', ')}`);
    assert.equal(new Set(starts.slice(3)).size, 1, `the three deployments start together: ${starts.join(', ')}`);
    const synced = s.events.find((e) => e.type === 'cluster-finished' && e.kind === 'wait-secret-sync' && e.cluster === 'stamp-eastus2')!;
    assert.ok(Date.parse(starts[0]!) >= Date.parse(synced.at));
  });

  it('a stage on the same clusters starts on a cluster as soon as the stage before it is done there, not everywhere', async () => {
    // The AlwaysOn deployments in the runbook's order, one after another (no after:).
    // With the per-stage canary (the explicit, faster option): each stage's later waves pipeline.
    const s = await scenario('alwayson-cosmos', (raw) => {
      for (const stage of (raw.credentials as { stages: Record<string, unknown>[] }[])[0]!.stages) delete stage.after;
    });
    assert.equal((await s.driver(s.checkout, { canary: 'per-stage' }).driver.rotate('cosmos')).outcome, 'rotated');
    const at = (type: string, step: number, cluster?: string) =>
      Date.parse(
        s.events.find(
          (e) => e.type === type && 'step' in e && e.step === step && (cluster === undefined || ('cluster' in e && e.cluster === cluster)),
        )!.at,
      );
    const [first, second] = s.events
      .filter((e) => e.type === 'step-started' && e.kind === 'restart')
      .map((e) => (e as { step: number }).step);
    // The second deployment starts on the canary stamp while the first is still rolling on the other.
    assert.ok(at('step-started', second!) < at('step-finished', first!), 'pipelined');
    assert.ok(at('step-started', second!) >= at('cluster-finished', first!, 'stamp-eastus2'), 'in order on the canary stamp');
    // Thanos' fleet-wide order is kept: the store on the primary only after prometheus everywhere.
    const t = await scenario('kubecost-thanos');
    assert.equal((await t.driver().driver.rotate('thanos-store')).outcome, 'rotated');
    const order = t.world.clusters.restarts.map((r) => r.split(' ').slice(0, 2).join(' '));
    assert.ok(
      order.indexOf('primary kubecost/deployment/kubecost-thanos-store') >
        order.lastIndexOf('secondary-us kubecost/deployment/kubecost-prometheus-server'),
    );
  });

  it('the whole-rotation canary (the default): the canary stamp finishes every stage before the other stamp starts one', async () => {
    const s = await scenario('alwayson-cosmos');
    assert.equal((await s.driver().driver.rotate('cosmos')).outcome, 'rotated');
    const finished = s.events.filter((e) => e.type === 'cluster-finished') as { cluster: string; at: string; durationMs: number }[];
    const canaryDone = Math.max(...finished.filter((e) => e.cluster === 'stamp-eastus2').map((e) => Date.parse(e.at)));
    const othersStart = Math.min(...finished.filter((e) => e.cluster !== 'stamp-eastus2').map((e) => Date.parse(e.at) - e.durationMs));
    assert.ok(othersStart >= canaryDone, `${new Date(othersStart).toISOString()} vs ${new Date(canaryDone).toISOString()}`);
  });

  it('--max-restarting-pods caps the pods restarting at once across the fleet', async () => {
    const overlap = async (maxRestartingPods?: number) => {
      const s = await scenario('kubecost-thanos');
      // One wave: the canary phase would serialise the clusters, and this is about the cap.
      await s.driver(s.checkout, { waves: ['100%'], ...(maxRestartingPods ? { maxRestartingPods } : {}) }).driver.rotate('thanos-store');
      // Pods restarting at each moment: every restart holds its workload's replicas (2 here) for its duration.
      const spans = s.events
        .filter((e) => e.type === 'cluster-finished' && e.kind === 'restart')
        .map((e) => ({ end: Date.parse(e.at), start: Date.parse(e.at) - (e as { durationMs: number }).durationMs, pods: 2 }));
      return Math.max(...spans.map((a) => spans.filter((b) => b.start < a.end && a.start < b.end).reduce((n, b) => n + b.pods, 0)));
    };
    assert.ok((await overlap()) > 2, 'without a cap, restarts on different clusters overlap');
    assert.equal(await overlap(2), 2, 'with a cap of 2, one workload of 2 replicas at a time');
  });

  it('emergencies go everywhere at once: waves are for the zero-downtime path', async () => {
    const s = await scenario('kubecost-thanos');
    s.world.fleet.cluster('primary').workload('kubecost', 'deployment', 'kubecost-prometheus-server')!.failRollout = true;
    const result = await s.driver().driver.rotate('thanos-store', 'emergency');
    assert.equal(result.outcome, 'rotated');
    assert.deepEqual(prometheus(s).sort(), ['primary', 'secondary-eu', 'secondary-us']);
  });
});

describe('driver: several credentials rotated together', () => {
  const names = ['thanos-store', 'thanos-store-b'];
  const consumers = (s: Scenario) => s.world.clusters.restarts.map((r) => r.split(' ').slice(0, 2).join(' '));
  const dying = ['engine', 'clusters', 'cloud'] as const;
  /** The port calls an uninterrupted rotation of both together makes. */
  const batchCalls = async () => {
    const clean = await scenario('kubecost-thanos', twoCredentials, { replay: true });
    const counter: CrashCounter = { calls: 0, at: Number.POSITIVE_INFINITY, dead: false };
    await new Driver(dyingPorts(clean.world.ports(clean.checkout), counter, dying), {
      policyPacks: ['policy'],
      holder: 'a',
    }).rotateTogether(names);
    return counter.calls;
  };
  /** Both rotated together by an agent that dies at port call `at`; then its lock expires. */
  const killedBatch = async (at: number) => {
    const s = await scenario('kubecost-thanos', twoCredentials, { replay: true });
    const c: CrashCounter = { calls: 0, at, dead: false };
    await dies(
      new Driver(dyingPorts(s.world.ports(s.checkout), c, dying), { policyPacks: ['policy'], holder: 'ci@agent-1' }).rotateTogether(names),
      at,
    );
    s.world.clock.advance(2 * 3600_000);
    return s;
  };

  it('two credentials sharing every consumer: two ups, each consumer restarted once, both freed keys replaced', async () => {
    const s = await scenario('kubecost-thanos', twoCredentials);
    const ups = s.world.backend.ups.length;
    const { driver, engine } = s.driver();
    const results = await driver.rotateTogether(names);
    assert.deepEqual(
      results.map((r) => r.outcome),
      ['rotated', 'rotated'],
    );
    assert.equal(s.world.backend.ups.length - ups, 2, 'one up for both flips, one for both records');
    const restarted = consumers(s);
    assert.ok(restarted.length > 0);
    assert.equal(new Set(restarted).size, restarted.length, `each consumer restarted once: ${restarted.join(', ')}`);
    const deployed = await engine.deployed();
    for (const name of names) {
      assert.equal(deployed[name]!.activeSlot, 'secondary');
      assert.equal(deployed[name]!.rotation, undefined);
      assert.equal(deployed[name]!.slots.primary!.generation, 3, `${name}: the freed key was replaced`);
    }
    // Each credential has its own events and report, the shared steps included.
    for (const name of names)
      assert.ok(s.events.some((e) => e.type === 'cluster-finished' && e.credential === name && e.kind === 'restart'));
    everyPodAccepted(s);
  });

  it('a shared stage that fails rolls both credentials back', async () => {
    const s = await scenario('kubecost-thanos', twoCredentials);
    s.world.fleet.cluster('primary').workload('kubecost', 'deployment', 'kubecost-thanos-store')!.failRollout = true;
    const { driver, engine } = s.driver();
    await assert.rejects(driver.rotateTogether(names), RolledBackError);
    const deployed = await engine.deployed();
    for (const name of names) {
      assert.equal(deployed[name]!.activeSlot, 'primary', `${name}: flipped back`);
      assert.equal(deployed[name]!.rotation, undefined);
    }
  });

  it('rotations whose stage orders cross go one after another', async () => {
    const s = await scenario('kubecost-thanos', (raw) => {
      twoCredentials(raw);
      const second = (raw.credentials as { stages: unknown[] }[])[1]!;
      second.stages = [...second.stages].reverse();
    });
    const ups = s.world.backend.ups.length;
    const results = await s.driver().driver.rotateTogether(names);
    assert.deepEqual(
      results.map((r) => r.outcome),
      ['rotated', 'rotated'],
    );
    assert.equal(s.world.backend.ups.length - ups, 4, 'two ups each');
  });

  it('a batch never strands a credential: killed anywhere, then each resumed or rolled back alone, in either order, from a fresh checkout', async () => {
    // Property over kill points x which credential goes first x resume or rollback, seeded.
    const total = await batchCalls();
    let seed = 7;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 14; round++) {
      const at = 1 + next(total);
      const order = next(2) === 0 ? names : [...names].reverse();
      const actions = order.map(() => (next(2) === 0 ? 'resume' : 'rollback'));
      const label = `kill at ${at}, ${order.map((n, i) => `${actions[i]} ${n}`).join(' then ')}`;
      const s = await killedBatch(at);
      // Each credential from its own fresh checkout, as separate pipeline re-runs would.
      for (const [i, name] of order.entries()) {
        const { driver, engine } = s.driver(structuredClone(s.checkout), { holder: `ci@rerun-${i}` });
        const before = await engine.deployed();
        const other = names.find((n) => n !== name)!;
        if (before[name]?.rotation) {
          if (actions[i] === 'rollback') {
            await driver.rollback(name).catch(async (e: unknown) => {
              // Past the regeneration, a rollback is impossible: finish it instead.
              if (!(e instanceof RollbackImpossibleError)) throw e;
              await s.driver(structuredClone(s.checkout), { holder: `ci@rerun-${i}b` }).driver.resume(name);
            });
          } else await driver.resume(name);
        }
        const after = await engine.deployed();
        // Acting on one credential never moves the other.
        assert.deepEqual(
          [after[other]?.rotation?.id, after[other]?.activeSlot],
          [before[other]?.rotation?.id, before[other]?.activeSlot],
          `${label}: ${other} untouched by ${actions[i]} ${name}`,
        );
      }
      const final = await s.driver(structuredClone(s.checkout)).engine.deployed();
      for (const name of names) {
        const d = final[name]!;
        assert.equal(d.rotation, undefined, `${label}: ${name} ended rotated or rolled back`);
        // The fleet agrees with the record: each delivered Secret carries the deployed active slot.
        const secret = name === 'thanos-store' ? 'kubecost-thanos' : 'kubecost-thanos-b';
        for (const cluster of ['primary', 'secondary-eu', 'secondary-us'])
          assert.equal(
            s.world.fleet.cluster(cluster).secrets.get(`kubecost/${secret}`)?.annotations['keyslot.dev/slot'],
            d.activeSlot,
            `${label}: ${cluster} ${secret}`,
          );
      }
      everyPodAccepted(s);
    }
  });

  it("a checkout waiting for the lock does not take another agent's live rotation for settled", async () => {
    for (let at = 5; at <= 60; at += 5) {
      const s = await scenario('kubecost-thanos', twoCredentials);
      const c: CrashCounter = { calls: 0, at, dead: false };
      await new Driver(dyingPorts(s.world.ports(s.checkout), c, dying), { policyPacks: ['policy'], holder: 'ci@agent-1' })
        .rotate('thanos-store')
        .catch(() => undefined);
      const { driver, engine } = s.driver(structuredClone(s.checkout), { holder: 'ci@agent-2' });
      if (!(await engine.deployed())['thanos-store']?.rotation) continue;
      // Agent 1's lock is still held: agent 2 is refused, and its checkout keeps no record of agent 1's rotation.
      await assert.rejects(driver.rotate('thanos-store-b'), LockedError);
      assert.equal((engine.checkout() as { rotations?: Record<string, unknown> }).rotations?.['thanos-store'], undefined, `kill at ${at}`);
      // Once the lock expired, the rotation it adopts under the lock is finished by resume.
      s.world.clock.advance(2 * 3600_000);
      const later = s.driver(structuredClone(s.checkout), { holder: 'ci@agent-3' });
      assert.equal((await later.driver.rotate('thanos-store-b')).outcome, 'rotated');
      assert.ok((await later.engine.deployed())['thanos-store']!.rotation, 'the other rotation is still in flight, not erased');
      assert.equal(
        (await s.driver(structuredClone(s.checkout), { holder: 'ci@agent-4' }).driver.resume('thanos-store')).outcome,
        'rotated',
      );
      everyPodAccepted(s);
      return;
    }
    assert.fail('no kill point left a rotation in flight');
  });

  it('killed at any call, each credential is finished from a fresh checkout by resume (or a new rotation)', async () => {
    const total = await batchCalls();
    for (let at = 1; at <= total; at += 2) {
      const s = await killedBatch(at);
      const { driver, engine } = s.driver(structuredClone(s.checkout), { holder: 'ci@agent-2' });
      await takeOver(driver, () => engine.deployed(), names);
      const after = await engine.deployed();
      for (const name of names) {
        assert.equal(after[name]!.rotation, undefined, `call ${at}: ${name} finished`);
        assert.equal(after[name]!.activeSlot, 'secondary', `call ${at}: ${name} flipped`);
      }
      everyPodAccepted(s);
    }
  });
});
