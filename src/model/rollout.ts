/**
 * When a rollout is done, failed, or can never happen, decided over the apps/v1 object as the API
 * serves it. The order of the checks is `kubectl rollout status`'s (kubectl
 * `pkg/polymorphichelpers/rollout_status.go`): nothing counts until the controller observed the
 * latest generation, so a failure condition left over from an earlier rollout is not read as this
 * one's. keyslot asks one thing more than kubectl: no pod of an old revision may be left,
 * Terminating ones included, because a Terminating pod still runs with the old key.
 */

export type RolloutKind = 'deployment' | 'statefulset' | 'daemonset';

/** The fields of a Deployment, StatefulSet or DaemonSet the decisions read (a subset of the API object). */
export interface RolloutObject {
  readonly metadata?: { readonly name?: string; readonly generation?: number };
  readonly spec?: {
    readonly replicas?: number;
    readonly paused?: boolean;
    readonly updateStrategy?: { readonly type?: string; readonly rollingUpdate?: { readonly partition?: number } };
  };
  readonly status?: Readonly<Record<string, any>>;
}

/** A pod of the workload: its revision label and whether it is Terminating. */
export interface RolloutPod {
  readonly name: string;
  /** `pod-template-hash` (Deployments) or `controller-revision-hash` (StatefulSets, DaemonSets). */
  readonly revision?: string;
  readonly terminating: boolean;
}

export type RolloutVerdict =
  | { readonly state: 'done'; readonly message: string }
  | { readonly state: 'waiting'; readonly message: string }
  | { readonly state: 'failed'; readonly message: string };

/** The workload's own status, judged as `kubectl rollout status` judges it. */
export function rolloutVerdict(kind: RolloutKind, w: RolloutObject): RolloutVerdict {
  const name = w.metadata?.name ?? '';
  const s = w.status ?? {};
  const generation = w.metadata?.generation ?? 0;
  const observed = (s.observedGeneration as number | undefined) ?? 0;
  if (kind === 'deployment') {
    if (generation > observed) return { state: 'waiting', message: 'waiting for the deployment spec update to be observed' };
    const progressing = ((s.conditions ?? []) as { type: string; reason?: string }[]).find((c) => c.type === 'Progressing');
    if (progressing?.reason === 'ProgressDeadlineExceeded')
      return { state: 'failed', message: `deployment ${name} exceeded its progress deadline (ProgressDeadlineExceeded)` };
    const desired = w.spec?.replicas ?? 1;
    const updated = (s.updatedReplicas as number | undefined) ?? 0;
    const total = (s.replicas as number | undefined) ?? 0;
    const available = (s.availableReplicas as number | undefined) ?? 0;
    if (updated < desired) return { state: 'waiting', message: `${updated} of ${desired} new replicas updated` };
    if (total > updated) return { state: 'waiting', message: `${total - updated} old replicas pending termination` };
    if (available < updated) return { state: 'waiting', message: `${available} of ${updated} updated replicas available` };
    return { state: 'done', message: `deployment ${name} rolled out` };
  }
  if (kind === 'statefulset') {
    if (observed === 0 || generation > observed)
      return { state: 'waiting', message: 'waiting for the statefulset spec update to be observed' };
    const desired = w.spec?.replicas ?? 1;
    const ready = (s.readyReplicas as number | undefined) ?? 0;
    if (ready < desired) return { state: 'waiting', message: `${desired - ready} pods not ready` };
    const updated = (s.updatedReplicas as number | undefined) ?? 0;
    if (updated < desired) return { state: 'waiting', message: `${updated} of ${desired} pods updated` };
    if (s.updateRevision !== s.currentRevision)
      return { state: 'waiting', message: `${updated} pods at revision ${s.updateRevision}, waiting for the rolling update to complete` };
    return { state: 'done', message: `statefulset ${name} rolled out at revision ${s.currentRevision}` };
  }
  if (generation > observed) return { state: 'waiting', message: 'waiting for the daemon set spec update to be observed' };
  const desired = (s.desiredNumberScheduled as number | undefined) ?? 0;
  const updated = (s.updatedNumberScheduled as number | undefined) ?? 0;
  const available = (s.numberAvailable as number | undefined) ?? 0;
  if (updated < desired) return { state: 'waiting', message: `${updated} of ${desired} new pods updated` };
  if (available < desired) return { state: 'waiting', message: `${available} of ${desired} updated pods available` };
  return { state: 'done', message: `daemon set ${name} rolled out` };
}

/**
 * What keeps old pods running after the status says done: pods still Terminating, or active pods
 * of more than one revision. Undefined when none is left.
 */
export function oldPodsLeft(pods: readonly RolloutPod[]): string | undefined {
  const terminating = pods.filter((p) => p.terminating);
  if (terminating.length) return `${terminating.length} Terminating pod(s) still running (${terminating.map((p) => p.name).join(', ')})`;
  const revisions = new Set(pods.map((p) => p.revision));
  if (revisions.size > 1) return `pods of ${revisions.size} revisions still running`;
  return undefined;
}

/**
 * Why a restart of this workload would never finish, if it would not: the controller does not roll
 * a paused Deployment, an `OnDelete` StatefulSet or DaemonSet, or a StatefulSet's ordinals below
 * its partition. `kubectl rollout restart` refuses the first; keyslot refuses all three before it
 * changes anything.
 */
export function rolloutBlocker(kind: RolloutKind, w: RolloutObject): string | undefined {
  const ref = `${kind}/${w.metadata?.name ?? ''}`;
  if (kind === 'deployment' && w.spec?.paused)
    return `${ref} is paused, so a restart would never roll out; resume it first (kubectl rollout resume ${ref})`;
  const strategy = w.spec?.updateStrategy;
  if (kind !== 'deployment' && strategy?.type === 'OnDelete')
    return `${ref} uses updateStrategy OnDelete, so a restart replaces no pod until each is deleted by hand; switch it to RollingUpdate`;
  const partition = strategy?.rollingUpdate?.partition ?? 0;
  if (kind === 'statefulset' && partition > 0)
    return `${ref} has rollingUpdate.partition ${partition}, so pods below ordinal ${partition} would keep the old key; set the partition to 0`;
  return undefined;
}
