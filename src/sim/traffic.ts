/**
 * Simulated traffic: every ready pod sends requests at a steady rate with the key it holds. A
 * rejected key is a failed request (and the auth-error line its real counterpart would log); a
 * workload with no ready pod is downtime. Also watches the cloud: invalidating a key that a live
 * pod holds is recorded, whether or not a request happened to hit it.
 */
import type { SimClock } from './clock.ts';
import type { SimCloud } from './cloud.ts';
import { SimCluster, type SimFleet } from './cluster.ts';

export interface TrafficTotals {
  requests: number;
  failed: number;
  downtimeMs: number;
  /** `cluster namespace/name` of workloads that had failed requests, first failure time. */
  readonly failures: Map<string, number>;
  /** Keys invalidated while a pod held them: `cluster namespace/name pod`. */
  readonly invalidatedWhileHeld: string[];
}

export class Traffic {
  readonly totals: TrafficTotals = { requests: 0, failed: 0, downtimeMs: 0, failures: new Map(), invalidatedWhileHeld: [] };

  constructor(
    private readonly fleet: SimFleet,
    private readonly cloud: SimCloud,
    clock: SimClock,
    /** Requests per second per ready pod. @default 1 */
    private readonly rate = 1,
  ) {
    clock.onAdvance((from, to) => this.flow(from, to));
    const previous = cloud.onInvalidate;
    cloud.onInvalidate = (token) => {
      previous?.(token);
      this.invalidated(token);
    };
  }

  private flow(from: number, to: number): void {
    const seconds = (to - from) / 1000;
    for (const cluster of this.fleet.clusters.values()) {
      cluster.sync();
      for (const w of cluster.workloads.values()) {
        const ready = w.pods.filter((p) => p.readyAt <= to);
        if (ready.length === 0) this.totals.downtimeMs += to - from;
        for (const pod of ready) {
          const n = seconds * this.rate;
          this.totals.requests += n;
          if (cluster.accepts?.(pod.loaded) ?? true) continue;
          this.totals.failed += n;
          const key = `${cluster.name} ${w.namespace}/${w.name}`;
          if (!this.totals.failures.has(key)) this.totals.failures.set(key, from);
          for (const container of w.containers) cluster.log(pod, container, cluster.rejectionLine(pod.loaded));
        }
      }
    }
  }

  private invalidated(token: string): void {
    for (const cluster of this.fleet.clusters.values()) {
      for (const { workload, pod } of cluster.presentedKeys()) {
        if (pod.loaded.includes(token)) this.totals.invalidatedWhileHeld.push(`${cluster.name} ${workload.namespace}/${workload.name} ${pod.name}`);
      }
    }
  }
}
