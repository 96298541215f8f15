/**
 * Several credentials rotated together: their stages merged into one schedule (a stage two of them
 * share runs once, for both), one up for the flips and one for the records, each gate and regeneration
 * its own.
 */
import { RolledBackError } from '../errors.ts';
import { onFailure, type Phase } from '../model/lifecycle.ts';
import { isStage, stageDependencies, type StageStep, type Step } from '../model/index.ts';
import type { StepOutcome } from './events.ts';
import type { StackLock } from './lock.ts';
import type { DriverContext, Run, StepOwner, StageNode, RotationResult } from './context.ts';
import { outcomeOf, runStep } from './execute.ts';
import { checkReplaced, recordConfig, up } from './record.ts';
import { rollBack } from './rollback.ts';
import { schedule } from './schedule.ts';
import { rotated, rotationHalted, rotationStarted, stepFor } from './steps.ts';

interface MergedStages {
  readonly nodes: StageNode[];
  readonly dependencies: number[][];
}

/**
 * The stages of several rotations as one schedule: a stage that two of them share (everything but
 * its position and its id) is one node with both as owners, waiting for what either waits for.
 * Undefined when a rotation is not a plain dual one (preflight, flip, up, stages, gate,
 * regenerate, record) or when their orders cross (the merged graph has a cycle).
 */
export function mergeStages(runs: readonly Run[]): MergedStages | undefined {
  const shape = /^preflight,flip,up,(stage,)*gate,(regenerate,)?record$/;
  const nodes: { step: StageStep; owners: StepOwner[] }[] = [];
  const dependencies: Set<number>[] = [];
  const byKey = new Map<string, number>();
  for (const run of runs) {
    if (run.plan.scheme !== 'dual' || run.plan.mode !== 'rotate') return undefined;
    if (!shape.test(run.plan.steps.map((s) => (isStage(s) ? 'stage' : s.kind)).join(','))) return undefined;
    const first = run.plan.steps.findIndex(isStage);
    const stages = run.plan.steps.filter(isStage);
    const own = stageDependencies(stages);
    const ids = stages.map((step, k) => {
      const { stage: _position, id: _id, after: _after, ...what } = step;
      // A restart is one per workload and cluster for the whole batch: restarts of the same workload
      // share a node whatever their clusters or timeouts (the node covers the union, with the
      // longest timeout); other stages share one only when they are the same.
      const key =
        step.kind === 'restart'
          ? JSON.stringify([step.kind, step.namespace, step.workload, step.firstExisting, step.optional])
          : JSON.stringify(what);
      let n = byKey.get(key);
      if (n === undefined) {
        n = nodes.push({ step, owners: [] }) - 1;
        dependencies.push(new Set());
        byKey.set(key, n);
      } else if (step.kind === 'restart') {
        const shared = nodes[n]!.step as Extract<StageStep, { kind: 'restart' }>;
        const union = new Set([...shared.clusters, ...step.clusters]);
        nodes[n]!.step = {
          ...shared,
          clusters: run.config.clusters.map((c) => c.name).filter((c) => union.has(c)),
          // The longest: a rollout one credential allows time for is not failed for all by another's shorter wait.
          timeoutSeconds: Math.max(shared.timeoutSeconds, step.timeoutSeconds),
        };
      }
      nodes[n]!.owners.push({ run, index: first + k, clusters: new Set(step.clusters) });
      return n;
    });
    for (const [k, deps] of own.entries()) for (const d of deps) if (ids[d] !== ids[k]) dependencies[ids[k]!]!.add(ids[d]!);
  }
  // A cycle would wait forever: those rotations go one after another.
  const state = new Map<number, 'open' | 'done'>();
  const acyclic = (n: number): boolean => {
    if (state.get(n) === 'done') return true;
    if (state.get(n) === 'open') return false;
    state.set(n, 'open');
    for (const d of dependencies[n]!) if (!acyclic(d)) return false;
    state.set(n, 'done');
    return true;
  };
  if (!nodes.every((_, n) => acyclic(n))) return undefined;
  return { nodes, dependencies: dependencies.map((d) => [...d]) };
}

export async function executeTogether(
  ctx: DriverContext,
  runs: readonly Run[],
  merged: MergedStages,
  lock: StackLock,
): Promise<RotationResult[]> {
  for (const run of runs) rotationStarted(ctx, run);
  const at = (run: Run, kind: Step['kind']) => run.plan.steps.findIndex((s) => s.kind === kind);
  const each = async (kind: Step['kind']) => {
    for (const run of runs) {
      const i = at(run, kind);
      if (i < 0) continue;
      await lock.acquire();
      await runStep(ctx, run, i, run.plan.steps[i]!);
    }
  };
  const prepared: Run[] = [];
  let phase: Phase = 'preflight';
  try {
    for (const run of runs) {
      await lock.acquire();
      await runStep(ctx, run, 0, run.plan.steps[0]!);
      prepared.push(run);
    }
    phase = 'changed';
    await each('flip');
    await together(ctx, runs, 'up', () => up(ctx, runs[0]!));
    await schedule(ctx, merged.nodes, merged.dependencies, lock, true);
    await each('gate');
    phase = 'gated';
    await each('regenerate');
    await together(ctx, runs, 'record', async () => {
      for (const run of runs) await recordConfig(ctx, run);
      const result = await up(ctx, runs[0]!);
      for (const run of runs) await checkReplaced(ctx, run);
      return result;
    });
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    const next = onFailure(phase, 'rotate', outcomeOf(error));
    if (next === 'refused') {
      // Nothing changed but the records of those already preflighted: they go, as one refusal leaves no trace.
      for (const run of prepared) await ctx.ports.engine.removeConfig(`rotations.${run.plan.name}`);
    } else if (next === 'roll-back') {
      let first: RolledBackError | undefined;
      for (const run of runs) {
        const reason = await rollBack(ctx, run, detail);
        first ??= new RolledBackError(`rotation ${run.record.id} of ${run.plan.name} rolled back: ${reason}`, { cause: error });
      }
      throw first;
    }
    for (const run of runs) rotationHalted(ctx, run, error);
    throw error;
  }
  return runs.map((run) => rotated(ctx, run));
}

/** One step that several rotations share (the `up`): done once, reported by each. */
export async function together(
  ctx: DriverContext,
  runs: readonly Run[],
  kind: 'up' | 'record',
  body: () => Promise<{ outcome: StepOutcome; detail?: string }>,
) {
  const owners = runs.map((run) => ({ run, index: run.plan.steps.findIndex((s) => s.kind === kind) }));
  const shared = runs.length > 1 ? ` (one ${kind === 'record' ? 'up' : kind} for ${runs.map((r) => r.plan.name).join(', ')})` : '';
  await stepFor(ctx, owners, kind, [], async () => {
    const result = await body();
    return { ...result, detail: `${result.detail ?? ''}${shared}` };
  });
}
