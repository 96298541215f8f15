import assert from 'node:assert/strict';
import { listStacks, readStackFile } from '../../src/config/load.ts';
import { programRuns, runDrill, type DrillResult } from '../../src/drill/drill.ts';
import { tokenReissueCheck, type CredentialPlan, type Step } from '../../src/model/planner.ts';
import { loadReferenceWorld } from '../../src/drill/worldFile.ts';
import { twoCredentials } from '../driver/world.ts';

/** Seeds per stack with faults; CI runs the full 200, a quick local run can set fewer. */
const seeds = Number(process.env.KEYSLOT_DRILL_SEEDS ?? 200);

function violated(r: DrillResult): string[] {
  return r.invariants.filter((i) => !i.held).map((i) => `${i.name}: ${i.detail}`);
}

describe('drill: every stack, many seeds, with faults', function () {
  // Each stack runs its seeds in one test: minutes, not the default minute.
  this.timeout(20 * 60_000);
  for (const stack of listStacks()) {
    it(`${stack}: ${seeds} seeds, no failed request, every invariant held`, async () => {
      const { raw } = readStackFile(stack);
      const faults = new Set<string>();
      for (let seed = 1; seed <= seeds; seed++) {
        const r = await runDrill(stack, raw, { seed, faults: true });
        faults.add(r.fault);
        assert.deepEqual(violated(r), [], `${stack} seed ${seed} (${r.fault})`);
      }
      if (seeds >= 50) assert.equal(faults.size, 7, `every fault kind was drawn: ${[...faults].join(', ')}`);
    });
  }
});

describe('drill: deterministic', () => {
  it('a replayed program run is the run the program would make: every stack, with faults, gives the same drill either way', async () => {
    const before = programRuns();
    for (const stack of listStacks()) {
      const { raw } = readStackFile(stack);
      for (let seed = 1; seed <= 4; seed++) {
        const executed = await runDrill(stack, raw, { seed, faults: true, replay: false });
        // Twice with replay: the first may record, the second replays what it can.
        await runDrill(stack, raw, { seed, faults: true });
        const replayed = await runDrill(stack, raw, { seed, faults: true });
        assert.deepEqual(
          { events: replayed.events, outcomes: replayed.outcomes, requests: replayed.requests, failed: replayed.failed },
          { events: executed.events, outcomes: executed.outcomes, requests: executed.requests, failed: executed.failed },
          `${stack} seed ${seed}`,
        );
      }
    }
    const after = programRuns();
    assert.ok(after.replayed - before.replayed > 40, `runs were replayed (${after.replayed - before.replayed})`);
  });

  it('the same seed gives the same run, to the event', async () => {
    const { raw } = readStackFile('kubecost-thanos');
    const a = await runDrill('kubecost-thanos', raw, { seed: 7, faults: true });
    const b = await runDrill('kubecost-thanos', raw, { seed: 7, faults: true });
    assert.deepEqual(b.events, a.events);
    assert.equal(b.requests, a.requests);
    const c = await runDrill('kubecost-thanos', raw, { seed: 8, faults: true });
    assert.notDeepEqual(c.events, a.events);
  });

  it('the driver adds no waiting of its own: makespan equals the critical path', async () => {
    const { raw } = readStackFile('kubecost-thanos');
    const r = await runDrill('kubecost-thanos', raw, { seed: 3 });
    assert.ok(r.boundMs > 0);
    assert.ok(r.makespanMs / r.boundMs <= 1.05, `${r.makespanMs} vs ${r.boundMs}`);
    assert.equal(r.ups, 2, 'a dual rotation takes two ups');
  });
});

