/**
 * ClusterFleet over the simulated cluster model (the drill and the driver's tests). Waits advance
 * the shared simulated clock instead of sleeping.
 */
import { ClusterUnreachableError, ConsumerNotReadyError, LogsUnreadableError, RolloutFailedError } from '../../errors.ts';
import { csiDriverContainer, csiRotationOf, type CsiRotation } from '../../model/csi.ts';
import type { ObjectMeta } from '../../model/helm.ts';
import { rolloutBlocker } from '../../model/rollout.ts';
import type { DiscoveredConsumer } from '../../model/discovery.ts';
import {
  deletionConfirmationAnnotation,
  operationAnnotation,
  operationCompleted,
  selectShoots,
  type ShootView,
} from '../../model/gardener.ts';
import type { ClusterFleet, LogCheck, LogCheckResult, RestartResult, RolloutWait, WorkloadId } from '../../ports/clusters.ts';
import type { Clock } from '../../ports/clock.ts';
import { reconcilePending, shootsToAnnotate, shootsToReconcile, waitForShoots } from './waitForShoots.ts';
import { SimCluster, type SimFleet, type SimLease, type SimShoot, type SimWorkload } from '../../sim/cluster.ts';
import { LeaseObserver, takenBy, type LeaseRecord } from '../../model/lease.ts';

/** The record client-go would compare, from the model's Lease. */
function recordOf(l: SimLease): LeaseRecord {
  return {
    holder: l.holder ?? '',
    durationSeconds: l.durationSeconds ?? 0,
    ...(l.renewTime !== undefined ? { renewTime: l.renewTime } : {}),
    ...(l.acquireTime !== undefined ? { acquireTime: l.acquireTime } : {}),
    transitions: l.leaseTransitions ?? 0,
  };
}

export const restartedAtAnnotation = 'kubectl.kubernetes.io/restartedAt';
export const rotationAnnotation = 'keyslot.dev/rotation';

const pollMs = 1000;

export class SimulatedClusterFleet implements ClusterFleet {
  /** What this driver saw of each lock Lease, by its own clock. */
  private readonly leases = new LeaseObserver();
  /** Every restart made, as `cluster namespace/kind/name rotationId`, for tests and the drill report. */
  readonly restarts: string[] = [];

  constructor(
    private readonly fleet: SimFleet,
    private readonly clock: Clock,
  ) {}

  private cluster(name: string): SimCluster {
    const c = this.fleet.clusters.get(name);
    if (!c?.reachable) throw new ClusterUnreachableError(`cluster ${name} is not reachable`);
    return c;
  }

  private find(cluster: string, id: WorkloadId): SimWorkload | undefined {
    const [kind, name] = id.workload.split('/');
    return this.cluster(cluster).workload(id.namespace, kind!, name!);
  }

  async ping(cluster: string): Promise<void> {
    this.cluster(cluster);
  }

  async exists(cluster: string, id: WorkloadId): Promise<boolean> {
    return this.find(cluster, id) !== undefined;
  }

  async serviceAccountTokenSecrets(cluster: string): Promise<{ namespace: string; name: string; keyId?: string }[]> {
    return this.cluster(cluster).serviceAccountTokenSecrets();
  }

  async secretSyncStatus(cluster: string, namespace: string, secretProviderClass: string) {
    return this.cluster(cluster)
      .secretProviderClassPodStatuses(namespace)
      .filter((s) => s.secretProviderClass === secretProviderClass)
      .map(({ pod, objects }) => ({ pod, objects }));
  }

  async reissueServiceAccountTokens(cluster: string): Promise<number> {
    const c = this.cluster(cluster);
    const tokens = c.serviceAccountTokenSecrets();
    for (const t of tokens) c.reissueLegacyToken(t.namespace, t.name);
    return tokens.length;
  }

  async listWorkloads(cluster: string): Promise<WorkloadId[]> {
    return [...this.cluster(cluster).workloads.values()].map((w) => ({ namespace: w.namespace, workload: `${w.kind}/${w.name}` }));
  }

