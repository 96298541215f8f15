/**
 * Gardener stages: `annotate` asks gardenlet for an operation on the selected Shoots and waits for
 * it; `wait-reconciled` waits until the Shoots of a SecretBinding reconciled after the rotation
 * started (Gardener never reconciles on a Secret change by itself; see src/sim/cluster.ts).
 */
import { need, since, type StageExecutor } from './common.ts';

export const waitReconciled: StageExecutor<'wait-reconciled'> = async (ctx, run, step, cluster) => {
  await ctx.ports.clusters.waitShootsReconciled(need(step, cluster), {
    namespace: step.namespace,
    secretBinding: step.secretBinding,
    since: since(run),
    timeoutSeconds: step.timeoutSeconds,
  });
  return `shoots of ${step.secretBinding} reconciled`;
};

export const annotateShoots: StageExecutor<'annotate'> = async (ctx, run, step, cluster) => {
  await ctx.ports.clusters.annotateShoots(need(step, cluster), {
    namespace: step.namespace,
    ...(step.shoots ? { shoots: step.shoots } : {}),
    ...(step.secretBinding ? { secretBinding: step.secretBinding } : {}),
    operation: step.operation,
    since: since(run),
    timeoutSeconds: step.timeoutSeconds,
  });
  return `${step.operation} completed`;
};
