import assert from 'node:assert/strict';
import { oldPodsLeft, rolloutBlocker, rolloutVerdict } from '../../src/model/rollout.ts';

describe('model: rollout verdicts never read a stale status as done', () => {
  // A status that, read alone, says complete; the object's generation is one ahead of what the
  // controller observed, so the status describes the template before the restart.
  const stale = {
    deployment: { spec: { replicas: 2 }, status: { observedGeneration: 4, replicas: 2, updatedReplicas: 2, availableReplicas: 2 } },
    statefulset: {
      spec: { replicas: 2 },
      status: { observedGeneration: 4, readyReplicas: 2, updatedReplicas: 2, currentRevision: 'r1', updateRevision: 'r1' },
    },
    daemonset: { spec: {}, status: { observedGeneration: 4, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 } },
  } as const;

  for (const kind of ['deployment', 'statefulset', 'daemonset'] as const) {
    it(`${kind}: waits while observedGeneration is behind generation, and is done once it caught up`, () => {
      const object = stale[kind];
      assert.equal(rolloutVerdict(kind, { metadata: { name: 'x', generation: 5 }, ...object }).state, 'waiting');
      assert.match(rolloutVerdict(kind, { metadata: { name: 'x', generation: 5 }, ...object }).message, /observed/);
      assert.equal(
        rolloutVerdict(kind, { metadata: { name: 'x', generation: 4 }, ...object }).state,
        'done',
        'the same status, observed, is done',
      );
    });
  }
});

