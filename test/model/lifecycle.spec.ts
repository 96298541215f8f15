import assert from 'node:assert/strict';
import { loadStack } from '../../src/config/load.ts';
import { nextMove, onFailure, phaseAt, type NextMove } from '../../src/model/lifecycle.ts';
import { planRotation } from '../../src/model/planner.ts';

/** Every move of a plan that never fails: the states a rotation passes through, as `kind` or `stages from–to`. */
function walk(plan: Parameters<typeof nextMove>[0]): string[] {
  const seen: string[] = [];
  let move: NextMove = nextMove(plan, undefined);
  while (move.move === 'run') {
    seen.push(move.stages ? `stages ${move.from}-${move.to - 1}` : plan.steps[move.from]!.kind);
    move = nextMove(plan, move, 'ok');
  }
  seen.push(move.move);
  return seen;
}

describe('model: the rotation lifecycle', () => {
  const [thanos] = planRotation(loadStack('kubecost-thanos')).credentials;

  it('runs each step alone and consecutive stages as one unit, then ends rotated', () => {
    assert.deepEqual(walk(thanos!), ['preflight', 'flip', 'up', 'stages 3-9', 'gate', 'regenerate', 'record', 'rotated']);
  });

  it('a run of stages that ends the plan is one unit up to its end (a plan cut after its stages)', () => {
    const gate = thanos!.steps.findIndex((s) => s.kind === 'gate');
    assert.deepEqual(walk({ ...thanos!, steps: thanos!.steps.slice(0, gate) }), ['preflight', 'flip', 'up', 'stages 3-9', 'rotated']);
  });

  it('a failure in preflight is a refusal; up to and at the gate a rollback; after it a halt, resumable', () => {
    const steps = thanos!.steps;
    const at = (kind: string) => steps.findIndex((s) => s.kind === kind);
    const unit = (from: number) => ({ from, to: from + 1 });
    assert.deepEqual(nextMove(thanos!, unit(0), 'failed'), { move: 'refused' });
    assert.deepEqual(nextMove(thanos!, unit(at('up')), 'failed'), { move: 'roll-back' });
    assert.deepEqual(nextMove(thanos!, { from: 3, to: 10 }, 'failed'), { move: 'roll-back' });
    assert.deepEqual(nextMove(thanos!, unit(at('gate')), 'failed'), { move: 'roll-back' });
    assert.deepEqual(nextMove(thanos!, unit(at('regenerate')), 'failed'), { move: 'halt' });
    assert.deepEqual(nextMove(thanos!, unit(at('record')), 'failed'), { move: 'halt' });
  });

  it('a configuration error or a bug never rolls back by itself, and neither does an emergency', () => {
    assert.equal(onFailure('changed', 'rotate', 'config-error'), 'halt');
    assert.equal(onFailure('changed', 'rotate', 'bug'), 'halt');
    assert.equal(onFailure('changed', 'emergency', 'failed'), 'halt');
    assert.equal(onFailure('changed', 'disruptive', 'failed'), 'halt');
    assert.equal(onFailure('preflight', 'emergency', 'bug'), 'refused');
  });

  it('phases: preflight at the first step, changed up to the gate, gated after it', () => {
    const gate = thanos!.steps.findIndex((s) => s.kind === 'gate');
    assert.equal(phaseAt(thanos!, 0), 'preflight');
    assert.equal(phaseAt(thanos!, 1), 'changed');
    assert.equal(phaseAt(thanos!, gate), 'changed');
    assert.equal(phaseAt(thanos!, gate + 1), 'gated');
  });
});
