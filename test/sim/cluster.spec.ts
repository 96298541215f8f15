import assert from 'node:assert/strict';
import { defaultStrategy, rolloutDurationMs, SimCluster, type WorkloadKind } from '../../src/sim/cluster.ts';

/** Restarts one workload and samples its pods at every moment the rollout acts. */
function roll(kind: WorkloadKind, replicas: number, strategy = defaultStrategy(kind, replicas)) {
  let t = 1_000_000;
  const cluster = new SimCluster('c', { now: () => new Date(t), sleep: async () => undefined });
  const w = cluster.addWorkload({ kind, namespace: 'n', name: 'w', replicas, podStartMs: 10_000, strategy });
  cluster.restart(w, {});
  const started = t;
  const samples: { ready: number; total: number }[] = [];
  for (;;) {
    cluster.sync();
    samples.push({ ready: w.pods.filter((p) => p.readyAt <= t).length, total: w.pods.length });
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

  for (const [kind, replicas] of [['deployment', 1], ['deployment', 2], ['deployment', 4], ['deployment', 10], ['statefulset', 2], ['statefulset', 3], ['daemonset', 2]] as const) {
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
    for (const [kind, replicas] of [['deployment', 4], ['statefulset', 3], ['deployment', 10]] as const) {
      assert.equal(rolloutDurationMs({ kind, replicas, podStartMs: 10_000, ...defaultStrategy(kind, replicas) }), roll(kind, replicas).tookMs);
    }
  });
});
