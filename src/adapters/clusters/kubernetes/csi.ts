/**
 * The Secrets Store CSI driver: its rotation flag, the SecretProviderClassPodStatus objects, the
 * Secrets a class syncs, the pods that mount a class.
 */
import { ResourceNotFoundError } from '../../../errors.ts';
import { providerClassMountedBy, type DiscoveredConsumer } from '../../../model/discovery.ts';
import { csiDriverContainer, csiRotationOf, type CsiRotation } from '../../../model/csi.ts';
import { type KubeApi, consumerOf } from './api.ts';
import { workloadsIn } from './rollouts.ts';

export async function providerClassSyncedSecrets(
  api: KubeApi,
  cluster: string,
  namespace: string,
  secretProviderClass: string,
): Promise<string[]> {
  try {
    const spc = (await api.call(
      cluster,
      `reading SecretProviderClass ${namespace}/${secretProviderClass}`,
      { needs: `get secretproviderclasses.secrets-store.csi.x-k8s.io in namespace ${namespace}` },
      ({ custom }) =>
        custom.getNamespacedCustomObject({
          group: 'secrets-store.csi.x-k8s.io',
          version: 'v1',
          namespace,
          plural: 'secretproviderclasses',
          name: secretProviderClass,
        }),
    )) as { spec?: { secretObjects?: { secretName?: string }[] } };
    return (spc.spec?.secretObjects ?? []).flatMap((o) => (o.secretName ? [o.secretName] : []));
  } catch (error) {
    if (error instanceof ResourceNotFoundError) return [];
    throw error;
  }
}

export async function csiRotation(api: KubeApi, cluster: string): Promise<CsiRotation | undefined> {
  const list = await api.call(
    cluster,
    'listing DaemonSets in kube-system',
    { needs: 'list daemonsets.apps in namespace kube-system' },
    ({ apps }) => apps.listNamespacedDaemonSet({ namespace: 'kube-system' }),
  );
  for (const ds of list.items ?? []) {
    const container = ds.spec?.template.spec?.containers.find((c) => c.name === csiDriverContainer);
    if (container) return csiRotationOf([...(container.command ?? []), ...(container.args ?? [])]);
  }
  return undefined;
}

export async function secretSyncStatus(api: KubeApi, cluster: string, namespace: string, secretProviderClass: string) {
  const list = (await api.call(
    cluster,
    `listing SecretProviderClassPodStatuses in ${namespace}`,
    { needs: `list secretproviderclasspodstatuses.secrets-store.csi.x-k8s.io in namespace ${namespace}` },
    ({ custom }) =>
      custom.listNamespacedCustomObject({
        group: 'secrets-store.csi.x-k8s.io',
        version: 'v1',
        plural: 'secretproviderclasspodstatuses',
        namespace,
      }),
  )) as {
    items?: {
      status?: { podName?: string; secretProviderClassName?: string; mounted?: boolean; objects?: { id?: string; version?: string }[] };
    }[];
  };
  // A status outlives its pod until the driver's garbage collection: only pods that run count.
  const pods = await api.call(cluster, `listing pods in ${namespace}`, { needs: `list pods in namespace ${namespace}` }, ({ core }) =>
    core.listNamespacedPod({ namespace, fieldSelector: 'status.phase=Running' }),
  );
  const running = new Set(pods.items.map((p) => p.metadata?.name));
  return (list.items ?? [])
    .map((i) => i.status ?? {})
    .filter((s) => s.secretProviderClassName === secretProviderClass && s.mounted === true && running.has(s.podName))
    .map((s) => ({
      pod: s.podName ?? '',
      objects: (s.objects ?? []).map((o) => ({ id: o.id ?? '', version: o.version ?? '' })),
    }));
}

// ---- service-account tokens (kOps keysets) -------------------------------------------------------

export async function listCsiConsumers(api: KubeApi, cluster: string, namespace: string): Promise<DiscoveredConsumer[]> {
  return (await workloadsIn(api, cluster, namespace)).flatMap(({ kind, w }) => {
    const spc = providerClassMountedBy(w.spec?.template?.spec);
    return spc ? [{ ...consumerOf(cluster, namespace, kind, w, []), secretProviderClass: spc }] : [];
  });
}
