/**
 * A cluster's state, as every controller of the model sees it: its objects, its clock, what
 * changed since the last sync. The controllers are layered on it (workloads, then the CSI driver,
 * Gardener and the control plane's tokens), each in a module of its own, and src/sim/cluster.ts
 * puts them together as SimCluster.
 */
import type { Clock } from '../../ports/clock.ts';
import type { SimControlPlane, SimLease, SimSecret, SimShoot, SimWorkload } from '../model.ts';

export abstract class ClusterState {
  readonly secrets = new Map<string, SimSecret>();
  readonly workloads = new Map<string, SimWorkload>();
  readonly shoots = new Map<string, SimShoot>();
  /** SecretBindings (and CredentialsBindings) by `namespace/name`: the Secret each refers to. */
  readonly secretBindings = new Map<string, string>();
  /**
   * Gardener, when this is a garden cluster: its version (which operations its API server takes) and
   * the gardenlet's sync period (a Shoot reconciles that long after its last reconcile).
   */
  gardener?: { readonly version: string; readonly syncPeriodMs: number };
  /** Whether the API servers answer anonymous requests (kOps: `--anonymous-auth=false`). */
  anonymousAuth = true;
  readonly leases = new Map<string, SimLease>();
  /** Namespaces created explicitly (those holding objects exist implicitly). */
  readonly namespaces = new Set<string>();
  /** False makes the API unreachable. */
  reachable = true;
  /**
   * How long the workload controllers take to observe a spec change (observedGeneration lags
   * generation meanwhile). 0 in the drill; the API emulator sets it so that readers meet the lag.
   */
  controllerLagMs = 0;
  /** Whether the backend accepts what a pod loaded; unset means everything is accepted. */
  accepts?: (loaded: string) => boolean;
  /** Reads an external store (`store:<id>` references), e.g. the simulated Key Vault. */
  readStore?: (id: string) => string | undefined;
  /** The line a pod logs when what it loaded is refused, as the client library behind it would word it. */
  rejectionLine: (loaded: string) => string = () => 'ERROR 401 Unauthorized: the backend rejected the credential';
  controlPlane?: SimControlPlane;
  /**
   * The Secrets Store CSI driver: every `pollMs` (its `--rotation-poll-interval`) it reads the
   * external store for each mounted object and updates the mounts and their
   * SecretProviderClassPodStatus. A pod reads its mount when it starts, so one started before a
   * poll that saw a new vault version starts with the old value.
   */
  csi?: {
    readonly pollMs: number;
    /**
     * `--enable-secret-rotation`: false upstream by default (kubernetes-sigs/secrets-store-csi-driver
     * v1.5.6, cmd/secrets-store-csi-driver/main.go; the chart's enableSecretRotation and the AKS
     * add-on alike). Off, a mount keeps what it got when the pod started; on, every mount is
     * refreshed every `pollMs` (pkg/rotation/reconciler.go).
     */
    readonly rotation: boolean;
    readonly versionOf: (id: string) => string | undefined;
    lastPollAt: number;
  };
  /** SecretProviderClasses with `secretObjects`, by `namespace/name`: the Secrets each syncs, from which store object. */
  readonly providerClassSyncs = new Map<string, readonly { secret: string; from: string }[]>();
  /** Bumped whenever a pod starts, goes or gets a new token, or an API server restarts: what traffic caches its view on. */
  version = 0;
  /** Workloads with a rollout under way: the only ones `sync` has to move. */
  protected readonly rolling = new Set<SimWorkload>();
  protected readonly reloaders = new Set<SimWorkload>();
  protected syncedAt = Number.NEGATIVE_INFINITY;
  protected dirty = true;
  protected podSerial = 0;

  constructor(
    readonly name: string,
    protected readonly clock: Clock,
  ) {}

  protected now(): number {
    return (this.clock as { nowMs?: () => number }).nowMs?.() ?? this.clock.now().getTime();
  }

  static key(...parts: string[]): string {
    return parts.join('/');
  }

  /** Brings every controller up to the clock (SimCluster: rollouts, CSI polls, tokens, Gardener). */
  abstract sync(at?: number): void;
  /** CSI: the next rotation poll after `t`, if the driver rotates. */
  abstract nextCsiPollAfter(t: number): number | undefined;
  /** CSI: what a mount of the workload's store objects holds when made now. */
  protected abstract mountNow(w: SimWorkload): Record<string, { value: string; version: string }>;
  /** CSI: a class's synced Secrets, created when missing (and rewritten with `update`). */
  protected abstract syncSecrets(classKey: string, update: boolean): void;
  /** The control plane: a projected token as a pod holds it. */
  protected abstract issueToken(): string;
}
