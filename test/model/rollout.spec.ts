import assert from 'node:assert/strict';
import { rolloutVerdict } from '../../src/model/rollout.ts';

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