describe('drill: catches real mistakes', () => {
  it('a consumer that no stage restarts fails requests once the freed key is regenerated', async () => {
    const { raw } = readStackFile('kubecost-thanos');
    const r = await runDrill('kubecost-thanos', raw, {
      seed: 1,
      editWorld: (world) => {
        world.fleet.cluster('secondary-eu').addWorkload({
          kind: 'deployment',
          namespace: 'kubecost',
          name: 'forgotten-exporter',
          replicas: 1,
          secrets: ['kubecost-thanos'],
        });
      },
    });
    const broken = violated(r).join('\n');
    assert.match(broken, /no failed request: .*secondary-eu kubecost\/forgotten-exporter/);
    assert.match(broken, /no key invalidated while a live pod held it: secondary-eu kubecost\/forgotten-exporter/);
  });

  it('a rotation that rolls back on a fleet with nothing injected is a violation, not a pass', async () => {
    // A rollback is the right answer to a fault; on a healthy fleet it means the plan or the driver is wrong.
    const r = await runDrill('kubecost-thanos', readStackFile('kubecost-thanos').raw, {
      seed: 1,
      editWorld: (world) => {
        world.fleet.cluster('primary').workloads.get('kubecost/deployment/kubecost-thanos-store')!.failRollout = true;
      },
    });
    assert.equal(r.fault, 'none');
    assert.deepEqual(r.outcomes, { 'thanos-store': 'rolled back' });
    assert.deepEqual(violated(r), ['every rotation finished, or rolled back from an injected fault: thanos-store: rolled back']);
  });

  it('a single-replica StatefulSet has a gap while it restarts, and the drill names it', async () => {
    // The chart's default: one aggregator replica (kubecostAggregator.replicas: 1).
    const r = await runDrill('kubecost-federated-etl', readStackFile('kubecost-federated-etl').raw, {
      seed: 1,
      editWorld: (world) => {
        const primary = world.fleet.cluster('primary');
        primary.workloads.delete('kubecost/statefulset/kubecost-aggregator');
        primary.addWorkload({
          kind: 'statefulset',
          namespace: 'kubecost',
          name: 'kubecost-aggregator',
          replicas: 1,
          podStartMs: 12_000,
          podStopMs: 3000,
          containers: ['aggregator'],
          secrets: ['federated-store'],
        });
      },
    });
    // The old pod shuts down (3 s) before its replacement may start (12 s): a StatefulSet replaces in place.
    assert.deepEqual(violated(r), ['no downtime: without a ready pod: primary kubecost/statefulset/kubecost-aggregator for 15s']);
  });

  it('a plan that regenerates before the restarts invalidates keys that pods hold', async () => {
    const regenerateFirst = (plan: CredentialPlan): CredentialPlan => {
      const steps = [...plan.steps];
      const regen = steps.findIndex((s) => s.kind === 'regenerate');
      const [step] = steps.splice(regen, 1);
      steps.splice(
        steps.findIndex((s) => s.kind === 'restart'),
        0,
        step!,
      );
      return { ...plan, steps };
    };
    for (const stack of ['alwayson-cosmos', 'kubecost-federated-etl']) {
      const r = await runDrill(stack, readStackFile(stack).raw, { seed: 1, planHook: regenerateFirst });
      assert.match(violated(r).join('\n'), /no key invalidated while a live pod held it/, stack);
    }
  });

  it('a plan that regenerates before thanos-store on the primary restarted: the store is cut off until it restarts', async () => {
    const gateBeforeStore = (plan: CredentialPlan): CredentialPlan => {
      const steps: Step[] = plan.steps.filter((s) => s.kind !== 'gate' && s.kind !== 'regenerate');
      const store = steps.findIndex((s) => s.kind === 'restart' && s.workload === 'deployment/kubecost-thanos-store');
      // An IAM key is replaced by an up: the mutated plan runs one right after the regeneration.
      const pick = (kind: string) => plan.steps.find((s) => s.kind === kind)!;
      steps.splice(store, 0, pick('gate'), pick('regenerate'), pick('up'));
      return { ...plan, steps };
    };
    const r = await runDrill('kubecost-thanos', readStackFile('kubecost-thanos').raw, { seed: 1, planHook: gateBeforeStore });
    const broken = violated(r).join('\n');
    assert.match(broken, /no key invalidated while a live pod held it: primary kubecost\/kubecost-thanos-store/);
    assert.match(broken, /no failed request: .*primary kubecost\/kubecost-thanos-store/);
  });

  it('thanos-store before prometheus on the other clusters: with two IAM keys both valid until the gate, no request fails, and the drill says so', async () => {
    // The runbook's order is not load-bearing for a dual-key credential: S3 accepts either active
    // key of the user for reads and writes, and the old one is valid until every consumer moved.
    // A drill that failed this plan would be inventing a failure; the timeline shows the order.
    const storeFirst = (plan: CredentialPlan): CredentialPlan => {
      const steps = [...plan.steps];
      const store = steps.findIndex((s) => s.kind === 'restart' && s.workload === 'deployment/kubecost-thanos-store');
      const [step] = steps.splice(store, 1);
      steps.splice(
        steps.findIndex((s) => s.kind === 'restart'),
        0,
        step!,
      );
      return { ...plan, steps };
    };
    const r = await runDrill('kubecost-thanos', readStackFile('kubecost-thanos').raw, { seed: 1, planHook: storeFirst });
    assert.deepEqual(violated(r), []);
    const restarts = r.events
      .filter((e) => e.type === 'cluster-finished' && e.kind === 'restart')
      .map((e) => `${(e as { cluster: string; detail?: string }).cluster} ${(e as { detail?: string }).detail}`);
    // The canary (secondary-eu, no store) runs first; on the rest of the fleet the store goes first.
    const first = (what: RegExp) => restarts.findIndex((r) => what.test(r));
    assert.ok(
      first(/deployment\/kubecost-thanos-store/) < first(/^(primary|secondary-us) deployment\/kubecost-prometheus-server/),
      restarts.join('\n'),
    );
  });

  it('a kOps keyset advanced while a legacy token signed by the key it drops is in use: refused; without the check, caught', async () => {
    const { raw } = readStackFile('kops-service-account');
    // A CI deployer whose legacy token was made while the previous key signed (before the last rotation).
    const editWorld = (world: Parameters<NonNullable<Parameters<typeof runDrill>[2]['editWorld']>>[0]) => {
      const store = world.kops.get('kops-example.k8s.local')!;
      const previous = store.keysets.get('service-account')!.items[0]!.id;
      const c = world.fleet.cluster('kops');
      c.addLegacyToken('ci', 'deployer-token', 'deployer', `sim:kops:kops-example.k8s.local/private@${previous}`);
      c.addWorkload({ kind: 'deployment', namespace: 'ci', name: 'deployer', replicas: 2, secrets: ['deployer-token'] });
      c.bootPods();
    };
    const guarded = await runDrill('kops-service-account', raw, { seed: 1, editWorld });
    // Refused in preflight, naming the Secret: nothing changed, nothing failed (the drill still
    // reports the rotation as not finished, for a human to reissue the token).
    assert.equal(guarded.failed, 0);
    assert.match(guarded.outcomes['service-account']!, /legacy service-account token Secret\(s\) .*\(ci\/deployer-token\)/);
    assert.deepEqual(
      violated(guarded).map((v) => v.split(':')[0]),
      ['every rotation finished, or rolled back from an injected fault'],
    );
    // The mutation: a plan whose preflight forgets the token check.
    const unchecked = (plan: CredentialPlan): CredentialPlan => ({
      ...plan,
      steps: plan.steps.map((s) =>
        s.kind === 'preflight' ? { ...s, checks: s.checks.filter((c) => !c.startsWith(tokenReissueCheck)) } : s,
      ),
    });
    const r = await runDrill('kops-service-account', raw, { seed: 1, editWorld, planHook: unchecked });
    assert.match(violated(r).join('\n'), /no failed request: .*kops ci\/deployer/);
  });

  it("AlwaysOn: the wait lasts until the CSI driver's next poll, and a restart alone mounts the new version (upstream)", async () => {
    const { raw } = readStackFile('alwayson-cosmos');
    const healthy = await runDrill('alwayson-cosmos', raw, { seed: 1 });
    assert.deepEqual(violated(healthy), []);
    const waited = healthy.events.find((e) => e.type === 'cluster-finished' && e.kind === 'wait-secret-sync') as {
      durationMs: number;
      detail: string;
    };
    // The reference world's AKS add-on polls every 5 minutes (AlwaysOn's kubernetes.tf).
    assert.ok(waited.durationMs > 0 && waited.durationMs <= 300_000, 'the wait lasts until the next poll');
    assert.match(waited.detail, /pod\(s\) mount kv-example-eastus2\/CosmosDb-ApiKey version …[0-9a-f]{6}$/);
    // Without the wait: NodePublishVolume fetches each object's current version when a pod starts
    // (kubernetes-sigs/secrets-store-csi-driver v1.5.6, pkg/secrets-store/nodeserver.go), so the
    // restarted pods already hold the new key; the wait is a check, not what moves them.
    const noWait = (plan: CredentialPlan): CredentialPlan => ({ ...plan, steps: plan.steps.filter((s) => s.kind !== 'wait-secret-sync') });
    const r = await runDrill('alwayson-cosmos', raw, { seed: 1, planHook: noWait });
    assert.deepEqual(violated(r), []);
    // Without the restarts, the pinned CosmosClient keeps the old key, whatever the mount holds.
    const noRestart = (plan: CredentialPlan): CredentialPlan => ({
      ...plan,
      steps: plan.steps.filter((s) => !(s.kind === 'restart' && s.workload === 'deployment/catalogservice-deploy')),
    });
    const forgot = await runDrill('alwayson-cosmos', raw, { seed: 1, planHook: noRestart });
    assert.match(violated(forgot).join('\n'), /the fleet ends on live keys: stamp-eastus2 workload\/deployment\/catalogservice-deploy/);
  });

  it('an emergency rotation past a stuck consumer counts the failures it caused, and still fails a fleet left on the dead key', async () => {
    const { raw } = readStackFile('kubecost-thanos');
    const r = await runDrill('kubecost-thanos', raw, {
      seed: 2,
      mode: 'emergency',
      editWorld: (world) => {
        world.fleet.cluster('secondary-us').workload('kubecost', 'deployment', 'kubecost-prometheus-server')!.failRollout = true;
      },
    });
    assert.ok(r.failed > 0, 'the pods stuck on the exposed key fail once it is regenerated');
    // Failures are counted, not refused, in an emergency; a fleet left on a dead key never passes.
    assert.equal(violated(r).length, 1, violated(r).join('\n'));
    assert.match(
      violated(r)[0]!,
      /^the fleet ends on live keys: (secondary-us kubecost\/deployment\/kubecost-prometheus-server \S+(; )?)+$/,
    );
  });
});

