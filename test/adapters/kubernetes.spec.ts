import assert from 'node:assert/strict';
import { KubernetesClusterFleet, plainKubeConfig } from '../../src/adapters/clusters/kubernetes.ts';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { ApiUnavailableError, ClusterUnreachableError, ForbiddenError, LogsUnreadableError, RolloutFailedError, ShootBeingDeletedError } from '../../src/errors.ts';
import { SimClock } from '../../src/sim/clock.ts';
import { SimFleet, type SimCluster } from '../../src/sim/cluster.ts';
import { KubeApiEmulator } from '../fixtures/kubeApiEmulator.ts';

const fastRetry = { retries: 2, minTimeoutMs: 1, maxTimeoutMs: 5 };

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
    fleet = new KubernetesClusterFleet(new Map([['eu', plainKubeConfig(await emulator.start())]]), clock, 1000, fastRetry);
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

  it('retries 429 and 5xx with backoff, then gives up with a typed error', async () => {
    emulator.failNext = { count: 2, status: 503 };
    await fleet.ping('eu');
    assert.equal(emulator.requests.filter((r) => r === 'GET /version').length, 3, 'two failures, then success');
    emulator.failNext = { count: 10, status: 429 };
    await assert.rejects(fleet.ping('eu'), (e: unknown) => e instanceof ApiUnavailableError && /HTTP 429 after 3 attempts/.test(e.message));
  });

  it('retries a conflicting restart patch, and says which permission a 403 lacks', async () => {
    emulator.failNext = { count: 1, status: 409, match: /^PATCH / };
    assert.deepEqual(await fleet.restart('eu', prom, 'r-9'), { outcome: 'restarted' });
    assert.equal(emulator.requests.filter((r) => r.startsWith('PATCH ')).length, 2);
    emulator.forbidden = /deployments\/prometheus$/;
    await assert.rejects(fleet.exists('eu', prom), (e: unknown) => e instanceof ForbiddenError && /grant get deployments\.apps in namespace kubecost/.test(e.message));
  });

  it('calls a cluster that does not answer unreachable', async () => {
    const dead = new KubernetesClusterFleet(new Map([['gone', plainKubeConfig('http://127.0.0.1:9')]]), clock, 1000, fastRetry);
    await assert.rejects(dead.ping('gone'), ClusterUnreachableError);
    await assert.rejects(dead.ping('unknown'), (e: unknown) => e instanceof ClusterUnreachableError && /no kubeconfig/.test(e.message));
  });

  it('fails a log check whose logs cannot be read', async () => {
    emulator.failNext = { count: 10, status: 500, match: /\/log$/ };
    await assert.rejects(fleet.checkLogs('eu', { ...prom, patterns: ['x'], since: clock.now(), windowSeconds: 1 }), (e: unknown) => e instanceof LogsUnreadableError && /cannot read logs fails/.test(e.message));
  });

  it('lists the workloads that read a Secret (consumer discovery)', async () => {
    cluster.addWorkload({ kind: 'statefulset', namespace: 'kubecost', name: 'thanos-store', replicas: 1, secrets: ['thanos', 'other'] });
    cluster.addWorkload({ kind: 'daemonset', namespace: 'kubecost', name: 'node-exporter', secrets: [] });
    const found = await fleet.listConsumers('eu', 'kubecost', ['thanos']);
    assert.deepEqual(
      found.map((c) => [c.workload, c.secrets, c.replicas]),
      [
        ['deployment/prometheus', ['thanos'], 2],
        ['statefulset/thanos-store', ['thanos'], 1],
      ],
    );
    assert.deepEqual(found[0]!.containers, ['prometheus', 'thanos-sidecar']);
  });

  it('hands exec a kubeconfig for this cluster alone, readable by its user, gone afterwards', async () => {
    let seen = '';
    const text = await fleet.withKubeconfig('eu', async (path) => {
      seen = path;
      assert.equal(statSync(path).mode & 0o777, 0o600);
      return readFileSync(path, 'utf8');
    });
    assert.match(text, /"server":"http:\/\/127\.0\.0\.1:\d+"/);
    assert.equal(JSON.parse(text).contexts.length, 1);
    assert.equal(existsSync(seen), false);
  });

  describe('Gardener shoots', () => {
    const since = () => new Date(clock.now().getTime() - 1000);
    beforeEach(() => {
      cluster.addShoot('garden-dev', 'alpha', 'aws-creds', 'aws-secret');
      cluster.addShoot('garden-dev', 'beta', 'aws-creds', 'aws-secret');
      cluster.addShoot('garden-dev', 'other', 'azure-creds', 'azure-secret');
    });

    it('annotates every shoot of a binding and waits for .status.credentials.rotation to complete', async () => {
      const start = since();
      await fleet.annotateShoots('eu', { namespace: 'garden-dev', secretBinding: 'aws-creds', operation: 'rotate-kubeconfig-credentials', since: start, timeoutSeconds: 600 });
      const patched = emulator.requests.filter((r) => r.startsWith('PATCH /apis/core.gardener.cloud'));
      assert.deepEqual(patched, ['PATCH /apis/core.gardener.cloud/v1beta1/namespaces/garden-dev/shoots/alpha', 'PATCH /apis/core.gardener.cloud/v1beta1/namespaces/garden-dev/shoots/beta']);
      for (const name of ['alpha', 'beta']) assert.ok(Date.parse(cluster.shoots.get(`garden-dev/${name}`)!.rotation.kubeconfig!.lastCompletionTime!) > start.getTime());
      assert.equal(cluster.shoots.get('garden-dev/other')!.rotation.kubeconfig, undefined);
    });

    it('refuses shoots being deleted, before annotating any', async () => {
      cluster.shoots.get('garden-dev/beta')!.deletionTimestamp = '2026-11-23T00:00:00Z';
      await assert.rejects(fleet.annotateShoots('eu', { namespace: 'garden-dev', secretBinding: 'aws-creds', operation: 'rotate-kubeconfig-credentials', since: since(), timeoutSeconds: 60 }), (e: unknown) => e instanceof ShootBeingDeletedError && /garden-dev\/beta/.test(e.message));
      assert.equal(emulator.requests.filter((r) => r.startsWith('PATCH ')).length, 0);
      cluster.shoots.get('garden-dev/beta')!.deletionTimestamp = undefined;
      cluster.shoots.get('garden-dev/alpha')!.annotations['confirmation.gardener.cloud/deletion'] = 'true';
      await assert.rejects(fleet.annotateShoots('eu', { namespace: 'garden-dev', shoots: ['alpha'], operation: 'rotate-kubeconfig-credentials', since: since(), timeoutSeconds: 60 }), ShootBeingDeletedError);
    });

    it('times out when a rotation does not complete', async () => {
      await assert.rejects(fleet.annotateShoots('eu', { namespace: 'garden-dev', shoots: ['alpha'], operation: 'rotate-kubeconfig-credentials', since: since(), timeoutSeconds: 10 }), /not completed after 10s for shoot\(s\) alpha/);
    });

    it('waits until every shoot of the binding reconciled after the secret changed', async () => {
      const start = clock.now();
      cluster.applySecret('garden-dev', 'aws-secret', { accessKeyID: 'new' });
      await fleet.waitShootsReconciled('eu', { namespace: 'garden-dev', secretBinding: 'aws-creds', since: start, timeoutSeconds: 600 });
      assert.ok(clock.now().getTime() - start.getTime() >= 60_000, 'Gardener takes a minute in the model');
      await assert.rejects(fleet.waitShootsReconciled('eu', { namespace: 'garden-dev', secretBinding: 'aws-creds', since: new Date(clock.now().getTime() + 1), timeoutSeconds: 30 }), /not completed after 30s/);
    });
  });

  it('loses a Lease race cleanly: a 409 on renewal re-reads and reports the winner', async () => {
    const now = clock.now();
    await fleet.acquireLease('eu', { name: 'lock', holder: 'a', ttlSeconds: 1, now });
    // Another driver takes the expired lease between our read and our write.
    emulator.failNext = { count: 1, status: 409, match: /^PUT / };
    const later = new Date(now.getTime() + 5000);
    cluster.leases.set('kube-system/lock', { holder: 'c', renewTime: later.getTime(), durationSeconds: 60, resourceVersion: 7 });
    const result = await fleet.acquireLease('eu', { name: 'lock', holder: 'b', ttlSeconds: 60, now: later });
    assert.equal(result.acquired, false);
    assert.equal(!result.acquired && result.lease.holder, 'c');
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
