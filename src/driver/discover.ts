/**
 * Consumer discovery through the cluster port: every workload on the credential's clusters that
 * reads one of its delivered Secrets. The decision (which of them no stage restarts) is the
 * model's; this only asks the clusters.
 */
import type { Credential, StackConfig } from '../config/parse.ts';
import { UncoveredConsumersError } from '../errors.ts';
import { deliveredSecrets, uncoveredConsumers, type DiscoveredConsumer } from '../model/discovery.ts';
import type { ClusterFleet } from '../ports/clusters.ts';
import { selectClusters, selects } from '../model/clusters.ts';
import { kopsHome } from '../model/kops.ts';
import { emptyWorld, type WorldDescription } from '../model/worldDescription.ts';

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

/**
 * The deployment a stack rotates, as the clusters show it: a world description for
 * `keyslot drill --world` (written by `keyslot discover`). Discovery scans what the stack points
 * at — the namespaces its deliveries and stages name, the garden namespaces of its Gardener stages,
 * the cluster of a kOps keyset — and records what is there, whatever the stages say about it:
 * - every workload that reads a delivered Secret;
 * - every workload that mounts a SecretProviderClass on a cluster a Key Vault delivery serves,
 *   taken to read that delivery's secret (check the class's objects if it mounts others), and the
 *   CSI driver's rotation flags there;
 * - the Shoots and SecretBindings of each Gardener stage's namespace, and the Gardener version
 *   the Shoots report;
 * - on a kOps keyset's cluster, every workload as a reader of projected service-account tokens
 *   (every pod mounts one unless told not to), the legacy token Secrets, and API servers with
 *   anonymous auth off (kOps' default; not visible through the API).
 * Not discoverable, and left to the reader to set: pod start times, and `takesNewValueBy: reload`
 * for a consumer that re-reads its mounted file.
 */
export async function discoverWorld(config: StackConfig, clusters: ClusterFleet): Promise<WorldDescription> {
  const world = emptyWorld(`discovered for stack ${config.stack}`);
  const byKey = new Map<string, WorldDescription['workloads'][number]>();
  const add = (c: DiscoveredConsumer, reads: readonly string[], extra: Partial<WorldDescription['workloads'][number]> = {}) => {
    const key = `${c.cluster}/${c.namespace}/${c.workload}`;
    const existing = byKey.get(key);
    if (existing) {
      (existing as { reads: string[] }).reads = [...new Set([...existing.reads, ...reads])];
      return;
    }
    const [kind, name] = c.workload.split('/') as ['deployment' | 'statefulset' | 'daemonset', string];
    const entry = {
      cluster: c.cluster,
      namespace: c.namespace,
      kind,
      name,
      replicas: Math.max(1, Math.min(100, c.replicas)),
      podStartSeconds: 5,
      ...(c.containers.length ? { containers: [...c.containers] } : {}),
      reads: [...reads],
      takesNewValueBy: 'restart' as const,
      reloadSeconds: 90,
      ...extra,
    };
    byKey.set(key, entry);
    world.workloads.push(entry);
  };
  for (const credential of config.credentials) {
    for (const c of await discoverConsumers(config, credential, clusters)) add(c, c.secrets);
    for (const d of credential.deliver) {
      if (d.type !== 'azure-keyvault-secret' || d.clusters === undefined) continue;
      if (d.adopt && !world.vaultSecrets.some((v) => v.vault === d.vaultName && v.secret === d.secretName))
        world.vaultSecrets.push({ vault: d.vaultName, secret: d.secretName });
      for (const cluster of selectClusters(config.clusters, d.clusters)) {
        const namespaces = new Set(
          credential.stages.flatMap((s) =>
            'namespace' in s && s.namespace && selects(config.clusters, s.clusters, cluster) ? [s.namespace] : [],
          ),
        );
        let found = false;
        for (const namespace of namespaces)
          for (const c of await clusters.listCsiConsumers(cluster, namespace)) {
            found = true;
            add(c, [`store:${d.vaultName}/${d.secretName}`], { secretProviderClass: c.secretProviderClass! });
          }
        const rotation = found ? await clusters.csiRotation(cluster) : undefined;
        if (rotation && !world.csiDrivers.some((x) => x.cluster === cluster))
          world.csiDrivers.push({ cluster, rotation: rotation.enabled, pollSeconds: rotation.pollSeconds });
      }
    }
    for (const s of credential.stages) {
      if (s.kind !== 'annotate' && s.kind !== 'wait-reconciled') continue;
      for (const cluster of selectClusters(config.clusters, s.clusters)) {
        for (const b of await clusters.listSecretBindings(cluster, s.namespace))
          if (!world.bindings.some((x) => x.cluster === cluster && x.namespace === s.namespace && x.name === b.name))
            world.bindings.push({ cluster, namespace: s.namespace, kind: 'SecretBinding', name: b.name, secret: b.secret });
        for (const shoot of await clusters.listShoots(cluster, s.namespace)) {
          if (world.shoots.some((x) => x.cluster === cluster && x.namespace === s.namespace && x.name === shoot.name)) continue;
          world.shoots.push({
            cluster,
            namespace: s.namespace,
            name: shoot.name,
            ...(shoot.binding ? { binding: shoot.binding } : {}),
            hibernated: Boolean(shoot.hibernated),
          });
          if (shoot.gardenerVersion && !world.gardener.some((g) => g.cluster === cluster))
            world.gardener.push({ cluster, version: shoot.gardenerVersion, syncPeriodMinutes: 60 });
        }
      }
    }
    if (credential.source.type === 'kops-keyset') {
      const home = kopsHome(config.clusters, credential.source.cluster);
      world.apiServers.push({ cluster: home, count: 3, anonymousAuth: false });
      for (const t of await clusters.serviceAccountTokenSecrets(home)) {
        world.legacyTokens.push({ cluster: home, namespace: t.namespace, name: t.name, serviceAccount: 'default' });
        for (const c of await clusters.listConsumers(home, t.namespace, [t.name])) add(c, c.secrets);
      }
      for (const w of await clusters.listWorkloads(home)) {
        if (byKey.has(`${home}/${w.namespace}/${w.workload}`)) continue;
        add({ cluster: home, namespace: w.namespace, workload: w.workload, secrets: [], replicas: 2, containers: [] }, ['token']);
      }
    }
  }
  return world;
}
