/**
 * ClusterFleet over the simulated cluster model (the drill and the driver's tests). Waits advance
 * the shared simulated clock instead of sleeping.
 */
import { ClusterUnreachableError, ConsumerNotReadyError, RolloutFailedError } from '../../errors.ts';
import type { ClusterFleet, LogCheck, RestartResult, WorkloadId } from '../../ports/clusters.ts';
import type { Clock } from '../../ports/clock.ts';
import type { SimCluster, SimFleet, SimWorkload } from '../../sim/cluster.ts';

export const restartedAtAnnotation = 'kubectl.kubernetes.io/restartedAt';
export const rotationAnnotation = 'keyslot.dev/rotation';

const pollMs = 1000;

export class SimulatedClusterFleet implements ClusterFleet {
  /** Every restart made, as `cluster namespace/kind/name rotationId`, for tests and the drill report. */
  readonly restarts: string[] = [];

  constructor(
    private readonly fleet: SimFleet,
    private readonly clock: Clock,
  ) {}

  private cluster(name: string): SimCluster {
    const c = this.fleet.clusters.get(name);
    if (!c || !c.reachable) throw new ClusterUnreachableError(`cluster ${name} is not reachable`);
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

  async waitRollout(cluster: string, id: WorkloadId, timeoutSeconds: number): Promise<void> {
    const deadline = this.clock.now().getTime() + timeoutSeconds * 1000;
    for (;;) {
      const w = this.find(cluster, id);
      if (!w) throw new RolloutFailedError(`${id.namespace}/${id.workload} disappeared from cluster ${cluster} during its rollout`);
      const status = this.cluster(cluster).rolloutStatus(w);
      if (status.complete) return;
      if (status.failed) throw new RolloutFailedError(`${id.namespace}/${id.workload} on ${cluster}: rollout failed (${status.failed})`);
      if (this.clock.now().getTime() >= deadline) throw new RolloutFailedError(`${id.namespace}/${id.workload} on ${cluster}: rollout not finished after ${timeoutSeconds}s (${status.ready}/${status.desired} ready)`);
      await this.clock.sleep(pollMs);
    }
  }

  async checkLogs(cluster: string, check: LogCheck): Promise<string[]> {
    const w = this.find(cluster, check);
    if (!w) throw new ConsumerNotReadyError(`${check.namespace}/${check.workload} not found on ${cluster}; its logs cannot be read`);
    await this.clock.sleep(check.windowSeconds * 1000);
    const patterns = check.patterns.map((p) => new RegExp(p, 'i'));
    return this.cluster(cluster).logs(w, check.since.getTime(), check.container).filter((line) => patterns.some((p) => p.test(line)));
  }

  async annotateShoots(cluster: string, args: { namespace: string; shoots?: readonly string[]; secretBinding?: string; operation: string; since: Date; timeoutSeconds: number }): Promise<void> {
    const c = this.cluster(cluster);
    const shoots = [...c.shoots.values()].filter((s) => s.namespace === args.namespace && (args.shoots ? args.shoots.includes(s.name) : s.secretBinding === args.secretBinding));
    const kind = args.operation.replace(/^rotate-/, '').replace(/-credentials$/, '');
    for (const shoot of shoots) {
      const done = shoot.rotation[kind]?.lastInitiationTime;
      if (done && Date.parse(done) >= args.since.getTime()) continue;
      try {
        c.annotateShoot(shoot, args.operation);
      } catch (error) {
        throw new ConsumerNotReadyError(`${args.operation} refused on ${cluster}: ${(error as Error).message}`);
      }
    }
    const deadline = this.clock.now().getTime() + args.timeoutSeconds * 1000;
    for (;;) {
      c.sync();
      const pending = shoots.filter((s) => !(s.rotation[kind]?.lastCompletionTime && Date.parse(s.rotation[kind]!.lastCompletionTime!) >= args.since.getTime()));
      if (pending.length === 0) return;
      if (this.clock.now().getTime() >= deadline) throw new ConsumerNotReadyError(`${args.operation} not completed after ${args.timeoutSeconds}s for ${pending.map((s) => s.name).join(', ')} on ${cluster}`);
      await this.clock.sleep(pollMs * 5);
    }
  }

  async waitShootsReconciled(cluster: string, args: { namespace: string; secretBinding: string; since: Date; timeoutSeconds: number }): Promise<void> {
    const c = this.cluster(cluster);
    const deadline = this.clock.now().getTime() + args.timeoutSeconds * 1000;
    for (;;) {
      c.sync();
      const shoots = [...c.shoots.values()].filter((s) => s.namespace === args.namespace && s.secretBinding === args.secretBinding);
      const failed = shoots.find((s) => s.lastOperation?.state === 'Failed');
      if (failed) throw new ConsumerNotReadyError(`shoot ${failed.name} failed to reconcile on ${cluster}`);
      const pending = shoots.filter((s) => !(s.lastOperation?.state === 'Succeeded' && Date.parse(s.lastOperation.lastUpdateTime) >= args.since.getTime()));
      if (pending.length === 0) return;
      if (this.clock.now().getTime() >= deadline) throw new ConsumerNotReadyError(`shoots ${pending.map((s) => s.name).join(', ')} not reconciled after ${args.timeoutSeconds}s on ${cluster}`);
      await this.clock.sleep(pollMs * 5);
    }
  }

  async acquireLease(cluster: string, args: { name: string; holder: string; ttlSeconds: number; now: Date }) {
    const c = this.cluster(cluster);
    const key = `kube-system/${args.name}`;
    const lease = c.leases.get(key);
    const now = args.now.getTime();
    if (lease && lease.holder !== args.holder && lease.renewTime + lease.durationSeconds * 1000 > now) {
      return { acquired: false as const, lease: { holder: lease.holder, expiresAt: new Date(lease.renewTime + lease.durationSeconds * 1000) } };
    }
    c.leases.set(key, { holder: args.holder, renewTime: now, durationSeconds: args.ttlSeconds, resourceVersion: (lease?.resourceVersion ?? 0) + 1 });
    return { acquired: true as const };
  }

  async releaseLease(cluster: string, args: { name: string; holder: string }): Promise<void> {
    const c = this.cluster(cluster);
    const key = `kube-system/${args.name}`;
    if (c.leases.get(key)?.holder === args.holder) c.leases.delete(key);
  }
}
