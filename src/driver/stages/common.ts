/**
 * What every stage executor shares: a stage's label in events, and the workload a restart or log check
 * acts on.
 */
import { ConsumerNotReadyError, WorkloadNotFoundError } from '../../errors.ts';
import type { StageStep } from '../../model/index.ts';
import type { WorkloadId } from '../../ports/index.ts';
import type { DriverContext, Run } from '../context.ts';

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

/** What a stage on a cluster reports: its detail when done, or why it was skipped. */
export type StageResult = string | { outcome: 'skipped'; detail: string };

/**
 * The one interface every stage kind is executed behind: the stage of the rotation `run`, on
 * `cluster` (undefined: a stage that runs once). A failure is a KeyslotError; the scheduler turns
 * it into the stage's unconfirmed cluster.
 */
export type StageExecutor<K extends StageStep['kind']> = (
  ctx: DriverContext,
  run: Run,
  step: Extract<StageStep, { kind: K }>,
  cluster: string | undefined,
) => Promise<StageResult>;

/** The cluster a per-cluster stage runs on. */
export function need(step: StageStep, cluster: string | undefined): string {
  if (cluster === undefined) throw new ConsumerNotReadyError(`${step.kind} needs a cluster`);
  return cluster;
}

/** When the rotation started: log checks and Gardener waits look no further back. */
export function since(run: Run): Date {
  return new Date(run.record.startedAt);
}

/** A stage's text with `${cluster}` filled in. */
export function substitute(text: string, cluster: string | undefined): string {
  return cluster === undefined ? text : text.replaceAll('${cluster}', cluster);
}

/**
 * Waits for a workload's rollout (the port's waitRollout) and says once, as a warning, when the
 * wait had to read the workload every poll interval because watching it was refused: the rotation
 * goes on, but the grant the emitted Role holds is missing (`keyslot permissions`).
 */
export async function waitRolledOut(
  ctx: DriverContext,
  credential: string,
  cluster: string,
  id: WorkloadId,
  timeoutSeconds: number,
): Promise<void> {
  const { watchRefused } = await ctx.ports.clusters.waitRollout(cluster, id, timeoutSeconds);
  if (watchRefused)
    ctx.emit({
      type: 'warning',
      at: ctx.now(),
      credential,
      message: `cluster ${cluster}: ${watchRefused} was refused (HTTP 403), so rollout waits there read each workload every poll interval instead of watching it: more requests, and slower to see a rollout end; grant it to keyslot's identity (keyslot permissions prints it)`,
    });
}
