/**
 * Consumer discovery: which workloads read a delivered Secret, and which of them no stage
 * restarts. This is what catches the consumer a runbook forgot. Pure: the adapters list
 * workloads, this decides.
 */
import type { WorldDescription } from './worldDescription.ts';
import type { StackConfig } from '../config/parse.ts';
import type { Credential } from '../config/parse.ts';
import { selectClusters, selects } from './clusters.ts';

/** The parts of a pod spec that can name a Secret. */
export interface PodSpecRefs {
  readonly volumes?: readonly {
    secret?: { secretName?: string };
    projected?: { sources?: readonly { secret?: { name?: string } }[] };
    csi?: { driver?: string; volumeAttributes?: Readonly<Record<string, string>> };
  }[];
  readonly containers?: readonly ContainerRefs[];
  readonly initContainers?: readonly ContainerRefs[];
}
interface ContainerRefs {
  readonly env?: readonly { valueFrom?: { secretKeyRef?: { name?: string } } }[];
  readonly envFrom?: readonly { secretRef?: { name?: string } }[];
}

/** Every Secret a pod spec reads: secret and projected volumes, `env[].valueFrom.secretKeyRef`, `envFrom[].secretRef`. */
export function secretsReadBy(spec: PodSpecRefs | undefined): Set<string> {
  const names = new Set<string>();
  const add = (n: string | undefined) => n && names.add(n);
  for (const v of spec?.volumes ?? []) {
    add(v.secret?.secretName);
    for (const s of v.projected?.sources ?? []) add(s.secret?.name);
  }
  for (const c of [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])]) {
    for (const e of c.env ?? []) add(e.valueFrom?.secretKeyRef?.name);
    for (const e of c.envFrom ?? []) add(e.secretRef?.name);
  }
  return names;
}

/** The Secrets Store CSI driver's name in a pod's `csi` volume (secrets-store.csi.k8s.io). */
export const secretsStoreDriver = 'secrets-store.csi.k8s.io';

/** The SecretProviderClass a pod spec mounts through the Secrets Store CSI driver, if any. */
export function providerClassMountedBy(spec: PodSpecRefs | undefined): string | undefined {
  for (const v of spec?.volumes ?? [])
    if (v.csi?.driver === secretsStoreDriver && v.csi.volumeAttributes?.secretProviderClass)
      return v.csi.volumeAttributes.secretProviderClass;
  return undefined;
}

/** A workload found on a cluster that reads at least one of the delivered Secrets. */
export interface DiscoveredConsumer {
  readonly cluster: string;
  readonly namespace: string;
  readonly workload: string;
  readonly secrets: readonly string[];
  readonly replicas: number;
  readonly containers: readonly string[];
  /** Set when it reads Key Vault secrets (`store:` entries) through this SecretProviderClass. */
  readonly secretProviderClass?: string;
}

/** The Secrets a credential delivers on each cluster, as `namespace/name`. */
export function deliveredSecrets(config: StackConfig, credential: Credential): Map<string, { namespace: string; name: string }[]> {
  const out = new Map<string, { namespace: string; name: string }[]>();
  for (const d of credential.deliver) {
    if (d.type !== 'kubernetes-secret') continue;
    for (const c of selectClusters(config.clusters, d.clusters)) {
      const list = out.get(c);
      if (list) list.push({ namespace: d.namespace, name: d.name });
      else out.set(c, [{ namespace: d.namespace, name: d.name }]);
    }
  }
  return out;
}

/** Whether some restart stage of the credential restarts this workload on this cluster. */
export function restartedByStages(
  config: StackConfig,
  credential: Credential,
  consumer: Pick<DiscoveredConsumer, 'cluster' | 'namespace' | 'workload'>,
): boolean {
  return credential.stages.some(
    (s) =>
      s.kind === 'restart' &&
      s.namespace === consumer.namespace &&
      selects(config.clusters, s.clusters, consumer.cluster) &&
      (s.workload === consumer.workload || (s.firstExisting ?? []).includes(consumer.workload as never)),
  );
}

/** Discovered consumers that no stage restarts: they would keep the freed key until it is regenerated. */
export function uncoveredConsumers(
  config: StackConfig,
  credential: Credential,
  found: readonly DiscoveredConsumer[],
): DiscoveredConsumer[] {
  return found.filter((c) => !restartedByStages(config, credential, c));
}

/**
 * Stages that act on a cluster the credential delivers nothing to: the consumer there never gets
 * the new value (a pod that mounts a Secret that is not there does not start; a stamp whose vault
 * got no delivery keeps reading the old key). Judged when every delivery says where it lands: a
 * Kubernetes Secret always does (its clusters and namespace), a Key Vault secret when it declares
 * the `clusters` it serves. One finding per stage and cluster, in stage order.
 */
export function undeliveredStages(
  config: StackConfig,
  credential: Credential,
): { readonly stage: number; readonly cluster: string; readonly workload: string }[] {
  const placed = (d: Credential['deliver'][number]) =>
    d.type === 'kubernetes-secret' || (d.type === 'azure-keyvault-secret' && d.clusters !== undefined);
  if (credential.deliver.length === 0 || !credential.deliver.every(placed)) return [];
  const secrets = deliveredSecrets(config, credential);
  const vaults = new Set(
    credential.deliver.flatMap((d) =>
      d.type === 'azure-keyvault-secret' && d.clusters ? selectClusters(config.clusters, d.clusters) : [],
    ),
  );
  const found: { stage: number; cluster: string; workload: string }[] = [];
  for (const [i, s] of credential.stages.entries()) {
    if (s.kind !== 'restart' && s.kind !== 'verify-logs' && s.kind !== 'wait-secret-sync') continue;
    const what =
      s.kind === 'wait-secret-sync'
        ? `${s.namespace}/${s.secretProviderClass}`
        : `${s.namespace}/${s.workload ?? s.firstExisting?.join('|')}`;
    for (const cluster of selectClusters(config.clusters, s.clusters)) {
      const bySecret = s.kind !== 'wait-secret-sync' && (secrets.get(cluster) ?? []).some((d) => d.namespace === s.namespace);
      if (!bySecret && !vaults.has(cluster)) found.push({ stage: i, cluster, workload: what });
    }
  }
  return found;
}

/**
 * The restart stages a credential lacks for what a world file (`keyslot discover` output) says
 * reads its delivered Secrets at start: one per workload, on the clusters it runs on, for every
 * consumer no stage restarts. Pods that reload a mounted file take the value without a restart.
 */
export function missingRestartStages(
  config: StackConfig,
  credential: Credential,
  world: Pick<WorldDescription, 'workloads'>,
): { kind: 'restart'; namespace: string; workload: string; clusters: string[] }[] {
  const delivered = deliveredSecrets(config, credential);
  const stages = new Map<string, { kind: 'restart'; namespace: string; workload: string; clusters: string[] }>();
  for (const w of world.workloads) {
    if (w.takesNewValueBy !== 'restart') continue;
    const reads = (delivered.get(w.cluster) ?? []).some((d) => d.namespace === w.namespace && w.reads.includes(d.name));
    const consumer = { cluster: w.cluster, namespace: w.namespace, workload: `${w.kind}/${w.name}` };
    if (!reads || restartedByStages(config, credential, consumer)) continue;
    const key = `${consumer.namespace}/${consumer.workload}`;
    const stage = stages.get(key) ?? { kind: 'restart' as const, namespace: consumer.namespace, workload: consumer.workload, clusters: [] };
    stage.clusters.push(w.cluster);
    stages.set(key, stage);
  }
  return [...stages.values()];
}
