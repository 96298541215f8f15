import assert from 'node:assert/strict';
import type { RotationEvent } from '../../src/driver/index.ts';
import { canaryHeld, deadKeyHolders, judgeRun, type RunFacts } from '../../src/drill/judges.ts';
import { SimClock } from '../../src/sim/clock.ts';
import { SimFleet } from '../../src/sim/cluster.ts';
import type { SimShoot } from '../../src/sim/model.ts';

/**
 * The canary rule judged from events alone: these tests write the events by hand (no driver, no
 * scheduler), so what they expect is the rule as the README states it, not what the code does.
 */
const t0 = Date.parse('2026-11-24T00:00:00Z');
/** A cluster finishing a step `end` seconds after t0, having started it `took` seconds before. */
function finished(cluster: string, step: number, end: number, took = 10, rotationId = 'r1'): RotationEvent {
  return {
    type: 'cluster-finished',
    at: new Date(t0 + end * 1000).toISOString(),
    credential: 'c',
    rotationId,
    step,
    kind: 'restart',
    cluster,
    outcome: 'done',
    durationMs: took * 1000,
  };
}

describe('drill judges: the canary rule, from the events alone', () => {
  // Cluster a is the canary: two stages, done at 20 s.
  const canary = [finished('a', 0, 10), finished('a', 1, 20)];

  it('holds when every other cluster starts once the canary finished all its stages, and says when that was', () => {
    const events = [...canary, finished('b', 0, 30), finished('b', 1, 40), finished('c', 0, 30), finished('c', 1, 40)];
    const judged = canaryHeld(events, [1, '100%']);
    assert.deepEqual(judged, { broken: [], confirmedAt: [t0 + 20_000] });
  });

  it('breaks when a second cluster starts a stage before the canary finished, naming the rotation and the clusters', () => {
    // b's first stage ends at 29 s after 10 s: it started at 19 s, one second before the canary was done.
    const events = [...canary, finished('b', 0, 29), finished('b', 1, 40), finished('c', 0, 30)];
    const judged = canaryHeld(events, [1, '100%']);
    assert.deepEqual(judged.broken, ['r1: a, b started stages before any cluster had finished its own']);
  });

  it('counts a cluster that starts at the very moment the canary finished as waiting for it', () => {
    const events = [...canary, finished('b', 0, 30), finished('c', 0, 30, 10)];
    assert.deepEqual(canaryHeld(events, [1, '100%']).broken, []);
  });

  it('sizes a first wave in percent of the fleet, rounded up', () => {
    // 15 clusters, a first wave of 10 %: 1.5 rounds up to 2, so two early clusters are allowed, three are not.
    const rest = Array.from({ length: 13 }, (_, i) => finished(`z${i}`, 0, 100));
    const two = [...canary, finished('b', 0, 15), ...rest];
    assert.deepEqual(canaryHeld(two, ['10%', '100%']).broken, []);
    const three = [...canary, finished('b', 0, 15), finished('c', 0, 15), ...rest.slice(1)];
    assert.equal(canaryHeld(three, ['10%', '100%']).broken.length, 1);
  });

  it('confirms at the first cluster to finish every stage it has, even one with fewer stages than the canary', () => {
    // b has a single stage, done at 12 s: from then on some cluster has finished its own.
    // A canary of two: b has a single stage, done at 12 s; from then on some cluster has finished its own.
    const events = [finished('a', 0, 10), finished('a', 1, 30), finished('b', 0, 12, 12), finished('c', 0, 25), finished('d', 0, 30)];
    assert.deepEqual(canaryHeld(events, [2, '100%']), { broken: [], confirmedAt: [t0 + 12_000] });
  });

  it('takes the first end of a step reported twice for a cluster, and the earliest start of a cluster', () => {
    // a reports step 1 again at 50 s (a resumed run); the canary was still done at 20 s.
    const events = [...canary, finished('a', 1, 50), finished('b', 0, 30), finished('b', 0, 35, 5)];
    assert.deepEqual(canaryHeld(events, [1, '100%']).confirmedAt, [t0 + 20_000]);
    // c's second report starts later, but its first started at 15 s: before the canary.
    const early = [...canary, finished('c', 0, 25), finished('c', 0, 40, 5)];
    assert.equal(canaryHeld(early, [1, '100%']).broken.length, 1);
  });

  it('judges each rotation apart', () => {
    const events = [...canary, finished('b', 0, 30), ...[finished('a', 0, 10, 10, 'r2'), finished('b', 0, 5, 5, 'r2')]];
    assert.deepEqual(canaryHeld(events, [1, '100%']).broken, ['r2: a, b started stages before any cluster had finished its own']);
  });

  it('has no canary to judge when the first wave is the whole fleet', () => {
    const events = [finished('a', 0, 10), finished('b', 0, 10)];
    assert.deepEqual(canaryHeld(events, ['100%']), { broken: [], confirmedAt: [] });
    // A first wave of two clusters out of two: nothing waited for it, so nothing is confirmed either.
    assert.deepEqual(canaryHeld(events, [2, '100%']), { broken: [], confirmedAt: [] });
    assert.deepEqual(canaryHeld(events, [1, '100%']).confirmedAt, [t0 + 10_000]);
  });

  it('reads only cluster-finished events', () => {
    const other = { ...finished('b', 0, 15), type: 'step-finished' } as unknown as RotationEvent;
    assert.deepEqual(canaryHeld([...canary, other, finished('c', 0, 30)], [1, '100%']).broken, []);
  });
});

