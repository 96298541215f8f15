/**
 * The rotation lifecycle, as a pure transition: from where a rotation is in its plan and the
 * outcome of what it just ran, to what it does next. The driver executes; this decides. Every
 * state a rotation passes through:
 *
 *     preflight ──ok──▶ flip ─▶ up ─▶ [reissue] ─▶ stages… ─▶ gate ─▶ regenerate ─▶ record ─▶ rotated
 *         │                 └──────── a failure up to the gate (rotate mode) ───────┘
 *         │                                        │
 *      refused (nothing changed,                roll back (the flip undone, each consumer
 *      the record removed)                      restarted onto the old key) ─▶ rolled-back
 *
 *     a failure after the gate, in emergency or disruptive mode, or a configuration error: halted,
 *     with the record in the deployed stack, so `resume` finishes it (or `rollback`, before any
 *     regeneration).
 *
 * Consecutive stages run as one unit (the scheduler runs them with waves and dependencies); every
 * other step runs alone. A batch of credentials rotated together passes through the same phases
 * together, by the same rule (`onFailure`), in the phase they share.
 */
import { isStage, type RotationMode, type Step } from './planner.ts';

/** How the last unit ended: fine, a keyslot error (a consumer not ready, a timeout…), a configuration error, or a bug. */
export type UnitOutcome = 'ok' | 'failed' | 'config-error' | 'bug';

/** What the driver does next. `run`: the steps `from` to `to` (exclusive), one step or a run of stages. */
export type NextMove =
  | { readonly move: 'run'; readonly from: number; readonly to: number; readonly stages: boolean }
  | { readonly move: 'rotated' }
  | { readonly move: 'refused' }
  | { readonly move: 'roll-back' }
  | { readonly move: 'halt' };

/** The unit that starts at `from`: a run of consecutive stages, or the one step there. */
function unitAt(steps: readonly Step[], from: number): NextMove {
  if (from >= steps.length) return { move: 'rotated' };
  if (!isStage(steps[from]!)) return { move: 'run', from, to: from + 1, stages: false };
  let to = from;
  while (to < steps.length && isStage(steps[to]!)) to++;
  return { move: 'run', from, to, stages: true };
}

/** Where a rotation stands against its gate: before the first change, changed but not gated, or gated. */
export type Phase = 'preflight' | 'changed' | 'gated';

/** The phase of a rotation whose unit starting at `from` is running. */
export function phaseAt(plan: { readonly steps: readonly Step[] }, from: number): Phase {
  if (from === 0) return 'preflight';
  const gate = plan.steps.findIndex((s) => s.kind === 'gate');
  return from <= gate ? 'changed' : 'gated';
}

/**
 * What a failure in `phase` leads to: nothing changed yet → refused; changed but not gated, in
 * rotate mode, by a keyslot error → roll back; anything else → halt, resumable from the record.
 * A configuration error or a bug never rolls back by itself: its rollback would fail the same way.
 */
export function onFailure(phase: Phase, mode: RotationMode, outcome: Exclude<UnitOutcome, 'ok'>): 'refused' | 'roll-back' | 'halt' {
  if (phase === 'preflight') return 'refused';
  if (phase === 'changed' && mode === 'rotate' && outcome === 'failed') return 'roll-back';
  return 'halt';
}

/**
 * The transition. `last` is the unit that just ran (undefined at the start) and `outcome` how it
 * ended.
 */
export function nextMove(
  plan: { readonly steps: readonly Step[]; readonly mode: RotationMode },
  last: { readonly from: number; readonly to: number } | undefined,
  outcome: UnitOutcome = 'ok',
): NextMove {
  if (!last) return unitAt(plan.steps, 0);
  if (outcome === 'ok') return unitAt(plan.steps, last.to);
  return { move: onFailure(phaseAt(plan, last.from), plan.mode, outcome) };
}
