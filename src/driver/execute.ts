/**
 * Executes one rotation: the lifecycle (src/model/lifecycle.ts) decides the next move, this runs it —
 * a single step through its handler, a run of stages through the scheduler — and turns a failure into
 * a refusal, a rollback or a halt.
 */
import { ConfigError, KeyslotError, RolledBackError } from '../errors.ts';
import { nextMove, type UnitOutcome } from '../model/lifecycle.ts';
import { stageDependencies, type StageStep, type Step } from '../model/index.ts';
import type { StepOutcome } from './events.ts';
import type { StackLock } from './lock.ts';
import type { DriverContext, Run, RotationResult } from './context.ts';
import { kopsFlip, reissueEverything } from './kops.ts';
import { preflight } from './preflight.ts';
import { gate, recordFinish, regenerate, setAll, up } from './record.ts';
import { rollBack } from './rollback.ts';
import { schedule } from './schedule.ts';
import { checkMountsAtGate } from './stages/csi.ts';
import { rotated, rotationHalted, rotationStarted, stepFor } from './steps.ts';

/** How a unit ended, as the lifecycle tells failures apart. */
export function outcomeOf(error: unknown): Exclude<UnitOutcome, 'ok'> {
  if (error instanceof ConfigError) return 'config-error';
  return error instanceof KeyslotError ? 'failed' : 'bug';
}

export async function execute(ctx: DriverContext, run: Run, lock: StackLock): Promise<RotationResult> {
  const { plan, record } = run;
  rotationStarted(ctx, run);
  let move = nextMove(plan, undefined);
  while (move.move === 'run') {
    const unit = move;
    try {
      await lock.acquire();
      if (unit.stages) await stages(ctx, run, unit.from, unit.to, lock);
      else await runStep(ctx, run, unit.from, plan.steps[unit.from]!);
    } catch (error) {
      // Refused in preflight, nothing changed but the in-flight record, which goes last: no trace.
      // Halted: resumable from the record. Rolled back: the flip undone.
      if (nextMove(plan, unit, outcomeOf(error)).move === 'roll-back') {
        const reason = await rollBack(ctx, run, (error as Error).message);
        throw new RolledBackError(`rotation ${record.id} of ${plan.name} rolled back: ${reason}`, { cause: error });
      }
      rotationHalted(ctx, run, error);
      throw error;
    }
    move = nextMove(plan, unit, 'ok');
  }
  return rotated(ctx, run);
}

export function runStep(ctx: DriverContext, run: Run, index: number, step: Step): Promise<void> {
  return stepFor(ctx, [{ run, index }], step.kind, 'clusters' in step ? step.clusters : [], () => stepHandler(ctx, run, index, step));
}

export async function stepHandler(
  ctx: DriverContext,
  run: Run,
  index: number,
  step: Step,
): Promise<{ outcome: StepOutcome; detail?: string } | undefined> {
  switch (step.kind) {
    case 'preflight':
      await preflight(ctx, run, step.clusters, step.checks);
      return undefined;
    case 'flip':
      await setAll(ctx, step.set);
      return undefined;
    case 'up': {
      const result = await up(ctx, run);
      // A kOps keyset moves only once the rotation is in the deployed stack: an agent that dies
      // from here on leaves a record a fresh checkout resumes, and the kops steps skip what is done.
      const kops = run.plan.steps.find((s) => s.kind === 'flip' && s.kops);
      if (kops?.kind === 'flip' && kops.kops)
        return {
          outcome: 'done' as const,
          detail: `${result.detail ?? ''}; ${await kopsFlip(ctx, run, kops.kops, kops.replaceAll === true)}`,
        };
      return result;
    }
    case 'reissue':
      return reissueEverything(ctx, run, index, step.clusters);
    case 'gate':
      await checkMountsAtGate(ctx, run);
      return gate(ctx, run, step.mode);
    case 'regenerate':
      return regenerate(ctx, run, step);
    case 'record':
      return recordFinish(ctx, run);
    default:
      throw new Error(`stage step ${index} reached the single-step path; stages run through stages()`);
  }
}

/**
 * Runs the consecutive stage steps `from`..`to - 1` of one rotation as one schedule. Each stage
 * widens over its clusters in waves (rotate mode; emergencies and disruptive runs go everywhere at
 * once), a wave starting only when the one before it is done on all its clusters. A stage starts
 * on a cluster as soon as what it waits for (`stageDependencies`) is done there, when both act on
 * the same clusters; otherwise (the Thanos store on the primary after prometheus everywhere, a
 * once-only command) when it is done everywhere. In rotate mode the first failure stops new work:
 * nothing more starts, what is under way finishes, and the gate closes.
 */
export async function stages(ctx: DriverContext, run: Run, from: number, to: number, lock: StackLock) {
  const steps = run.plan.steps.slice(from, to) as StageStep[];
  await schedule(
    ctx,
    steps.map((step, k) => ({ step, owners: [{ run, index: from + k }] })),
    stageDependencies(steps),
    lock,
    run.plan.mode === 'rotate',
  );
}