describe('drill judges: the invariants of a run, from what the drill saw', () => {
  const finishedRotation = (rotationId: string, outcome: 'rotated' | 'rolled back'): RotationEvent =>
    ({ type: 'rotation-finished', at: new Date(t0).toISOString(), credential: 'c', rotationId, outcome }) as unknown as RotationEvent;
  /** A healthy rotate run: one credential rotated, its consumer restarted once on each of two clusters. */
  const healthy = (): RunFacts => ({
    mode: 'rotate',
    waves: ['100%'],
    traffic: { requests: 1000, failed: 0, downtimeBy: new Map(), failures: new Map(), invalidatedWhileHeld: [] },
    outcomes: { c: 'rotated' },
    injected: [],
    events: [finishedRotation('r1', 'rotated')],
    restarts: ['eu apps/Deployment/api r1', 'us apps/Deployment/api r1'],
    resumedFrom: Number.POSITIVE_INFINITY,
    batchOf: new Map([['r1', 0]]),
    onDeadKeys: [],
  });
  const verdict = (facts: RunFacts, name: string) => {
    const found = judgeRun(facts).invariants.find((i) => i.name === name);
    assert.ok(found, `no invariant named ${name}`);
    return found;
  };

  it('a healthy run holds every invariant, says what it saw, and counts one restart per consumer', () => {
    const judged = judgeRun(healthy());
    assert.deepEqual(
      judged.invariants.filter((i) => !i.held),
      [],
    );
    assert.equal(judged.invariants.length, 7);
    assert.equal(judged.restartsPerConsumer, 1);
    assert.equal(judged.downtimeMs, 0);
    assert.equal(verdict(healthy(), 'no failed request').detail, '1000 requests, none failed');
    assert.equal(verdict(healthy(), 'each consumer restarted at most once per batch').detail, '2 consumer(s)');
    assert.equal(verdict(healthy(), 'the fleet ends on live keys').detail, 'every pod holds an accepted key');
  });

  it('says what held in words of its own for each invariant', () => {
    const details = Object.fromEntries(judgeRun(healthy()).invariants.map((i) => [i.name, i.detail]));
    assert.deepEqual(details, {
      'no failed request': '1000 requests, none failed',
      'no downtime': 'every workload always had a ready pod',
      'no key invalidated while a live pod held it': 'none',
      'every rotation finished, or rolled back from an injected fault': 'c: rotated',
      'no cluster outside the canary was touched before the canary confirmed': 'the canary ran every stage before the rest of the fleet',
      'each consumer restarted at most once per batch': '2 consumer(s)',
      'the fleet ends on live keys': 'every pod holds an accepted key',
    });
    const two = {
      ...healthy(),
      traffic: {
        ...healthy().traffic,
        failed: 2,
        failures: new Map([
          ['eu apps/api', t0],
          ['us apps/api', t0 + 1000],
        ]),
      },
    };
    assert.equal(
      verdict(two, 'no failed request').detail,
      `2 of 1000 failed: eu apps/api from ${new Date(t0).toISOString()}; us apps/api from ${new Date(t0 + 1000).toISOString()}`,
    );
    const invalidated = {
      ...healthy(),
      traffic: { ...healthy().traffic, invalidatedWhileHeld: ['eu apps/api api-1', 'us apps/api api-2'] },
    };
    assert.equal(verdict(invalidated, 'no key invalidated while a live pod held it').detail, 'eu apps/api api-1; us apps/api api-2');
  });

  it('counts consumers (cluster and workload) across batches, and names each batch a consumer restarted twice in', () => {
    const name = 'each consumer restarted at most once per batch';
    const events = [finishedRotation('r1', 'rotated'), finishedRotation('r2', 'rotated'), finishedRotation('r3', 'rotated')];
    // One consumer restarted once in batch 11 and once in batch 12; another twice in batch 12.
    const facts = {
      ...healthy(),
      events,
      restarts: ['eu apps/Deployment/api r1', 'eu apps/Deployment/api r2', 'eu apps/Deployment/web r2', 'eu apps/Deployment/web r3'],
      batchOf: new Map([
        ['r1', 11],
        ['r2', 12],
        ['r3', 12],
      ]),
    };
    assert.deepEqual(verdict(facts, name), { name, held: false, detail: 'restarted more than once: eu apps/Deployment/web in batch 12' });
    assert.equal(judgeRun(facts).restartsPerConsumer, 2, 'four restarts of two consumers');
    // Rotations with no batch recorded are judged each on its own; a new agent's restarts are its own.
    const unbatched = {
      ...healthy(),
      restarts: ['eu apps/Deployment/api r1', 'eu apps/Deployment/api r1'],
      batchOf: new Map(),
      resumedFrom: 1,
    };
    assert.equal(verdict(unbatched, name).held, true);
    assert.equal(judgeRun(unbatched).restartsPerConsumer, 2, 'one consumer, restarted by the first agent and again by the new one');
    // Two consumers of one cluster in one batch are two consumers.
    const neighbours = { ...healthy(), restarts: ['eu apps/Deployment/api r1', 'eu apps/Deployment/web r1'] };
    assert.equal(judgeRun(neighbours).restartsPerConsumer, 1);
    // Several consumers restarted twice are all named.
    const both = { ...healthy(), restarts: [...neighbours.restarts, ...neighbours.restarts] };
    assert.equal(
      verdict(both, name).detail,
      'restarted more than once: eu apps/Deployment/api in batch 0, eu apps/Deployment/web in batch 0',
    );
  });

  it('a failed request breaks a rotate run, and only says so in an emergency, which may fail requests on the way', () => {
    const failing = { ...healthy(), traffic: { ...healthy().traffic, failed: 3, failures: new Map([['eu apps/api', t0]]) } };
    const broken = verdict(failing, 'no failed request');
    assert.equal(broken.held, false);
    assert.equal(broken.detail, `3 of 1000 failed: eu apps/api from ${new Date(t0).toISOString()}`);
    assert.equal(verdict({ ...failing, mode: 'emergency' }, 'no failed request').held, true);
    assert.equal(verdict({ ...failing, mode: 'disruptive' }, 'no failed request').held, true);
  });

  it('downtime is added up over workloads and breaks a rotate run', () => {
    const down = new Map([
      ['eu apps/Deployment/api', 1500],
      ['us apps/Deployment/api', 500],
    ]);
    const facts = { ...healthy(), traffic: { ...healthy().traffic, downtimeBy: down } };
    assert.equal(judgeRun(facts).downtimeMs, 2000);
    const broken = verdict(facts, 'no downtime');
    assert.equal(broken.held, false);
    assert.equal(broken.detail, 'without a ready pod: eu apps/Deployment/api for 1.5s; us apps/Deployment/api for 0.5s');
    assert.equal(verdict({ ...facts, mode: 'emergency' }, 'no downtime').held, true);
  });

  it('a key invalidated while a live pod held it breaks a rotate run, and is named', () => {
    const facts = { ...healthy(), traffic: { ...healthy().traffic, invalidatedWhileHeld: ['eu apps/api api-1'] } };
    assert.deepEqual(verdict(facts, 'no key invalidated while a live pod held it'), {
      name: 'no key invalidated while a live pod held it',
      held: false,
      detail: 'eu apps/api api-1',
    });
    assert.equal(verdict({ ...facts, mode: 'disruptive' }, 'no key invalidated while a live pod held it').held, true);
  });

  it('a rollback is right only when a fault was injected; a failure never is', () => {
    const name = 'every rotation finished, or rolled back from an injected fault';
    const rolledBack = { ...healthy(), outcomes: { c: 'rolled back', d: 'rotated' } };
    assert.equal(verdict(rolledBack, name).held, false);
    assert.equal(verdict(rolledBack, name).detail, 'c: rolled back; d: rotated');
    assert.equal(verdict({ ...rolledBack, injected: ['eu api crashes with the new key'] }, name).held, true);
    const failed = { ...healthy(), outcomes: { c: 'failed: the up was refused' }, injected: ['a fault'] };
    assert.equal(verdict(failed, name).held, false);
  });

  it('names every rotation that broke the canary rule', () => {
    const name = 'no cluster outside the canary was touched before the canary confirmed';
    const early = (id: string) => [finished('a', 0, 10, 10, id), finished('b', 0, 5, 5, id), finished('c', 0, 30, 10, id)];
    assert.equal(
      verdict({ ...healthy(), waves: [1, '100%'], events: [...early('r1'), ...early('r2')] }, name).detail,
      'r1: a, b started stages before any cluster had finished its own; r2: a, b started stages before any cluster had finished its own',
    );
  });

  it('the canary invariant is the canary rule over the events, for the waves asked', () => {
    const events = [finished('a', 0, 10), finished('b', 0, 5, 5), finished('c', 0, 30)];
    const name = 'no cluster outside the canary was touched before the canary confirmed';
    assert.equal(verdict({ ...healthy(), waves: ['100%'], events }, name).held, true);
    const broken = verdict({ ...healthy(), waves: [1, '100%'], events }, name);
    assert.equal(broken.held, false);
    assert.equal(broken.detail, 'r1: a, b started stages before any cluster had finished its own');
  });

  it('a consumer restarted twice in one batch breaks the run; once in each of two batches, or once more by a new agent, does not', () => {
    const name = 'each consumer restarted at most once per batch';
    const twice = { ...healthy(), restarts: ['eu apps/Deployment/api r1', 'eu apps/Deployment/api r1'] };
    assert.deepEqual(verdict(twice, name), { name, held: false, detail: 'restarted more than once: eu apps/Deployment/api in batch 0' });
    assert.equal(judgeRun(twice).restartsPerConsumer, 2);
    // Two credentials rotated one after another: a batch each.
    const apart = {
      ...twice,
      restarts: ['eu apps/Deployment/api r1', 'eu apps/Deployment/api r2'],
      events: [finishedRotation('r1', 'rotated'), finishedRotation('r2', 'rotated')],
      batchOf: new Map([
        ['r1', 0],
        ['r2', 1],
      ]),
    };
    assert.equal(verdict(apart, name).held, true);
    // The same two, rotated together: one batch.
    assert.equal(
      verdict(
        {
          ...apart,
          batchOf: new Map([
            ['r1', 0],
            ['r2', 0],
          ]),
        },
        name,
      ).held,
      false,
    );
    // A new agent that took over after a crash restarts again: that is its own batch.
    assert.equal(verdict({ ...twice, resumedFrom: 1 }, name).held, true);
    assert.equal(verdict({ ...twice, resumedFrom: 2 }, name).held, false);
    // Restarts of a rotation that did not finish rotated are not judged.
    const undone = { ...twice, events: [finishedRotation('r1', 'rolled back')] };
    assert.equal(verdict(undone, name).held, true);
    assert.equal(judgeRun(undone).restartsPerConsumer, 0);
  });

  it('a fleet left on a dead key breaks the run in every mode', () => {
    const name = 'the fleet ends on live keys';
    for (const mode of ['rotate', 'emergency', 'disruptive'] as const) {
      const judged = verdict(
        { ...healthy(), mode, onDeadKeys: ['eu apps/Deployment/api api-1', 'eu shoot garden/alpha still uses the old key'] },
        name,
      );
      assert.deepEqual(judged, { name, held: false, detail: 'eu apps/Deployment/api api-1; eu shoot garden/alpha still uses the old key' });
    }
  });
});