  async signingKeyId(cluster: string): Promise<string | undefined> {
    return this.cluster(cluster).signingKeyId();
  }

  async restartStamp(cluster: string, id: WorkloadId): Promise<string | undefined> {
    return this.find(cluster, id)?.templateAnnotations[rotationAnnotation];
  }

  async restart(cluster: string, id: WorkloadId, rotationId: string): Promise<RestartResult> {
    const w = this.find(cluster, id);
    if (!w) return { outcome: 'absent' };
    if (w.templateAnnotations[rotationAnnotation] === rotationId) return { outcome: 'already' };
    this.cluster(cluster).restart(w, { [restartedAtAnnotation]: this.clock.now().toISOString(), [rotationAnnotation]: rotationId });
    this.restarts.push(`${cluster} ${id.namespace}/${id.workload} ${rotationId}`);
    return { outcome: 'restarted' };
  }

  async waitRollout(cluster: string, id: WorkloadId, timeoutSeconds: number): Promise<RolloutWait> {
    const deadline = this.clock.now().getTime() + timeoutSeconds * 1000;
    for (;;) {
      const w = this.find(cluster, id);
      if (!w) throw new RolloutFailedError(`${id.namespace}/${id.workload} disappeared from cluster ${cluster} during its rollout`);
      const status = this.cluster(cluster).rolloutStatus(w);
      if (status.complete) return {};
      if (status.failed) throw new RolloutFailedError(`${id.namespace}/${id.workload} on ${cluster}: rollout failed (${status.failed})`);
      const now = this.clock.now().getTime();
      if (now >= deadline)
        throw new RolloutFailedError(
          `${id.namespace}/${id.workload} on ${cluster}: rollout not finished after ${timeoutSeconds}s (${status.ready}/${status.desired} ready)`,
        );
      // Like a watch: wake when the model says the status changes, or at the deadline.
      const next = this.cluster(cluster).nextChangeAt(w) ?? deadline;
      await this.clock.sleep(Math.max(1, Math.min(next, deadline) - now));
    }
  }

  async rolloutBlocker(cluster: string, id: WorkloadId): Promise<string | undefined> {
    const w = this.find(cluster, id);
    if (!w) return undefined;
    const updateStrategy = { type: w.updateStrategy, ...(w.kind === 'statefulset' ? { rollingUpdate: { partition: w.partition } } : {}) };
    return rolloutBlocker(w.kind, { metadata: { name: w.name }, spec: { replicas: w.replicas, paused: w.paused, updateStrategy } });
  }

  async checkLogs(cluster: string, check: LogCheck): Promise<LogCheckResult> {
    const w = this.find(cluster, check);
    if (!w) throw new ConsumerNotReadyError(`${check.namespace}/${check.workload} not found on ${cluster}; its logs cannot be read`);
    await this.clock.sleep(check.windowSeconds * 1000);
    if (check.container && !w.containers.includes(check.container)) {
      throw new LogsUnreadableError(
        `${check.namespace}/${check.workload} on ${cluster}: its pods have no container ${check.container} (they have ${w.containers.join(', ')}); fix the stage's container`,
      );
    }
    const patterns = check.patterns.map((p) => new RegExp(p, 'i'));
    const containers = check.container ? [check.container] : w.containers;
    // As the real adapter words it: the pod and container whose log matched, never the line.
    const since = check.since.getTime();
    this.cluster(cluster).sync();
    const matches = w.pods.flatMap((pod) =>
      containers.flatMap((c) =>
        pod.logs
          .filter((l) => l.at >= since && l.container === c && patterns.some((p) => p.test(l.line)))
          .map(() => `${pod.name} [${c}]: auth error`),
      ),
    );
    return { matches, read: w.pods.flatMap((p) => containers.map((c) => `${p.name}/${c}`)) };
  }