describe('drill: a delivery missing for one cluster', () => {
  it('does not look healthy: the consumer there never starts, and the drill says so', async () => {
    const raw = structuredClone(readStackFile('kubecost-thanos').raw) as Record<string, any>;
    raw.credentials[0].deliver[0].clusters = ['primary', 'secondary-eu'];
    const r = await runDrill('kubecost-thanos', raw, { seed: 1 });
    assert.match(violated(r).join('\n'), /no downtime: without a ready pod: secondary-us kubecost\/deployment\/kubecost-prometheus-server/);
  });
});

describe('drill: a Gardener stage whose selector matches nothing', () => {
  it('is not a success: wait-reconciled on a binding no Shoot uses is refused in preflight, before the flip', async () => {
    const { raw } = readStackFile('gardener-provider-secret');
    // The fleet as it really is: no Shoot uses the binding the stage names (a typo, a retired binding).
    const r = await runDrill('gardener-provider-secret', raw, {
      seed: 1,
      editWorld: (world) => {
        for (const c of world.fleet.clusters.values()) c.shoots.clear();
      },
    });
    assert.match(
      Object.values(r.outcomes)[0]!,
      /^failed: refused before any change: cluster garden: no Shoot matches the stage's selector \(shoots of secretBinding provider-aws in /,
    );
    assert.equal(r.ups, 0, 'nothing deployed');
    assert.deepEqual(
      violated(r).map((v) => v.split(':')[0]),
      ['every rotation finished, or rolled back from an injected fault'],
    );
  });
});

