/**
 * `restart` and `verify-logs`: a consumer restarted onto the new key (its pod template stamped with
 * the rotation id, so a resumed run sees it done) and rolled out; its logs read for the auth errors
 * the stage names, since the rotation started.
 */
import { ConsumerNotReadyError, WorkloadNotFoundError } from '../../errors.ts';
import { need, resolveWorkload, since, type StageExecutor, waitRolledOut } from './common.ts';

/** What an optional stage says on a cluster where its workload does not exist: never silence. */
function absentOptional(
  step: { namespace: string; workload?: string; firstExisting?: readonly string[] },
  cluster: string,
): { outcome: 'skipped'; detail: string } {
  const candidates = step.workload ? [step.workload] : [...(step.firstExisting ?? [])];
  return { outcome: 'skipped', detail: `${step.namespace}/${candidates.join(' or ')} does not exist on ${cluster} (optional)` };
}

export const restart: StageExecutor<'restart'> = async (ctx, run, step, cluster) => {
  const c = need(step, cluster);
  // One workload named: the restart itself says whether it exists (one read, not two).
  const id = step.workload ? { namespace: step.namespace, workload: step.workload } : await resolveWorkload(ctx, c, step);
  if (!id) return absentOptional(step, c);
  const { outcome } = await ctx.ports.clusters.restart(c, id, run.record.id);
  if (outcome === 'absent') {
    if (step.optional) return absentOptional(step, c);
    throw new WorkloadNotFoundError(`${step.namespace}/${id.workload} not found on cluster ${c}; fix the stage, or mark it optional: true`);
  }
  await waitRolledOut(ctx, run.plan.name, c, id, step.timeoutSeconds);
  return outcome === 'already'
    ? `${id.workload} already restarted for ${run.record.id}; rolled out`
    : `${id.workload} restarted and rolled out`;
};

export const verifyLogs: StageExecutor<'verify-logs'> = async (ctx, run, step, cluster) => {
  const c = need(step, cluster);
  const id = await resolveWorkload(ctx, c, step);
  if (!id) return absentOptional(step, c);
  const { matches, read } = await ctx.ports.clusters.checkLogs(c, {
    ...id,
    ...(step.container ? { container: step.container } : {}),
    patterns: step.patterns,
    since: since(run),
    windowSeconds: step.windowSeconds,
  });
  const containers = [...new Set(read.map((r) => r.slice(r.lastIndexOf('/') + 1)))].join(', ');
  const pods = new Set(read.map((r) => r.slice(0, r.lastIndexOf('/')))).size;
  if (matches.length)
    throw new ConsumerNotReadyError(
      `${matches.length} auth error line(s) in ${id.namespace}/${id.workload} logs on ${c} (${[...new Set(matches)].join('; ')})`,
    );
  return `${id.workload} logs clean (${pods} pod(s), container(s) ${containers})`;
};
