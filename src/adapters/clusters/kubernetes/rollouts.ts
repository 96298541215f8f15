/**
 * Workloads and their rollouts: existence, the restart (a pod-template annotation, as `kubectl rollout
 * restart`), what would block a rollout, and the wait until it is complete, read as `kubectl rollout
 * status` reads it.
 */
import { ObjectWatch } from './watch.ts';
import { labelSelectorQuery } from '../../../model/labelSelector.ts';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { RolloutFailedError } from '../../../errors.ts';
import { oldPodsLeft, rolloutBlocker as blockerOf, rolloutVerdict, type RolloutPod } from '../../../model/rollout.ts';
import type { RestartResult, RolloutWait, WorkloadId } from '../../../ports/clusters.ts';
import { restartedAtAnnotation, rotationAnnotation } from '../simulated.ts';
import { type KubeApi, type WorkloadObject, plurals } from './api.ts';

export async function ping(api: KubeApi, cluster: string): Promise<void> {
  await api.call(cluster, 'GET /version', { needs: 'get on the /version non-resource URL' }, ({ version }) => version.getCode());
}

export async function exists(api: KubeApi, cluster: string, id: WorkloadId): Promise<boolean> {
  return (await api.read(cluster, id)) !== undefined;
}

export async function restartStamp(api: KubeApi, cluster: string, id: WorkloadId): Promise<string | undefined> {
  return (await api.read(cluster, id))?.spec?.template?.metadata?.annotations?.[rotationAnnotation];
}

export async function restart(api: KubeApi, cluster: string, id: WorkloadId, rotationId: string): Promise<RestartResult> {
  const current = await api.read(cluster, id);
  if (!current) return { outcome: 'absent' };
  if (current.spec?.template?.metadata?.annotations?.[rotationAnnotation] === rotationId) return { outcome: 'already' };
  // What `kubectl rollout restart` does, plus the rotation id so that resume can tell.
  const body = {
    spec: {
      template: {
        metadata: { annotations: { [restartedAtAnnotation]: api.clock.now().toISOString(), [rotationAnnotation]: rotationId } },
      },
    },
  };
  const { kind, name } = api.split(id);
  const options = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const args = { name, namespace: id.namespace, body };
  await api.call(
    cluster,
    `restarting ${id.namespace}/${id.workload}`,
    { needs: `patch ${plurals[kind]}.apps in namespace ${id.namespace}`, retryConflict: true },
    ({ apps }) =>
      kind === 'deployment'
        ? apps.patchNamespacedDeployment(args, options)
        : kind === 'statefulset'
          ? apps.patchNamespacedStatefulSet(args, options)
          : apps.patchNamespacedDaemonSet(args, options),
  );
  return { outcome: 'restarted' };
}

export async function rolloutBlocker(api: KubeApi, cluster: string, id: WorkloadId): Promise<string | undefined> {
  const w = await api.read(cluster, id);
  return w ? blockerOf(api.split(id).kind, w) : undefined;
}

/** The workload's pods (its selector), with their revision label and whether they are Terminating. */
export async function podsOf(api: KubeApi, cluster: string, id: WorkloadId, w: WorkloadObject) {
  // Both forms of a LabelSelector, converted as the API converts them (model/labelSelector.ts).
  const selector = labelSelectorQuery(w.spec?.selector);
  if ('error' in selector)
    throw new RolloutFailedError(`${id.namespace}/${id.workload} on ${cluster}: its pods cannot be told apart: ${selector.error}`);
  const labelSelector = selector.query;
  const list = await api.call(
    cluster,
    `listing pods of ${id.namespace}/${id.workload}`,
    { needs: `list pods in namespace ${id.namespace}` },
    ({ core }) => core.listNamespacedPod({ namespace: id.namespace, labelSelector }),
  );
  return list.items;
}

/**
 * Waits until the workload's rollout is complete and no old pod is left, as `kubectl rollout
 * status` does: on a watch of the workload (./watch.ts) rather than by polling it — one read, one
 * stream, and a fresh read only when the stream is quiet for a resync interval (fifteen of the
 * fleet's poll intervals: 30 s by default), when it ends, or when its resourceVersion expired (410).
 */
