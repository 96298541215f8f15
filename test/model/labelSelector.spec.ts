import assert from 'node:assert/strict';
import { labelSelectorQuery } from '../../src/model/labelSelector.ts';

describe('model: a LabelSelector as the query the API converts it to', () => {
  it('ANDs matchLabels and matchExpressions, in key order, values sorted, each operator in its own syntax', () => {
    assert.deepEqual(
      labelSelectorQuery({
        matchLabels: { tier: 'web', app: 'kubecost' },
        matchExpressions: [
          { key: 'track', operator: 'In', values: ['stable', 'canary'] },
          { key: 'env', operator: 'NotIn', values: ['dev'] },
          { key: 'owner', operator: 'Exists' },
          { key: 'retired', operator: 'DoesNotExist', values: [] },
        ],
      }),
      { query: 'app=kubecost,env notin (dev),owner,!retired,tier=web,track in (canary,stable)' },
    );
  });

  it('refuses what the API refuses, and a null or empty selector, which would not tell the pods apart', () => {
    const refused = (s: Parameters<typeof labelSelectorQuery>[0]) => 'error' in labelSelectorQuery(s);
    assert.ok(refused({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }));
    assert.ok(refused({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }));
    assert.ok(refused({ matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] }));
    assert.ok(refused(null));
    assert.ok(refused({}));
    assert.ok(refused({ matchLabels: {}, matchExpressions: [] }));
  });
});
