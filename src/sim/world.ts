/**
 * A simulated world for one stack: clusters with the workloads its stages name, Shoots for its
 * Gardener stages, a cloud, one clock; plus the ports over them. Used by the drill and by the
 * driver's tests, so both exercise the same model.
 */
import type { StackConfig } from '../config/parse.ts';
import { SimulatedCloudKeys } from '../adapters/cloud/simulated.ts';
import { SimulatedClusterFleet } from '../adapters/clusters/simulated.ts';
import { SimBackend, SimulatedStackEngine } from '../adapters/engine/simulated.ts';
import { MemoryJournal } from '../adapters/journal/memory.ts';
import { SimulatedCommands, SimulatedHttp } from '../adapters/probes/simulated.ts';
import type { DriverPorts } from '../driver/driver.ts';
import { CommandFailedError } from '../errors.ts';
import { selectClusters } from '../model/clusters.ts';
import { SimClock } from './clock.ts';
import { rejectionLine, SimCloud, tokensIn } from './cloud.ts';
import { type SimCluster, SimFleet, type WorkloadKind, type WorkloadSpec } from './cluster.ts';
import { SimKops } from './kops.ts';

export interface World {
  readonly clock: SimClock;
  readonly fleet: SimFleet;
  readonly cloud: SimCloud;
  readonly backend: SimBackend;
  readonly clusters: SimulatedClusterFleet;
  readonly cloudKeys: SimulatedCloudKeys;
  readonly commands: SimulatedCommands;
  readonly http: SimulatedHttp;
  readonly journal: MemoryJournal;
  /** The simulated `kops` of each kOps cluster, by kOps cluster name. */
  readonly kops: ReadonlyMap<string, SimKops>;
  /** Restarts every pod so it reads what is deployed: call after the first `up`. */
  boot(): void;
  /** How long a simulated tool takes to run this command (the drill's critical-path bound); 0 for commands it does not simulate. */
  commandMs(command: readonly string[]): number;
  /** Ports over this world for a checkout of the stack (a fresh one each call, same backend). */
  ports(checkout: Readonly<Record<string, unknown>>): DriverPorts & { engine: SimulatedStackEngine };
}

/** The Secrets Store CSI driver's default `--rotation-poll-interval`. */
export const csiPollMs = 120_000;

/** How long one API server takes to come back in a control-plane rolling update. */
export const apiServerRestartMs = 90_000;

