import assert from 'node:assert/strict';
import { loadStack } from '../../src/config/load.ts';
import { deliveredSecrets, secretsReadBy, uncoveredConsumers, type DiscoveredConsumer } from '../../src/model/discovery.ts';
import {
  gardenerAtLeast,
  needsAnnotation,
  operationCompleted,
  reconcileAnnotation,
  reconciledAfter,
  refusedOperation,
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
      found('primary', 'deployment/kubecost-thanos-store'),
      found('primary', 'deployment/kubecost-thanos-compact'),
      found('secondary-eu', 'deployment/kubecost-thanos-store'),
      found('secondary-eu', 'deployment/kubecost-thanos-compact'),
      found('secondary-eu', 'statefulset/kubecost-prometheus-server'),
    ];
    assert.deepEqual(
      uncoveredConsumers(config, cred, consumers).map((c) => `${c.cluster} ${c.workload}`),
      [
        'secondary-eu deployment/kubecost-thanos-store',
        'secondary-eu deployment/kubecost-thanos-compact',
        'secondary-eu statefulset/kubecost-prometheus-server',
      ],
      'thanos-store and the compactor are restarted on the primary only; a StatefulSet prometheus by no stage',
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

  it('counts a reconcile only when it started at the annotated generation and succeeded after the secret changed', () => {
    const ok = { type: 'Reconcile', state: 'Succeeded', lastUpdateTime: '2026-11-24T01:00:00Z' };
    // An older reconcile (observedGeneration below what the annotation produced) read the old Secret.
    assert.equal(reconciledAfter(shoot({ observedGeneration: 4, lastOperation: ok }), 5, since), false);
    assert.equal(reconciledAfter(shoot({ observedGeneration: 5, lastOperation: { ...ok, state: 'Processing' } }), 5, since), false);
    assert.equal(
      reconciledAfter(shoot({ observedGeneration: 5, lastOperation: { ...ok, lastUpdateTime: '2026-11-23T00:00:00Z' } }), 5, since),
      false,
    );
    assert.equal(reconciledAfter(shoot({ observedGeneration: 5, lastOperation: ok }), 5, since), true);
    assert.deepEqual(
      selectShoots([shoot({ name: 'a' }), shoot({ name: 'c', binding: 'other' })], { secretBinding: 'b' }).map((s) => s.name),
      ['a'],
    );
  });

  it('asks for a reconcile without dropping a pending operation, as far as the Gardener version allows', () => {
    assert.deepEqual(reconcileAnnotation(shoot()), { value: 'reconcile' });
    const pending = { pendingOperation: 'rotate-ssh-keypair' };
    assert.deepEqual(reconcileAnnotation(shoot({ ...pending, gardenerVersion: '1.133.0' })), { value: 'rotate-ssh-keypair;reconcile' });
    assert.ok('busy' in reconcileAnnotation(shoot({ ...pending, gardenerVersion: '1.132.4' })));
    assert.deepEqual(reconcileAnnotation(shoot({ pendingOperation: 'reconcile', gardenerVersion: '1.100.0' })), { value: 'reconcile' });
  });

  it('refuses the kubeconfig rotation on a Gardener that removed it (v1.114)', () => {
    const op = 'rotate-kubeconfig-credentials';
    assert.equal(refusedOperation(shoot({ gardenerVersion: '1.113.2' }), op), undefined);
    assert.match(refusedOperation(shoot({ gardenerVersion: '1.114.0' }), op) ?? '', /removed in v1\.114.*rotate-credentials-start/);
    assert.equal(gardenerAtLeast(undefined, 1, 114), true);
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
