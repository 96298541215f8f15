/**
 * A simulated world for one stack: the clusters of a world description (workloads, Shoots, CSI
 * drivers, API servers), a cloud, one clock; plus the ports over them. Used by the drill and by the
 * driver's tests, so both exercise the same model.
 */
import type { StackConfig } from '../config/parse.ts';
import { SimulatedCloudKeys } from '../adapters/cloud/simulated.ts';
import { SimulatedClusterFleet } from '../adapters/clusters/simulated.ts';
import { SimBackend, SimulatedStackEngine } from '../adapters/engine/simulated.ts';
import { MemoryJournal } from '../adapters/journal/memory.ts';
import { SimulatedCommands, SimulatedHttp } from '../adapters/probes/simulated.ts';
import type { DriverPorts } from '../ports/index.ts';
import { CommandFailedError, ConfigError } from '../errors.ts';
import { selectClusters, selects } from '../model/clusters.ts';
import { SimClock } from './clock.ts';
import { rejectionLine, SimCloud, tokensIn } from './cloud.ts';
import { defaultStrategy, placedByHand, type SimCluster, SimFleet, type WorkloadKind, type WorkloadSpec } from './cluster.ts';
import { emptyWorld, type WorldDescription, type WorldWorkload } from '../model/worldDescription.ts';
import { SimKops } from './kops.ts';
import { kopsHome } from '../model/kops.ts';

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

/** How long one API server takes to come back in a control-plane rolling update. */
export const apiServerRestartMs = 90_000;

/**
 * The world a stack's own stages assume: every workload a stage names, mounting the stack's Secrets;
 * Shoots for its Gardener stages; a CSI driver with rotation on where a stage waits for it. Made of
 * the stack it would judge, so it cannot show a consumer the stack forgot: the drill uses it only
 * for a stack that has neither a reference world nor a world file, and says so; the driver's tests
 * use it to exercise the driver on the stack's own terms.
 */