/** Builds the fleet a stack's stages expect: every named workload, mounting the stack's Secrets. */
export function buildWorld(config: StackConfig, start?: Date, tune: (spec: WorkloadSpec) => WorkloadSpec = (spec) => spec): World {
  const clock = new SimClock(start);
  const fleet = new SimFleet(clock);
  const cloud = new SimCloud(clock);
  for (const c of config.clusters) {
    const cluster = fleet.cluster(c.name);
    cluster.accepts = (loaded) => {
      if (loaded.startsWith('token:')) return cluster.verifiesToken(loaded);
      // A legacy service-account token Secret mounted as a file: its JWT names the key that signed it.
      const jwt = /"token":"([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)"/.exec(loaded)?.[1];
      if (jwt) return cluster.verifiesToken(`token:${jwt}`);
      return !/sim:/.test(loaded) || cloud.accepts(loaded);
    };
    cluster.rejectionLine = rejectionLine;
    cluster.readStore = (id) => cloud.stores.get(id);
  }
  for (const cred of config.credentials) {
    // As in the AlwaysOn reference architecture, each stamp's vault already holds the secret the
    // stamp reads (placed there before keyslot): the first up must adopt it, not create it.
    for (const d of cred.deliver)
      if (d.type === 'azure-keyvault-secret') cloud.stores.set(`${d.vaultName}/${d.secretName}`, 'placed-by-hand');
    const secretsByNs = new Map<string, string[]>();
    for (const d of cred.deliver)
      if (d.type === 'kubernetes-secret') secretsByNs.set(d.namespace, [...(secretsByNs.get(d.namespace) ?? []), d.name]);
    // Consumers of a vault or Secrets Manager delivery read it at start (AlwaysOn: Key Vault via
    // CSI); a vault that declares its clusters (a stamp's vault) serves only those.
    const storesFor = (cluster: string) =>
      cred.deliver.flatMap((d) =>
        d.type === 'azure-keyvault-secret'
          ? d.clusters === undefined || selectClusters(config.clusters, d.clusters).includes(cluster)
            ? [`store:${d.vaultName}/${d.secretName}`]
            : []
          : d.type === 'aws-secretsmanager-secret'
            ? [`store:${d.secretId}`]
            : [],
      );
    // Pods mount the vault through the Secrets Store CSI driver where a stage waits for its sync.
    const csiClass = (namespace: string, cluster: string) =>
      cred.stages.find(
        (s): s is Extract<typeof s, { kind: 'wait-secret-sync' }> =>
          s.kind === 'wait-secret-sync' && s.namespace === namespace && selectClusters(config.clusters, s.clusters).includes(cluster),
      )?.secretProviderClass;
    const containersOf = new Map<string, Set<string>>();
    for (const s of cred.stages) {
      if (s.kind !== 'restart' && s.kind !== 'verify-logs') continue;
      for (const w of s.workload ? [s.workload] : s.optional ? s.firstExisting!.slice(0, 1) : s.firstExisting!.slice(-1)) {
        const key = `${s.namespace}/${w}`;
        const set = containersOf.get(key) ?? new Set([w.split('/')[1]!]);
        if (s.kind === 'verify-logs' && s.container) set.add(s.container);
        containersOf.set(key, set);
      }
    }
    for (const s of cred.stages) {
      if (s.kind === 'restart') {
        // firstExisting: the fleet has the fallback (the last), as a cluster without the first would.
        // An optional consumer exists on the primary cluster only, in its first-listed (current)
        // form — as Kubecost 2.x runs one aggregator, a StatefulSet — so a drill covers both its
        // restart and its absence elsewhere.
        const w = s.optional ? (s.workload ?? s.firstExisting![0]!) : (s.workload ?? s.firstExisting!.at(-1)!);
        const [kind, name] = w.split('/') as [WorkloadKind, string];
        const selected = selectClusters(config.clusters, s.clusters);
        const home = config.clusters.find((c) => c.primary)?.name ?? selected[0];
        for (const cluster of s.optional ? selected.filter((c) => c === home) : selected) {
          const c = fleet.cluster(cluster);
          const existing = c.workload(s.namespace, kind, name);
          // A consumer of several credentials mounts what each of them delivers.
          if (existing) {
            c.addMounts(existing, [...(secretsByNs.get(s.namespace) ?? []), ...storesFor(cluster)]);
            continue;
          }
          const spc = csiClass(s.namespace, cluster);
          c.addWorkload(
            tune({
              kind,
              namespace: s.namespace,
              name,
              replicas: 2,
              containers: [...(containersOf.get(`${s.namespace}/${w}`) ?? [name])],
              secrets: [...(secretsByNs.get(s.namespace) ?? []), ...storesFor(cluster)],
              ...(spc ? { secretProviderClass: spc } : {}),
            }),
          );
          if (spc && !c.csi) c.enableCsi(csiPollMs, (id) => cloud.storeVersion(id));
        }
      }
      if (s.kind === 'annotate' && s.shoots) {
        for (const cluster of selectClusters(config.clusters, s.clusters))
          for (const shoot of s.shoots) fleet.cluster(cluster).addShoot(s.namespace, shoot, `${shoot}-binding`, `${shoot}-secret`);
      }
      if (s.kind === 'wait-reconciled') {
        const secret = cred.deliver.find((d) => d.type === 'kubernetes-secret' && d.namespace === s.namespace);
        for (const cluster of selectClusters(config.clusters, s.clusters)) {
          for (const shoot of ['shoot-a', 'shoot-b'])
            fleet
              .cluster(cluster)
              .addShoot(s.namespace, shoot, s.secretBinding, secret && secret.type === 'kubernetes-secret' ? secret.name : s.secretBinding);
        }
      }
    }
  }
  // kOps: the API servers sign and verify service-account tokens with the delivered keyset, and
  // every cluster runs pods that authenticate with those tokens.
  for (const cred of config.credentials) {
    if (cred.source.type !== 'tls-signing-key') continue;
    const secrets = cred.deliver.filter((d) => d.type === 'kubernetes-secret');
    const uses = (v: string) => secrets.find((d) => Object.values(d.data).some((t) => t.includes(`\${${v}}`)));
    const signer = uses('privateKeyPem');
    const bundle = uses('trustBundle') ?? uses('publicKeyPem');
    if (!signer || !bundle) continue;
    for (const cluster of selectClusters(config.clusters, signer.clusters)) {
      const c = fleet.cluster(cluster);
      c.addControlPlane(signer.namespace, signer.name, bundle.name);
      c.addWorkload(tune({ kind: 'deployment', namespace: 'default', name: 'sa-token-client', reads: 'token', replicas: 2 }));
    }
  }
  // kOps-managed keysets: the state store and the cluster's API servers that read what
  // `kops update cluster` applied; pods authenticate with projected tokens, and one reads a legacy
  // token Secret (made by the token controller before, signed by the primary at boot).
  const kops = new Map<string, SimKops>();
  for (const cred of config.credentials) {
    const source = cred.source;
    if (source.type !== 'kops-keyset') continue;
    const store = kops.get(source.clusterName) ?? new SimKops(source.clusterName, source.stateStore, clock);
    kops.set(source.clusterName, store);
    if (!store.keysets.has(source.keyset)) store.seed(source.keyset);
    const home = source.cluster ?? config.clusters.find((c) => c.primary)?.name ?? config.clusters[0]?.name;
    if (!home) continue;
    const c = fleet.cluster(home);
    c.addControlPlaneReading(() => store.keys(source.keyset));
    // As kops validates: every API server runs what was applied, and every workload is ready.
    store.validate = () => {
      const applied = store.keys(source.keyset);
      if (c.controlPlane?.servers.some((s) => s.signer !== applied.signer || s.trusted !== applied.trusted))
        return 'a control-plane node does not run the applied configuration (a rolling update is needed)';
      const notReady = [...c.workloads.values()].filter((w) => w.pods.filter((p) => p.readyAt <= clock.nowMs()).length < w.replicas);
      return notReady.length
        ? `${notReady.length} workload(s) not ready (${notReady.map((w) => `${w.namespace}/${w.name}`).join(', ')})`
        : undefined;
    };
    c.addWorkload(tune({ kind: 'deployment', namespace: 'default', name: 'sa-token-client', reads: 'token', replicas: 2 }));
    c.addLegacyToken('monitoring', 'legacy-exporter-token');
    // client-go re-reads a mounted token file every minute, so a reissued token reaches the pods.
    c.addWorkload(
      tune({
        kind: 'deployment',
        namespace: 'monitoring',
        name: 'legacy-exporter',
        secrets: ['legacy-exporter-token'],
        replicas: 2,
        reloadAfterMs: 60_000,
      }),
    );
  }
  const backend = new SimBackend();
  const clusters = new SimulatedClusterFleet(fleet, clock);
  const cloudKeys = new SimulatedCloudKeys(cloud, clock);
  cloudKeys.inUse = (owner, slot) => {
    const key = cloud.current(owner, slot);
    if (!key) return undefined;
    for (const c of fleet.clusters.values()) {
      for (const { pod } of c.presentedKeys()) {
        if (pod.readyAt <= clock.nowMs() && tokensIn(pod.loaded).includes(key.token) && (c.accepts?.(pod.loaded) ?? true))
          return clock.now();
      }
    }
    return undefined;
  };
  /** `kops rolling-update cluster --name N --instance-group-roles=control-plane --yes`: the clusters whose API servers restart, one at a time. */
  const rolledBy = (command: readonly string[]): SimCluster[] | undefined => {
    if (command[0] !== 'kops' || command[1] !== 'rolling-update') return undefined;
    const name = command[command.indexOf('--name') + 1];
    const named = config.clusters.filter((c) => c.context === name || c.name === name).map((c) => fleet.cluster(c.name));
    return named.length ? named : [...fleet.clusters.values()];
  };
  const commands = new SimulatedCommands();
  for (const store of kops.values())
    commands.handlers.push((command) =>
      command[1] !== 'rolling-update' && command[command.indexOf('--name') + 1] === store.clusterName ? store.run(command) : undefined,
    );
  // Any other kops command names a cluster this world's kops does not have: it fails, as kops does.
  commands.handlers.push((command) =>
    command[0] === 'kops' && command[1] !== 'rolling-update'
      ? Promise.reject(new CommandFailedError(`kops: cluster "${command[command.indexOf('--name') + 1] ?? ''}" not found`))
      : undefined,
  );
  commands.handlers.push((command) => {
    const targets = rolledBy(command);
    if (!targets) return undefined;
    return (async () => {
      for (const c of targets) {
        for (let i = 0; i < (c.controlPlane?.servers.length ?? 0); i++) {
          await clock.sleep(apiServerRestartMs);
          c.restartApiServer(i);
        }
      }
      return 'kops: control plane rolled';
    })();
  });
  const http = new SimulatedHttp();
  const journal = new MemoryJournal();
  return {
    clock,
    fleet,
    cloud,
    backend,
    clusters,
    cloudKeys,
    commands,
    http,
    journal,
    kops,
    commandMs: (command) => (rolledBy(command) ?? []).reduce((ms, c) => ms + (c.controlPlane?.servers.length ?? 0) * apiServerRestartMs, 0),
    boot: () => {
      for (const c of fleet.clusters.values()) {
        c.restartApiServers();
        c.bootPods();
      }
    },
    ports: (checkout) => ({
      engine: new SimulatedStackEngine(config.stack, checkout, backend, { fleet, cloud, clock }),
      clusters,
      cloud: cloudKeys,
      clock,
      commands,
      http,
      journal,
    }),
  };
}