  private shootViews(c: SimCluster, namespace: string): ShootView[] {
    c.sync();
    return [...c.shoots.values()].filter((s) => s.namespace === namespace).map((s) => simShootView(s, c.gardener?.version));
  }

  async listShoots(cluster: string, namespace: string): Promise<ShootView[]> {
    return this.shootViews(this.cluster(cluster), namespace);
  }

  async annotateShoots(
    cluster: string,
    args: { namespace: string; shoots?: readonly string[]; secretBinding?: string; operation: string; since: Date; timeoutSeconds: number },
  ): Promise<void> {
    const c = this.cluster(cluster);
    for (const shoot of shootsToAnnotate(cluster, this.shootViews(c, args.namespace), args))
      c.annotateShoot(c.shoots.get(SimCluster.key(args.namespace, shoot.name))!, args.operation);
    await this.pollShoots(c, args.namespace, args.timeoutSeconds, args.operation, (all) =>
      selectShoots(all, args).filter((s) => !operationCompleted(s, args.operation, args.since)),
    );
  }

  async waitShootsReconciled(
    cluster: string,
    args: { namespace: string; secretBinding: string; since: Date; timeoutSeconds: number },
  ): Promise<void> {
    const c = this.cluster(cluster);
    const generations = new Map<string, number>();
    for (const { shoot, value } of shootsToReconcile(cluster, this.shootViews(c, args.namespace), args)) {
      const s = c.shoots.get(SimCluster.key(args.namespace, shoot.name))!;
      const outcome = c.annotateShoot(s, value);
      if (outcome !== 'accepted')
        throw new ConsumerNotReadyError(
          `cluster ${cluster}: shoot ${args.namespace}/${shoot.name}: Gardener refused ${value}: ${outcome === 'being-deleted' ? 'being deleted' : outcome.refused}`,
        );
      generations.set(shoot.name, s.generation);
    }
    await this.pollShoots(
      c,
      args.namespace,
      args.timeoutSeconds,
      `reconcile after the ${args.secretBinding} secret changed`,
      reconcilePending(cluster, { ...args, generations }),
    );
  }

  private pollShoots(
    c: SimCluster,
    namespace: string,
    timeoutSeconds: number,
    what: string,
    pending: (shoots: ShootView[]) => ShootView[],
  ): Promise<void> {
    return waitForShoots({
      clock: this.clock,
      intervalMs: pollMs * 5,
      timeoutSeconds,
      cluster: c.name,
      what,
      pending,
      read: async () => this.shootViews(c, namespace),
    });
  }

  /** The lock, judged as the Kubernetes adapter judges it (src/model/lease.ts): by this process's observation, not the holder's clock. */
  async acquireLease(cluster: string, args: { name: string; holder: string; ttlSeconds: number; now: Date }) {
    const c = this.cluster(cluster);
    const key = `kube-system/${args.name}`;
    const lease = c.leases.get(key);
    const now = args.now.getTime();
    if (lease) {
      const verdict = this.leases.verdict(`${cluster}/${key}`, recordOf(lease), args.holder, now);
      if (verdict.held) return { acquired: false as const, lease: { holder: lease.holder ?? 'unknown', expiresAt: verdict.freeAt } };
    }
    const record = takenBy(
      lease && {
        ...(lease.holder !== undefined ? { holder: lease.holder } : {}),
        ...(lease.acquireTime !== undefined ? { acquireTime: lease.acquireTime } : {}),
        transitions: lease.leaseTransitions ?? 0,
      },
      args.holder,
      args.ttlSeconds,
      now,
    );
    const written = {
      ...lease,
      holder: record.holder,
      renewTime: record.renewTime,
      acquireTime: record.acquireTime,
      durationSeconds: record.durationSeconds,
      leaseTransitions: record.transitions,
    };
    c.leases.set(key, written);
    this.leases.observe(`${cluster}/${key}`, recordOf(written), now);
    return { acquired: true as const };
  }

