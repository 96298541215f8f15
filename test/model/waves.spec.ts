import assert from 'node:assert/strict';
import { defaultWaves, orderForWaves, parseWaves, splitWaves } from '../../src/model/waves.ts';
import { canaryClusters, canaryPhases, phaseOf, wavesAfterCanary } from '../../src/model/canary.ts';

describe('model: waves', () => {
  const fleet = (n: number) => Array.from({ length: n }, (_, i) => `c${i}`);

  it('1, 10%, 100%: a canary, up to a tenth of the fleet, then the rest; every cluster exactly once, in declared order', () => {
    assert.deepEqual(
      splitWaves(fleet(500), defaultWaves).map((w) => w.length),
      [1, 49, 450],
    );
    assert.deepEqual(
      splitWaves(fleet(3), defaultWaves).map((w) => w.length),
      [1, 2],
    );
    assert.deepEqual(splitWaves(fleet(1), defaultWaves), [['c0']]);
    assert.deepEqual(splitWaves([], defaultWaves), []);
    const waves = splitWaves(fleet(37), [2, '25%', 20]);
    assert.deepEqual(
      waves.map((w) => w.length),
      [2, 8, 10, 17],
    );
    assert.deepEqual(waves.flat(), fleet(37));
  });

  it('orders clusters lightest first, by the pods of the consumers discovery counted, the same for every stage', () => {
    const replicas = new Map([
      ['eu kubecost/deployment/prometheus', 4],
      ['eu kubecost/statefulset/store', 2],
      ['us kubecost/deployment/prometheus', 1],
      ['asia kubecost/deployment/prometheus', 4],
    ]);
    assert.deepEqual(orderForWaves(['eu', 'us', 'asia', 'au'], replicas), ['au', 'us', 'asia', 'eu']);
    // Without discovery (a resumed run, or discovery off): declared order.
    assert.deepEqual(orderForWaves(['eu', 'us'], undefined), ['eu', 'us']);
    assert.deepEqual(orderForWaves([undefined], replicas), [undefined]);
    // Equal weights keep their declared order.
    const even = new Map(['z', 'x', 'y', 'w'].map((c) => [`${c} apps/deployment/api`, 1]));
    assert.deepEqual(orderForWaves(['z', 'x', 'y', 'w'], even), ['z', 'x', 'y', 'w']);
  });

  it('parses --waves, and says what is wrong with a bad list', () => {
    assert.deepEqual(parseWaves('1,10%,100%'), [1, '10%', '100%']);
    assert.deepEqual(parseWaves(' 2 , 50% '), [2, '50%']);
    assert.deepEqual(parseWaves('1,2,12.25%,100%'), [1, 2, '12.25%', '100%']);
    // A count and a share are not compared: 5 clusters may be more or fewer than half the fleet.
    assert.deepEqual(parseWaves('50%,5'), ['50%', 5]);
    assert.deepEqual(parseWaves('1,10%,5%'), { error: 'wave 3 (5%) does not widen wave 2 (10%)' });
    for (const [text, error] of [
      ['0', /neither a cluster count/],
      ['1,x', /"x" is neither/],
      ['1,150%', /not between 0% and 100%/],
      ['10%,5%', /does not widen/],
      ['5,5', /does not widen/],
      ['10%,10%', /does not widen/],
      ['0%', /not between 0% and 100%/],
      ['x5%', /neither/],
      ['5%x', /neither/],
      ['1.a%', /neither/],
      ['x1', /neither/],
      ['1x', /neither/],
    ] as const) {
      const parsed = parseWaves(text);
      assert.ok('error' in parsed, text);
      assert.match((parsed as { error: string }).error, error);
    }
  });
});

