/**
 * Consumer discovery through the cluster port: every workload on the credential's clusters that
 * reads one of its delivered Secrets. The decision (which of them no stage restarts) is the
 * model's; this only asks the clusters.
 */
import type { Credential, StackConfig } from '../config/parse.ts';
import { UncoveredConsumersError } from '../errors.ts';
import { deliveredSecrets, uncoveredConsumers, type DiscoveredConsumer } from '../model/discovery.ts';
import type { ClusterFleet } from '../ports/clusters.ts';

export async function discoverConsumers(
  config: StackConfig,
  credential: Credential,
  clusters: ClusterFleet,
): Promise<DiscoveredConsumer[]> {
  const found: DiscoveredConsumer[] = [];
  for (const [cluster, secrets] of deliveredSecrets(config, credential)) {
    const byNamespace = new Map<string, string[]>();
    for (const s of secrets) byNamespace.set(s.namespace, [...(byNamespace.get(s.namespace) ?? []), s.name]);
    for (const [namespace, names] of byNamespace) found.push(...(await clusters.listConsumers(cluster, namespace, names)));
  }
  return found;
}

/** One line per consumer that keeps the old key through a rotation. */
export function describeUncovered(c: DiscoveredConsumer): string {
  return `${c.cluster}: ${c.namespace}/${c.workload} reads ${c.secrets.join(', ')} but no restart stage covers it`;
}

/** The refusal `--strict` turns uncovered consumers into (exit 2, before anything changes). */
export function uncoveredError(
  config: StackConfig,
  credential: Credential,
  uncovered: readonly DiscoveredConsumer[],
): UncoveredConsumersError {
  const index = config.credentials.findIndex((c) => c.name === credential.name);
  const first = uncovered[0]!;
  return new UncoveredConsumersError(
    `stack ${config.stack}`,
    `keyslot:credentials[${index}].stages`,
    `${uncovered.length} consumer(s) no stage restarts (${uncovered.map((c) => `${c.cluster} ${c.namespace}/${c.workload}`).join(', ')})`,
    `add a restart stage for ${first.namespace}/${first.workload} on ${first.cluster} (and the others), or stop it reading the secret`,
  );
}

export { uncoveredConsumers };