export function assumedWorld(config: StackConfig): WorldDescription {
  const out = emptyWorld(`assumed from the stages of stack ${config.stack}`);
  const byKey = new Map<string, WorldWorkload>();
  for (const cred of config.credentials) {
    for (const d of cred.deliver)
      if (d.type === 'azure-keyvault-secret' && !out.vaultSecrets.some((v) => v.vault === d.vaultName && v.secret === d.secretName))
        out.vaultSecrets.push({ vault: d.vaultName, secret: d.secretName });
    const secretsByNs = new Map<string, string[]>();
    for (const d of cred.deliver)
      if (d.type === 'kubernetes-secret') secretsByNs.set(d.namespace, [...(secretsByNs.get(d.namespace) ?? []), d.name]);
    const storesFor = (cluster: string) =>
      cred.deliver.flatMap((d) =>
        d.type === 'azure-keyvault-secret'
          ? d.clusters === undefined || selects(config.clusters, d.clusters, cluster)
            ? [`store:${d.vaultName}/${d.secretName}`]
            : []
          : d.type === 'aws-secretsmanager-secret'
            ? [`store:${d.secretId}`]
            : [],
      );
    const csiClass = (namespace: string, cluster: string) =>
      cred.stages.find(
        (s): s is Extract<typeof s, { kind: 'wait-secret-sync' }> =>
          s.kind === 'wait-secret-sync' && s.namespace === namespace && selects(config.clusters, s.clusters, cluster),
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
        const w = s.optional ? (s.workload ?? s.firstExisting![0]!) : (s.workload ?? s.firstExisting!.at(-1)!);
        const [kind, name] = w.split('/') as [WorkloadKind, string];
        const selected = selectClusters(config.clusters, s.clusters);
        const home = config.clusters.find((c) => c.primary)?.name ?? selected[0];
        for (const cluster of s.optional ? selected.filter((c) => c === home) : selected) {
          const reads = [...(secretsByNs.get(s.namespace) ?? []), ...storesFor(cluster)];
          const key = `${cluster}/${s.namespace}/${kind}/${name}`;
          const existing = byKey.get(key);
          if (existing) {
            (existing as { reads: string[] }).reads = [...new Set([...existing.reads, ...reads])];
            continue;
          }
          const spc = csiClass(s.namespace, cluster);
          const entry: WorldWorkload = {
            cluster,
            namespace: s.namespace,
            kind,
            name,
            replicas: 2,
            podStartSeconds: 5,
            containers: [...(containersOf.get(`${s.namespace}/${w}`) ?? [name])],
            reads,
            takesNewValueBy: 'restart',
            reloadSeconds: 90,
            ...(spc ? { secretProviderClass: spc } : {}),
          };
          byKey.set(key, entry);
          out.workloads.push(entry);
          if (spc && !out.csiDrivers.some((d) => d.cluster === cluster)) out.csiDrivers.push({ cluster, rotation: true, pollSeconds: 120 });
        }
      }
      if (s.kind === 'annotate') {
        for (const cluster of selectClusters(config.clusters, s.clusters)) {
          if (!out.gardener.some((g) => g.cluster === cluster)) out.gardener.push({ cluster, version: '1.100', syncPeriodMinutes: 60 });
          // Named Shoots, or two Shoots on the binding the stage selects by.
          const names = s.shoots ?? ['shoot-a', 'shoot-b'];
          for (const shoot of names)
            out.shoots.push({
              cluster,
              namespace: s.namespace,
              name: shoot,
              ...(s.shoots ? {} : { binding: s.secretBinding }),
              hibernated: false,
            });
          if (!s.shoots && s.secretBinding)
            out.bindings.push({ cluster, namespace: s.namespace, kind: 'SecretBinding', name: s.secretBinding, secret: s.secretBinding });
        }
      }
      if (s.kind === 'wait-reconciled') {
        const secret = cred.deliver.find((d) => d.type === 'kubernetes-secret' && d.namespace === s.namespace);
        for (const cluster of selectClusters(config.clusters, s.clusters)) {
          if (!out.gardener.some((g) => g.cluster === cluster)) out.gardener.push({ cluster, version: '1.100', syncPeriodMinutes: 60 });
          out.bindings.push({
            cluster,
            namespace: s.namespace,
            kind: 'SecretBinding',
            name: s.secretBinding,
            secret: secret && secret.type === 'kubernetes-secret' ? secret.name : s.secretBinding,
          });
          for (const shoot of ['shoot-a', 'shoot-b'])
            out.shoots.push({ cluster, namespace: s.namespace, name: shoot, binding: s.secretBinding, hibernated: false });
        }
      }
    }
  }
  // A kOps cluster (or a keyset keyslot generates): pods that authenticate with projected tokens,
  // and one that reads a legacy token Secret through a mounted file it re-reads every minute.
  for (const cred of config.credentials) {
    const homes =
      cred.source.type === 'kops-keyset'
        ? [kopsHome(config.clusters, cred.source.cluster)].filter(Boolean)
        : cred.source.type === 'tls-signing-key'
          ? selectClusters(
              config.clusters,
              cred.deliver.find(
                (d): d is Extract<typeof d, { type: 'kubernetes-secret' }> =>
                  d.type === 'kubernetes-secret' && Object.values(d.data).some((t) => t.includes('${privateKeyPem}')),
              )?.clusters,
            )
          : [];
    for (const cluster of homes) {
      out.workloads.push(tokenClient(cluster));
      if (cred.source.type !== 'kops-keyset') continue;
      out.legacyTokens.push({ cluster, namespace: 'monitoring', name: 'legacy-exporter-token', serviceAccount: 'default' });
      out.workloads.push({
        cluster,
        namespace: 'monitoring',
        kind: 'deployment',
        name: 'legacy-exporter',
        replicas: 2,
        podStartSeconds: 5,
        reads: ['legacy-exporter-token'],
        takesNewValueBy: 'reload',
        reloadSeconds: 60,
      });
    }
  }
  return out;
}

