import type { Cluster, ClusterSelector } from '../config/schema.ts';

/**
 * The concrete clusters a selector fans out to, in declaration order. The parser has already
 * checked that named clusters exist and that `primary` has a cluster to point at.
 */
export function selectClusters(clusters: readonly Cluster[], selector: ClusterSelector | undefined): string[] {
  if (selector === undefined) return [];
  if (selector === 'all') return clusters.map((c) => c.name);
  if (selector === 'primary') return clusters.filter((c) => c.primary).map((c) => c.name);
  return clusters.filter((c) => selector.includes(c.name)).map((c) => c.name);
}

/** Each declared cluster list's clusters by name, built once per list (a stack's config is immutable). */
const indexes = new WeakMap<readonly Cluster[], ReadonlyMap<string, Cluster>>();

/**
 * Whether a selector picks `cluster`: `selectClusters(...).includes(cluster)` in constant time for
 * `all` and `primary`, so a check per cluster of a fleet stays linear in the fleet.
 */
export function selects(clusters: readonly Cluster[], selector: ClusterSelector | undefined, cluster: string): boolean {
  if (selector === undefined) return false;
  let index = indexes.get(clusters);
  if (!index) {
    index = new Map(clusters.map((c) => [c.name, c]));
    indexes.set(clusters, index);
  }
  const declared = index.get(cluster);
  if (!declared) return false;
  if (selector === 'all') return true;
  if (selector === 'primary') return declared.primary === true;
  return selector.includes(cluster);
}

const providerPrefix = 'cluster-';

/** The name of the Kubernetes provider the program declares for a cluster (src/program/providers.ts). */
export function clusterProviderName(cluster: string): string {
  return `${providerPrefix}${cluster}`;
}

/** The cluster a provider of that name serves, or the provider's own name for one keyslot did not name. */
export function clusterOfProvider(providerName: string): string {
  return providerName.startsWith(providerPrefix) ? providerName.slice(providerPrefix.length) : providerName;
}