describe("model: each rollout verdict, as kubectl's rollout status decides it, one condition at a time", () => {
  const at = (generation: number) => ({ name: 'w', generation });
  const waiting = (message: string) => ({ state: 'waiting', message });
  const verdict = (kind: 'deployment' | 'statefulset' | 'daemonset', spec: object, status: object) =>
    rolloutVerdict(kind, { metadata: at(2), spec, status: { observedGeneration: 2, ...status } });

  it('a Deployment: progress deadline, then updated, old and available replicas, in that order; one replica by default', () => {
    const full = { replicas: 3, updatedReplicas: 3, availableReplicas: 3 };
    assert.deepEqual(verdict('deployment', { replicas: 3 }, full), { state: 'done', message: 'deployment w rolled out' });
    assert.deepEqual(
      verdict('deployment', { replicas: 3 }, { ...full, conditions: [{ type: 'Progressing', reason: 'ProgressDeadlineExceeded' }] }),
      { state: 'failed', message: 'deployment w exceeded its progress deadline (ProgressDeadlineExceeded)' },
    );
    assert.equal(
      verdict('deployment', { replicas: 3 }, { ...full, conditions: [{ type: 'Available', reason: 'ProgressDeadlineExceeded' }] }).state,
      'done',
      'only the Progressing condition says so',
    );
    assert.deepEqual(verdict('deployment', { replicas: 3 }, { ...full, updatedReplicas: 2 }), waiting('2 of 3 new replicas updated'));
    assert.deepEqual(verdict('deployment', { replicas: 3 }, { ...full, replicas: 4 }), waiting('1 old replicas pending termination'));
    assert.deepEqual(
      verdict('deployment', { replicas: 3 }, { ...full, availableReplicas: 2 }),
      waiting('2 of 3 updated replicas available'),
    );
    assert.deepEqual(verdict('deployment', {}, { replicas: 1, updatedReplicas: 1, availableReplicas: 1 }).state, 'done');
    assert.deepEqual(verdict('deployment', {}, {}), waiting('0 of 1 new replicas updated'));
    assert.equal(
      rolloutVerdict('deployment', {
        metadata: at(1),
        spec: { replicas: 1 },
        status: { replicas: 1, updatedReplicas: 1, availableReplicas: 1 },
      }).state,
      'waiting',
      'nothing observed yet',
    );
  });

  it('a StatefulSet: observed (never 0), ready, updated, then one revision', () => {
    const full = { readyReplicas: 2, updatedReplicas: 2, currentRevision: 'r2', updateRevision: 'r2' };
    assert.deepEqual(verdict('statefulset', { replicas: 2 }, full), { state: 'done', message: 'statefulset w rolled out at revision r2' });
    assert.equal(rolloutVerdict('statefulset', { metadata: { name: 'w' }, spec: { replicas: 2 }, status: full }).state, 'waiting');
    assert.deepEqual(verdict('statefulset', { replicas: 2 }, { ...full, readyReplicas: 1 }), waiting('1 pods not ready'));
    assert.deepEqual(verdict('statefulset', { replicas: 2 }, { ...full, updatedReplicas: 1 }), waiting('1 of 2 pods updated'));
    assert.deepEqual(
      verdict('statefulset', { replicas: 2 }, { ...full, currentRevision: 'r1' }),
      waiting('2 pods at revision r2, waiting for the rolling update to complete'),
    );
    assert.equal(verdict('statefulset', {}, { ...full, readyReplicas: 1, updatedReplicas: 1 }).state, 'done', 'one replica by default');
    assert.deepEqual(verdict('statefulset', {}, {}), waiting('1 pods not ready'));
  });

  it('a DaemonSet: updated, then available, against the pods it should schedule', () => {
    const full = { desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 };
    assert.deepEqual(verdict('daemonset', {}, full), { state: 'done', message: 'daemon set w rolled out' });
    assert.deepEqual(verdict('daemonset', {}, { ...full, updatedNumberScheduled: 2 }), waiting('2 of 3 new pods updated'));
    assert.deepEqual(verdict('daemonset', {}, { ...full, numberAvailable: 2 }), waiting('2 of 3 updated pods available'));
    assert.equal(verdict('daemonset', {}, {}).state, 'done', 'nothing to schedule is nothing to wait for');
    assert.equal(rolloutVerdict('daemonset', { metadata: at(3), status: { observedGeneration: 2, ...full } }).state, 'waiting');
  });

  it('old pods: Terminating ones first (named), then more than one revision; none left is undefined', () => {
    const pod = (name: string, revision: string, terminating = false) => ({ name, revision, terminating });
    assert.equal(oldPodsLeft([pod('a', 'r2'), pod('b', 'r2')]), undefined);
    assert.equal(oldPodsLeft([]), undefined);
    assert.equal(oldPodsLeft([pod('a', 'r2'), pod('b', 'r1', true), pod('c', 'r1', true)]), '2 Terminating pod(s) still running (b, c)');
    assert.equal(oldPodsLeft([pod('a', 'r2'), pod('b', 'r1')]), 'pods of 2 revisions still running');
  });

  it('a restart that would never roll out: a paused Deployment, OnDelete, a StatefulSet partition; anything else rolls', () => {
    const w = (spec: object) => ({ metadata: { name: 'w' }, spec });
    assert.equal(
      rolloutBlocker('deployment', w({ paused: true })),
      'deployment/w is paused, so a restart would never roll out; resume it first (kubectl rollout resume deployment/w)',
    );
    assert.equal(rolloutBlocker('deployment', w({ paused: false })), undefined);
    assert.equal(rolloutBlocker('deployment', w({ updateStrategy: { type: 'OnDelete' } })), undefined, 'a Deployment has no OnDelete');
    for (const kind of ['statefulset', 'daemonset'] as const)
      assert.equal(
        rolloutBlocker(kind, w({ updateStrategy: { type: 'OnDelete' } })),
        `${kind}/w uses updateStrategy OnDelete, so a restart replaces no pod until each is deleted by hand; switch it to RollingUpdate`,
      );
    assert.equal(rolloutBlocker('statefulset', w({ paused: true })), undefined, 'only a Deployment pauses');
    assert.equal(
      rolloutBlocker('statefulset', w({ updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 2 } } })),
      'statefulset/w has rollingUpdate.partition 2, so pods below ordinal 2 would keep the old key; set the partition to 0',
    );
    assert.equal(rolloutBlocker('statefulset', w({ updateStrategy: { rollingUpdate: { partition: 0 } } })), undefined);
    assert.equal(
      rolloutBlocker('daemonset', w({ updateStrategy: { rollingUpdate: { partition: 2 } } })),
      undefined,
      "a partition is a StatefulSet's",
    );
    assert.equal(rolloutBlocker('deployment', { spec: {} }), undefined);
  });
});