describe('drill: the policy pack is on, as in production', () => {
  it('rotates a credential whose freed key is past maxAgeDays: the pack judges that slot by the rotation curing it', async () => {
    const raw = structuredClone(readStackFile('alwayson-cosmos').raw) as Record<string, any>;
    // primary (active, about to be freed) is 200 days old; the 180-day limit is passed. secondary is fresh.
    raw.generations = {
      cosmos: {
        primary: { generation: 1, createdAt: '2026-05-08T00:00:00Z' },
        secondary: { generation: 2, createdAt: '2026-11-20T00:00:00Z' },
      },
    };
    const r = await runDrill('alwayson-cosmos', raw, { seed: 1 });
    assert.deepEqual(violated(r), []);
    assert.equal(r.outcomes.cosmos, 'rotated');
  });
});

describe('drill: several credentials in one stack', () => {
  it('judges each rotation on its own: a consumer of two credentials restarted once by each is not "restarted twice"', async () => {
    const raw = structuredClone(readStackFile('kubecost-thanos').raw) as Record<string, any>;
    // A second credential delivered next to the first and read by the same consumers.
    const second = structuredClone(raw.credentials[0]);
    second.name = 'thanos-store-b';
    second.source.userName = 'kubecost-thanos-b';
    second.deliver[0].name = 'kubecost-thanos-b';
    raw.credentials.push(second);
    const world = bothSecretsRead();
    // One after another (rotate --credential, one at a time): each rotation restarts the consumers once.
    const r = await runDrill('kubecost-thanos', raw, { seed: 3, together: false, world });
    assert.deepEqual(violated(r), []);
    assert.deepEqual(Object.values(r.outcomes), ['rotated', 'rotated']);
    assert.match(r.invariants.find((i) => i.name.startsWith('each consumer'))!.detail, /^\d+ consumer\(s\)$/);
    assert.equal(r.restartsPerConsumer, 2);
    assert.equal(r.ups, 4);
    // Together (rotate --all): one up for both flips, one for both records, each consumer restarted once.
    const together = await runDrill('kubecost-thanos', raw, { seed: 3, world });
    assert.deepEqual(violated(together), []);
    assert.equal(together.restartsPerConsumer, 1);
    assert.equal(together.ups, 2);
    // And under every fault, the two keep every invariant.
    for (let seed = 1; seed <= 40; seed++) {
      const f = await runDrill('kubecost-thanos', raw, { seed, faults: true, world });
      assert.deepEqual(violated(f), [], `seed ${seed} (${f.fault})`);
    }
  });

  it('one restart per consumer per batch, even when two credentials name it with other timeouts or fewer clusters', async () => {
    const raw = structuredClone(readStackFile('kubecost-thanos').raw) as Record<string, any>;
    twoCredentials(raw);
    // The same consumers, said differently: a longer timeout, and prometheus on two clusters only.
    const second = raw.credentials[1];
    for (const stage of second.stages) if (stage.kind === 'restart') stage.timeoutSeconds = 900;
    second.stages[0].clusters = ['primary', 'secondary-eu'];
    const r = await runDrill('kubecost-thanos', raw, { seed: 3, world: bothSecretsRead() });
    assert.deepEqual(violated(r), []);
    assert.deepEqual(Object.values(r.outcomes), ['rotated', 'rotated']);
    assert.equal(r.restartsPerConsumer, 1, 'each consumer restarted once for the batch');
  });
});

/** The Thanos reference world with every consumer also reading a second credential's Secret. */
function bothSecretsRead() {
  const world = structuredClone(loadReferenceWorld('kubecost-thanos')!);
  for (const w of world.description.workloads) (w as { reads: string[] }).reads = [...w.reads, 'kubecost-thanos-b'];
  return { ...world, source: `${world.source}, every consumer also reading kubecost-thanos-b` };
}

/** The stack with one stage taken out, as a user who forgot it would have written it. */
function withoutStage(raw: Record<string, unknown>, credential: number, stage: number): Record<string, unknown> {
  const copy = structuredClone(raw) as { credentials: { stages: { id?: string; after?: string[] }[] }[] };
  const stages = copy.credentials[credential]!.stages;
  const [gone] = stages.splice(stage, 1);
  if (gone?.id) for (const s of stages) if (s.after) s.after = s.after.filter((id) => id !== gone.id);
  return copy as unknown as Record<string, unknown>;
}

