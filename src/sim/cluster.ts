/**
 * The cluster model: the one in-memory Kubernetes that both the drill's simulated fleet and the
 * test suite's HTTP API emulator serve. Workloads roll out over simulated time within their
 * strategy's maxSurge/maxUnavailable (Kubernetes' defaults per kind), pods read their Secrets when
 * they start and log whether the backend accepted the key; Gardener Shoots reconcile and rotate
 * credentials on annotation. Deterministic: everything is a function of the shared clock.
 *
 * One controller per module (./controllers/: workloads and pods, the CSI driver, Gardener, the
 * control plane's tokens), layered on the cluster's state; SimCluster puts them together and
 * brings them up to the clock in one order.
 */
import type { Clock } from '../ports/clock.ts';
import { TokenControllers } from './controllers/tokens.ts';
import type { SimWorkload } from './model.ts';

export * from './model.ts';

/**
 * How long a restart of such a workload takes in the model, played out on a scratch cluster (the
 * drill's critical-path bound uses it, so the bound and the fleet share one rollout rule).
 */
export function rolloutDurationMs(
  w: Pick<SimWorkload, 'kind' | 'replicas' | 'podStartMs' | 'podStopMs' | 'maxSurge' | 'maxUnavailable'>,
): number {
  // A function of these six numbers alone: a fleet of thousands of alike workloads plays each shape once.
  const shape = `${w.kind} ${w.replicas} ${w.podStartMs} ${w.podStopMs} ${w.maxSurge} ${w.maxUnavailable}`;
  let known = rolloutDurations.get(shape);
  if (known === undefined) {
    known = playRollout(w);
    rolloutDurations.set(shape, known);
  }
  return known;
}

const rolloutDurations = new Map<string, number>();

function playRollout(w: Pick<SimWorkload, 'kind' | 'replicas' | 'podStartMs' | 'podStopMs' | 'maxSurge' | 'maxUnavailable'>): number {
  let t = 0;
  const scratch = new SimCluster('scratch', { now: () => new Date(t), sleep: async () => undefined });
  const workload = scratch.addWorkload({
    kind: w.kind,
    namespace: 'scratch',
    name: 'scratch',
    replicas: w.replicas,
    podStartMs: w.podStartMs,
    podStopMs: w.podStopMs,
    strategy: { maxSurge: w.maxSurge, maxUnavailable: w.maxUnavailable },
  });
  scratch.restart(workload, {});
  for (;;) {
    if (scratch.rolloutStatus(workload).complete) return t;
    const next = scratch.nextChangeAt(workload);
    if (next === undefined) return t;
    t = next;
  }
}

export class SimCluster extends TokenControllers {
  /** Brings rollouts, Gardener operations and pod logs up to the clock. */
  sync(at?: number): void {
    // `at` lets traffic play an interval the clock jumped over event by event; never backwards.
    const now = Math.max(at ?? this.now(), this.syncedAt);
    // Everything below is a function of the clock and of what changed: same time, nothing new, nothing to do.
    if (now === this.syncedAt && !this.dirty) return;
    this.syncedAt = now;
    this.dirty = false;
    this.pollCsiIfDue(now);
    this.progressRollouts(now);
    this.refreshAllTokens(now);
    this.reloadAll(now);
    this.syncShoots(now);
  }

  /** Starts every workload's pods afresh, reading what is deployed now: the fleet as it runs before a rotation. */
  bootPods(): void {
    this.rolling.clear();
    // Secrets synced by the CSI driver hold what the store holds now, as made at the first mount.
    if (this.csi) for (const key of this.providerClassSyncs.keys()) this.syncSecrets(key, true);
    // Every Shoot reconciled with what is deployed now, but one whose last operation Failed.
    for (const shoot of this.shoots.values()) {
      if (shoot.lastOperation?.state === 'Failed') continue;
      const credentials = this.boundCredentials(shoot);
      if (credentials !== undefined) shoot.credentials = credentials;
      shoot.lastReconcileAt = this.now();
      shoot.lastOperation = {
        type: 'Reconcile',
        state: 'Succeeded',
        lastUpdateTime: new Date(this.now()).toISOString(),
        doneAt: this.now(),
      };
    }
    this.dirty = true;
    for (const w of this.workloads.values()) {
      w.pods = [];
      w.terminating = [];
      for (let i = 0; i < w.replicas; i++) w.pods.push(this.startPod(w, this.now() - w.podStartMs));
    }
  }
}

/** The clusters of one simulated fleet, by name. */
export class SimFleet {
  readonly clusters = new Map<string, SimCluster>();

  constructor(readonly clock: Clock) {}

  cluster(name: string): SimCluster {
    let c = this.clusters.get(name);
    if (!c) {
      c = new SimCluster(name, this.clock);
      this.clusters.set(name, c);
    }
    return c;
  }
}
