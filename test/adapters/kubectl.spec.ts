import assert from 'node:assert/strict';
import { KubernetesClusterFleet, microTime, plainKubeConfig } from '../../src/adapters/clusters/kubernetes.ts';
import { RolloutFailedError } from '../../src/errors.ts';
import { SimClock } from '../../src/sim/clock.ts';
import { SimFleet, type SimCluster, type WorkloadSpec } from '../../src/sim/cluster.ts';
import { eventually, FastClock, Kubectl, kubectlBinaries, kubectlVersion } from '../fixtures/kubectl.ts';
import { addCsiConsumer } from '../fixtures/csi.ts';
import { KubeApiEmulator } from '../fixtures/kubeApiEmulator.ts';

const fastRetry = { retries: 2, minTimeoutMs: 1, maxTimeoutMs: 5 };

// Every kubectl on the machine judges the emulator: kubectl 1.27 and 1.28 read OpenAPI v2 for
// `apply`, 1.32 and later send TokenRequest as protobuf. One that disagrees fails its block.
// npm test runs them as shards side by side: KEYSLOT_KUBECTL_SHARD=k/n takes every n-th from the k-th.
const [shard, shards] = (process.env.KEYSLOT_KUBECTL_SHARD ?? '1/1').split('/').map(Number) as [number, number];
for (const { binary, minor } of kubectlBinaries().filter((_, i) => i % shards === shard - 1))
  describe(`the Kubernetes API emulator, judged by a real kubectl (${minor === undefined ? 'the one on the PATH' : `1.${minor}`})`, () => {
    before(async () => {
      // No kubectl is a failure of the suite, never a skip: .ci/run installs it.
      assert.match(await kubectlVersion(binary), minor === undefined ? /^v1\.\d+/ : new RegExp(`^v1\\.${minor}\\.`));
    });

    describe('a live cluster, on a clock twenty times faster than the wall', () => {
      let clock: FastClock;
      let cluster: SimCluster;
      let emulator: KubeApiEmulator;
      let kubectl: Kubectl;
      let fleet: KubernetesClusterFleet;

      beforeEach(async () => {
        clock = new FastClock(Date.parse('2026-11-24T00:00:00Z'), 20);
        cluster = new SimFleet(clock).cluster('eu');
        cluster.controllerLagMs = 200;
        cluster.applySecret('kubecost', 'thanos', { key: 'placeholder' });
        cluster.addWorkload({
          kind: 'deployment',
          namespace: 'kubecost',
          name: 'prometheus',
          replicas: 2,
          podStartMs: 4000,
          containers: ['prometheus', 'thanos-sidecar'],
          secrets: ['thanos'],
        });
        cluster.addWorkload({ kind: 'statefulset', namespace: 'kubecost', name: 'store', replicas: 2, podStartMs: 4000 });
        cluster.addWorkload({ kind: 'daemonset', namespace: 'kubecost', name: 'agent', replicas: 3, podStartMs: 4000 });
        cluster.addShoot('garden-dev', 'alpha', 'aws-creds', 'aws-secret');
        emulator = new KubeApiEmulator(cluster, clock);
        const server = await emulator.start();
        kubectl = new Kubectl(server, binary);
        fleet = new KubernetesClusterFleet(new Map([['eu', plainKubeConfig(server)]]), clock, 200, fastRetry);
      });
      afterEach(async () => {
        kubectl.dispose();
        await emulator.stop();
      });

      it('stores what kubectl label and annotate change on a Secret, and refuses a change of its type as immutable (422 with the cause)', async () => {
        const labelled = await kubectl.run('label', 'secret', 'thanos', '-n', 'kubecost', 'team=platform');
        assert.equal(labelled.code, 0, labelled.stderr);
        const annotated = await kubectl.run('annotate', 'secret', 'thanos', '-n', 'kubecost', 'keyslot.dev/note=rotated');
        assert.equal(annotated.code, 0, annotated.stderr);
        const got = await kubectl.run('get', 'secret', 'thanos', '-n', 'kubecost', '-o', 'json');
        const meta = (JSON.parse(got.stdout) as { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } })
          .metadata;
        assert.equal(meta.labels?.team, 'platform');
        assert.equal(meta.annotations?.['keyslot.dev/note'], 'rotated');
        assert.equal(cluster.secrets.get('kubecost/thanos')?.data.key, 'placeholder', 'the data is untouched');
        const retyped = await kubectl.run(
          'patch',
          'secret',
          'thanos',
          '-n',
          'kubecost',
          '--type=merge',
          '-p',
          '{"type":"kubernetes.io/tls"}',
        );
        assert.notEqual(retyped.code, 0);
        assert.match(retyped.stderr, /Secret "thanos" is invalid: type: Invalid value: "kubernetes\.io\/tls": field is immutable/);
      });

      it('creates a token (TokenRequest) and lists legacy token Secrets by type, as keyslot reads them for a kOps keyset', async () => {
        cluster.addControlPlaneReading(() => ({ signer: 'sim:kops:eu/private@7', trusted: 'sim:kops:eu/public@7' }));
        cluster.addLegacyToken('monitoring', 'exporter-token');
        const token = await kubectl.run('create', 'token', 'default', '-n', 'kube-system', '--duration', '10m');
        assert.equal(token.code, 0, token.stderr);
        const header = JSON.parse(Buffer.from(token.stdout.trim().split('.')[0]!, 'base64url').toString('utf8')) as { kid: string };
        assert.equal(header.kid, await fleet.signingKeyId('eu'));
        const tooShort = await kubectl.run('create', 'token', 'default', '-n', 'kube-system', '--duration', '1m');
        assert.notEqual(tooShort.code, 0);
        assert.match(tooShort.stderr, /may not specify a duration less than 10 minutes/);
        const missing = await kubectl.run('create', 'token', 'nobody', '-n', 'kube-system');
        assert.match(missing.stderr, /serviceaccounts "nobody" not found/);
        // A merge patch that removes the token has the token controller sign a new one, as on a real cluster.
        const patched = await kubectl.run(
          'patch',
          'secret',
          'exporter-token',
          '-n',
          'monitoring',
          '--type=merge',
          '-p',
          '{"data":{"token":null}}',
        );
        assert.equal(patched.code, 0, patched.stderr);
        const after = await kubectl.run('get', 'secret', 'exporter-token', '-n', 'monitoring', '-o', 'jsonpath={.data.token}');
        assert.ok(after.stdout.length > 20, 'a new token is there');
        const listed = await kubectl.run(
          'get',
          'secrets',
          '-A',
          '--field-selector',
          'type=kubernetes.io/service-account-token',
          '-o',
          'name',
        );
        assert.equal(listed.code, 0, listed.stderr);
        assert.equal(listed.stdout.trim(), 'secret/exporter-token');
        assert.deepEqual(
          (await fleet.serviceAccountTokenSecrets('eu')).map((s) => `${s.namespace}/${s.name}`),
          ['monitoring/exporter-token'],
        );
      });

      it("lists the CSI driver's SecretProviderClassPodStatus objects, one per mounting pod", async () => {
        cluster.readStore = () => 'value';
        addCsiConsumer(cluster, 'kv/Cosmos', () => '0123456789abcdef0123456789abcdef');
        const got = await kubectl.run('get', 'secretproviderclasspodstatuses', '-n', 'workload', '-o', 'json');
        assert.equal(got.code, 0, got.stderr);
        const items = (
          JSON.parse(got.stdout) as {
            items: { kind: string; status: { secretProviderClassName: string; objects: { version: string }[] } }[];
          }
        ).items;
        assert.equal(items.length, 2);
        assert.ok(items.every((i) => i.kind === 'SecretProviderClassPodStatus' && i.status.secretProviderClassName === 'azure-kv'));
        assert.equal(items[0]!.status.objects[0]!.version, '0123456789abcdef0123456789abcdef');
      });

      it('discovers the API and gets every kind keyslot touches, the lock Lease with its MicroTime', async () => {
        await fleet.acquireLease('eu', {
          name: 'keyslot-rotation-x',
          holder: 'driver-a',
          ttlSeconds: 600,
          now: new Date('2026-11-24T00:00:00.250Z'),
        });
        const kinds: Record<string, string> = {
          namespaces: 'Namespace',
          pods: 'Pod',
          secrets: 'Secret',
          deployments: 'Deployment',
          statefulsets: 'StatefulSet',
          daemonsets: 'DaemonSet',
          replicasets: 'ReplicaSet',
          controllerrevisions: 'ControllerRevision',
          leases: 'Lease',
          shoots: 'Shoot',
        };
        for (const [resource, kind] of Object.entries(kinds)) {
          const got = await kubectl.run('get', resource, '-A', '-o', 'json');
          assert.equal(got.code, 0, `${resource}: ${got.stderr}`);
          const items = (JSON.parse(got.stdout) as { items: { kind: string; metadata: { uid: string; resourceVersion: string } }[] }).items;
          assert.ok(items.length > 0, resource);
          assert.ok(
            items.every((i) => i.kind === kind && i.metadata.uid && i.metadata.resourceVersion),
            resource,
          );
        }
        const lease = await kubectl.run('get', 'lease', 'keyslot-rotation-x', '-n', 'kube-system', '-o', 'yaml');
        assert.equal(lease.code, 0, lease.stderr);
        assert.match(lease.stdout, /renewTime: "2026-11-24T00:00:00\.250000Z"/);
        const table = await kubectl.run('get', 'deploy,sts,ds', '-n', 'kubecost');
        assert.equal(table.code, 0, table.stderr);
        assert.match(table.stdout, /prometheus/);
        const resources = await kubectl.run('api-resources', '-o', 'name');
        assert.equal(resources.code, 0, resources.stderr);
        for (const r of ['leases.coordination.k8s.io', 'shoots.core.gardener.cloud', 'deployments.apps', 'pods'])
          assert.ok(resources.stdout.split('\n').includes(r), r);
      });

      it('rollout restart and rollout status follow each kind to the end, keyslot agrees, and history counts the revisions', async () => {
        for (const ref of ['deployment/prometheus', 'statefulset/store', 'daemonset/agent']) {
          const restart = await kubectl.run('rollout', 'restart', ref, '-n', 'kubecost');
          assert.equal(restart.code, 0, restart.stderr);
          const status = await kubectl.run('rollout', 'status', ref, '-n', 'kubecost', '--timeout=60s');
          assert.equal(status.code, 0, `${ref}: ${status.stdout} ${status.stderr}`);
          // A StatefulSet's partition defaults to 0, so kubectl reports it through its partitioned path.
          assert.match(status.stdout, /successfully rolled out|partitioned roll out complete: 2 new pods/);
          await fleet.waitRollout('eu', { namespace: 'kubecost', workload: ref }, 600);
          const history = await kubectl.run('rollout', 'history', ref, '-n', 'kubecost');
          assert.equal(history.code, 0, history.stderr);
          assert.match(history.stdout, /^2\s+<none>$/m, `${ref}: ${history.stdout}`);
          // Each revision keeps its own template: the first has no restartedAt, the second has it.
          const first = await kubectl.run('rollout', 'history', ref, '-n', 'kubecost', '--revision=1');
          assert.equal(first.code, 0, first.stderr);
          assert.doesNotMatch(first.stdout, /restartedAt/, `${ref} revision 1: ${first.stdout}`);
          const second = await kubectl.run('rollout', 'history', ref, '-n', 'kubecost', '--revision=2');
          assert.equal(second.code, 0, second.stderr);
          assert.match(second.stdout, /kubectl\.kubernetes\.io\/restartedAt/, `${ref} revision 2: ${second.stdout}`);
        }
      });

      it('reads logs of a multi-container pod: the default container, a named one, all of them; refuses an unknown one', async () => {
        const pod = `pod/${cluster.workload('kubecost', 'deployment', 'prometheus')!.pods[0]!.name}`;
        const byDefault = await kubectl.run('logs', pod, '-n', 'kubecost');
        assert.equal(byDefault.code, 0, byDefault.stderr);
        assert.match(byDefault.stderr, /Defaulted container "prometheus" out of: prometheus, thanos-sidecar/);
        const named = await kubectl.run('logs', pod, '-n', 'kubecost', '-c', 'thanos-sidecar', '--timestamps');
        assert.equal(named.code, 0, named.stderr);
        assert.match(named.stdout, /^\d{4}-\d{2}-\d{2}T\S+ started; backend accepted the credential$/m);
        const all = await kubectl.run('logs', pod, '-n', 'kubecost', '--all-containers');
        assert.equal(all.stdout.trim().split('\n').length, 2);
        const unknown = await kubectl.run('logs', pod, '-n', 'kubecost', '-c', 'nope');
        assert.notEqual(unknown.code, 0);
        assert.match(unknown.stderr, /container nope is not valid for pod/);
      });

      it('streams the change keyslot makes to a watching kubectl get -w', async () => {
        cluster.controllerLagMs = 20_000; // a second of wall time: long enough to see the unobserved generation
        const watch = kubectl.stream(
          'get',
          'deployment',
          'prometheus',
          '-n',
          'kubecost',
          '-w',
          '-o',
          'jsonpath={.metadata.generation}{" "}{.status.observedGeneration}{"\\n"}',
        );
        try {
          await eventually(() => watch.lines.includes('1 1'), 'the initial state');
          await fleet.restart('eu', { namespace: 'kubecost', workload: 'deployment/prometheus' }, 'r-watch');
          await eventually(() => watch.lines.includes('2 1'), 'the new generation, before the controller observed it');
          await eventually(() => watch.lines.includes('2 2'), 'the controller observing it');
        } finally {
          watch.stop();
        }
      });

      it("annotates a Shoot through Gardener's admission, and refuses a Shoot being deleted", async () => {
        const ok = await kubectl.run(
          'annotate',
          'shoot',
          'alpha',
          '-n',
          'garden-dev',
          'gardener.cloud/operation=rotate-kubeconfig-credentials',
        );
        assert.equal(ok.code, 0, ok.stderr);
        await eventually(() => {
          cluster.sync();
          return Boolean(cluster.shoots.get('garden-dev/alpha')!.rotation.kubeconfig?.lastCompletionTime);
        }, 'the rotation to complete');
        const done = await kubectl.run(
          'get',
          'shoot',
          'alpha',
          '-n',
          'garden-dev',
          '-o',
          'jsonpath={.status.credentials.rotation.kubeconfig.lastCompletionTime}',
        );
        assert.match(done.stdout, /^2026-11-24T/);
        cluster.shoots.get('garden-dev/alpha')!.deletionTimestamp = '2026-11-24T00:00:00Z';
        const refused = await kubectl.run(
          'annotate',
          'shoot',
          'alpha',
          '-n',
          'garden-dev',
          '--overwrite',
          'gardener.cloud/operation=rotate-ssh-keypair',
        );
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, /forbidden.*being deleted/i);
      });

      it('applies a Lease that keyslot then respects as a lock held by another driver; a Lease without MicroTime is refused', async () => {
        const lease = (renewTime: string) =>
          `apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: keyslot-rotation-x, namespace: kube-system}\nspec: {holderIdentity: other-driver, leaseDurationSeconds: 3600, renewTime: "${renewTime}"}\n`;
        const bad = await kubectl.run('apply', '-f', kubectl.file('bad.yaml', lease(clock.now().toISOString())));
        assert.notEqual(bad.code, 0);
        assert.match(bad.stderr, /parsing time/);
        const applied = await kubectl.run('apply', '-f', kubectl.file('lease.yaml', lease(microTime(clock.now()))));
        assert.equal(applied.code, 0, applied.stderr);
        const result = await fleet.acquireLease('eu', { name: 'keyslot-rotation-x', holder: 'driver-a', ttlSeconds: 60, now: clock.now() });
        assert.equal(result.acquired, false);
        assert.equal(!result.acquired && result.lease.holder, 'other-driver');
        const strict = await kubectl.run(
          'apply',
          '-f',
          kubectl.file('typo.yaml', lease(microTime(clock.now())).replace('holderIdentity', 'holderIdentiti')),
        );
        assert.notEqual(strict.code, 0, 'kubectl asks for strict field validation, and the server refuses an unknown field');
        assert.match(strict.stderr, /unknown field "spec.holderIdentiti"/);
      });
    });

    describe('rollout verdicts: kubectl rollout status and keyslot read the same object the same way', () => {
      type Verdict = 'done' | 'waiting' | 'failed' | 'refused' | 'partial';
      interface Scenario {
        readonly name: string;
        readonly workload: WorkloadSpec;
        /** What happens before both judge: restart (or not), then time passes. */
        readonly restart: boolean;
        readonly afterMs: number;
        readonly failRollout?: boolean;
        readonly kubectl: Verdict;
        readonly keyslot: Verdict;
        /** Why the two differ, where they do by design. */
        readonly why?: string;
      }
      const d = (extra: Partial<WorkloadSpec> = {}): WorkloadSpec => ({
        kind: 'deployment',
        namespace: 'apps',
        name: 'web',
        replicas: 2,
        podStartMs: 5000,
        podStopMs: 0,
        ...extra,
      });
      const scenarios: Scenario[] = [
        { name: 'Deployment rolled out', workload: d(), restart: true, afterMs: 60_000, kubectl: 'done', keyslot: 'done' },
        {
          name: 'Deployment not yet observed by its controller',
          workload: d(),
          restart: true,
          afterMs: 100,
          kubectl: 'waiting',
          keyslot: 'waiting',
        },
        { name: 'Deployment in progress', workload: d(), restart: true, afterMs: 2000, kubectl: 'waiting', keyslot: 'waiting' },
        {
          name: 'Deployment stuck past its progress deadline',
          workload: d({ progressDeadlineSeconds: 60 }),
          restart: true,
          afterMs: 120_000,
          failRollout: true,
          kubectl: 'failed',
          keyslot: 'failed',
        },
        {
          name: 'Deployment rolled out, old pod still Terminating',
          workload: d({ replicas: 1, podStopMs: 30_000 }),
          restart: true,
          afterMs: 6000,
          kubectl: 'done',
          keyslot: 'waiting',
          why: 'status.replicas excludes Terminating pods; they still run with the old key, so keyslot waits for them',
        },
        { name: 'Deployment paused', workload: d({ paused: true }), restart: false, afterMs: 0, kubectl: 'refused', keyslot: 'refused' },
        {
          name: 'StatefulSet rolled out',
          workload: { kind: 'statefulset', namespace: 'apps', name: 'db', replicas: 2, podStartMs: 5000, podStopMs: 0 },
          restart: true,
          afterMs: 60_000,
          kubectl: 'done',
          keyslot: 'done',
        },
        {
          name: 'StatefulSet in progress',
          workload: { kind: 'statefulset', namespace: 'apps', name: 'db', replicas: 2, podStartMs: 5000, podStopMs: 0 },
          restart: true,
          afterMs: 3000,
          kubectl: 'waiting',
          keyslot: 'waiting',
        },
        {
          name: 'StatefulSet with OnDelete',
          workload: { kind: 'statefulset', namespace: 'apps', name: 'db', updateStrategy: 'OnDelete' },
          restart: false,
          afterMs: 0,
          kubectl: 'refused',
          keyslot: 'refused',
        },
        {
          name: 'StatefulSet partitioned',
          workload: { kind: 'statefulset', namespace: 'apps', name: 'db', replicas: 3, partition: 2, podStopMs: 0 },
          restart: true,
          afterMs: 60_000,
          kubectl: 'partial',
          keyslot: 'refused',
          why: 'kubectl calls a partitioned roll-out complete; pods below the partition keep the old key, so keyslot refuses before the flip',
        },
        {
          name: 'DaemonSet rolled out',
          workload: { kind: 'daemonset', namespace: 'apps', name: 'agent', replicas: 3, podStartMs: 5000, podStopMs: 0 },
          restart: true,
          afterMs: 60_000,
          kubectl: 'done',
          keyslot: 'done',
        },
        {
          name: 'DaemonSet in progress',
          workload: { kind: 'daemonset', namespace: 'apps', name: 'agent', replicas: 3, podStartMs: 5000, podStopMs: 0 },
          restart: true,
          afterMs: 3000,
          kubectl: 'waiting',
          keyslot: 'waiting',
        },
      ];

      const kubectlVerdict = async (kubectl: Kubectl, ref: string, replicas: number): Promise<Verdict> => {
        const status = await kubectl.run('rollout', 'status', ref, '-n', 'apps', '--watch=false');
        // kubectl refuses to restart a paused Deployment (asked last: anything else it restarts).
        const restart = await kubectl.run('rollout', 'restart', ref, '-n', 'apps');
        if (/can't restart paused/.test(restart.stderr)) return 'refused';
        const text = status.stdout + status.stderr;
        if (/only available for RollingUpdate/.test(text)) return 'refused';
        if (/exceeded its progress deadline/.test(text)) return 'failed';
        // The API server defaults a StatefulSet's partition to 0, so kubectl always takes its partitioned path.
        const partitioned = /partitioned roll out complete: (\d+) new pods/.exec(text);
        if (partitioned) return Number(partitioned[1]) >= replicas ? 'done' : 'partial';
        if (/successfully rolled out|rolling update complete/.test(text)) return 'done';
        if (/waiting/i.test(text)) return 'waiting';
        throw new Error(`kubectl said something unexpected for ${ref}: ${text}`);
      };

      for (const s of scenarios) {
        it(`${s.name}: kubectl ${s.kubectl}, keyslot ${s.keyslot}${s.why ? ` (${s.why})` : ''}`, async () => {
          const clock = new SimClock('2026-11-24T00:00:00Z');
          const cluster = new SimFleet(clock).cluster('c');
          cluster.controllerLagMs = 500;
          const w = cluster.addWorkload(s.workload);
          if (s.failRollout) w.failRollout = true;
          if (s.restart) cluster.restart(w, { 'kubectl.kubernetes.io/restartedAt': '2026-11-24T00:00:00Z' });
          clock.advance(s.afterMs);
          const emulator = new KubeApiEmulator(cluster, clock);
          const server = await emulator.start();
          const kubectl = new Kubectl(server, binary);
          try {
            const ref = `${s.workload.kind}/${s.workload.name}`;
            const fleet = new KubernetesClusterFleet(new Map([['c', plainKubeConfig(server)]]), clock, 1000, fastRetry);
            const id = { namespace: 'apps', workload: ref };
            const keyslot: Verdict = (await fleet.rolloutBlocker('c', id))
              ? 'refused'
              : await fleet.waitRollout('c', id, 0).then(
                  () => 'done' as const,
                  (e: unknown) => (e instanceof RolloutFailedError && /rollout failed/.test(e.message) ? 'failed' : 'waiting'),
                );
            assert.deepEqual(
              { kubectl: await kubectlVerdict(kubectl, ref, s.workload.replicas ?? 2), keyslot },
              { kubectl: s.kubectl, keyslot: s.keyslot },
            );
          } finally {
            kubectl.dispose();
            await emulator.stop();
          }
        });
      }
    });
  });