describe('drill judges: where the fleet holds a key nobody accepts', () => {
  it('names each pod on a dead key and each Shoot whose last reconcile used one', () => {
    const cluster = new SimFleet(new SimClock('2026-11-24T00:00:00Z')).cluster('eu');
    const api = cluster.addWorkload({ kind: 'deployment', namespace: 'apps', name: 'api', replicas: 2, podStartMs: 0 });
    cluster.bootPods();
    const [first, second] = api.pods;
    first!.loaded = 'old';
    second!.loaded = 'new';
    const shoot = (name: string, credentials?: string): SimShoot => ({
      namespace: 'garden',
      name,
      annotations: {},
      generation: 1,
      observedGeneration: 1,
      hibernated: false,
      rotation: {},
      lastReconcileAt: 0,
      ...(credentials ? { credentials } : {}),
    });
    cluster.shoots.set('garden/alpha', shoot('alpha', 'old'));
    cluster.shoots.set('garden/beta', shoot('beta', 'new'));
    cluster.shoots.set('garden/gamma', shoot('gamma'));
    // Nothing is judged dead while the backend accepts everything (no rule set).
    assert.deepEqual(deadKeyHolders([cluster]), []);
    cluster.accepts = (loaded) => loaded === 'new';
    assert.deepEqual(deadKeyHolders([cluster]), [`eu apps/deployment/api ${first!.name}`, 'eu shoot garden/alpha still uses the old key']);
    cluster.accepts = () => true;
    assert.deepEqual(deadKeyHolders([cluster]), []);
  });
});
