/**
 * One stage on one cluster (or once): its executor by kind, the outcome reported to every rotation
 * that owns the stage. Each kind is executed by a module of its own behind one interface
 * (`StageExecutor`, ./common.ts).
 */
import { KeyslotError } from '../../errors.ts';
import type { StageStep } from '../../model/index.ts';
import type { StepOutcome } from '../events.ts';
import type { DriverContext, Run, StageNode, Unconfirmed } from '../context.ts';
import { need, stageLabel, type StageExecutor, type StageResult } from './common.ts';
import { waitSecretSync } from './csi.ts';
import { execStage } from './exec.ts';
import { annotateShoots, waitReconciled } from './gardener.ts';
import { verifyHttp } from './http.ts';
import { restart, verifyLogs } from './workloads.ts';

/** Every stage kind's executor. */
const executors: { readonly [K in StageStep['kind']]: StageExecutor<K> } = {
  restart,
  'verify-logs': verifyLogs,
  'verify-http': verifyHttp,
  'wait-secret-sync': (ctx, run, step, cluster) => waitSecretSync(ctx, run, step, need(step, cluster)),
  'wait-reconciled': waitReconciled,
  annotate: annotateShoots,
  exec: execStage,
};

/**
 * One stage on one cluster (or once), run with the first owner's rotation: each owner gets the
 * outcome as its event; returns what went wrong for each, if anything did.
 */
export async function stageCluster(
  ctx: DriverContext,
  owners: StageNode['owners'],
  step: StageStep,
  cluster: string | undefined,
): Promise<{ run: Run; unconfirmed: Unconfirmed }[]> {
  const started = ctx.ports.clock.now().getTime();
  const where = cluster ?? 'once';
  // A merged restart reports to, and fails for, the rotations whose own stage names this cluster.
  const mine = owners.filter((o) => cluster === undefined || !o.clusters || o.clusters.has(cluster));
  const tell = (outcome: StepOutcome, detail: string) => {
    for (const { run, index } of mine)
      ctx.emit({
        type: 'cluster-finished',
        at: ctx.now(),
        credential: run.plan.name,
        rotationId: run.record.id,
        step: index,
        kind: step.kind,
        cluster: where,
        outcome,
        durationMs: ctx.ports.clock.now().getTime() - started,
        detail,
      });
  };
  try {
    const result = await stageOn(ctx, (mine[0] ?? owners[0]!).run, step, cluster);
    const { outcome, detail }: { outcome: StepOutcome; detail: string } =
      typeof result === 'string' ? { outcome: 'done', detail: result } : result;
    tell(outcome, detail);
    return [];
  } catch (error) {
    if (!(error instanceof KeyslotError)) throw error;
    tell('failed', error.message);
    return mine.map(({ run, index }) => ({
      run,
      unconfirmed: { step: index, label: `${step.kind} ${stageLabel(step)} on ${where}`, error },
    }));
  }
}

export function stageOn(ctx: DriverContext, run: Run, step: StageStep, cluster: string | undefined): Promise<StageResult> {
  return (executors[step.kind] as StageExecutor<StageStep['kind']>)(ctx, run, step, cluster);
}
