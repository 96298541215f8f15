import assert from 'node:assert/strict';
import { loadStack } from '../../src/config/load.ts';
import { deliveredSecrets, secretsReadBy, uncoveredConsumers, type DiscoveredConsumer } from '../../src/model/discovery.ts';
import {
  needsAnnotation,
  operationCompleted,
  reconciledSince,
  rotationKindOf,
  selectShoots,
  type ShootView,
} from '../../src/model/gardener.ts';
import { defaultLogPatterns } from '../../src/model/logPatterns.ts';
import { redact } from '../../src/model/redact.ts';

describe('model: consumer discovery', () => {
  it('finds every way a pod spec reads a Secret', () => {
    const spec = {
      volumes: [{ secret: { secretName: 'vol' } }, { projected: { sources: [{ secret: { name: 'proj' } }, {}] } }, {}],
      containers: [{ env: [{ valueFrom: { secretKeyRef: { name: 'env' } } }, {}], envFrom: [{ secretRef: { name: 'envfrom' } }] }],
      initContainers: [{ env: [{ valueFrom: { secretKeyRef: { name: 'init' } } }] }],
    };
    assert.deepEqual([...secretsReadBy(spec)].sort(), ['env', 'envfrom', 'init', 'proj', 'vol']);
    assert.equal(secretsReadBy(undefined).size, 0);
  });

  it('reports the consumers no restart stage covers, per cluster', () => {
    const config = loadStack('kubecost-thanos');
    const cred = config.credentials[0]!;
    assert.deepEqual(deliveredSecrets(config, cred).get('secondary-eu'), [{ namespace: 'kubecost', name: 'kubecost-thanos' }]);
    const found = (cluster: string, workload: string): DiscoveredConsumer => ({
      cluster,
      namespace: 'kubecost',
      workload,
      secrets: ['kubecost-thanos'],
      replicas: 1,
      containers: ['c'],
    });
    const consumers = [
      found('primary', 'deployment/kubecost-prometheus-server'),
      found('primary', 'statefulset/kubecost-thanos-store'),
      found('secondary-eu', 'statefulset/kubecost-thanos-store'),
      found('secondary-eu', 'deployment/kubecost-thanos-compact'),
    ];
    assert.deepEqual(
      uncoveredConsumers(config, cred, consumers).map((c) => `${c.cluster} ${c.workload}`),
      ['secondary-eu statefulset/kubecost-thanos-store', 'secondary-eu deployment/kubecost-thanos-compact'],
      'thanos-store is restarted on the primary only; the compactor by no stage',
    );
  });
});

describe('model: Gardener decisions', () => {
  const shoot = (over: Partial<ShootView> = {}): ShootView => ({ name: 's', binding: 'b', beingDeleted: false, rotation: {}, ...over });
  const since = new Date('2026-11-24T00:00:00Z');

  it('maps operations to their status field, and unknown ones to none', () => {
    assert.equal(rotationKindOf('rotate-kubeconfig-credentials'), 'kubeconfig');
    assert.equal(rotationKindOf('rotate-ssh-keypair'), 'sshKeypair');
    assert.equal(rotationKindOf('reconcile'), undefined);
  });

  it('annotates only shoots not initiated since the rotation began, and completes on lastCompletionTime', () => {
    const op = 'rotate-kubeconfig-credentials';
    assert.equal(needsAnnotation(shoot(), op, since), true);
    assert.equal(needsAnnotation(shoot({ rotation: { kubeconfig: { lastInitiationTime: '2026-11-24T00:01:00Z' } } }), op, since), false);
    assert.equal(needsAnnotation(shoot({ rotation: { kubeconfig: { lastInitiationTime: '2026-11-23T00:01:00Z' } } }), op, since), true);
    assert.equal(operationCompleted(shoot({ rotation: { kubeconfig: { lastCompletionTime: '2026-11-23T23:00:00Z' } } }), op, since), false);
    assert.equal(operationCompleted(shoot({ rotation: { kubeconfig: { lastCompletionTime: '2026-11-24T00:05:00Z' } } }), op, since), true);
  });

  it('counts a reconcile only when it succeeded after the secret changed', () => {
    assert.equal(
      reconciledSince(shoot({ lastOperation: { type: 'Reconcile', state: 'Succeeded', lastUpdateTime: '2026-11-23T00:00:00Z' } }), since),
      false,
    );
    assert.equal(
      reconciledSince(shoot({ lastOperation: { type: 'Reconcile', state: 'Processing', lastUpdateTime: '2026-11-24T01:00:00Z' } }), since),
      false,
    );
    assert.equal(
      reconciledSince(shoot({ lastOperation: { type: 'Reconcile', state: 'Succeeded', lastUpdateTime: '2026-11-24T01:00:00Z' } }), since),
      true,
    );
    assert.deepEqual(
      selectShoots([shoot({ name: 'a' }), shoot({ name: 'c', binding: 'other' })], { secretBinding: 'b' }).map((s) => s.name),
      ['a'],
    );
  });
});

describe('model: log patterns and redaction', () => {
  it('has source-specific auth errors, matched case-insensitively', () => {
    const matches = (source: Parameters<typeof defaultLogPatterns>[0], line: string) =>
      defaultLogPatterns(source).some((p) => new RegExp(p, 'i').test(line));
    assert.ok(matches('aws-iam-access-key', 'An error occurred (InvalidAccessKeyId) when calling the PutObject operation'));
    assert.ok(matches('aws-iam-access-key', 'SignatureDoesNotMatch: The request signature we calculated does not match'));
    assert.ok(matches('azure-cosmosdb-keys', "The input authorization token can't serve the request"));
    assert.ok(matches('random', 'pq: password authentication failed for user "app"'));
    assert.ok(!matches('aws-iam-access-key', 'uploaded block 01HX to bucket'));
  });

  it('masks key-shaped text and leaves prose alone', () => {
    assert.equal(redact('AccountEndpoint=https://a/;AccountKey=c2VjcmV0c2VjcmV0;'), 'AccountEndpoint=https://a/;AccountKey=[redacted];');
    assert.equal(redact('using AKIAIOSFODNN7EXAMPLE now'), 'using [redacted] now');
    assert.equal(redact('-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----'), '[redacted]');
    assert.equal(redact('rolling-update: 3 nodes updated'), 'rolling-update: 3 nodes updated');
  });
});