describe('drill: the world is the deployment, not the stack (reference worlds)', function () {
  this.timeout(10 * 60_000);

  it('every shipped stack has a reference world, and the drill uses it by default', async () => {
    for (const stack of listStacks()) {
      const r = await runDrill(stack, readStackFile(stack).raw, { seed: 1 });
      assert.match(r.world, new RegExp(`^reference world .*worlds/${stack}\\.yaml$`), stack);
      assert.deepEqual(violated(r), [], stack);
    }
  });

  // Every restart and wait-reconciled stage of every shipped stack is load-bearing against the
  // deployment its runbook rotates: without it, a workload ends on a dead key or a Shoot still uses
  // the old one, and the drill names it. A new stack gets this for free.
  const guarded = (stack: string) =>
    (readStackFile(stack).raw.credentials as { stages?: { kind: string }[] }[]).some((c) =>
      (c.stages ?? []).some((s) => s.kind === 'restart' || s.kind === 'wait-reconciled'),
    );
  for (const stack of listStacks().filter(guarded)) {
    it(`${stack}: each restart and wait-reconciled stage, taken out, fails the drill naming what it left behind`, async () => {
      const { raw } = readStackFile(stack);
      const credentials = raw.credentials as { stages?: Record<string, any>[] }[];
      let checked = 0;
      for (const [c, cred] of credentials.entries()) {
        for (const [i, stage] of (cred.stages ?? []).entries()) {
          if (stage.kind !== 'restart' && stage.kind !== 'wait-reconciled') continue;
          checked += 1;
          const r = await runDrill(stack, withoutStage(raw, c, i), { seed: 1 });
          const broken = violated(r).join('\n');
          const names: string[] =
            stage.kind === 'restart'
              ? (stage.workload ? [stage.workload] : stage.firstExisting).map((w: string) => `${stage.namespace}/${w}`)
              : ['shoot '];
          assert.match(broken, /^the fleet ends on live keys: /m, `${stack} without stage ${i}: ${broken || 'green'}`);
          assert.ok(
            names.some((n) =>
              broken
                .split('\n')
                .find((l) => l.startsWith('the fleet ends'))!
                .includes(n),
            ),
            `${stack} without stage ${i} names one of ${names.join(', ')}: ${broken}`,
          );
        }
      }
      assert.ok(checked > 0, stack);
    });
  }

  it('wait-secret-sync is not what moves AlwaysOn pods: a restarted pod mounts the current version (upstream CSI)', async () => {
    // Documented deviation: the driver's NodePublishVolume asks the provider for each object's
    // current version when a pod starts (kubernetes-sigs/secrets-store-csi-driver v1.5.6,
    // pkg/secrets-store/nodeserver.go), so the restarts alone carry the new key.
    const { raw } = readStackFile('alwayson-cosmos');
    const r = await runDrill('alwayson-cosmos', withoutStage(raw, 0, 0), { seed: 1 });
    assert.deepEqual(violated(r), []);
  });

  it('AlwaysOn on an AKS add-on with rotation off (its default): the wait does not stall, the restarts carry the key', async () => {
    const world = structuredClone(loadReferenceWorld('alwayson-cosmos')!);
    for (const d of world.description.csiDrivers) (d as { rotation: boolean }).rotation = false;
    const r = await runDrill('alwayson-cosmos', readStackFile('alwayson-cosmos').raw, { seed: 1, world });
    assert.deepEqual(violated(r), []);
    const waits = r.events.filter((e) => e.type === 'cluster-finished' && e.kind === 'wait-secret-sync') as {
      detail: string;
      durationMs: number;
    }[];
    assert.equal(waits.length, 2);
    for (const w of waits) {
      assert.match(w.detail, /^CSI secret rotation is off on stamp-\S+: running pods keep their mount until they restart/);
      assert.equal(w.durationMs, 0);
    }
  });

  it('a copy of a shipped stack (--stacks-dir) is judged against the same reference world', async () => {
    const { raw } = readStackFile('kubecost-thanos');
    const r = await runDrill('kubecost-thanos', withoutStage(raw, 0, 4), { seed: 1 });
    assert.match(r.world, /^reference world /);
    assert.match(violated(r).join('\n'), /kubecost\/deployment\/kubecost-diagnostics/);
  });

  it("a stack without a reference world or world file drills against its stages' own world, and says so", async () => {
    const { raw } = readStackFile('kubecost-thanos');
    const r = await runDrill('my-thanos', withoutStage(raw, 0, 4), { seed: 1 });
    assert.match(r.world, /^assumed from the stack's own stages \(cannot show a forgotten consumer/);
    assert.deepEqual(violated(r), [], 'the blind spot the reference worlds close');
  });
});

describe('drill: blind spots and false alarms', () => {
  const reference = (stack: string) => loadReferenceWorld(stack)!;

  it('a consumer that reads a vault secret no delivery writes holds nothing usable and fails', async () => {
    const world = structuredClone(reference('alwayson-cosmos'));
    // The westeurope stamp's pods read a secret the stack never writes (a renamed vault secret).
    const west = world.description.workloads.filter((w) => w.cluster === 'stamp-westeurope');
    for (const w of west) (w as { reads: string[] }).reads = ['store:kv-example-westeurope/CosmosDb-Key'];
    const r = await runDrill('alwayson-cosmos', readStackFile('alwayson-cosmos').raw, { seed: 1, world });
    assert.match(violated(r).join('\n'), /no failed request: .*stamp-westeurope workload\/catalogservice-deploy/);
  });

  it('a workload that also reads a Secret the stack does not manage starts normally', async () => {
    const world = structuredClone(reference('kubecost-thanos'));
    world.description.otherSecrets.push({ cluster: 'primary', namespace: 'kubecost', name: 'kubecost-license' });
    for (const w of world.description.workloads)
      if (w.cluster === 'primary' && w.name === 'kubecost-cost-analyzer')
        (w as { reads: string[] }).reads = [...w.reads, 'kubecost-license'];
    const r = await runDrill('kubecost-thanos', readStackFile('kubecost-thanos').raw, { seed: 1, world });
    assert.deepEqual(violated(r), []);
  });

  it('a pod is live only if every credential it holds is: a consumer of two keys fails when one dies', async () => {
    const world = structuredClone(reference('kubecost-thanos'));
    // The team's exporter reads the Thanos key and the federated key of another stack (never rotated here,
    // but dead: a key no cloud holds).
    world.description.otherSecrets.push({ cluster: 'primary', namespace: 'kubecost', name: 'stale' });
    world.description.workloads.push({
      ...world.description.workloads[0]!,
      name: 'two-key-exporter',
      containers: ['exporter'],
      reads: ['kubecost-thanos', 'stale'],
    });
    const r = await runDrill('kubecost-thanos', readStackFile('kubecost-thanos').raw, {
      seed: 1,
      world,
      editWorld: (w) => w.fleet.cluster('primary').applySecret('kubecost', 'stale', { key: 'sim:iam:someone-else/primary#999' }),
    });
    assert.match(violated(r).join('\n'), /the fleet ends on live keys: .*primary kubecost\/deployment\/two-key-exporter/);
  });

  it('a key inside a connection string is recognised: ${connectionString}-style values drill as cleanly as ${key}', async () => {
    const { raw } = readStackFile('kubecost-federated-etl');
    const copy = structuredClone(raw) as { credentials: { deliver: { data: Record<string, string> }[] }[] };
    copy.credentials[0]!.deliver[0]!.data = {
      'federated-store.yaml':
        'connection: "DefaultEndpointsProtocol=https;AccountName=${accountName};AccountKey=${key};EndpointSuffix=core.windows.net"',
    };
    const r = await runDrill('kubecost-federated-etl', copy as unknown as Record<string, unknown>, { seed: 1 });
    assert.deepEqual(violated(r), []);
  });

  it("the drill's clock starts after the newest time the stack records; a time in the real future is bad input, said plainly", async () => {
    const { raw } = readStackFile('kubecost-thanos');
    const yesterday = new Date(Date.now() - 24 * 3600_000).toISOString();
    const rotated = structuredClone(raw) as Record<string, any>;
    rotated.generations = { 'thanos-store': { lastRotatedAt: yesterday, primary: { generation: 1, createdAt: yesterday } } };
    const r = await runDrill('kubecost-thanos', rotated, { seed: 1 });
    assert.deepEqual(violated(r), []);
    assert.ok(Date.parse(r.events[0]!.at) > Date.parse(yesterday));
    const future = structuredClone(rotated);
    future.generations['thanos-store'].lastRotatedAt = '2099-01-01T00:00:00Z';
    await assert.rejects(runDrill('kubecost-thanos', future, { seed: 1 }), (e: Error) => {
      assert.match(e.message, /keyslot:generations\.thanos-store\.lastRotatedAt: found 2099-01-01T00:00:00Z, after now/);
      return true;
    });
  });

  it('a credential reported rotated must have changed slot and generation: a plan that only records is caught', async () => {
    const recordOnly = (plan: CredentialPlan): CredentialPlan => ({
      ...plan,
      steps: plan.steps.filter((s) => s.kind === 'preflight' || s.kind === 'record'),
    });
    const r = await runDrill('kubecost-cloud-billing', readStackFile('kubecost-cloud-billing').raw, { seed: 1, planHook: recordOnly });
    assert.match(violated(r).join('\n'), /every rotation finished.*failed: reported rotated, but the deployed stack shows slot primary/);
  });

  it('a crash-resume lands after the rotation started, and a stack rotated before still rotates (not "rotated" with no up)', async () => {
    const { raw } = readStackFile('kubecost-cloud-billing');
    const rotated = structuredClone(raw) as Record<string, any>;
    rotated.generations = { 'cloud-billing': { lastRotatedAt: '2026-11-01T00:00:00Z' } };
    let crashes = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const r = await runDrill('kubecost-cloud-billing', rotated, { seed, faults: true });
      if (r.fault !== 'crash-resume') continue;
      assert.deepEqual(violated(r), [], `seed ${seed}`);
      assert.ok(r.ups >= 2, `seed ${seed}: the flip and the regeneration were deployed (${r.ups} ups)`);
      // The crash is drawn from the calls after the first up began; a short rotation may end first.
      if (/the agent died at port call \d+/.test(r.faultDetail)) crashes += 1;
      else assert.equal(r.faultDetail, 'drawn, but nothing in this world to inject it into');
    }
    assert.ok(crashes > 0, 'the seeds drew a crash');
  });

  it('Shoots selected by a binding exist for an annotate stage', async () => {
    const { raw } = readStackFile('gardener-kubeconfig');
    const copy = structuredClone(raw) as Record<string, any>;
    const stage = copy.credentials[0].stages[0];
    delete stage.shoots;
    stage.secretBinding = 'provider-aws';
    const r = await runDrill('my-kubeconfigs', copy, { seed: 1 });
    assert.deepEqual(violated(r), []);
    assert.ok(r.events.some((e) => e.type === 'cluster-finished' && e.kind === 'annotate' && e.outcome === 'done'));
  });
});

