import assert from 'node:assert/strict';
import { KubernetesClusterFleet, plainKubeConfig } from '../../src/adapters/clusters/kubernetes.ts';
import { ClusterUnreachableError, LogsUnreadableError, RolloutFailedError } from '../../src/errors.ts';
import { SimClock } from '../../src/sim/clock.ts';
import { SimFleet, type SimCluster } from '../../src/sim/cluster.ts';
import { KubeApiEmulator } from '../fixtures/kubeApiEmulator.ts';

describe('adapter: Kubernetes (client-node) against the API emulator on 127.0.0.1', () => {
  let clock: SimClock;
  let cluster: SimCluster;
  let emulator: KubeApiEmulator;
  let fleet: KubernetesClusterFleet;
  const prom = { namespace: 'kubecost', workload: 'deployment/prometheus' };

  beforeEach(async () => {
    clock = new SimClock('2026-11-24T00:00:00Z');
    cluster = new SimFleet(clock).cluster('eu');
    cluster.applySecret('kubecost', 'thanos', { key: 'k1' });
    cluster.addWorkload({ kind: 'deployment', namespace: 'kubecost', name: 'prometheus', replicas: 2, podStartMs: 3000, containers: ['prometheus', 'thanos-sidecar'], secrets: ['thanos'] });
    emulator = new KubeApiEmulator(cluster, clock);
    fleet = new KubernetesClusterFleet(new Map([['eu', plainKubeConfig(await emulator.start())]]), clock, 1000);
  });
  afterEach(() => emulator.stop());

  it('answers ping, finds workloads, and says absent for a missing one', async () => {
    await fleet.ping('eu');
    assert.equal(await fleet.exists('eu', prom), true);
    assert.equal(await fleet.exists('eu', { namespace: 'kubecost', workload: 'statefulset/thanos-store' }), false);
    assert.deepEqual(await fleet.restart('eu', { namespace: 'kubecost', workload: 'deployment/aggregator' }, 'r-1'), { outcome: 'absent' });
  });

  it('restarts like kubectl rollout restart, stamps the rotation id, and waits for the rollout', async () => {
    assert.deepEqual(await fleet.restart('eu', prom, 'r-1'), { outcome: 'restarted' });
    assert.ok(emulator.requests.includes('PATCH /apis/apps/v1/namespaces/kubecost/deployments/prometheus'));
    const w = cluster.workload('kubecost', 'deployment', 'prometheus')!;
    assert.equal(w.templateAnnotations['kubectl.kubernetes.io/restartedAt'], '2026-11-24T00:00:00.000Z');
    assert.equal(await fleet.restartStamp('eu', prom), 'r-1');
    await fleet.waitRollout('eu', prom, 60);
    assert.ok(clock.now().getTime() - Date.parse('2026-11-24T00:00:00Z') >= 6000, 'two pods, 3 s each');
    assert.ok(w.pods.every((p) => p.revision === w.revision));
    assert.deepEqual(await fleet.restart('eu', prom, 'r-1'), { outcome: 'already' });
  });

  it('fails a rollout that reports ProgressDeadlineExceeded, and one that times out', async () => {
    cluster.workload('kubecost', 'deployment', 'prometheus')!.failRollout = true;
    await fleet.restart('eu', prom, 'r-2');
    await assert.rejects(fleet.waitRollout('eu', prom, 30), (e: unknown) => e instanceof RolloutFailedError && /not finished after 30s/.test(e.message));
    await assert.rejects(fleet.waitRollout('eu', prom, 1200), (e: unknown) => e instanceof RolloutFailedError && /ProgressDeadlineExceeded/.test(e.message));
  });

  it('finds auth errors in the named container and never returns the line itself', async () => {
    cluster.accepts = (loaded) => !loaded.includes('k2');
    cluster.applySecret('kubecost', 'thanos', { key: 'k2' });
    const since = clock.now();
    await fleet.restart('eu', prom, 'r-3');
    await fleet.waitRollout('eu', prom, 60);
    const found = await fleet.checkLogs('eu', { ...prom, container: 'thanos-sidecar', patterns: ['unauthori[sz]ed'], since, windowSeconds: 30 });
    assert.equal(found.length, 2);
    assert.ok(found.every((f) => /: auth error$/.test(f)));
    cluster.accepts = undefined;
  });

  it('passes clean logs, and fails when logs cannot be read', async () => {
    const since = clock.now();
    assert.deepEqual(await fleet.checkLogs('eu', { ...prom, patterns: ['unauthori[sz]ed'], since, windowSeconds: 10 }), []);
    await assert.rejects(fleet.checkLogs('eu', { namespace: 'kubecost', workload: 'deployment/missing', patterns: ['x'], since, windowSeconds: 1 }), LogsUnreadableError);
  });

  it('classifies server errors as an unreachable cluster', async () => {
    emulator.failNext = { count: 1, status: 503 };
    await assert.rejects(fleet.ping('eu'), ClusterUnreachableError);
  });

  it('holds the lock Lease: creates it, refuses another holder until it expires, then hands it over', async () => {
    const now = clock.now();
    assert.deepEqual(await fleet.acquireLease('eu', { name: 'keyslot-rotation-x', holder: 'a', ttlSeconds: 60, now }), { acquired: true });
    const refused = await fleet.acquireLease('eu', { name: 'keyslot-rotation-x', holder: 'b', ttlSeconds: 60, now });
    assert.equal(refused.acquired, false);
    assert.equal(!refused.acquired && refused.lease.holder, 'a');
    assert.deepEqual(await fleet.acquireLease('eu', { name: 'keyslot-rotation-x', holder: 'b', ttlSeconds: 60, now: new Date(now.getTime() + 61_000) }), { acquired: true });
    await fleet.releaseLease('eu', { name: 'keyslot-rotation-x', holder: 'a' });
    assert.equal(cluster.leases.get('kube-system/keyslot-rotation-x')?.holder, 'b', 'only the holder releases');
    await fleet.releaseLease('eu', { name: 'keyslot-rotation-x', holder: 'b' });
    assert.equal(cluster.leases.has('kube-system/keyslot-rotation-x'), false);
  });
});
