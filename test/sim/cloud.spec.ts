import assert from 'node:assert/strict';
import type { SourceType } from '../../src/config/schema.ts';
import { defaultLogPatterns } from '../../src/model/logPatterns.ts';
import { rejectionLine, tokensIn } from '../../src/sim/cloud.ts';

describe('simulated cloud: what a refused consumer logs', () => {
  const owners: Record<SourceType, string> = {
    'aws-iam-access-key': 'sim:iam:thanos/primary@g2',
    'azure-cosmosdb-keys': 'sim:cosmos:orders/primary#4',
    'azure-storage-keys': 'sim:storage:etl/secondary#2',
    random: 'sim:random:local/primary@g1',
    'gardener-kubeconfig': 'sim:gardener-kubeconfig:shoot/current@g1',
    'tls-signing-key': 'token:sim:tls:service-account-g2/private@g1',
    'kops-keyset': 'token:sim:kops:kops-example.k8s.local/private@7000000000000000001',
  };
  for (const [source, loaded] of Object.entries(owners) as [SourceType, string][]) {
    it(`${source}: verify-logs' default patterns find the line, and no key token is in it`, () => {
      const line = rejectionLine(JSON.stringify({ key: loaded }).replace(/^\{"key":"/, loaded.startsWith('token:') ? '' : '{"key":"'));
      assert.ok(
        defaultLogPatterns(source).some((p) => new RegExp(p, 'i').test(line)),
        line,
      );
      assert.deepEqual(tokensIn(line), []);
    });
  }

  it('finds every token in a JSON- or YAML-shaped Secret', () => {
    assert.deepEqual(
      tokensIn(JSON.stringify({ 'object-store.yaml': 'access_key: "sim:iam:u/primary@g1"\nsecret_key: "sim:iam:u/primary@g1"' })),
      ['sim:iam:u/primary@g1', 'sim:iam:u/primary@g1'],
    );
    assert.deepEqual(tokensIn('{"a":"sim:cosmos:x/primary#12","b":"sim:cosmos:x/secondary#3"}'), [
      'sim:cosmos:x/primary#12',
      'sim:cosmos:x/secondary#3',
    ]);
  });
});