  /** Gives the lock up as client-go's release does: the holder emptied, never deleted. */
  async releaseLease(cluster: string, args: { name: string; holder: string }): Promise<void> {
    const c = this.cluster(cluster);
    const key = `kube-system/${args.name}`;
    const lease = c.leases.get(key);
    if (lease?.holder !== args.holder) return;
    const now = this.clock.now().getTime();
    c.leases.set(key, { ...lease, holder: '', durationSeconds: 1, renewTime: now, acquireTime: now });
  }

  async providerClassSyncedSecrets(cluster: string, namespace: string, secretProviderClass: string): Promise<string[]> {
    return (this.cluster(cluster).providerClassSyncs.get(`${namespace}/${secretProviderClass}`) ?? []).map((s) => s.secret);
  }

  async verificationKeyIds(cluster: string): Promise<string[]> {
    const c = this.cluster(cluster);
    c.sync();
    return c.verificationKeyIds();
  }

  async secretMetadata(cluster: string, namespace: string, name: string): Promise<ObjectMeta | undefined> {
    const s = this.cluster(cluster).secrets.get(SimCluster.key(namespace, name));
    return s ? { annotations: { ...s.annotations }, ...(s.labels ? { labels: { ...s.labels } } : {}) } : undefined;
  }

  async csiRotation(cluster: string): Promise<CsiRotation | undefined> {
    const c = this.cluster(cluster);
    c.sync();
    const driver = [...c.workloads.values()].find(
      (w) => w.namespace === 'kube-system' && w.kind === 'daemonset' && w.containers.includes(csiDriverContainer),
    );
    return driver ? csiRotationOf(driver.containerArgs?.[csiDriverContainer] ?? []) : undefined;
  }

  async listConsumers(cluster: string, namespace: string, secrets: readonly string[]): Promise<DiscoveredConsumer[]> {
    const c = this.cluster(cluster);
    return [...c.workloads.values()]
      .filter((w) => w.namespace === namespace && w.secrets.some((s) => secrets.includes(s)))
      .map((w) => ({
        cluster,
        namespace,
        workload: `${w.kind}/${w.name}`,
        secrets: w.secrets.filter((s) => secrets.includes(s)),
        replicas: w.replicas,
        containers: w.containers,
      }));
  }

  async listCsiConsumers(cluster: string, namespace: string): Promise<DiscoveredConsumer[]> {
    const c = this.cluster(cluster);
    return [...c.workloads.values()]
      .filter((w) => w.namespace === namespace && w.secretProviderClass)
      .map((w) => ({
        cluster,
        namespace,
        workload: `${w.kind}/${w.name}`,
        secrets: [],
        replicas: w.replicas,
        containers: w.containers,
        secretProviderClass: w.secretProviderClass!,
      }));
  }

  async listSecretBindings(cluster: string, namespace: string): Promise<{ name: string; secret: string }[]> {
    return [...this.cluster(cluster).secretBindings.entries()]
      .filter(([key]) => key.startsWith(`${namespace}/`))
      .map(([key, secret]) => ({ name: key.slice(namespace.length + 1), secret }));
  }

  async withKubeconfig<T>(cluster: string, fn: (path: string) => Promise<T>): Promise<T> {
    this.cluster(cluster);
    return fn(`sim://${cluster}`);
  }
}

/** The Gardener view of a simulated Shoot (the same view the real adapter builds from the API). */
export function simShootView(s: SimShoot, gardenerVersion?: string): ShootView {
  const pending = s.annotations[operationAnnotation];
  return {
    name: s.name,
    ...(s.secretBinding ? { binding: s.secretBinding } : {}),
    beingDeleted: Boolean(s.deletionTimestamp) || s.annotations[deletionConfirmationAnnotation] === 'true',
    ...(s.lastOperation ? { lastOperation: s.lastOperation } : {}),
    rotation: s.rotation,
    generation: s.generation,
    observedGeneration: s.observedGeneration,
    hibernated: s.hibernated,
    ...(gardenerVersion ? { gardenerVersion } : {}),
    ...(pending ? { pendingOperation: pending } : {}),
  };
}
