import assert from 'node:assert/strict';
import type { RotationEvent } from '../../src/driver/index.ts';
import { canaryHeld } from '../../src/drill/judges.ts';

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
