import assert from 'node:assert/strict';
import { defaultWaves, orderForWaves, parseWaves, splitWaves } from '../../src/model/waves.ts';
import { phaseOf, wavesAfterCanary } from '../../src/model/canary.ts';

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
  });

  it('parses --waves, and says what is wrong with a bad list', () => {
    assert.deepEqual(parseWaves('1,10%,100%'), [1, '10%', '100%']);
    assert.deepEqual(parseWaves(' 2 , 50% '), [2, '50%']);
    for (const [text, error] of [
      ['0', /neither a cluster count/],
      ['1,x', /"x" is neither/],
      ['1,150%', /not between 0% and 100%/],
      ['10%,5%', /does not widen/],
      ['5,5', /does not widen/],
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
});
