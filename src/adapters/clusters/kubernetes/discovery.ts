/**
 * Consumer discovery: the workloads that read a Secret, and a Secret's metadata (a Helm release that
 * owns it).
 */
import { ResourceNotFoundError } from '../../../errors.ts';
import { secretsReadBy, type DiscoveredConsumer } from '../../../model/discovery.ts';
import type { ObjectMeta } from '../../../model/helm.ts';
import { type KubeApi, consumerOf } from './api.ts';
import { workloadsIn } from './rollouts.ts';

export async function secretMetadata(api: KubeApi, cluster: string, namespace: string, name: string): Promise<ObjectMeta | undefined> {
  try {
    const secret = await api.call(
      cluster,
      `reading Secret ${namespace}/${name}`,
      { needs: `get secrets in namespace ${namespace}` },
      ({ core }) => core.readNamespacedSecret({ name, namespace }),
    );
    // Only the metadata leaves this method; the data is dropped here.
    return {
      ...(secret.metadata?.labels ? { labels: { ...secret.metadata.labels } } : {}),
      ...(secret.metadata?.annotations ? { annotations: { ...secret.metadata.annotations } } : {}),
    };
  } catch (error) {
    if (error instanceof ResourceNotFoundError) return undefined;
    throw error;
  }
}

export async function listConsumers(
  api: KubeApi,
  cluster: string,
  namespace: string,
  secrets: readonly string[],
): Promise<DiscoveredConsumer[]> {
  const wanted = new Set(secrets);
  return (await workloadsIn(api, cluster, namespace)).flatMap(({ kind, w }) => {
    const reads = [...secretsReadBy(w.spec?.template?.spec)].filter((n) => wanted.has(n));
    return reads.length ? [consumerOf(cluster, namespace, kind, w, reads)] : [];
  });
}
