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
  /** `cluster namespace/kind/name` of workloads that had no ready pod, and for how long (ms). */
  readonly downtimeBy: Map<string, number>;
  /** `cluster namespace/name` of workloads that had failed requests, first failure time. */
  readonly failures: Map<string, number>;
  /** Keys invalidated while a pod held them: `cluster namespace/name pod`. */
  readonly invalidatedWhileHeld: string[];
}

/** What one cluster's traffic looks like until its pods or the accepted keys change. */
interface ClusterView {
  /** Computed with no rollout under way: it holds until the pods or the keys change. */
  readonly atRest: boolean;
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
  readonly totals: TrafficTotals = { requests: 0, failed: 0, downtimeBy: new Map(), failures: new Map(), invalidatedWhileHeld: [] };
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
    if (cached?.atRest && !cluster.rollingOut && cached.podsVersion === cluster.version && cached.keysVersion === keysVersion)
      return cached;
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
    const view = { atRest: !cluster.rollingOut, podsVersion: cluster.version, keysVersion, ready, down, failing };
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
    const keysVersion = this.cloud.keysetVersion();
    for (const cluster of this.fleet.clusters.values()) {
      // The clock may have jumped over rollout events (waits wake only when something changes):
      // play the interval piece by piece, each with the pods as they were during it.
      let t = from;
      for (;;) {
        cluster.sync(t);
        const next = cluster.rollingOut ? cluster.nextEventAfter(t) : undefined;
        const end = next !== undefined && next < to ? next : to;
        this.account(cluster, this.viewOf(cluster, keysVersion, t), t, end);
        if (end >= to) break;
        t = end;
      }
      cluster.sync(to);
    }
  }

  private account(cluster: SimCluster, view: ClusterView, from: number, to: number): void {
    const requestsPerPod = ((to - from) / 1000) * this.rate;
    this.totals.requests += view.ready * requestsPerPod;
    for (const w of view.down) {
      const key = `${cluster.name} ${w.namespace}/${w.kind}/${w.name}`;
      this.totals.downtimeBy.set(key, (this.totals.downtimeBy.get(key) ?? 0) + (to - from));
    }
    for (const { workload, pod } of view.failing) {
      this.totals.failed += requestsPerPod;
      const key = `${cluster.name} ${workload.namespace}/${workload.name}`;
      if (!this.totals.failures.has(key)) this.totals.failures.set(key, from);
      for (const container of workload.containers) cluster.log(pod, container, cluster.rejectionLine(pod.loaded));
    }
  }

  private invalidated(token: string): void {
    for (const cluster of this.fleet.clusters.values()) {
      for (const { workload, pod } of cluster.presentedKeys()) {
        if (tokensIn(pod.loaded).includes(token))
          this.totals.invalidatedWhileHeld.push(`${cluster.name} ${workload.namespace}/${workload.name} ${pod.name}`);
      }
      // A Shoot's controllers use the provider credential of its last reconcile.
      for (const shoot of cluster.shoots.values())
        if (shoot.credentials !== undefined && tokensIn(shoot.credentials).includes(token))
          this.totals.invalidatedWhileHeld.push(`${cluster.name} shoot ${shoot.namespace}/${shoot.name}`);
    }
  }
}
