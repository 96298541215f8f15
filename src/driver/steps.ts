/**
 * The events of a rotation and of its steps: started, finished, halted, rotated — for each rotation
 * that owns a step.
 */
import type { StepKind } from '../model/index.ts';
import type { StepOutcome } from './events.ts';
import type { DriverContext, Run, StepOwner, RotationResult } from './context.ts';

export function rotationStarted(ctx: DriverContext, { config, plan, record, resumed }: Run): void {
  ctx.emit({
    type: 'rotation-started',
    at: ctx.now(),
    stack: config.stack,
    credential: plan.name,
    rotationId: record.id,
    mode: plan.mode,
    from: plan.from,
    to: plan.to,
    resumed,
  });
}

/** A rotation stopped by `error`: what it went past so far, and why. */
export function rotationHalted(ctx: DriverContext, run: Run, error: unknown): void {
  ctx.emit({
    type: 'rotation-finished',
    at: ctx.now(),
    credential: run.plan.name,
    rotationId: run.record.id,
    outcome: 'halted',
    unconfirmed: run.unconfirmed.map((u) => u.label),
    detail: error instanceof Error ? error.message : String(error),
  });
}

export function rotated(ctx: DriverContext, run: Run): RotationResult {
  const unconfirmed = run.unconfirmed.map((u) => u.label);
  ctx.emit({
    type: 'rotation-finished',
    at: ctx.now(),
    credential: run.plan.name,
    rotationId: run.record.id,
    outcome: 'rotated',
    unconfirmed,
  });
  return { credential: run.plan.name, rotationId: run.record.id, outcome: 'rotated', unconfirmed };
}

/** A step of one rotation, or one that several share: the work once, `step-started` and `step-finished` for each owner. */
export async function stepFor(
  ctx: DriverContext,
  owners: readonly StepOwner[],
  kind: StepKind,
  clusters: readonly string[],
  body: () => Promise<{ outcome: StepOutcome; detail?: string } | undefined>,
): Promise<void> {
  const started = stepStarted(ctx, owners, kind, clusters);
  let result: { outcome: StepOutcome; detail?: string } | undefined;
  try {
    result = await body();
  } catch (error) {
    stepFinished(ctx, owners, kind, started, 'failed', error instanceof Error ? error.message : String(error));
    throw error;
  }
  stepFinished(ctx, owners, kind, started, result?.outcome ?? 'done', result?.detail);
}

/** `step-started` for each owner of a step; when it started. */
export function stepStarted(ctx: DriverContext, owners: readonly StepOwner[], kind: StepKind, clusters: readonly string[]): number {
  for (const { run, index } of owners)
    ctx.emit({
      type: 'step-started',
      at: ctx.now(),
      credential: run.plan.name,
      rotationId: run.record.id,
      step: index,
      kind,
      clusters,
    });
  return ctx.ports.clock.now().getTime();
}

export function stepFinished(
  ctx: DriverContext,
  owners: readonly StepOwner[],
  kind: StepKind,
  started: number,
  outcome: StepOutcome,
  detail?: string,
): void {
  for (const { run, index } of owners)
    ctx.emit({
      type: 'step-finished',
      at: ctx.now(),
      credential: run.plan.name,
      rotationId: run.record.id,
      step: index,
      kind,
      outcome,
      durationMs: ctx.ports.clock.now().getTime() - started,
      ...(detail ? { detail } : {}),
    });
}