function tokenClient(cluster: string): WorldWorkload {
  return {
    cluster,
    namespace: 'default',
    kind: 'deployment',
    name: 'sa-token-client',
    replicas: 2,
    podStartSeconds: 5,
    reads: ['token'],
    takesNewValueBy: 'restart',
    reloadSeconds: 90,
  };
}

/** What a store read yields when nothing was ever written there: nothing a backend accepts. */
export const unsetValue = 'unset:';

/**
 * Builds the simulated world of a stack from a description of its deployment (by default the one
 * its stages assume; see `assumedWorld`). The stack supplies only what it owns: its clusters, the
 * keys of its sources and, for kOps, the keyset in the state store the API servers read.
 */
export function buildWorld(
  config: StackConfig,
  start?: Date,
  tune: (spec: WorkloadSpec) => WorkloadSpec = (spec) => spec,
  description: WorldDescription = assumedWorld(config),
): World {
  const clock = new SimClock(start);
  const fleet = new SimFleet(clock);
  const cloud = new SimCloud(clock);
  for (const c of config.clusters) {
    const cluster = fleet.cluster(c.name);
    cluster.accepts = (loaded) => {
      // A read of a store nothing wrote, or of a vault secret only placed by hand, is nothing usable.
      if (loaded.includes(unsetValue) || loaded.includes(placedByHand)) return false;
      if (loaded.startsWith('token:')) return cluster.verifiesToken(loaded);
      // A legacy service-account token Secret mounted as a file: its JWT names the key that signed it.
      const jwt = /"token":"([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)"/.exec(loaded)?.[1];
      if (jwt) return cluster.verifiesToken(`token:${jwt}`);
      return !/sim:/.test(loaded) || cloud.accepts(loaded);
    };
    cluster.rejectionLine = rejectionLine;
    cluster.readStore = (id) => cloud.stores.get(id) ?? unsetValue;
  }
  const declared = new Set(config.clusters.map((c) => c.name));
  const inStack = (cluster: string, where: string) => {
    if (!declared.has(cluster))
      throw new ConfigError(
        `world of ${config.stack}`,
        where,
        `cluster "${cluster}", which the stack does not declare`,
        `use one of ${config.clusters.map((c) => c.name).join(', ')}, or pass a world file of this deployment (--world)`,
      );
    return fleet.cluster(cluster);
  };
  // As in the AlwaysOn reference architecture, each stamp's vault already holds the secret the
  // stamp reads (placed there before keyslot): the first up must adopt it, not create it.
  for (const v of description.vaultSecrets) cloud.stores.set(`${v.vault}/${v.secret}`, placedByHand);
  for (const [i, s] of description.otherSecrets.entries())
    inStack(s.cluster, `otherSecrets[${i}].cluster`).applySecret(s.namespace, s.name, { note: 'not managed by this stack' });
  for (const [i, d] of description.csiDrivers.entries())
    inStack(d.cluster, `csiDrivers[${i}].cluster`).enableCsi(d.pollSeconds * 1000, (id) => cloud.storeVersion(id), d.rotation);
  for (const [i, p] of (description.secretProviderClasses ?? []).entries())
    inStack(p.cluster, `secretProviderClasses[${i}].cluster`).providerClassSyncs.set(`${p.namespace}/${p.name}`, p.syncs);
  for (const [i, g] of description.gardener.entries())
    inStack(g.cluster, `gardener[${i}].cluster`).runGardener(g.version, g.syncPeriodMinutes * 60_000);
  for (const [i, b] of description.bindings.entries())
    inStack(b.cluster, `bindings[${i}].cluster`).addBinding(b.namespace, b.name, b.secret);
  for (const [i, s] of description.shoots.entries())
    inStack(s.cluster, `shoots[${i}].cluster`).addShoot(s.namespace, s.name, s.binding, { hibernated: s.hibernated });
  for (const [i, a] of description.apiServers.entries()) inStack(a.cluster, `apiServers[${i}].cluster`).anonymousAuth = a.anonymousAuth;
  // kOps: the API servers sign and verify service-account tokens with the delivered keyset.
  for (const cred of config.credentials) {
    if (cred.source.type !== 'tls-signing-key') continue;
    const secrets = cred.deliver.filter((d) => d.type === 'kubernetes-secret');
    const uses = (v: string) => secrets.find((d) => Object.values(d.data).some((t) => t.includes(`\${${v}}`)));
    const signer = uses('privateKeyPem');
    const bundle = uses('trustBundle') ?? uses('publicKeyPem');
    if (!signer || !bundle) continue;
    for (const cluster of selectClusters(config.clusters, signer.clusters))
      fleet.cluster(cluster).addControlPlane(signer.namespace, signer.name, bundle.name);
  }
  // kOps-managed keysets: the state store, and the cluster's API servers that read what
  // `kops update cluster` applied.
  const kops = new Map<string, SimKops>();
  /** Hosts of API servers with anonymous auth off: an unauthenticated probe gets 401 (below). */
  const refusing = new Set<string>();
  for (const cred of config.credentials) {
    const source = cred.source;
    if (source.type !== 'kops-keyset') continue;
    const store = kops.get(source.clusterName) ?? new SimKops(source.clusterName, source.stateStore, clock);
    kops.set(source.clusterName, store);
    if (!store.keysets.has(source.keyset)) store.seed(source.keyset);
    const home = kopsHome(config.clusters, source.cluster);
    if (!home) continue;
    const c = fleet.cluster(home);
    if (!c.anonymousAuth) refusing.add(`api.${source.clusterName}`);
    const servers = description.apiServers.find((a) => a.cluster === home)?.count ?? 3;
    c.addControlPlaneReading(() => store.keys(source.keyset), servers);
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
  }
  for (const [i, t] of description.legacyTokens.entries())
    inStack(t.cluster, `legacyTokens[${i}].cluster`).addLegacyToken(t.namespace, t.name, t.serviceAccount);
  for (const [i, w] of description.workloads.entries()) {
    const c = inStack(w.cluster, `workloads[${i}].cluster`);
    c.addWorkload(
      tune({
        kind: w.kind,
        namespace: w.namespace,
        name: w.name,
        replicas: w.replicas,
        podStartMs: w.podStartSeconds * 1000,
        containers: w.containers ?? [w.name],
        ...(w.reads[0] === 'token' ? { reads: 'token' as const } : { secrets: w.reads }),
        ...(w.takesNewValueBy === 'reload' ? { reloadAfterMs: w.reloadSeconds * 1000 } : {}),
        ...(w.secretProviderClass ? { secretProviderClass: w.secretProviderClass } : {}),
        ...(w.maxSurge !== undefined || w.maxUnavailable !== undefined
          ? {
              strategy: {
                maxSurge: w.maxSurge ?? defaultStrategy(w.kind, w.replicas).maxSurge,
                maxUnavailable: w.maxUnavailable ?? defaultStrategy(w.kind, w.replicas).maxUnavailable,
              },
            }
          : {}),
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
  // An API server with anonymous auth off answers an unauthenticated probe 401: kOps sets
  // --anonymous-auth=false (kubernetes/kops v1.36.2, pkg/model/components/apiserver.go) and serves
  // a certificate of its own kubernetes-ca (nodeup/pkg/model/kube_apiserver.go).
  for (const c of config.clusters) if (c.context && !fleet.cluster(c.name).anonymousAuth) refusing.add(`api.${c.context}`);
  http.handlers.push((url) =>
    refusing.has(new URL(url).hostname)
      ? {
          status: 401,
          body: JSON.stringify({
            kind: 'Status',
            apiVersion: 'v1',
            status: 'Failure',
            message: 'Unauthorized',
            reason: 'Unauthorized',
            code: 401,
          }),
        }
      : undefined,
  );
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
