import assert from 'node:assert/strict';
import { csiDriverContainer, csiRotationOf, goDurationSeconds, mountedVersion } from '../../src/model/csi.ts';
import { helmRelease } from '../../src/model/helm.ts';

describe('model: the Secrets Store CSI driver', () => {
  it('reads rotation off unless --enable-secret-rotation says true, and the 2m poll unless set', () => {
    assert.deepEqual(csiRotationOf(['--endpoint=$(CSI_ENDPOINT)', '--nodeid=$(KUBE_NODE_NAME)']), { enabled: false, pollSeconds: 120 });
    assert.deepEqual(csiRotationOf(['--enable-secret-rotation=false']), { enabled: false, pollSeconds: 120 });
    assert.deepEqual(csiRotationOf(['--enable-secret-rotation=true', '--rotation-poll-interval=5m']), { enabled: true, pollSeconds: 300 });
    assert.deepEqual(csiRotationOf(['-enable-secret-rotation', '--rotation-poll-interval=1h30m']), { enabled: true, pollSeconds: 5400 });
  });

  it('parses Go durations and refuses what is not one', () => {
    assert.equal(goDurationSeconds('90s'), 90);
    assert.equal(goDurationSeconds('1.5m'), 90);
    assert.equal(goDurationSeconds('2m30s'), 150);
    assert.equal(goDurationSeconds('5 minutes'), undefined);
    assert.equal(goDurationSeconds('5'), undefined);
    assert.equal(goDurationSeconds('1.25m'), 75);
    // Every character must belong to a duration: nothing before, between or after.
    assert.equal(goDurationSeconds(''), undefined);
    assert.equal(goDurationSeconds('1m30'), undefined);
    assert.equal(goDurationSeconds('x1m'), undefined);
  });

  it("reads only the driver's own container and only its poll flag as the poll interval", () => {
    // kubernetes-sigs/secrets-store-csi-driver v1.5.6: the chart's container is `secrets-store`, and
    // --provider-health-check-interval (cmd/secrets-store-csi-driver/main.go) is another duration flag.
    assert.equal(csiDriverContainer, 'secrets-store');
    assert.deepEqual(csiRotationOf(['--enable-secret-rotation', '--provider-health-check-interval=1m']), {
      enabled: true,
      pollSeconds: 120,
    });
    assert.deepEqual(csiRotationOf(['--rotation-poll-interval=soon']), { enabled: false, pollSeconds: 120 });
  });

  it("matches an object by the Azure provider's id, with or without a version-history suffix", () => {
    assert.equal(mountedVersion([{ id: 'secret/CosmosDb-ApiKey', version: 'v2' }], 'CosmosDb-ApiKey'), 'v2');
    // objectVersionHistory > 1: one object per version, /0 the newest.
    const history = [
      { id: 'secret/CosmosDb-ApiKey/1', version: 'v1' },
      { id: 'secret/CosmosDb-ApiKey/0', version: 'v2' },
    ];
    assert.equal(mountedVersion(history, 'CosmosDb-ApiKey'), 'v2');
    assert.equal(mountedVersion([{ id: 'secret/CosmosDb-ApiKey-Old', version: 'v9' }], 'CosmosDb-ApiKey'), undefined);
  });
});

describe('model: objects Helm owns', () => {
  it('knows a Helm release by its annotations or its managed-by label, and nothing else', () => {
    assert.equal(
      helmRelease({ annotations: { 'meta.helm.sh/release-name': 'kubecost', 'meta.helm.sh/release-namespace': 'cost' } }),
      'cost/kubecost',
    );
    assert.equal(helmRelease({ labels: { 'app.kubernetes.io/managed-by': 'Helm' } }), '(unnamed release)');
    assert.equal(helmRelease({ labels: { 'app.kubernetes.io/managed-by': 'pulumi' } }), undefined);
    assert.equal(helmRelease({}), undefined);
  });
});
