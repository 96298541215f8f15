/**
 * Simulated traffic: every ready pod sends requests at a steady rate with the key it holds. A
 * rejected key is a failed request (and the auth-error line its real counterpart would log); a
 * workload with no ready pod is downtime. Also watches the cloud: invalidating a key that a live
 * pod holds is recorded, whether or not a request happened to hit it.
 */
import type { SimClock } from './clock.ts';
import { tokensIn, type SimCloud } from './cloud.ts';
import type { SimCluster, SimFleet, SimPod, SimWorkload } from './cluster.ts';

export interface TrafficTotals {
  requests: number;
  failed: number;
  downtimeMs: number;
  /** `cluster namespace/name` of workloads that had failed requests, first failure time. */
  readonly failures: Map<string, number>;
  /** Keys invalidated while a pod held them: `cluster namespace/name pod`. */
  readonly invalidatedWhileHeld: string[];
}

/** What one cluster's traffic looks like until its pods or the accepted keys change. */
interface ClusterView {
  readonly podsVersion: number;
  readonly keysVersion: number;
  /** Ready pods: each sends `rate` requests a second. */
  readonly ready: number;
  /** Workloads without a ready pod: downtime while it lasts. */
  readonly down: readonly SimWorkload[];
  /** Ready pods whose key is refused: each request fails and logs the refusal. */
  readonly failing: readonly { readonly workload: SimWorkload; readonly pod: SimPod }[];
}

export class Traffic {
  readonly totals: TrafficTotals = { requests: 0, failed: 0, downtimeMs: 0, failures: new Map(), invalidatedWhileHeld: [] };
  private readonly views = new Map<SimCluster, ClusterView>();

  constructor(
    private readonly fleet: SimFleet,
    private readonly cloud: SimCloud,
    clock: SimClock,
    /** Requests per second per ready pod. @default 1 */
    private readonly rate = 1,
    /** When set, the CPU time traffic takes is added here (the benchmark's split). */
    private readonly meter?: { trafficMicros: number },
  ) {
    clock.onAdvance((from, to) => this.flow(from, to));
    const previous = cloud.onInvalidate;
    cloud.onInvalidate = (token) => {
      previous?.(token);
      this.invalidated(token);
    };
  }

  /**
   * A cluster's view is recomputed only when its pods or the accepted keys changed, or while a
   * rollout makes readiness a matter of time; a fleet at rest costs one comparison per cluster.
   */
  private viewOf(cluster: SimCluster, keysVersion: number, now: number): ClusterView {
    const cached = this.views.get(cluster);
    if (cached && !cluster.rollingOut && cached.podsVersion === cluster.version && cached.keysVersion === keysVersion) return cached;
    let ready = 0;
    const down: SimWorkload[] = [];
    const failing: { workload: SimWorkload; pod: SimPod }[] = [];
    for (const workload of cluster.workloads.values()) {
      let readyHere = 0;
      for (const pod of workload.pods) {
        if (pod.readyAt > now) continue;
        readyHere += 1;
        if (!(cluster.accepts?.(pod.loaded) ?? true)) failing.push({ workload, pod });
      }
      if (readyHere === 0) down.push(workload);
      ready += readyHere;
    }
    const view = { podsVersion: cluster.version, keysVersion, ready, down, failing };
    this.views.set(cluster, view);
    return view;
  }

  private flow(from: number, to: number): void {
    const cpu = this.meter ? process.cpuUsage() : undefined;
    this.flowOnce(from, to);
    if (cpu && this.meter) {
      const used = process.cpuUsage(cpu);
      this.meter.trafficMicros += used.user + used.system;
    }
  }

  private flowOnce(from: number, to: number): void {
    const requestsPerPod = ((to - from) / 1000) * this.rate;
    const keysVersion = this.cloud.keysetVersion();
    for (const cluster of this.fleet.clusters.values()) {
      cluster.sync();
      const view = this.viewOf(cluster, keysVersion, to);
      this.totals.requests += view.ready * requestsPerPod;
      this.totals.downtimeMs += view.down.length * (to - from);
      for (const { workload, pod } of view.failing) {
        this.totals.failed += requestsPerPod;
        const key = `${cluster.name} ${workload.namespace}/${workload.name}`;
        if (!this.totals.failures.has(key)) this.totals.failures.set(key, from);
        for (const container of workload.containers) cluster.log(pod, container, cluster.rejectionLine(pod.loaded));
      }
    }
  }

  private invalidated(token: string): void {
    for (const cluster of this.fleet.clusters.values()) {
      for (const { workload, pod } of cluster.presentedKeys()) {
        if (tokensIn(pod.loaded).includes(token)) this.totals.invalidatedWhileHeld.push(`${cluster.name} ${workload.namespace}/${workload.name} ${pod.name}`);
      }
    }
  }
}