export async function waitRollout(api: KubeApi, cluster: string, id: WorkloadId, timeoutSeconds: number): Promise<RolloutWait> {
  const deadline = api.clock.now().getTime() + timeoutSeconds * 1000;
  const { kind, name } = api.split(id);
  const watch = new ObjectWatch(api, cluster, `/apis/apps/v1/namespaces/${id.namespace}/${plurals[kind]}`, name);
  let w = await api.read(cluster, id);
  // Where the stream has got to: the last event's or bookmark's resourceVersion, to resume from.
  let at = w?.metadata?.resourceVersion;
  try {
    for (;;) {
      if (!w) throw new RolloutFailedError(`${id.namespace}/${id.workload} disappeared from cluster ${cluster} during its rollout`);
      const verdict = rolloutVerdict(kind, w);
      if (verdict.state === 'failed')
        throw new RolloutFailedError(`${id.namespace}/${id.workload} on ${cluster}: rollout failed: ${verdict.message}`);
      let waiting = verdict.message;
      if (verdict.state === 'done') {
        // Rolled out is not yet old pods gone: status does not count Terminating pods, which still run with the old key.
        const pods: RolloutPod[] = (await podsOf(api, cluster, id, w)).map((p) => ({
          name: p.metadata?.name ?? '',
          revision: p.metadata?.labels?.['pod-template-hash'] ?? p.metadata?.labels?.['controller-revision-hash'],
          terminating: Boolean(p.metadata?.deletionTimestamp),
        }));
        const old = oldPodsLeft(pods);
        if (!old) return watch.refused ? { watchRefused: `watch ${plurals[kind]}.apps in namespace ${id.namespace}` } : {};
        waiting = old;
      }
      const left = deadline - api.clock.now().getTime();
      if (left <= 0)
        throw new RolloutFailedError(
          `${id.namespace}/${id.workload} on ${cluster}: rollout not finished after ${timeoutSeconds}s (${waiting})`,
        );
      // A refused watch is not asked for again: the wait reads the workload every poll interval instead.
      if (!watch.streaming && !watch.refused) await watch.open(at, left / 1000);
      // Old pods going away do not change the workload object (its status does not count Terminating
      // pods), so no event marks their end: once the status is done, look again every poll interval.
      const next = await watch.next(Math.min(verdict.state === 'done' ? api.pollMs : api.pollMs * 15, left));
      if (next === 'quiet') {
        // Status done, old pods still going: only the pods are looked at again (the loop lists
        // them). Otherwise quiet for a resync interval: read afresh; the live stream keeps its place.
        if (verdict.state !== 'done') w = await api.read(cluster, id);
        continue;
      }
      if (next === 'ended') {
        // Closed by the server after streaming (its timeout): resume from where it got to. A stream
        // that never delivered anything (watches refused, say) degrades to a read every poll interval.
        if (watch.delivered > 0) continue;
        watch.close();
        await api.clock.sleep(Math.min(api.pollMs, left));
        w = await api.read(cluster, id);
        at = w?.metadata?.resourceVersion;
        continue;
      }
      if (next.type === 'ERROR') {
        // Expired (410) or refused: an unchanged object's own resourceVersion can be older than the
        // server's watch window, so watch again from now (no resourceVersion: the current object
        // comes first, as ADDED), never from it again; after a pause, so an error never loops hot.
        watch.close();
        at = undefined;
        await api.clock.sleep(Math.min(api.pollMs, left));
        continue;
      }
      at = next.object.metadata?.resourceVersion ?? at;
      if (next.type === 'DELETED') w = undefined;
      else if (next.type !== 'BOOKMARK') w = next.object as WorkloadObject;
    }
  } finally {
    watch.close();
  }
}

export async function listWorkloads(api: KubeApi, cluster: string): Promise<WorkloadId[]> {
  return (await workloadsIn(api, cluster)).map(({ kind, w }) => ({
    namespace: w.metadata?.namespace ?? '',
    workload: `${kind}/${w.metadata?.name ?? ''}`,
  }));
}

/** Every Deployment, StatefulSet and DaemonSet of a namespace, or of the cluster when none is named. */
export async function workloadsIn(
  api: KubeApi,
  cluster: string,
  namespace?: string,
): Promise<{ kind: 'deployment' | 'statefulset' | 'daemonset'; w: WorkloadObject }[]> {
  const found: { kind: 'deployment' | 'statefulset' | 'daemonset'; w: WorkloadObject }[] = [];
  for (const kind of ['deployment', 'statefulset', 'daemonset'] as const) {
    const items = await api.listAll<unknown>(
      cluster,
      namespace === undefined ? `listing ${plurals[kind]}` : `listing ${plurals[kind]} in ${namespace}`,
      { needs: `list ${plurals[kind]}.apps in ${namespace === undefined ? 'all namespaces' : `namespace ${namespace}`}` },
      ({ apps }, page) =>
        namespace === undefined
          ? kind === 'deployment'
            ? apps.listDeploymentForAllNamespaces(page)
            : kind === 'statefulset'
              ? apps.listStatefulSetForAllNamespaces(page)
              : apps.listDaemonSetForAllNamespaces(page)
          : kind === 'deployment'
            ? apps.listNamespacedDeployment({ namespace, ...page })
            : kind === 'statefulset'
              ? apps.listNamespacedStatefulSet({ namespace, ...page })
              : apps.listNamespacedDaemonSet({ namespace, ...page }),
    );
    for (const w of items as WorkloadObject[]) found.push({ kind, w });
  }
  return found;
}