describe('model: the canary phase', () => {
  it('keeps the graph order through dropped stages, also when a merged graph has a stage wait for a later one', () => {
    // X (all) waits for Y (primary only), listed after it, as two credentials' merged stages may be.
    const stages = [{ clusters: ['c1', 'c2', 'primary'] }, { clusters: ['primary'] }, { clusters: ['c1', 'c2', 'primary'] }];
    const canary = phaseOf(stages, [[1], [], [0]], (c) => c === 'c1');
    assert.deepEqual(canary.indices, [0, 2]);
    assert.deepEqual(canary.dependencies, [[], [0]]);
    const rest = phaseOf(stages, [[1], [], [0]], (c) => c !== 'c1');
    assert.deepEqual(rest.dependencies, [[1], [], [0]]);
  });

  it('restates the later waves as counts of the rest of the fleet', () => {
    assert.deepEqual(wavesAfterCanary([1, 3, '100%'], 10, 1), [2, 9]);
    assert.deepEqual(wavesAfterCanary([1, '10%', '100%'], 500, 1), [49, 499]);
    assert.deepEqual(wavesAfterCanary([1], 10, 1), ['100%']);
    assert.deepEqual(
      splitWaves(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'], wavesAfterCanary([1, 3, '100%'], 10, 1)).map((w) => w.length),
      [2, 7],
    );
  });

  it('takes the canary from the clusters the stages touch, in wave order, and has none to split off otherwise', () => {
    const stages = [{ clusters: ['a', 'b', 'c'] }, { clusters: ['a'] }];
    // `x` comes first in wave order but no stage touches it: it cannot be the canary.
    assert.deepEqual([...canaryClusters(stages, ['x', 'b', 'a', 'c'], [1, '100%'])], ['b']);
    assert.deepEqual([...canaryClusters(stages, ['a', 'b', 'c'], [2, '100%'])], ['a', 'b']);
    // A first wave that already holds the whole fleet leaves nothing to protect.
    assert.deepEqual([...canaryClusters(stages, ['a', 'b', 'c'], [3, '100%'])], []);
    assert.deepEqual([...canaryClusters(stages, ['a', 'b', 'c'], ['100%'])], []);
    // A stage that runs once for the fleet (no clusters) cannot be tried on a canary.
    assert.deepEqual([...canaryClusters([...stages, { clusters: [] }], ['a', 'b', 'c'], [1, '100%'])], []);
  });

  it("passes a dropped stage's own wait on through a chain, and lists what a stage waits for in order", () => {
    // A on every cluster, B on the primary only, C on every cluster; C waits for B, B for A.
    const chain = [{ clusters: ['c1', 'primary'] }, { clusters: ['primary'] }, { clusters: ['c1', 'primary'] }];
    assert.deepEqual(phaseOf(chain, [[], [0], [1]], (c) => c === 'c1').dependencies, [[], [0]]);
    // A stage that waits for three others, named out of order.
    const fan = [{ clusters: ['a'] }, { clusters: ['a'] }, { clusters: ['a'] }, { clusters: ['a'] }];
    assert.deepEqual(phaseOf(fan, [[], [], [], [2, 0, 1]], () => true).dependencies, [[], [], [], [0, 1, 2]]);
  });

  it('splits a graph into the canary phase (one unlimited wave) and the rest (the remaining waves), or keeps it whole', () => {
    const stages = [{ clusters: ['a', 'b', 'c', 'd'] }, { clusters: ['a', 'b', 'c', 'd'] }];
    const deps = [[], [0]];
    const [canary, rest, more] = canaryPhases(stages, deps, new Set(['a']), [1, 2, '100%']);
    assert.equal(more, undefined);
    assert.deepEqual(canary!.stages, [{ clusters: ['a'] }, { clusters: ['a'] }]);
    assert.deepEqual(canary!.waves, ['100%']);
    assert.deepEqual(canary!.dependencies, [[], [0]]);
    assert.deepEqual(rest!.stages, [{ clusters: ['b', 'c', 'd'] }, { clusters: ['b', 'c', 'd'] }]);
    assert.deepEqual(rest!.waves, [1, 3]);
    const whole = { indices: [0, 1], stages, dependencies: [[], [0]], waves: [1, 2, '100%'] };
    assert.deepEqual(canaryPhases(stages, deps, new Set(), [1, 2, '100%']), [whole]);
    assert.deepEqual(canaryPhases(stages, deps, new Set(['a', 'b', 'c', 'd']), [1, 2, '100%']), [whole]);
  });
});
