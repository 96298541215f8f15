import type * as pulumi from '@pulumi/pulumi';
import { Provider } from '@pulumi/kubernetes/provider';
import type { Cluster } from '../config/schema.ts';
import { clusterProviderName } from '../model/clusters.ts';

/**
 * One explicit Kubernetes provider per declared cluster, so a delivery can never land on whatever
 * the ambient kube context happens to be — except for a cluster declared with no context, path
 * or secret, which means "the current context" on purpose (the `local` stack).
 */
export function clusterProviders(
  clusters: readonly Cluster[],
  kubeconfigSecrets: Readonly<Record<string, pulumi.Output<string>>>,
): Map<string, Provider> {
  const providers = new Map<string, Provider>();
  for (const c of clusters) {
    const kubeconfig = c.kubeconfigSecret ? kubeconfigSecrets[c.kubeconfigSecret] : c.kubeconfigPath;
    providers.set(
      c.name,
      new Provider(clusterProviderName(c.name), {
        ...(c.context ? { context: c.context } : {}),
        ...(kubeconfig ? { kubeconfig } : {}),
      }),
    );
  }
  return providers;
}