describe("drill: Gardener credentials as the landscape's version takes them", () => {
  it('refuses the kubeconfig rotation in preflight on Gardener >= 1.114, naming the version and what replaced it', async () => {
    const world = structuredClone(loadReferenceWorld('gardener-kubeconfig')!);
    (world.description.gardener[0] as { version: string }).version = '1.120.0';
    const r = await runDrill('gardener-kubeconfig', readStackFile('gardener-kubeconfig').raw, { seed: 1, world });
    assert.match(
      r.outcomes['shoot-kubeconfigs']!,
      /^failed: refused before any change: shoot garden-example\/web on garden: Gardener v1\.120\.0 has no rotate-kubeconfig-credentials \(removed in v1\.114.*rotate-credentials-start then rotate-credentials-complete/,
    );
    assert.equal(r.events.filter((e) => e.type === 'cluster-finished').length, 0, 'no Shoot was annotated');
  });

  it('rotates every credential in two phases on a current Gardener: -start, then -complete once Prepared', async () => {
    const world = structuredClone(loadReferenceWorld('gardener-kubeconfig')!);
    (world.description.gardener[0] as { version: string }).version = '1.149.3';
    const raw = structuredClone(readStackFile('gardener-kubeconfig').raw) as Record<string, any>;
    const stage = raw.credentials[0].stages[0];
    raw.credentials[0].stages = [
      { ...stage, operation: 'rotate-credentials-start-without-workers-rollout' },
      { ...stage, operation: 'rotate-credentials-complete' },
    ];
    const r = await runDrill('gardener-kubeconfig', raw, { seed: 1, world });
    assert.deepEqual(violated(r), []);
    const done = r.events.filter((e) => e.type === 'cluster-finished' && e.kind === 'annotate' && e.outcome === 'done');
    assert.equal(done.length, 2);
    // A hibernated Shoot refuses two-phase rotations: refused before anything is annotated.
    (world.description.shoots[1] as { hibernated: boolean }).hibernated = true;
    const hibernated = await runDrill('gardener-kubeconfig', raw, { seed: 1, world });
    assert.match(
      hibernated.outcomes['shoot-kubeconfigs']!,
      /shoot garden-example\/batch on garden: rotate-credentials-start-without-workers-rollout is not permitted while the shoot is hibernated/,
    );
  });
});

describe('drill: a canary that protects the fleet', () => {
  // Five clusters, an api then a worker reading one Secret; every worker crashes on the new key.
  const fiveClusters = (): Record<string, unknown> => ({
    clusters: ['c1', 'c2', 'c3', 'c4', 'c5'].map((name, i) => ({ name, context: `ctx-${name}`, primary: i === 0 })),
    credentials: [
      {
        name: 'app',
        source: { type: 'random', length: 24 },
        deliver: [{ type: 'kubernetes-secret', namespace: 'app', name: 'app-key', data: { password: '${value}' } }],
        stages: [
          { kind: 'restart', namespace: 'app', workload: 'deployment/api' },
          { kind: 'restart', namespace: 'app', workload: 'deployment/worker' },
        ],
        maxAgeDays: 30,
        minIntervalHours: 0,
      },
    ],
  });
  const workersCrash = (world: Parameters<NonNullable<Parameters<typeof runDrill>[2]['editWorld']>>[0]) => {
    for (const c of world.fleet.clusters.values()) {
      const worker = c.workloads.get('app/deployment/worker');
      if (!worker) continue;
      const known = new Set(c.presentedKeys().map((p) => p.pod.loaded));
      worker.crashesOn = (loaded) => !known.has(loaded);
    }
  };

  it('a worker that crashes on the new key in the canary: nothing outside the canary restarts, and the canary alone rolls back', async () => {
    const r = await runDrill('five', fiveClusters(), { seed: 1, editWorld: workersCrash });
    assert.deepEqual(r.outcomes, { app: 'rolled back' });
    const touched = new Set(r.events.flatMap((e) => (e.type === 'cluster-finished' ? [e.cluster] : [])));
    assert.deepEqual([...touched], ['c1'], 'only the canary cluster ran a stage');
    const canaryRule = r.invariants.find((i) => i.name.startsWith('no cluster outside the canary'))!;
    assert.equal(canaryRule.held, true, canaryRule.detail);
  });

  it('the per-stage canary (an explicit option) lets the api roll over the fleet while the canary worker fails, and the drill says so', async () => {
    const r = await runDrill('five', fiveClusters(), { seed: 1, editWorld: workersCrash, canary: 'per-stage' });
    const canaryRule = r.invariants.find((i) => i.name.startsWith('no cluster outside the canary'))!;
    assert.equal(canaryRule.held, false);
    assert.match(canaryRule.detail, /c2.*started stages before any cluster had finished its own/);
  });
});

describe('drill: the physical bound is an oracle of its own', () => {
  it('is a lower bound of every shipped stack, and a broken pipelining moves the makespan but not the bound', async () => {
    for (const stack of listStacks()) {
      const r = await runDrill(stack, readStackFile(stack).raw, { seed: 2 });
      assert.ok(r.physicalBoundMs <= r.makespanMs, `${stack}: ${r.physicalBoundMs} <= ${r.makespanMs}`);
    }
    // Federated ETL: every stage on the same clusters, so a stage starts on a cluster as soon as the
    // one before is done there.
    const { raw } = readStackFile('kubecost-federated-etl');
    const healthy = await runDrill('kubecost-federated-etl', raw, { seed: 3, waves: ['100%'] });
    assert.ok(healthy.makespanMs / healthy.physicalBoundMs <= 1.02, `${healthy.makespanMs} vs ${healthy.physicalBoundMs}`);
    // A regression: stages no longer seen as acting on the same clusters, so each waits for the
    // whole of the one before instead of pipelining per cluster. The oracle, read from the stack as
    // written, does not move with it.
    const broken = (plan: CredentialPlan): CredentialPlan => ({
      ...plan,
      steps: plan.steps.map((s, i) => ('stage' in s && i % 2 === 0 ? { ...s, clusters: [...s.clusters].reverse() } : s)),
    });
    const r = await runDrill('kubecost-federated-etl', raw, { seed: 3, waves: ['100%'], planHook: broken });
    assert.ok(r.makespanMs > healthy.makespanMs, 'the regression is slower');
    assert.equal(r.physicalBoundMs, healthy.physicalBoundMs);
    assert.ok(r.makespanMs / r.physicalBoundMs > 1.05, `the oracle shows it: ${(r.makespanMs / r.physicalBoundMs).toFixed(2)}`);
  });
});

describe('drill: what the review of this round found', () => {
  it('CSI rotation off: a pod of the class that no stage restarts is caught at the gate, and the rotation rolls back', async () => {
    const world = structuredClone(loadReferenceWorld('alwayson-cosmos')!);
    for (const d of world.description.csiDrivers) (d as { rotation: boolean }).rotation = false;
    // A fourth service mounting azure-kv on the westeurope stamp that the stack does not restart.
    world.description.workloads.push({
      ...world.description.workloads.find((w) => w.cluster === 'stamp-westeurope')!,
      name: 'reportingservice-deploy',
    });
    const r = await runDrill('alwayson-cosmos', readStackFile('alwayson-cosmos').raw, { seed: 1, world });
    assert.deepEqual(r.outcomes, { cosmos: 'rolled back' });
    const gate = r.events.find((e) => e.type === 'step-finished' && e.kind === 'gate') as { detail?: string } | undefined;
    assert.match(JSON.stringify(r.events), /reportingservice-deploy/);
    assert.ok(gate === undefined || gate.detail !== 'every consumer confirmed');
    assert.equal(r.invariants.find((i) => i.name === 'the fleet ends on live keys')!.held, true, 'rolled back before the old key went');
  });

  it('wait-reconciled: a Shoot whose last operation Failed is refused in preflight, before the flip', async () => {
    const { raw } = readStackFile('gardener-provider-secret');
    const r = await runDrill('gardener-provider-secret', raw, {
      seed: 1,
      editWorld: (world) => {
        const shoot = world.fleet.cluster('garden').shoots.get('garden-example/prod-us')!;
        shoot.lastOperation = { type: 'Reconcile', state: 'Failed', lastUpdateTime: '2026-11-24T00:00:00.000Z', doneAt: 0 };
      },
    });
    assert.match(
      r.outcomes['provider-aws']!,
      /^failed: refused before any change: cluster garden: shoot garden-example\/prod-us: last operation Failed.*operation=retry/,
    );
    assert.equal(r.ups, 0, 'nothing deployed');
  });
});

describe('drill: the SecretBinding is read, not assumed', () => {
  it('a binding whose secretRef is not the delivered Secret is refused in preflight, naming both', async () => {
    const world = structuredClone(loadReferenceWorld('gardener-provider-secret')!);
    // The landscape's binding provider-aws points at another Secret than the one the stack writes.
    (world.description.bindings[0] as { secret: string }).secret = 'aws-credentials';
    world.description.otherSecrets.push({ cluster: 'garden', namespace: 'garden-example', name: 'aws-credentials' });
    const r = await runDrill('gardener-provider-secret', readStackFile('gardener-provider-secret').raw, { seed: 1, world });
    assert.match(
      r.outcomes['provider-aws']!,
      /refused before any change: .*SecretBinding garden-example\/provider-aws refers to Secret aws-credentials, which provider-aws does not deliver \(it delivers provider-aws\)/,
    );
    assert.equal(r.ups, 0);
  });
});

describe('drill: Secrets synced by the CSI driver (secretObjects)', () => {
  /** AlwaysOn with each stamp's class also syncing the key into a Secret the services read as env. */
  const syncedWorld = (rotation: boolean) => {
    const world = structuredClone(loadReferenceWorld('alwayson-cosmos')!);
    for (const d of world.description.csiDrivers) (d as { rotation: boolean }).rotation = rotation;
    for (const stamp of ['eastus2', 'westeurope'])
      world.description.secretProviderClasses.push({
        cluster: `stamp-${stamp}`,
        namespace: 'workload',
        name: 'azure-kv',
        syncs: [{ secret: 'cosmos-key', from: `store:kv-example-${stamp}/CosmosDb-ApiKey` }],
      });
    for (const w of world.description.workloads) (w as { reads: string[] }).reads = [...w.reads, 'cosmos-key'];
    return world;
  };

  it('with rotation on, the wait covers the synced Secret too: the restarts read its new value', async () => {
    const r = await runDrill('alwayson-cosmos', readStackFile('alwayson-cosmos').raw, { seed: 1, world: syncedWorld(true) });
    assert.deepEqual(violated(r), []);
    // Here the wait is load-bearing: restarted before the rotation pass, the services read the
    // synced Secret's old value, and fail once the freed key is regenerated.
    const forgot = await runDrill('alwayson-cosmos', withoutStage(readStackFile('alwayson-cosmos').raw, 0, 0), {
      seed: 1,
      world: syncedWorld(true),
    });
    assert.match(violated(forgot).join('\n'), /the fleet ends on live keys: stamp-\S+ workload\/deployment\/catalogservice-deploy/);
  });

  it('with rotation off, the synced Secret would never change: refused before any restart, and rolled back', async () => {
    const r = await runDrill('alwayson-cosmos', readStackFile('alwayson-cosmos').raw, { seed: 1, world: syncedWorld(false) });
    assert.deepEqual(r.outcomes, { cosmos: 'rolled back' });
    assert.match(JSON.stringify(r.events), /syncs Secret\(s\) cosmos-key through secretObjects, and the CSI driver's rotation is off/);
    assert.equal(r.events.filter((e) => e.type === 'cluster-finished' && e.kind === 'restart' && e.outcome === 'done').length, 0);
    assert.equal(r.invariants.find((i) => i.name === 'the fleet ends on live keys')!.held, true);
  });
});
