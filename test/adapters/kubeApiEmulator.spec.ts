import assert from 'node:assert/strict';
import { SimClock } from '../../src/sim/clock.ts';
import { SimFleet, type SimCluster } from '../../src/sim/cluster.ts';
import { parseFieldSelector, parseLabelSelector, SelectorError } from '../fixtures/kubeApi/selectors.ts';
import { KubeApiEmulator } from '../fixtures/kubeApiEmulator.ts';

describe('Kubernetes API emulator: the rules kubectl does not reach', () => {
  it('parses label selectors with the real grammar, and refuses what the server refuses', () => {
    const labels = { app: 'web', tier: 'front', 'example.com/team': 'a' };
    const cases: [string, boolean][] = [
      ['app=web', true],
      ['app==web,tier=front', true],
      ['app!=web', false],
      ['tier in (front, back)', true],
      ['tier notin (front)', false],
      ['example.com/team', true],
      ['!missing', true],
      ['!app', false],
      ['app=web,tier in (back)', false],
      ['', true],
    ];
    for (const [selector, expected] of cases) assert.equal(parseLabelSelector(selector)(labels), expected, selector);
    for (const bad of ['app=web)', 'tier in ()', 'a b', 'app=(x']) assert.throws(() => parseLabelSelector(bad), SelectorError, bad);
    assert.equal(parseFieldSelector('metadata.name=web', [])({ 'metadata.name': 'web' }), true);
    assert.throws(() => parseFieldSelector('spec.replicas=2', []), /field label not supported: spec.replicas/);
  });

  describe('on the wire', () => {
    let clock: SimClock;
    let cluster: SimCluster;
    let emulator: KubeApiEmulator;
    let base: string;
    let pod: string;

    beforeEach(async () => {
      clock = new SimClock('2026-11-24T00:00:00Z');
      cluster = new SimFleet(clock).cluster('c');
      const w = cluster.addWorkload({ kind: 'deployment', namespace: 'apps', name: 'web', replicas: 1, containers: ['app'] });
      pod = w.pods[0]!.name;
      clock.advance(10_000);
      cluster.log(w.pods[0]!, 'app', 'first');
      clock.advance(10_000);
      cluster.log(w.pods[0]!, 'app', 'second');
      emulator = new KubeApiEmulator(cluster, clock);
      base = await emulator.start();
    });
    afterEach(() => emulator.stop());

    const get = async (path: string) => {
      const res = await fetch(`${base}${path}`);
      return { status: res.status, headers: res.headers, text: await res.text() };
    };

    it('serves pod logs with tailLines, sinceSeconds, sinceTime, timestamps and previous as the kubelet does', async () => {
      const log = `/api/v1/namespaces/apps/pods/${pod}/log`;
      assert.equal((await get(log)).text, 'started; backend accepted the credential\nfirst\nsecond\n');
      assert.equal((await get(`${log}?tailLines=1`)).text, 'second\n');
      assert.equal((await get(`${log}?sinceSeconds=5`)).text, 'second\n');
      assert.equal((await get(`${log}?sinceTime=2026-11-24T00:00:05Z`)).text, 'first\nsecond\n');
      assert.match((await get(`${log}?timestamps=true&tailLines=1`)).text, /^2026-11-24T00:00:20\.000Z second\n$/);
      assert.equal((await get(`${log}?previous=true`)).status, 400, 'the container never restarted');
      assert.equal((await get(`${log}?sinceSeconds=1&sinceTime=2026-11-24T00:00:05Z`)).status, 422);
      assert.equal((await get(`${log}?sinceSeconds=0`)).status, 422);
      assert.equal((await get(`/api/v1/namespaces/apps/pods/nope/log`)).status, 404);
    });

    it('answers Status bodies with reason and details, Retry-After on 429, and 404 for what it does not serve', async () => {
      const missing = await get('/apis/apps/v1/namespaces/apps/deployments/nope');
      assert.equal(missing.status, 404);
      assert.deepEqual(JSON.parse(missing.text).details, { name: 'nope', group: 'apps', kind: 'deployments' });
      emulator.failNext = { count: 1, status: 429 };
      const throttled = await get('/version');
      assert.equal(throttled.status, 429);
      assert.equal(throttled.headers.get('retry-after'), '1');
      assert.equal(JSON.parse(throttled.text).reason, 'TooManyRequests');
      assert.equal((await get('/apis/batch/v1/namespaces/apps/jobs')).status, 404);
      assert.equal((await get('/api/v1/namespaces/apps/pods?labelSelector=app%3D(x')).status, 400);
      const created = await fetch(`${base}/apis/coordination.k8s.io/v1/namespaces/nowhere/leases`, {
        method: 'POST',
        body: JSON.stringify({ metadata: { name: 'x' }, spec: {} }),
      });
      assert.equal(created.status, 404, 'the namespace does not exist');
    });

    it('moves resourceVersion exactly when an object changes, and generation with spec changes only', async () => {
      const read = async () => JSON.parse((await get('/apis/apps/v1/namespaces/apps/deployments/web')).text);
      const a = await read();
      const b = await read();
      assert.equal(a.metadata.resourceVersion, b.metadata.resourceVersion);
      assert.equal(a.metadata.uid, b.metadata.uid);
      const patch = (body: unknown) =>
        fetch(`${base}/apis/apps/v1/namespaces/apps/deployments/web`, {
          method: 'PATCH',
          headers: { 'content-type': 'application/merge-patch+json' },
          body: JSON.stringify(body),
        });
      assert.equal(
        (await patch({ spec: { template: { spec: { containers: [{ name: 'app', image: 'other' }] } } } })).status,
        422,
        'a change the model cannot represent is refused, not ignored',
      );
      assert.equal((await patch({ metadata: { resourceVersion: '0' }, spec: { paused: true } })).status, 409, 'a stale precondition');
      assert.equal((await patch({ spec: { paused: true } })).status, 200);
      const c = await read();
      assert.equal(c.metadata.generation, a.metadata.generation + 1);
      assert.notEqual(c.metadata.resourceVersion, a.metadata.resourceVersion);
      assert.equal(c.spec.paused, true);
    });
  });
});
