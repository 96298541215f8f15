import assert from 'node:assert/strict';
import { defaultStrategy, rolloutDurationMs, SimCluster, type WorkloadKind, type WorkloadSpec } from '../../src/sim/cluster.ts';

/** Restarts one workload and samples its pods at every moment the rollout acts. */
function roll(kind: WorkloadKind, replicas: number, strategy = defaultStrategy(kind, replicas), extra: Partial<WorkloadSpec> = {}) {
  let t = 1_000_000;
  const cluster = new SimCluster('c', { now: () => new Date(t), sleep: async () => undefined });
  const w = cluster.addWorkload({ kind, namespace: 'n', name: 'w', replicas, podStartMs: 10_000, podStopMs: 0, strategy, ...extra });
  cluster.restart(w, {});
  const started = t;
  const samples: { ready: number; total: number; terminating: number }[] = [];
  for (;;) {
    cluster.sync();
    samples.push({ ready: w.pods.filter((p) => p.readyAt <= t).length, total: w.pods.length, terminating: w.terminating.length });
    if (cluster.rolloutStatus(w).complete) break;
    t = cluster.nextChangeAt(w)!;
  }
  return { samples, tookMs: t - started, strategy };
}

describe('simulated cluster: rolling updates follow maxSurge/maxUnavailable', () => {
  it("uses Kubernetes' defaults: Deployments 25 % surge up / unavailable down, StatefulSets and DaemonSets one in place", () => {
    assert.deepEqual(defaultStrategy('deployment', 1), { maxSurge: 1, maxUnavailable: 0 });
    assert.deepEqual(defaultStrategy('deployment', 4), { maxSurge: 1, maxUnavailable: 1 });
    assert.deepEqual(defaultStrategy('deployment', 10), { maxSurge: 3, maxUnavailable: 2 });
    assert.deepEqual(defaultStrategy('statefulset', 3), { maxSurge: 0, maxUnavailable: 1 });
    assert.deepEqual(defaultStrategy('daemonset', 3), { maxSurge: 0, maxUnavailable: 1 });
  });

  for (const [kind, replicas] of [
    ['deployment', 1],
    ['deployment', 2],
    ['deployment', 4],
    ['deployment', 10],
    ['statefulset', 2],
    ['statefulset', 3],
    ['daemonset', 2],
  ] as const) {
    it(`${kind} × ${replicas}: never more than maxSurge extra pods nor fewer than replicas - maxUnavailable ready`, () => {
      const { samples, strategy } = roll(kind, replicas);
      for (const s of samples) {
        assert.ok(s.total <= replicas + strategy.maxSurge, JSON.stringify(s));
        assert.ok(s.ready >= replicas - strategy.maxUnavailable, JSON.stringify(s));
      }
    });
  }

  it('a single-replica StatefulSet cannot restart without a moment with no ready pod', () => {
    const { samples } = roll('statefulset', 1);
    assert.ok(samples.some((s) => s.ready === 0));
  });

  it('takes as many pod start-ups as its strategy needs waves, and the bound uses the same rule', () => {
    assert.equal(roll('deployment', 2).tookMs, 20_000);
    assert.equal(roll('deployment', 4).tookMs, 20_000, 'surge 1 + unavailable 1: two pods at a time');
    assert.equal(roll('statefulset', 3).tookMs, 30_000);
    for (const [kind, replicas] of [
      ['deployment', 4],
      ['statefulset', 3],
      ['deployment', 10],
    ] as const) {
      assert.equal(
        rolloutDurationMs({ kind, replicas, podStartMs: 10_000, podStopMs: 0, ...defaultStrategy(kind, replicas) }),
        roll(kind, replicas).tookMs,
      );
    }
  });

  it('counts a Terminating pod as not done: a Deployment completes when the old pods are gone, a StatefulSet replaces in place after each exit', () => {
    // Deployment × 2 (surge 1, unavailable 0): two waves of 10 s, then the last old pod's 3 s exit.
    assert.equal(roll('deployment', 2, undefined, { podStopMs: 3000 }).tookMs, 23_000);
    // StatefulSet × 3: each pod exits (3 s) before its replacement starts (10 s).
    assert.equal(roll('statefulset', 3, undefined, { podStopMs: 3000 }).tookMs, 39_000);
    const { samples } = roll('deployment', 2, undefined, { podStopMs: 3000 });
    assert.ok(
      samples.some((s) => s.terminating > 0 && s.total === 2),
      'Terminating pods are outside the active count',
    );
    assert.equal(
      rolloutDurationMs({ kind: 'statefulset', replicas: 3, podStartMs: 10_000, podStopMs: 3000, maxSurge: 0, maxUnavailable: 1 }),
      39_000,
    );
  });

  it('does not roll a paused Deployment, an OnDelete StatefulSet, or the partitioned ordinals of a StatefulSet', () => {
    let t = 0;
    const cluster = new SimCluster('c', { now: () => new Date(t), sleep: async () => undefined });
    const paused = cluster.addWorkload({ kind: 'deployment', namespace: 'n', name: 'p', replicas: 2, paused: true });
    const onDelete = cluster.addWorkload({ kind: 'statefulset', namespace: 'n', name: 'o', replicas: 2, updateStrategy: 'OnDelete' });
    const partitioned = cluster.addWorkload({ kind: 'statefulset', namespace: 'n', name: 's', replicas: 3, partition: 2 });
    for (const w of [paused, onDelete, partitioned]) cluster.restart(w, { at: 'x' });
    t = 3_600_000;
    assert.equal(cluster.rolloutStatus(paused).updated, 0);
    assert.equal(cluster.rolloutStatus(paused).failed, undefined, 'a paused rollout has no deadline');
    assert.equal(cluster.rolloutStatus(onDelete).updated, 0);
    assert.deepEqual(
      [cluster.rolloutStatus(partitioned).updated, cluster.rolloutStatus(partitioned).oldPods, cluster.rolloutStatus(partitioned).complete],
      [1, 2, false],
    );
    cluster.setPaused(paused, false);
    t += 60_000;
    assert.equal(cluster.rolloutStatus(paused).complete, true);
  });

  it('keeps reporting the last failure until the controller observes a new generation', () => {
    let t = 0;
    const cluster = new SimCluster('c', { now: () => new Date(t), sleep: async () => undefined });
    cluster.controllerLagMs = 500;
    const w = cluster.addWorkload({ kind: 'deployment', namespace: 'n', name: 'w', replicas: 1, progressDeadlineSeconds: 60 });
    w.failRollout = true;
    cluster.restart(w, { at: '1' });
    t = 120_000;
    assert.equal(cluster.rolloutStatus(w).failed, 'ProgressDeadlineExceeded');
    cluster.restart(w, { at: '2' });
    w.failRollout = false;
    assert.deepEqual([cluster.rolloutStatus(w).observed, cluster.rolloutStatus(w).failed], [false, 'ProgressDeadlineExceeded']);
    t += 500;
    assert.deepEqual([cluster.rolloutStatus(w).observed, cluster.rolloutStatus(w).failed], [true, undefined]);
  });

  it('does not start a pod whose Secret is not there (CreateContainerConfigError), and starts it once the Secret exists', () => {
    let t = 0;
    const cluster = new SimCluster('c', { now: () => new Date(t), sleep: async () => undefined });
    const w = cluster.addWorkload({ kind: 'deployment', namespace: 'n', name: 'w', replicas: 1, secrets: ['missing'] });
    assert.equal(w.pods[0]!.waiting, 'CreateContainerConfigError');
    assert.equal(w.pods[0]!.readyAt, Infinity);
    cluster.applySecret('n', 'missing', { k: 'v' });
    cluster.restart(w, { at: '1' });
    t = 60_000;
    assert.equal(cluster.rolloutStatus(w).complete, true);
    assert.equal(w.pods[0]!.waiting, undefined);
  });
});
