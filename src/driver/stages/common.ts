/**
 * What every stage executor shares: a stage's label in events, and the workload a restart or log check
 * acts on.
 */
import { WorkloadNotFoundError } from '../../errors.ts';
import { type StageStep } from '../../model/index.ts';
import type { WorkloadId } from '../../ports/index.ts';
import { type DriverContext } from '../context.ts';

export function stageLabel(step: StageStep): string {
  switch (step.kind) {
    case 'restart':
    case 'verify-logs':
      return `${step.namespace}/${step.workload ?? step.firstExisting?.join('|')}`;
    case 'verify-http':
      return step.url;
    case 'wait-reconciled':
      return `${step.namespace}/${step.secretBinding}`;
    case 'wait-secret-sync':
      return `${step.namespace}/${step.secretProviderClass}`;
    case 'annotate':
      return `${step.namespace}/${step.shoots?.join(',') ?? step.secretBinding}`;
    case 'exec':
      return step.command[0]!;
  }
}

/** The workload a restart or log check acts on: the named one, or the first that exists. */
export async function resolveWorkload(
  ctx: DriverContext,
  cluster: string,
  step: Extract<StageStep, { kind: 'restart' | 'verify-logs' }>,
): Promise<WorkloadId | undefined> {
  const candidates = step.workload ? [step.workload] : (step.firstExisting ?? []);
  for (const workload of candidates) {
    const id = { namespace: step.namespace, workload };
    if (await ctx.ports.clusters.exists(cluster, id)) return id;
  }
  if (step.optional) return undefined;
  throw new WorkloadNotFoundError(
    `${step.namespace}/${candidates.join(' or ')} not found on cluster ${cluster}; fix the stage, or mark it optional: true`,
  );
}
