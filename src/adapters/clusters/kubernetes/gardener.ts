/**
 * Gardener on a garden cluster: Shoots, SecretBindings, operations by annotation and the wait until
 * the Shoots reconciled.
 */
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { operationAnnotation, operationCompleted, selectShoots, type ShootView } from '../../../model/gardener.ts';
import { reconcilePending, shootsToAnnotate, shootsToReconcile, waitForShoots } from '../waitForShoots.ts';
import { type KubeApi, type ShootObject, gardener, shootView } from './api.ts';

export async function shoots(api: KubeApi, cluster: string, namespace: string): Promise<ShootObject[]> {
  const list = await api.call(
    cluster,
    `listing shoots in ${namespace}`,
    { needs: `list shoots.core.gardener.cloud in namespace ${namespace}` },
    ({ custom }) => custom.listNamespacedCustomObject({ ...gardener, namespace }),
  );
  return (list as { items?: ShootObject[] }).items ?? [];
}

export async function listShoots(api: KubeApi, cluster: string, namespace: string): Promise<ShootView[]> {
  return (await shoots(api, cluster, namespace)).map(shootView);
}

/** Sets gardener.cloud/operation on a Shoot (a merge patch, safe to repeat); the Shoot as stored. */
function annotate(api: KubeApi, cluster: string, namespace: string, name: string, value: string, why: string): Promise<ShootObject> {
  return api.call(
    cluster,
    `annotating shoot ${namespace}/${name}${why}`,
    { needs: `patch shoots.core.gardener.cloud in namespace ${namespace}`, retryConflict: true },
    ({ custom }) =>
      custom.patchNamespacedCustomObject(
        { ...gardener, namespace, name, body: { metadata: { annotations: { [operationAnnotation]: value } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
  ) as Promise<ShootObject>;
}

export async function annotateShoots(
  api: KubeApi,
  cluster: string,
  args: { namespace: string; shoots?: readonly string[]; secretBinding?: string; operation: string; since: Date; timeoutSeconds: number },
): Promise<void> {
  for (const shoot of shootsToAnnotate(cluster, (await shoots(api, cluster, args.namespace)).map(shootView), args))
    await annotate(api, cluster, args.namespace, shoot.name, args.operation, '');
  await pollShoots(api, cluster, args.namespace, args.timeoutSeconds, `${args.operation}`, (all) => {
    const now = selectShoots(all, args);
    return now.filter((s) => !operationCompleted(s, args.operation, args.since));
  });
}

export async function waitShootsReconciled(
  api: KubeApi,
  cluster: string,
  args: { namespace: string; secretBinding: string; since: Date; timeoutSeconds: number },
): Promise<void> {
  const generations = new Map<string, number>();
  for (const { shoot, value } of shootsToReconcile(cluster, (await shoots(api, cluster, args.namespace)).map(shootView), args)) {
    // The patch answers the Shoot as stored: the generation the reconcile annotation produced.
    const patched = await annotate(api, cluster, args.namespace, shoot.name, value, ' for a reconcile');
    generations.set(shoot.name, patched.metadata?.generation ?? (shoot.generation ?? 0) + 1);
  }
  await pollShoots(
    api,
    cluster,
    args.namespace,
    args.timeoutSeconds,
    `reconcile after the ${args.secretBinding} secret changed`,
    reconcilePending(cluster, { ...args, generations }),
  );
}

export function pollShoots(
  api: KubeApi,
  cluster: string,
  namespace: string,
  timeoutSeconds: number,
  what: string,
  pending: (shoots: ShootView[]) => ShootView[],
): Promise<void> {
  return waitForShoots({
    clock: api.clock,
    intervalMs: api.pollMs * 5,
    timeoutSeconds,
    cluster,
    what,
    pending,
    read: async () => (await shoots(api, cluster, namespace)).map(shootView),
  });
}

// ---- the lock Lease --------------------------------------------------------------------------

export async function listSecretBindings(api: KubeApi, cluster: string, namespace: string): Promise<{ name: string; secret: string }[]> {
  const list = (await api.call(
    cluster,
    `listing secretbindings in ${namespace}`,
    { needs: `list secretbindings.core.gardener.cloud in namespace ${namespace}` },
    ({ custom }) =>
      custom.listNamespacedCustomObject({ group: 'core.gardener.cloud', version: 'v1beta1', namespace, plural: 'secretbindings' }),
  )) as { items?: { metadata?: { name?: string }; secretRef?: { name?: string } }[] };
  return (list.items ?? []).map((b) => ({ name: b.metadata?.name ?? '', secret: b.secretRef?.name ?? '' }));
}
