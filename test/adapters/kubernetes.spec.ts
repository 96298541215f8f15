import assert from 'node:assert/strict';
import { helmRelease } from '../../src/model/helm.ts';
import { kubeConfigsFor, KubernetesClusterFleet, plainKubeConfig } from '../../src/adapters/clusters/kubernetes.ts';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ApiUnavailableError,
  ClusterUnreachableError,
  ConfigError,
  ConsumerNotReadyError,
  ForbiddenError,
  LogsUnreadableError,
  ResourceNotFoundError,
  RolloutFailedError,
  ShootBeingDeletedError,
} from '../../src/errors.ts';
import { SimClock } from '../../src/sim/clock.ts';
import { SimFleet, simKeyId, type SimCluster } from '../../src/sim/cluster.ts';
import { addCsiConsumer } from '../fixtures/csi.ts';
import { KubeApiEmulator } from '../fixtures/kubeApiEmulator.ts';
import { FastClock } from '../fixtures/kubectl.ts';

const fastRetry = { retries: 2, minTimeoutMs: 1, maxTimeoutMs: 5 };

describe("adapter: Kubernetes, finding each cluster's kubeconfig", () => {
  const cluster = (extra: Record<string, unknown>) => ({ name: 'eu', primary: true, ...extra }) as never;
  let saved: { KUBECONFIG?: string; HOME?: string };
  beforeEach(() => (saved = { KUBECONFIG: process.env.KUBECONFIG, HOME: process.env.HOME }));
  afterEach(() => {
    for (const [k, v] of Object.entries(saved))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  });

  it('names the cluster and what is missing, instead of failing later on an unrelated TLS message', () => {
    process.env.KUBECONFIG = '/nonexistent/kubeconfig';
    process.env.HOME = '/nonexistent-home';
    assert.throws(
      () => kubeConfigsFor([cluster({})]),
      (e: unknown) =>
        e instanceof ConfigError &&
        /^cluster eu: keyslot:clusters\[0\]: found no kubeconfig \(\$KUBECONFIG \/nonexistent\/kubeconfig does not exist and .*\.kube\/config does not exist\)/.test(
          e.message,
        ),
    );
    assert.throws(
      () => kubeConfigsFor([cluster({ kubeconfigPath: '/nonexistent/eu.yaml' })]),
      /kubeconfigPath \/nonexistent\/eu\.yaml, which does not exist/,
    );
  });

  it("with no kubeconfig, inside a pod, uses the pod's service account as client-node does", () => {
    process.env.KUBECONFIG = '/nonexistent/kubeconfig';
    process.env.HOME = '/nonexistent-home';
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    const root = mkdtempSync(join(tmpdir(), 'keyslot-sa-'));
    try {
      const folder = join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
      assert.throws(
        () => kubeConfigsFor([cluster({})], new Map(), root),
        new RegExp(`and no service account token at ${folder}/token; fix: .*run keyslot in a pod with a service account`),
      );
      mkdirSync(folder, { recursive: true });
      writeFileSync(join(folder, 'token'), 'not-a-real-token');
      process.env.KUBERNETES_SERVICE_HOST = '127.0.0.1';
      process.env.KUBERNETES_SERVICE_PORT = '6443';
      const kc = kubeConfigsFor([cluster({})], new Map(), root).get('eu')!;
      assert.equal(kc.getCurrentCluster()?.server, 'https://127.0.0.1:6443');
      assert.equal(kc.getCurrentCluster()?.caFile, join(folder, 'ca.crt'));
    } finally {
      rmSync(root, { recursive: true, force: true });
      for (const [k, v] of [
        ['KUBERNETES_SERVICE_HOST', saved.host],
        ['KUBERNETES_SERVICE_PORT', saved.port],
      ] as const)
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
  });

  it('refuses a context the kubeconfig does not have, naming the ones it has', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyslot-kc-'));
    try {
      const file = join(dir, 'config');
      writeFileSync(
        file,
        'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: prod, context: {cluster: c, user: u}}]\ncurrent-context: prod\n',
      );
      assert.throws(
        () => kubeConfigsFor([cluster({ kubeconfigPath: file, context: 'staging' })]),
        /found context staging, which the kubeconfig does not have \(it has prod\); fix: use one of its contexts/,
      );
      assert.equal(
        kubeConfigsFor([cluster({ kubeconfigPath: file, context: 'prod' })])
          .get('eu')!
          .getCurrentContext(),
        'prod',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('adapter: Kubernetes (client-node) against the API emulator on 127.0.0.1', () => {
  let clock: SimClock;
  let cluster: SimCluster;
  let emulator: KubeApiEmulator;
  let fleet: KubernetesClusterFleet;
  let server: string;
  const prom = { namespace: 'kubecost', workload: 'deployment/prometheus' };

  beforeEach(async () => {
    clock = new SimClock('2026-11-24T00:00:00Z');
    cluster = new SimFleet(clock).cluster('eu');
    cluster.applySecret('kubecost', 'thanos', { key: 'k1' });
    cluster.addWorkload({
      kind: 'deployment',
      namespace: 'kubecost',
      name: 'prometheus',
      replicas: 2,
      podStartMs: 3000,
      containers: ['prometheus', 'thanos-sidecar'],
      secrets: ['thanos'],
    });
    // Controllers take a moment to observe a change, as on a real cluster.
    cluster.controllerLagMs = 500;
    emulator = new KubeApiEmulator(cluster, clock);
    server = await emulator.start();
    fleet = new KubernetesClusterFleet(new Map([['eu', plainKubeConfig(server)]]), clock, 1000, fastRetry);
  });
  afterEach(() => emulator.stop());

  /** API servers that signed with key 1 when the legacy token `monitoring/exporter-token` was made, then restart signing with key 2. */
  const legacyTokenThenKey2 = (trusted: string) => {
    let keys = { signer: 'sim:kops:eu/private@1', trusted: 'sim:kops:eu/public@1' };
    cluster.addControlPlaneReading(() => keys);
    cluster.addLegacyToken('monitoring', 'exporter-token');
    keys = { signer: 'sim:kops:eu/private@2', trusted };
    cluster.restartApiServers();
  };

  it('reads which key signs service-account tokens (a TokenRequest) and which signed each legacy token Secret, never the token', async () => {
    // API servers that sign with key 2 and trust 1 and 2; a legacy token made while key 1 signed.
    legacyTokenThenKey2('sim:kops:eu/public@1\nsim:kops:eu/public@2');
    const signing = await fleet.signingKeyId('eu');
    assert.equal(signing, simKeyId('sim:kops:eu/public@2'));
    const legacy = await fleet.serviceAccountTokenSecrets('eu');
    assert.deepEqual(legacy, [{ namespace: 'monitoring', name: 'exporter-token', keyId: simKeyId('sim:kops:eu/public@1') }]);
    // Asked with the server's own field selector; an Opaque Secret is not listed.
    assert.ok(emulator.requests.some((r) => r === 'GET /api/v1/secrets'));
    assert.ok(!legacy.some((s) => s.name === 'thanos'));
    assert.ok(!JSON.stringify(legacy).includes('eyJ'), 'no token in what the adapter returns');
    // The keys the servers verify with, from the issuer's JWKS.
    assert.deepEqual(await fleet.verificationKeyIds('eu'), [simKeyId('sim:kops:eu/public@1'), simKeyId('sim:kops:eu/public@2')]);
    assert.ok(emulator.requests.includes('GET /openid/v1/jwks'));
  });

  it('reissues every legacy token Secret by removing its token (the token controller signs anew) and lists every workload', async () => {
    legacyTokenThenKey2('sim:kops:eu/public@2');
    assert.equal(await fleet.reissueServiceAccountTokens('eu'), 1);
    assert.deepEqual(
      (await fleet.serviceAccountTokenSecrets('eu')).map((s) => s.keyId),
      [simKeyId('sim:kops:eu/public@2')],
    );
    assert.ok(emulator.requests.includes('PATCH /api/v1/namespaces/monitoring/secrets/exporter-token'));
    assert.deepEqual(await fleet.listWorkloads('eu'), [{ namespace: 'kubecost', workload: 'deployment/prometheus' }]);
  });

  it("reads the CSI driver's SecretProviderClassPodStatus of running pods: the version each mounts, before and after its poll", async () => {
    const stores = new Map([['kv-eu/Cosmos', 'v1-value']]);
    cluster.readStore = (id) => stores.get(id);
    addCsiConsumer(cluster, 'kv-eu/Cosmos', (id) => (stores.has(id) ? `ver-${stores.get(id)}` : undefined));
    const statuses = await fleet.secretSyncStatus('eu', 'workload', 'azure-kv');
    assert.equal(statuses.length, 2);
    assert.deepEqual(statuses[0]!.objects, [{ id: 'secret/Cosmos', version: 'ver-v1-value' }]);
    assert.deepEqual(await fleet.secretSyncStatus('eu', 'workload', 'other-class'), []);
    stores.set('kv-eu/Cosmos', 'v2-value');
    assert.deepEqual(
      (await fleet.secretSyncStatus('eu', 'workload', 'azure-kv'))[0]!.objects[0]!.version,
      'ver-v1-value',
      'not before the poll',
    );
    clock.advance(120_000);
    const after = await fleet.secretSyncStatus('eu', 'workload', 'azure-kv');
    assert.ok(after.every((s) => s.objects[0]!.version === 'ver-v2-value'));
    assert.ok(emulator.requests.includes('GET /apis/secrets-store.csi.x-k8s.io/v1/namespaces/workload/secretproviderclasspodstatuses'));
  });

  it("reads a Secret's labels and annotations for the Helm check, and says absent for a missing one", async () => {
    cluster.applySecret(
      'kubecost',
      'federated-store',
      { 'federated-store.yaml': 'placeholder' },
      { 'meta.helm.sh/release-name': 'kubecost' },
    );
    cluster.secrets.get('kubecost/federated-store')!.labels = { 'app.kubernetes.io/managed-by': 'Helm' };
    const meta = await fleet.secretMetadata('eu', 'kubecost', 'federated-store');
    assert.deepEqual(meta, {
      labels: { 'app.kubernetes.io/managed-by': 'Helm' },
      annotations: { 'meta.helm.sh/release-name': 'kubecost' },
    });
    assert.equal(helmRelease(meta!), 'kubecost');
    assert.equal(JSON.stringify(meta).includes('placeholder'), false, 'the data never leaves the adapter');
    assert.equal(await fleet.secretMetadata('eu', 'kubecost', 'no-such-secret'), undefined);
  });

  it('reads the Secrets a SecretProviderClass syncs through secretObjects, and none for a class without', async () => {
    cluster.providerClassSyncs.set('workload/azure-kv', [{ secret: 'cosmos-key', from: 'store:kv-eu/CosmosDb-ApiKey' }]);
    assert.deepEqual(await fleet.providerClassSyncedSecrets('eu', 'workload', 'azure-kv'), ['cosmos-key']);
    assert.deepEqual(await fleet.providerClassSyncedSecrets('eu', 'workload', 'no-such-class'), []);
  });

  it("reads the CSI driver's rotation flags from its DaemonSet in kube-system, off unless enabled", async () => {
    assert.equal(await fleet.csiRotation('eu'), undefined, 'no driver installed: nothing to read');
    cluster.enableCsi(120_000, () => undefined, false);
    assert.deepEqual(await fleet.csiRotation('eu'), { enabled: false, pollSeconds: 120 });
    cluster.enableCsi(300_000, () => undefined, true);
    assert.deepEqual(await fleet.csiRotation('eu'), { enabled: true, pollSeconds: 300 });
    assert.ok(emulator.requests.includes('GET /apis/apps/v1/namespaces/kube-system/daemonsets'));
  });

  it("spends one token of the cluster's bucket per request: past the burst, requests go out at the budget's rate", async () => {
    const slow = new KubernetesClusterFleet(new Map([['eu', plainKubeConfig(server)]]), clock, 1000, fastRetry, { qps: 2, burst: 3 });
    const started = clock.now().getTime();
    for (let i = 0; i < 7; i++) await slow.ping('eu');
    // Three from the burst at once, then four at 2 a second: 2 s of the clock, which the requests waited out.
    assert.equal(clock.now().getTime() - started, 2000);
    const budgeted = await Promise.all(Array.from({ length: 4 }, () => slow.exists('eu', prom)));
    assert.deepEqual(budgeted, [true, true, true, true]);
    assert.ok(clock.now().getTime() - started >= 4000, 'four more at 2 a second');
  });

  it('answers ping, finds workloads, and says absent for a missing one', async () => {
    await fleet.ping('eu');
    assert.equal(await fleet.exists('eu', prom), true);
    assert.equal(await fleet.exists('eu', { namespace: 'kubecost', workload: 'statefulset/thanos-store' }), false);
    assert.deepEqual(await fleet.restart('eu', { namespace: 'kubecost', workload: 'deployment/aggregator' }, 'r-1'), { outcome: 'absent' });
  });

  it('reads a workload selected by matchExpressions as the API does: only its own pods, not every pod of the namespace', async () => {
    // A second workload in the namespace, whose pods carry another revision hash.
    cluster.addWorkload({
      kind: 'deployment',
      namespace: 'kubecost',
      name: 'cost-analyzer',
      replicas: 2,
      podStartMs: 3000,
      secrets: ['thanos'],
    });
    cluster.restart(cluster.workload('kubecost', 'deployment', 'cost-analyzer')!, { note: 'another revision' });
    clock.advance(20_000);
    const expressions = new KubeApiEmulator(cluster, clock, { selectors: 'matchExpressions' });
    const at = await expressions.start();
    try {
      const other = new KubernetesClusterFleet(new Map([['eu', plainKubeConfig(at)]]), clock, 1000, fastRetry);
      await other.restart('eu', prom, 'r-1');
      // With the selector dropped, the other workload's pods read as "pods of 2 revisions" until the timeout.
      await other.waitRollout('eu', prom, 60);
      const listed = expressions.queries.filter((r) => r.startsWith('GET /api/v1/namespaces/kubecost/pods'));
      assert.ok(listed.length > 0);
      assert.ok(
        listed.every((r) => r.includes('labelSelector=app in (prometheus),!retired')),
        listed.join('; '),
      );
    } finally {
      await expressions.stop();
    }
  });

  /** A cluster on wall-clock time (twenty times faster), so that the emulator's stream and the rollout move together. */
  const liveCluster = async () => {
    const fast = new FastClock(Date.parse('2026-11-24T00:00:00Z'), 20);
    const live = new SimFleet(fast).cluster('eu');
    live.applySecret('kubecost', 'thanos', { key: 'k1' });
    live.addWorkload({ kind: 'deployment', namespace: 'kubecost', name: 'prometheus', replicas: 2, podStartMs: 3000, secrets: ['thanos'] });
    const em = new KubeApiEmulator(live, fast);
    return { fast, em, at: await em.start() };
  };

  it('waits for a rollout on a watch: one read, one stream, woken by the change — not a read every resync interval', async () => {
    const { fast, em, at } = await liveCluster();
    try {
      // Polls of 4 s, a resync of 60 s: a reader that polled would notice the end seconds late, one that resyncs a minute late.
      const watching = new KubernetesClusterFleet(new Map([['eu', plainKubeConfig(at)]]), fast, 4000, fastRetry);
      await watching.restart('eu', prom, 'r-1');
      em.queries.length = 0;
      const started = fast.now().getTime();
      await watching.waitRollout('eu', prom, 600);
      const took = fast.now().getTime() - started;
      assert.ok(took < 30_000, `noticed after ${took} ms of the cluster's time`);
      const of = (p: RegExp) => em.queries.filter((q) => p.test(q)).length;
      assert.equal(of(/^GET \/apis\/apps\/v1\/namespaces\/kubecost\/deployments\?.*watch=true/), 1, em.queries.join('\n'));
      assert.equal(of(/^GET \/apis\/apps\/v1\/namespaces\/kubecost\/deployments\/prometheus/), 1, em.queries.join('\n'));
      assert.ok(of(/^GET \/api\/v1\/namespaces\/kubecost\/pods/) <= 2, em.queries.join('\n'));
    } finally {
      await em.stop();
    }
  });

  it('a watch whose resourceVersion expired (410) is opened again from now, not from the same expired version', async () => {
    const { fast, em, at } = await liveCluster();
    try {
      const watching = new KubernetesClusterFleet(new Map([['eu', plainKubeConfig(at)]]), fast, 4000, fastRetry);
      await watching.restart('eu', prom, 'r-1');
      // Everything up to now is compacted: a watch from the workload's resourceVersion is 410.
      em.compactedRv = Number.MAX_SAFE_INTEGER - 1;
      em.queries.length = 0;
      await watching.waitRollout('eu', prom, 600);
      const watches = em.queries.filter((q) => q.includes('watch=true'));
      assert.equal(watches.length, 2, watches.join('\n'));
      assert.ok(watches[0]!.includes('resourceVersion=') && !watches[1]!.includes('resourceVersion='), watches.join('\n'));
    } finally {
      await em.stop();
    }
  });

  it("waits as long as a 429 or 5xx answer's Retry-After asks before it tries again", async () => {
    const before = clock.now().getTime();
    emulator.failNext = { count: 1, status: 503, retryAfterSeconds: 7 };
    await fleet.ping('eu');
    assert.ok(clock.now().getTime() - before >= 7000, `waited ${clock.now().getTime() - before} ms`);
  });

  it('reads a large list in pages of 500 (limit/continue), and starts over with one full list when a page has expired (410)', async () => {
    for (let i = 0; i < 700; i++) cluster.addWorkload({ kind: 'deployment', namespace: `ns-${i % 7}`, name: `w-${i}`, replicas: 1 });
    const all = await fleet.listWorkloads('eu');
    assert.equal(all.filter((w) => w.workload.startsWith('deployment/')).length, 701);
    const pages = emulator.queries.filter((q) => q.startsWith('GET /apis/apps/v1/deployments'));
    assert.deepEqual(
      pages.map((q) => (q.includes('continue=') ? 'next' : q.includes('limit=500') ? 'first' : 'whole')),
      ['first', 'next'],
    );
    // etcd compacted between the pages: the token is 410 Expired, and the reader lists everything at once.
    emulator.queries.length = 0;
    emulator.compactedRv = Number.MAX_SAFE_INTEGER;
    assert.equal((await fleet.listWorkloads('eu')).filter((w) => w.workload.startsWith('deployment/')).length, 701);
    assert.deepEqual(
      emulator.queries
        .filter((q) => q.startsWith('GET /apis/apps/v1/deployments'))
        .map((q) => (q.includes('continue=') ? 'next' : q.includes('limit=500') ? 'first' : 'whole')),
      ['first', 'next', 'whole'],
    );
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
    await assert.rejects(
      fleet.waitRollout('eu', prom, 30),
      (e: unknown) => e instanceof RolloutFailedError && /not finished after 30s/.test(e.message),
    );
    await assert.rejects(
      fleet.waitRollout('eu', prom, 1200),
      (e: unknown) => e instanceof RolloutFailedError && /ProgressDeadlineExceeded/.test(e.message),
    );
  });

  it('finds auth errors in the named container and never returns the line itself', async () => {
    cluster.accepts = (loaded) => !loaded.includes('k2');
    cluster.applySecret('kubecost', 'thanos', { key: 'k2' });
    const since = clock.now();
    await fleet.restart('eu', prom, 'r-3');
    await fleet.waitRollout('eu', prom, 60);
    const found = await fleet.checkLogs('eu', {
      ...prom,
      container: 'thanos-sidecar',
      patterns: ['unauthori[sz]ed'],
      since,
      windowSeconds: 30,
    });
    assert.equal(found.matches.length, 2);
    assert.ok(found.matches.every((f) => / \[thanos-sidecar\]: auth error$/.test(f)));
    assert.ok(found.read.every((r) => r.endsWith('/thanos-sidecar')));
    cluster.accepts = undefined;
  });

  it('passes clean logs, and fails when logs cannot be read', async () => {
    const since = clock.now();
    assert.deepEqual((await fleet.checkLogs('eu', { ...prom, patterns: ['unauthori[sz]ed'], since, windowSeconds: 10 })).matches, []);
    await assert.rejects(
      fleet.checkLogs('eu', { namespace: 'kubecost', workload: 'deployment/missing', patterns: ['x'], since, windowSeconds: 1 }),
      LogsUnreadableError,
    );
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
    await assert.rejects(
      fleet.exists('eu', prom),
      (e: unknown) => e instanceof ForbiddenError && /grant get deployments\.apps in namespace kubecost/.test(e.message),
    );
  });

  it('calls a cluster that does not answer unreachable', async () => {
    const dead = new KubernetesClusterFleet(new Map([['gone', plainKubeConfig('http://127.0.0.1:9')]]), clock, 1000, fastRetry);
    await assert.rejects(dead.ping('gone'), ClusterUnreachableError);
    await assert.rejects(dead.ping('unknown'), (e: unknown) => e instanceof ClusterUnreachableError && /no kubeconfig/.test(e.message));
  });

  it('fails a log check whose logs cannot be read', async () => {
    emulator.failNext = { count: 10, status: 500, match: /\/log$/ };
    await assert.rejects(
      fleet.checkLogs('eu', { ...prom, patterns: ['x'], since: clock.now(), windowSeconds: 1 }),
      (e: unknown) => e instanceof LogsUnreadableError && /cannot read logs fails/.test(e.message),
    );
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
      await fleet.annotateShoots('eu', {
        namespace: 'garden-dev',
        secretBinding: 'aws-creds',
        operation: 'rotate-kubeconfig-credentials',
        since: start,
        timeoutSeconds: 600,
      });
      const patched = emulator.requests.filter((r) => r.startsWith('PATCH /apis/core.gardener.cloud'));
      assert.deepEqual(patched, [
        'PATCH /apis/core.gardener.cloud/v1beta1/namespaces/garden-dev/shoots/alpha',
        'PATCH /apis/core.gardener.cloud/v1beta1/namespaces/garden-dev/shoots/beta',
      ]);
      for (const name of ['alpha', 'beta'])
        assert.ok(Date.parse(cluster.shoots.get(`garden-dev/${name}`)!.rotation.kubeconfig!.lastCompletionTime!) > start.getTime());
      assert.equal(cluster.shoots.get('garden-dev/other')!.rotation.kubeconfig, undefined);
    });

    it('refuses shoots being deleted, before annotating any', async () => {
      cluster.shoots.get('garden-dev/beta')!.deletionTimestamp = '2026-11-23T00:00:00Z';
      await assert.rejects(
        fleet.annotateShoots('eu', {
          namespace: 'garden-dev',
          secretBinding: 'aws-creds',
          operation: 'rotate-kubeconfig-credentials',
          since: since(),
          timeoutSeconds: 60,
        }),
        (e: unknown) => e instanceof ShootBeingDeletedError && /garden-dev\/beta/.test(e.message),
      );
      assert.equal(emulator.requests.filter((r) => r.startsWith('PATCH ')).length, 0);
      cluster.shoots.get('garden-dev/beta')!.deletionTimestamp = undefined;
      cluster.shoots.get('garden-dev/alpha')!.annotations['confirmation.gardener.cloud/deletion'] = 'true';
      await assert.rejects(
        fleet.annotateShoots('eu', {
          namespace: 'garden-dev',
          shoots: ['alpha'],
          operation: 'rotate-kubeconfig-credentials',
          since: since(),
          timeoutSeconds: 60,
        }),
        ShootBeingDeletedError,
      );
    });

    it('times out when a rotation does not complete', async () => {
      await assert.rejects(
        fleet.annotateShoots('eu', {
          namespace: 'garden-dev',
          shoots: ['alpha'],
          operation: 'rotate-kubeconfig-credentials',
          since: since(),
          timeoutSeconds: 10,
        }),
        /not completed after 10s for shoot\(s\) alpha/,
      );
    });

    it('asks every shoot of the binding for a reconcile (Gardener does not reconcile on a Secret change) and waits for it', async () => {
      cluster.runGardener('1.149.3', 3600_000);
      const start = clock.now();
      cluster.applySecret('garden-dev', 'aws-secret', { accessKeyID: 'new' });
      // Upstream: no controller reconciles a Shoot because its provider Secret changed.
      await clock.sleep(600_000);
      const alpha = cluster.shoots.get('garden-dev/alpha')!;
      const other = cluster.shoots.get('garden-dev/other')!;
      assert.equal(alpha.lastOperation, undefined, 'nothing reconciled by itself');
      const before = { alpha: alpha.generation, other: other.generation };
      const asked = clock.now();
      await fleet.waitShootsReconciled('eu', { namespace: 'garden-dev', secretBinding: 'aws-creds', since: start, timeoutSeconds: 600 });
      assert.ok(clock.now().getTime() - asked.getTime() >= 60_000, 'Gardener takes a minute in the model');
      // The reconcile annotation bumped the generation; gardenlet observed it and succeeded.
      assert.equal(alpha.generation, before.alpha + 1);
      assert.equal(alpha.observedGeneration, alpha.generation);
      assert.equal((alpha as { lastOperation?: { state: string } }).lastOperation?.state, 'Succeeded');
      assert.equal(alpha.annotations['gardener.cloud/operation'], undefined, 'the API server removes reconcile at once');
      assert.equal(other.generation, before.other, 'a Shoot of another binding is left alone');
      // The bindings as the API serves them: each one's secretRef, whatever its own name.
      assert.deepEqual(
        (await fleet.listSecretBindings('eu', 'garden-dev')).sort((a, b) => a.name.localeCompare(b.name)),
        [
          { name: 'aws-creds', secret: 'aws-secret' },
          { name: 'azure-creds', secret: 'azure-secret' },
        ],
      );
    });

    it('names a Shoot whose last operation Failed with the fix (retry), before annotating any', async () => {
      const beta = cluster.shoots.get('garden-dev/beta')!;
      beta.lastOperation = { type: 'Reconcile', state: 'Failed', lastUpdateTime: clock.now().toISOString(), doneAt: clock.nowMs() };
      const alpha = cluster.shoots.get('garden-dev/alpha')!;
      const generation = alpha.generation;
      await assert.rejects(
        fleet.waitShootsReconciled('eu', { namespace: 'garden-dev', secretBinding: 'aws-creds', since: since(), timeoutSeconds: 60 }),
        /shoot garden-dev\/beta: last operation Failed.*kubectl annotate shoot beta -n garden-dev gardener\.cloud\/operation=retry, then keyslot resume/,
      );
      assert.equal(alpha.generation, generation, 'no Shoot was annotated');
    });

    it('keeps a pending operation: shares the annotation on Gardener >= 1.133, waits for it on an older one', async () => {
      const alpha = cluster.shoots.get('garden-dev/alpha')!;
      alpha.annotations['gardener.cloud/operation'] = 'rotate-ssh-keypair';
      cluster.runGardener('1.120.0', 3600_000);
      await assert.rejects(
        fleet.waitShootsReconciled('eu', { namespace: 'garden-dev', secretBinding: 'aws-creds', since: since(), timeoutSeconds: 60 }),
        /shoot garden-dev\/alpha: operation rotate-ssh-keypair is pending and Gardener v1\.120\.0 takes one at a time/,
      );
      cluster.runGardener('1.149.3', 3600_000);
      const generation = alpha.generation;
      await fleet.waitShootsReconciled('eu', { namespace: 'garden-dev', secretBinding: 'aws-creds', since: since(), timeoutSeconds: 600 });
      assert.ok(alpha.generation >= generation + 2, 'both operations bumped the generation');
      assert.ok(alpha.rotation.sshKeypair?.lastInitiationTime, 'the pending rotation ran too');
    });
  });

  it('loses a Lease race cleanly: a 409 on renewal re-reads and reports the winner', async () => {
    const now = clock.now();
    await fleet.acquireLease('eu', { name: 'lock', holder: 'a', ttlSeconds: 1, now });
    // Another driver takes the expired lease between our read and our write.
    emulator.failNext = { count: 1, status: 409, match: /^PUT / };
    const later = new Date(now.getTime() + 5000);
    cluster.leases.set('kube-system/lock', { holder: 'c', renewTime: later.getTime(), durationSeconds: 60 });
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
    assert.deepEqual(
      await fleet.acquireLease('eu', { name: 'keyslot-rotation-x', holder: 'b', ttlSeconds: 60, now: new Date(now.getTime() + 61_000) }),
      { acquired: true },
    );
    await fleet.releaseLease('eu', { name: 'keyslot-rotation-x', holder: 'a' });
    assert.equal(cluster.leases.get('kube-system/keyslot-rotation-x')?.holder, 'b', 'only the holder releases');
    await fleet.releaseLease('eu', { name: 'keyslot-rotation-x', holder: 'b' });
    // Released as client-go releases: the holder emptied (free at once), the Lease kept.
    assert.equal(cluster.leases.get('kube-system/keyslot-rotation-x')?.holder, '');
    assert.equal(cluster.leases.get('kube-system/keyslot-rotation-x')?.durationSeconds, 1);
    assert.deepEqual(await fleet.acquireLease('eu', { name: 'keyslot-rotation-x', holder: 'c', ttlSeconds: 60, now }), { acquired: true });
  });

  it('renewals of one driver that race each other all succeed: the holder never locks itself out', async () => {
    const now = clock.now();
    // No client-side rate limit, so that the renewals really overlap on the server.
    const eager = new KubernetesClusterFleet(new Map([['eu', plainKubeConfig(server)]]), clock, 1000, fastRetry, { qps: 1e6, burst: 1e6 });
    assert.deepEqual(await eager.acquireLease('eu', { name: 'busy', holder: 'a', ttlSeconds: 60, now }), { acquired: true });
    // A wave's clusters renew at once: every compare-and-swap but one loses its round.
    const renewals = await Promise.all(
      Array.from({ length: 100 }, () => eager.acquireLease('eu', { name: 'busy', holder: 'a', ttlSeconds: 60, now })),
    );
    assert.deepEqual(
      renewals.filter((r) => !r.acquired),
      [],
    );
    assert.equal(cluster.leases.get('kube-system/busy')?.holder, 'a');
  });

  it('two drivers on clocks two hours apart never both hold the lock: expiry runs from what each saw, not from renewTime', async () => {
    const other = new KubernetesClusterFleet(new Map([['eu', plainKubeConfig(server)]]), clock, 1000, fastRetry);
    const t = clock.now().getTime();
    const mine = (ms: number) => new Date(t + ms);
    const ahead = (ms: number) => new Date(t + 7_200_000 + ms);
    const lock = (f: KubernetesClusterFleet, holder: string, now: Date) => f.acquireLease('eu', { name: 'x', holder, ttlSeconds: 60, now });
    assert.deepEqual(await lock(fleet, 'a', mine(0)), { acquired: true });
    // By b's clock, a's renewTime + 60 s passed two hours ago; b has only just seen the record.
    const first = await lock(other, 'b', ahead(0));
    assert.equal(first.acquired, false);
    assert.equal(!first.acquired && first.lease.expiresAt.toISOString(), ahead(60_000).toISOString());
    // a renews: b sees the record change and waits its full duration again, by its own clock.
    assert.deepEqual(await lock(fleet, 'a', mine(30_000)), { acquired: true });
    assert.equal((await lock(other, 'b', ahead(59_000))).acquired, false);
    assert.equal((await lock(other, 'b', ahead(118_000))).acquired, false);
    // a is gone: unchanged for 60 s as b saw it, the lock is b's.
    assert.deepEqual(await lock(other, 'b', ahead(120_000)), { acquired: true });
    // And a's release leaves b's lock alone.
    await fleet.releaseLease('eu', { name: 'x', holder: 'a' });
    assert.equal(cluster.leases.get('kube-system/x')?.holder, 'b');
  });

  describe('rules a real API server enforces', () => {
    const raw = async (method: string, path: string, body: unknown, type = 'application/json') => {
      const base = (await fleet.withKubeconfig(
        'eu',
        async (p) => JSON.parse(readFileSync(p, 'utf8')).clusters[0].cluster.server,
      )) as string;
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { 'content-type': type },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as { reason?: string; message?: string } };
    };
    const leases = '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases';

    it('a watch from a compacted resourceVersion gets one ERROR event with a 410 Expired Status; a watch that allows bookmarks gets BOOKMARKs', async () => {
      const base = (await fleet.withKubeconfig(
        'eu',
        async (p) => JSON.parse(readFileSync(p, 'utf8')).clusters[0].cluster.server,
      )) as string;
      const deployments = `${base}/apis/apps/v1/namespaces/kubecost/deployments`;
      emulator.compactedRv = 5;
      const expired = await (await fetch(`${deployments}?watch=true&resourceVersion=3`)).text();
      const event = JSON.parse(expired.trim()) as { type: string; object: { code: number; reason: string; message: string } };
      assert.equal(event.type, 'ERROR');
      assert.deepEqual([event.object.code, event.object.reason], [410, 'Expired']);
      assert.match(event.object.message, /^too old resource version: 3 \(6\)$/);
      emulator.bookmarkEveryMs = 100;
      const streamed = await (await fetch(`${deployments}?watch=true&allowWatchBookmarks=true&timeoutSeconds=1`)).text();
      const types = streamed
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { type: string }).type);
      assert.ok(types.includes('ADDED') && types.includes('BOOKMARK'), types.join(', '));
    });

    it('takes a TokenRequest in JSON or protobuf, as kubectl 1.32+ sends it; another media type is 415, a body that does not decode 400', async () => {
      cluster.addControlPlaneReading(() => ({ signer: 'sim:kops:eu/private@1', trusted: 'sim:kops:eu/public@1' }));
      const token = '/api/v1/namespaces/kube-system/serviceaccounts/default/token';
      assert.equal((await raw('POST', token, { kind: 'TokenRequest', spec: { expirationSeconds: 600 } })).status, 201);
      assert.equal((await raw('POST', token, 'expirationSeconds: 600', 'text/plain')).status, 415);
      assert.equal((await raw('POST', token, 'not protobuf', 'application/vnd.kubernetes.protobuf')).status, 400);
    });

    it('a Lease update needs a resourceVersion (422, with the cause), a PUT to a missing Lease creates it, and a DELETE checks its preconditions (409)', async () => {
      const spec = { holderIdentity: 'x', leaseDurationSeconds: 5, renewTime: '2026-11-24T00:00:00.000000Z' };
      const created = await raw('PUT', `${leases}/made-by-put`, {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: 'made-by-put' },
        spec,
      });
      assert.equal(created.status, 201);
      const unconditional = await raw('PUT', `${leases}/made-by-put`, {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: 'made-by-put' },
        spec,
      });
      assert.equal(unconditional.status, 422);
      assert.match(
        unconditional.body.message!,
        /leases\.coordination\.k8s\.io "made-by-put" is invalid: metadata\.resourceVersion: Invalid value: 0x0: must be specified for an update/,
      );
      const causes = (unconditional.body as { details?: { causes?: { field: string; reason: string }[] } }).details?.causes;
      assert.deepEqual(
        causes?.map((c) => [c.field, c.reason]),
        [['metadata.resourceVersion', 'FieldValueInvalid']],
      );
      const wrongUid = await raw('DELETE', `${leases}/made-by-put`, {
        kind: 'DeleteOptions',
        apiVersion: 'v1',
        preconditions: { uid: 'not-this-one' },
      });
      assert.equal(wrongUid.status, 409);
      assert.match(wrongUid.body.message!, /Precondition failed: UID in precondition: not-this-one/);
      // The body was read: the same connection serves the next request, and the Lease is still there.
      assert.equal((await raw('GET', `${leases}/made-by-put`, undefined)).status, 200);
      const uid = ((await raw('GET', `${leases}/made-by-put`, undefined)).body as { metadata: { uid: string } }).metadata.uid;
      assert.equal((await raw('DELETE', `${leases}/made-by-put`, { preconditions: { uid } })).status, 200);
    });

    it('refuses a Lease whose renewTime is not a MicroTime (what Date#toISOString gives), and the adapter writes six digits', async () => {
      const bad = await raw('POST', leases, {
        metadata: { name: 'x' },
        spec: { holderIdentity: 'a', renewTime: new Date().toISOString() },
      });
      assert.equal(bad.status, 400);
      assert.match(bad.body.message!, /cannot be handled as a Lease: parsing time/);
      await fleet.acquireLease('eu', { name: 'lock', holder: 'a', ttlSeconds: 60, now: new Date('2026-11-24T00:00:00.123Z') });
      const lease = cluster.leases.get('kube-system/lock')!;
      assert.equal(lease.renewTime, Date.parse('2026-11-24T00:00:00.123Z'));
      assert.equal(lease.acquireTime, lease.renewTime);
      await fleet.acquireLease('eu', { name: 'lock', holder: 'b', ttlSeconds: 60, now: new Date('2026-11-24T00:02:00Z') });
      assert.equal(cluster.leases.get('kube-system/lock')!.leaseTransitions, 1, 'a change of holder is a transition');
    });

    it('answers malformed bodies with 400 and stays up', async () => {
      await fleet.acquireLease('eu', { name: 'lock', holder: 'a', ttlSeconds: 60, now: clock.now() });
      assert.equal((await raw('PUT', `${leases}/lock`, { metadata: { name: 'lock' }, spec: { renewTime: 'yesterday' } })).status, 400);
      assert.equal((await raw('POST', leases, '{"metadata": ')).status, 400);
      assert.equal((await raw('POST', leases, '[1]')).status, 400);
      const invalid = await raw('POST', leases, { metadata: { name: 'y' }, spec: { leaseDurationSeconds: 0 } });
      assert.equal(invalid.status, 422);
      // As NewInvalid builds a 422: one cause per field error, with the field and its reason.
      assert.deepEqual((invalid.body as { details?: { causes?: unknown[] } }).details?.causes, [
        { reason: 'FieldValueInvalid', message: 'Invalid value: 0: must be greater than 0', field: 'spec.leaseDurationSeconds' },
      ]);
      const patched = await raw('PATCH', `${leases}/lock`, { spec: { holderIdentity: 'z' } }, 'application/merge-patch+json');
      assert.equal(patched.status, 200, 'a merge patch without renewTime keeps the one stored');
      assert.equal(cluster.leases.get('kube-system/lock')!.holder, 'z');
      assert.equal(
        (await raw('PUT', `${leases}/lock`, { metadata: { name: 'lock', resourceVersion: '1' }, spec: {} })).status,
        409,
        'a stale resourceVersion',
      );
      await fleet.ping('eu');
    });

    it('reads every container of a multi-container pod when none is named, and refuses an unknown container', async () => {
      const since = clock.now();
      const all = await fleet.checkLogs('eu', { ...prom, patterns: ['x^'], since, windowSeconds: 1 });
      assert.deepEqual([...new Set(all.read.map((r) => r.split('/')[1]))], ['prometheus', 'thanos-sidecar']);
      assert.equal(all.read.length, 4, 'two pods × two containers');
      // The server itself refuses to guess: 400 without a container on a two-container pod.
      const pod = cluster.workload('kubecost', 'deployment', 'prometheus')!.pods[0]!.name;
      assert.equal((await raw('GET', `/api/v1/namespaces/kubecost/pods/${pod}/log`, undefined as unknown as string)).status, 400);
      await assert.rejects(
        fleet.checkLogs('eu', { ...prom, container: 'sidecar', patterns: ['x'], since, windowSeconds: 1 }),
        (e: unknown) => e instanceof LogsUnreadableError && /no container sidecar \(it has prometheus, thanos-sidecar\)/.test(e.message),
      );
    });

    it('waits out Terminating old pods: a rollout is finished only when they are gone', async () => {
      cluster.addWorkload({
        kind: 'deployment',
        namespace: 'kubecost',
        name: 'slow-stop',
        replicas: 1,
        podStartMs: 1000,
        podStopMs: 20_000,
      });
      const id = { namespace: 'kubecost', workload: 'deployment/slow-stop' };
      const start = clock.now().getTime();
      await fleet.restart('eu', id, 'r-t');
      await fleet.waitRollout('eu', id, 120);
      const w = cluster.workload('kubecost', 'deployment', 'slow-stop')!;
      assert.equal(w.terminating.length, 0);
      assert.ok(clock.now().getTime() - start >= 21_000, 'one second to start the new pod, twenty for the old one to exit');
    });

    it('does not fail a resumed restart on the ProgressDeadlineExceeded of the rollout before it', async () => {
      const w = cluster.workload('kubecost', 'deployment', 'prometheus')!;
      w.failRollout = true;
      await fleet.restart('eu', prom, 'r-1');
      await assert.rejects(fleet.waitRollout('eu', prom, 1200), /exceeded its progress deadline/);
      await fleet.restart('eu', prom, 'r-2');
      w.failRollout = false;
      // The controller has not observed the new generation yet: the old condition is still there.
      assert.equal(cluster.rolloutStatus(w).failed, 'ProgressDeadlineExceeded');
      await fleet.waitRollout('eu', prom, 120);
      assert.equal(cluster.rolloutStatus(w).complete, true);
    });

    it('waits for a DaemonSet and a StatefulSet in their own status shapes', async () => {
      cluster.addWorkload({ kind: 'daemonset', namespace: 'kubecost', name: 'agent', replicas: 3, podStartMs: 2000 });
      cluster.addWorkload({ kind: 'statefulset', namespace: 'kubecost', name: 'store', replicas: 2, podStartMs: 2000 });
      for (const workload of ['daemonset/agent', 'statefulset/store']) {
        const id = { namespace: 'kubecost', workload };
        await fleet.restart('eu', id, 'r-ds');
        await fleet.waitRollout('eu', id, 300);
        const [kind, name] = workload.split('/') as [string, string];
        const w = cluster.workload('kubecost', kind, name)!;
        assert.ok(w.pods.every((p) => p.revision === w.revision) && w.terminating.length === 0, workload);
      }
    });

    it('names paused, OnDelete and partitioned workloads as never rolling', async () => {
      cluster.addWorkload({ kind: 'deployment', namespace: 'kubecost', name: 'paused', paused: true });
      cluster.addWorkload({ kind: 'statefulset', namespace: 'kubecost', name: 'manual', updateStrategy: 'OnDelete' });
      cluster.addWorkload({ kind: 'statefulset', namespace: 'kubecost', name: 'canary', replicas: 3, partition: 2 });
      cluster.addWorkload({ kind: 'daemonset', namespace: 'kubecost', name: 'nodes', updateStrategy: 'OnDelete' });
      const why = (workload: string) => fleet.rolloutBlocker('eu', { namespace: 'kubecost', workload });
      assert.match((await why('deployment/paused'))!, /is paused.*kubectl rollout resume deployment\/paused/);
      assert.match((await why('statefulset/manual'))!, /OnDelete/);
      assert.match((await why('statefulset/canary'))!, /partition 2/);
      assert.match((await why('daemonset/nodes'))!, /OnDelete/);
      assert.equal(await why('deployment/prometheus'), undefined);
    });
  });

  describe('Gardener operations by their real status fields', () => {
    beforeEach(() => {
      cluster.addShoot('garden-dev', 'alpha', 'aws-creds', 'aws-secret');
    });

    it('is an error when the selector matches no Shoot, naming the selector', async () => {
      const since = clock.now();
      await assert.rejects(
        fleet.annotateShoots('eu', {
          namespace: 'garden-dev',
          secretBinding: 'aws-credz',
          operation: 'rotate-kubeconfig-credentials',
          since,
          timeoutSeconds: 60,
        }),
        (e: unknown) => e instanceof ResourceNotFoundError && /no Shoot matches .*secretBinding aws-credz in garden-dev/.test(e.message),
      );
      await assert.rejects(
        fleet.waitShootsReconciled('eu', { namespace: 'garden-dev', secretBinding: 'unused', since, timeoutSeconds: 60 }),
        ResourceNotFoundError,
      );
    });

    it('waits for phase Prepared after a -start operation, and refuses -complete before it', async () => {
      const since = new Date(clock.now().getTime() - 1000);
      await assert.rejects(
        fleet.annotateShoots('eu', {
          namespace: 'garden-dev',
          shoots: ['alpha'],
          operation: 'rotate-serviceaccount-key-complete',
          since,
          timeoutSeconds: 60,
        }),
        (e: unknown) => e instanceof ConsumerNotReadyError && /phase Prepared, found none/.test(e.message),
      );
      await fleet.annotateShoots('eu', {
        namespace: 'garden-dev',
        shoots: ['alpha'],
        operation: 'rotate-serviceaccount-key-start',
        since,
        timeoutSeconds: 600,
      });
      const status = cluster.shoots.get('garden-dev/alpha')!.rotation.serviceAccountKey!;
      assert.equal(status.phase, 'Prepared');
      assert.ok(status.lastInitiationFinishedTime && !status.lastCompletionTime);
      await fleet.annotateShoots('eu', {
        namespace: 'garden-dev',
        shoots: ['alpha'],
        operation: 'rotate-serviceaccount-key-complete',
        since: clock.now(),
        timeoutSeconds: 600,
      });
      assert.equal(cluster.shoots.get('garden-dev/alpha')!.rotation.serviceAccountKey!.phase, 'Completed');
    });
  });
});
