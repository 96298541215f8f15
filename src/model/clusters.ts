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
