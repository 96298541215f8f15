/**
 * The cluster model: the one in-memory Kubernetes that both the drill's simulated fleet and the
 * test suite's HTTP API emulator serve. Workloads roll out over simulated time within their
 * strategy's maxSurge/maxUnavailable (Kubernetes' defaults per kind), pods read their Secrets when
 * they start and log whether the backend accepted the key; Gardener Shoots reconcile and rotate
 * credentials on annotation. Deterministic: everything is a function of the shared clock.
 */
import {
  deletionConfirmationAnnotation,
  gardenerAtLeast,
  operationAnnotation,
  refusedOperation,
  rotationKindOf,
  rotationPhaseOf,
  type RotationStatus,
} from '../model/gardener.ts';
import { createHash } from 'node:crypto';
import { jwtKeyId } from '../model/kops.ts';
import type { Clock } from '../ports/clock.ts';

export type WorkloadKind = 'deployment' | 'statefulset' | 'daemonset';

export interface SimPod {
  readonly name: string;
  readonly revision: number;
  readonly startedAt: number;
  readonly readyAt: number;
  /**
   * What the pod read from its Secrets when it started: the key it presents until it restarts. A
   * pod that authenticates with a service-account token holds `token:<signing key>` instead,
   * reissued every `tokenRefreshMs`.
   */
  loaded: string;
  /** Its Secrets Store CSI mount: each store object's value and version (pods of a SecretProviderClass only). */
  mounts?: Record<string, { value: string; version: string }>;
  /** When its token was last issued (token readers only). */
  tokenIssuedAt?: number;
  readonly logs: { at: number; container: string; line: string }[];
  /**
   * Set when the controller deleted it: the pod is Terminating (not ready, no longer counted in
   * the workload's status, still running with what it loaded) until `goneAt`.
   */
  deletedAt?: number;
  goneAt?: number;
  /** Why its containers never started: a Secret it mounts does not exist (the kubelet's CreateContainerConfigError). */
  waiting?: 'CreateContainerConfigError';
}

export type UpdateStrategy = 'RollingUpdate' | 'OnDelete';

export interface SimWorkload {
  readonly kind: WorkloadKind;
  readonly namespace: string;
  readonly name: string;
  readonly replicas: number;
  readonly containers: readonly string[];
  /** Command-line args per container, where the model needs them (the CSI driver's flags). */
  readonly containerArgs?: Readonly<Record<string, readonly string[]>>;
  /** What the pods read when they start: Secret names (same namespace), or `store:<id>` for an external store (Key Vault, Secrets Manager). */
  secrets: readonly string[];
  /** `token`: the pods authenticate with projected service-account tokens that the cluster's API servers sign and verify. */
  readonly reads: 'secrets' | 'token';
  /** Set when its `store:` entries are mounted by the Secrets Store CSI driver through this SecretProviderClass. */
  readonly secretProviderClass?: string;
  /**
   * Set when the pods watch a mounted Secret file and reload it: they pick up a change this long
   * after it (the kubelet's sync delay). Unset: they read it once, at start (env vars, subPath).
   */
  readonly reloadAfterMs?: number;
  readonly templateAnnotations: Record<string, string>;
  generation: number;
  observedGeneration: number;
  revision: number;
  rolloutStartedAt: number;
  /** Active pods: neither Terminating nor gone. */
  pods: SimPod[];
  /** Pods the controller deleted that are still shutting down (they hold their key until `goneAt`). */
  terminating: SimPod[];
  /** `spec.paused` (Deployments): the controller makes no rollout progress while set. */
  paused: boolean;
  /** `OnDelete` workloads (StatefulSets, DaemonSets) replace a pod only when someone deletes it. */
  readonly updateStrategy: UpdateStrategy;
  /** StatefulSet `rollingUpdate.partition`: only the `replicas - partition` highest ordinals update. */
  readonly partition: number;
  /**
   * The failure the controller last reported (ProgressDeadlineExceeded), kept until it observes the
   * next generation: what a reader sees between a new restart and the controller catching up.
   */
  reportedFailure?: string;
  /** Set to make the next rollout fail its progress deadline. */
  failRollout: boolean;
  /** Pods that loaded something this refuses crash at start and never become ready (a client that cannot use the new key). */
  crashesOn?: (loaded: string) => boolean;
  readonly podStartMs: number;
  /** How long a deleted pod takes to exit (it is Terminating meanwhile). */
  readonly podStopMs: number;
  readonly progressDeadlineSeconds: number;
  /** Pods above `replicas` a rollout may add, and ready pods below it it may lose. */
  readonly maxSurge: number;
  readonly maxUnavailable: number;
  /** How far the rollout has been played forward. */
  progressedTo: number;
}

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

/**
 * The first moment after `t` one of the workload's pods becomes ready or a Terminating one is gone
 * (Infinity: none will; crashed pods never become ready).
 */
function nextReadyAfter(w: SimWorkload, t: number): number {
  let next = Number.POSITIVE_INFINITY;
  for (const p of w.pods) if (p.readyAt > t && p.readyAt < next) next = p.readyAt;
  for (const p of w.terminating) if (p.goneAt! > t && p.goneAt! < next) next = p.goneAt!;
  return next;
}

/** Kubernetes' default rolling-update strategy of each kind, for `replicas` pods. */
export function defaultStrategy(kind: WorkloadKind, replicas: number): { maxSurge: number; maxUnavailable: number } {
  // Deployments: 25 % each, surge rounded up and unavailability down; StatefulSets and DaemonSets
  // replace a pod at a time and cannot surge.
  return kind === 'deployment'
    ? { maxSurge: Math.ceil(replicas * 0.25), maxUnavailable: Math.floor(replicas * 0.25) }
    : { maxSurge: 0, maxUnavailable: 1 };
}

export interface RolloutStatus {
  readonly desired: number;
  readonly updated: number;
  readonly ready: number;
  /** Active pods of an older revision. */
  readonly oldPods: number;
  /** Terminating pods (of any revision): not counted by the workload's status, still running. */
  readonly terminating: number;
  /** Whether the controller has observed the latest generation. */
  readonly observed: boolean;
  /** Observed, every pod updated and ready, and no pod of an old revision left, Terminating ones included. */
  readonly complete: boolean;
  /** The ProgressDeadlineExceeded reason, when the rollout failed. */
  readonly failed?: string;
}

export interface SimShoot {
  readonly namespace: string;
  readonly name: string;
  /** `spec.secretBindingName`: the binding whose Secret the Shoot's infrastructure uses. */
  readonly secretBinding?: string;
  readonly annotations: Record<string, string>;
  deletionTimestamp?: string;
  /** `metadata.generation`: bumped by a spec change and by the `reconcile`, `retry` and rotate-* operations. */
  generation: number;
  /** `status.observedGeneration`: set to the generation when gardenlet starts an operation. */
  observedGeneration: number;
  /** `spec.hibernation.enabled`: still reconciled (the reconcile flow is what hibernates it). */
  hibernated: boolean;
  lastOperation?: { type: string; state: 'Processing' | 'Succeeded' | 'Error' | 'Failed'; lastUpdateTime: string; doneAt: number };
  rotation: Record<string, RotationStatus & { doneAt?: number }>;
  /**
   * What the Shoot's controllers (infrastructure, machines, cloud-controller-manager in its control
   * plane) authenticate with: the bound Secret's data as of the last successful reconcile.
   */
  credentials?: string;
  /** The bound Secret's data as the reconcile in progress read it. */
  reconciling?: string;
  /** When the last reconcile finished: the next periodic one is a sync period later. */
  lastReconcileAt: number;
}

/** A Key Vault secret value placed by hand before keyslot: a delivery overwrites it. */
export const placedByHand = 'placed-by-hand';

export interface SimSecret {
  /** @default Opaque */
  type?: string;
  data: Record<string, string>;
  annotations: Record<string, string>;
  /** Kept across updates (a Helm release's labels, say). */
  labels?: Record<string, string>;
  updatedAt: number;
  resourceVersion: number;
}

/** A coordination/v1 Lease; every spec field is optional in the API. Times in ms (fractional: microseconds). */
export interface SimLease {
  holder?: string;
  renewTime?: number;
  acquireTime?: number;
  durationSeconds?: number;
  leaseTransitions?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface WorkloadSpec {
  readonly kind: WorkloadKind;
  readonly namespace: string;
  readonly name: string;
  readonly replicas?: number;
  readonly containers?: readonly string[];
  readonly containerArgs?: Readonly<Record<string, readonly string[]>>;
  readonly secrets?: readonly string[];
  /** @default secrets */
  readonly reads?: 'secrets' | 'token';
  readonly reloadAfterMs?: number;
  /** Mount its `store:` entries through the cluster's Secrets Store CSI driver, with this SecretProviderClass. */
  readonly secretProviderClass?: string;
  /** How long a pod takes to become ready. @default 5000 */
  readonly podStartMs?: number;
  /** How long a deleted pod takes to exit after SIGTERM. @default 2000 */
  readonly podStopMs?: number;
  /** @default false */
  readonly paused?: boolean;
  /** @default RollingUpdate */
  readonly updateStrategy?: UpdateStrategy;
  /** StatefulSets only. @default 0 */
  readonly partition?: number;
  /** @default 600 */
  readonly progressDeadlineSeconds?: number;
  /** @default Kubernetes' default for the kind (`defaultStrategy`) */
  readonly strategy?: { readonly maxSurge: number; readonly maxUnavailable: number };
}

/** Time Gardener takes to finish a reconcile or a credentials rotation in the model. */
export const gardenerDelayMs = { reconcile: 60_000, rotation: 30_000 };

/** The kubelet reissues a projected service-account token at 80% of its default one-hour life. */
export const tokenRefreshMs = 48 * 60_000;

/**
 * A cluster's API servers as service-account token signers and verifiers: each read the signing
 * key and the trusted public keys (one per line) when it last restarted — from two Secrets, or
 * from what `kops update cluster` last applied from a kOps state store.
 */
export interface SimControlPlane {
  readonly read: () => { signer: string; trusted: string };
  readonly servers: { signer: string; trusted: string; restartedAt: number }[];
}

export const serviceAccountTokenType = 'kubernetes.io/service-account-token';

/**
 * The `kid` of a public key, derived as kube-apiserver derives it (base64url of the SHA-256 of
 * the key's bytes; the real server hashes the PKIX DER, the simulation the key's text).
 */
export function simKeyId(publicKey: string): string {
  return createHash('sha256').update(publicKey).digest('base64url');
}

/** A service-account token as a JWT whose header names the signing key; the signature is the simulation's. */
export function simJwt(signer: string, claims: Readonly<Record<string, string | number>>): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const kid = simKeyId(signer.replace('/private@', '/public@'));
  return `${part({ alg: 'RS256', kid })}.${part(claims)}.${Buffer.from(`sim-signature:${kid}`).toString('base64url')}`;
}

export class SimCluster {
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
  private readonly rolling = new Set<SimWorkload>();
  private readonly reloaders = new Set<SimWorkload>();
  private syncedAt = Number.NEGATIVE_INFINITY;
  private dirty = true;
  private podSerial = 0;

  constructor(
    readonly name: string,
    private readonly clock: Clock,
  ) {}

  private now(): number {
    return (this.clock as { nowMs?: () => number }).nowMs?.() ?? this.clock.now().getTime();
  }

  /**
   * When the workload's rollout status next changes by itself (a pod starts or becomes ready, or
   * the progress deadline passes); undefined when nothing will. What a watch would wake on.
   */
  nextChangeAt(w: SimWorkload): number | undefined {
    this.sync();
    const now = this.now();
    // A rollout acts the moment a pod becomes ready; nothing else moves it.
    const deadline = w.rolloutStartedAt + w.progressDeadlineSeconds * 1000;
    const observedAt = w.rolloutStartedAt + this.controllerLagMs;
    const later = (at: number) => (at > now ? at : Number.POSITIVE_INFINITY);
    const next = Math.min(
      nextReadyAfter(w, now),
      later(deadline),
      w.observedGeneration < w.generation ? later(observedAt) : Number.POSITIVE_INFINITY,
    );
    return next === Number.POSITIVE_INFINITY ? undefined : next;
  }

  static key(...parts: string[]): string {
    return parts.join('/');
  }

  addWorkload(spec: WorkloadSpec): SimWorkload {
    const w: SimWorkload = {
      kind: spec.kind,
      namespace: spec.namespace,
      name: spec.name,
      replicas: spec.replicas ?? 2,
      containers: spec.containers ?? [spec.name],
      ...(spec.containerArgs ? { containerArgs: spec.containerArgs } : {}),
      secrets: spec.secrets ?? [],
      reads: spec.reads ?? 'secrets',
      ...(spec.reloadAfterMs !== undefined ? { reloadAfterMs: spec.reloadAfterMs } : {}),
      ...(spec.secretProviderClass !== undefined ? { secretProviderClass: spec.secretProviderClass } : {}),
      templateAnnotations: {},
      generation: 1,
      observedGeneration: 1,
      revision: 1,
      rolloutStartedAt: this.now(),
      pods: [],
      terminating: [],
      paused: spec.paused ?? false,
      updateStrategy: spec.updateStrategy ?? 'RollingUpdate',
      partition: spec.partition ?? 0,
      failRollout: false,
      podStartMs: spec.podStartMs ?? 5000,
      podStopMs: spec.podStopMs ?? 2000,
      progressDeadlineSeconds: spec.progressDeadlineSeconds ?? 600,
      ...(spec.strategy ?? defaultStrategy(spec.kind, spec.replicas ?? 2)),
      progressedTo: this.now(),
    };
    for (let i = 0; i < w.replicas; i++) w.pods.push(this.startPod(w, this.now() - w.podStartMs));
    this.workloads.set(SimCluster.key(spec.namespace, spec.kind, spec.name), w);
    if (w.reloadAfterMs !== undefined) this.reloaders.add(w);
    this.dirty = true;
    return w;
  }

  workload(namespace: string, kind: string, name: string): SimWorkload | undefined {
    this.sync();
    return this.workloads.get(SimCluster.key(namespace, kind, name));
  }

  /** Creates or updates a Secret; Shoots using it through a binding start reconciling. */
  applySecret(namespace: string, name: string, data: Record<string, string>, annotations: Record<string, string> = {}): void {
    this.sync();
    const key = SimCluster.key(namespace, name);
    const current = this.secrets.get(key);
    const changed = JSON.stringify(current?.data) !== JSON.stringify(data);
    this.secrets.set(key, {
      ...(current?.type ? { type: current.type } : {}),
      ...(current?.labels ? { labels: current.labels } : {}),
      data: { ...data },
      annotations: { ...annotations },
      updatedAt: changed ? this.now() : (current?.updatedAt ?? this.now()),
      resourceVersion: (current?.resourceVersion ?? 0) + 1,
    });
    // No Shoot reconciles because its provider Secret changed: gardenlet's shoot controller watches
    // Shoots only, through a GenerationChangedPredicate (gardener/gardener v1.149.3,
    // pkg/gardenlet/controller/shoot/shoot/add.go); docs/usage/shoot-operations/shoot_credentials_rotation.md
    // says to annotate gardener.cloud/operation=reconcile after updating the Secret.
  }

  deleteSecret(namespace: string, name: string): void {
    this.sync();
    this.secrets.delete(SimCluster.key(namespace, name));
  }

  /** `kubectl rollout restart`: patch the pod template's annotations and roll a new revision. */
  restart(w: SimWorkload, annotations: Record<string, string>): void {
    this.sync();
    // Until the controller observes the new generation, readers see what it reported last.
    const failed = this.rolloutStatus(w).failed;
    if (failed) w.reportedFailure = failed;
    else delete w.reportedFailure;
    Object.assign(w.templateAnnotations, annotations);
    w.generation += 1;
    w.revision += 1;
    w.rolloutStartedAt = this.now();
    this.rolling.add(w);
    this.dirty = true;
  }

  /** The next moment after `t` a rollout here acts (a pod becomes ready); undefined when none will. */
  nextEventAfter(t: number): number | undefined {
    let next = Number.POSITIVE_INFINITY;
    for (const w of this.rolling) next = Math.min(next, nextReadyAfter(w, t));
    // A pod that starts after a CSI poll mounts what it synced: the poll is an event of its own.
    const poll = this.nextCsiPollAfter(t);
    if (poll !== undefined && next !== Number.POSITIVE_INFINITY) next = Math.min(next, poll);
    return next === Number.POSITIVE_INFINITY ? undefined : next;
  }

  /** True while some workload is mid-rollout (its pods' readiness changes with time alone). */
  get rollingOut(): boolean {
    return this.rolling.size > 0;
  }

  /** Spec changes that roll nothing (`spec.paused`): a new generation for the controller to observe. */
  setPaused(w: SimWorkload, paused: boolean): void {
    this.sync();
    if (w.paused === paused) return;
    w.paused = paused;
    w.generation += 1;
    if (!paused) w.rolloutStartedAt = this.now();
    this.rolling.add(w);
    this.dirty = true;
  }

  rolloutStatus(w: SimWorkload): RolloutStatus {
    this.sync();
    const updated = w.pods.filter((p) => p.revision === w.revision);
    const ready = updated.filter((p) => p.readyAt <= this.now());
    const oldPods = w.pods.length - updated.length;
    const observed = w.observedGeneration === w.generation;
    const oldTerminating = w.terminating.some((p) => p.revision !== w.revision);
    const complete = observed && ready.length === w.replicas && oldPods === 0 && !oldTerminating;
    const base = {
      desired: w.replicas,
      updated: updated.length,
      ready: ready.length,
      oldPods,
      terminating: w.terminating.length,
      observed,
    };
    if (!observed) return { ...base, complete, ...(w.reportedFailure ? { failed: w.reportedFailure } : {}) };
    // A paused rollout has no deadline (the controller reports DeploymentPaused instead).
    const stuck = !w.paused && (w.failRollout || updated.some((p) => p.readyAt === Infinity));
    const overdue = !complete && stuck && this.now() - w.rolloutStartedAt >= w.progressDeadlineSeconds * 1000;
    return { ...base, complete, ...(overdue ? { failed: 'ProgressDeadlineExceeded' } : {}) };
  }

  /** Log lines of the workload's running pods (not Terminating) since `since` (ms), optionally of one container. */
  logs(w: SimWorkload, since: number, container?: string): string[] {
    this.sync();
    return w.pods.flatMap((p) => p.logs.filter((l) => l.at >= since && (!container || l.container === container)).map((l) => l.line));
  }

  /** A pod of this cluster by name, active or Terminating, with its workload. */
  pod(namespace: string, name: string): { workload: SimWorkload; pod: SimPod } | undefined {
    this.sync();
    for (const workload of this.workloads.values()) {
      if (workload.namespace !== namespace) continue;
      const pod = workload.pods.find((p) => p.name === name) ?? workload.terminating.find((p) => p.name === name);
      if (pod) return { workload, pod };
    }
    return undefined;
  }

  /** A SecretBinding `name` that refers to the Secret `secret` of its namespace. */
  addBinding(namespace: string, name: string, secret: string): void {
    this.secretBindings.set(SimCluster.key(namespace, name), secret);
  }

  /** Runs Gardener here: `version` as `major.minor[.patch]`. */
  runGardener(version: string, syncPeriodMs: number): void {
    this.gardener = { version: version.replace(/^v/, ''), syncPeriodMs };
  }

  /** A Shoot; `secret` (older callers) also adds its binding. */
  addShoot(namespace: string, name: string, secretBinding?: string, secret?: string | { hibernated?: boolean }): SimShoot {
    if (secretBinding && typeof secret === 'string') this.addBinding(namespace, secretBinding, secret);
    const shoot: SimShoot = {
      namespace,
      name,
      ...(secretBinding ? { secretBinding } : {}),
      annotations: {},
      rotation: {},
      generation: 1,
      observedGeneration: 1,
      hibernated: typeof secret === 'object' ? Boolean(secret.hibernated) : false,
      lastReconcileAt: this.now(),
    };
    this.shoots.set(SimCluster.key(namespace, name), shoot);
    return shoot;
  }

  /** The data of the Secret the Shoot's binding refers to, as its controllers would read it. */
  private boundCredentials(shoot: SimShoot): string | undefined {
    if (!shoot.secretBinding) return undefined;
    const secret = this.secretBindings.get(SimCluster.key(shoot.namespace, shoot.secretBinding));
    const data = secret === undefined ? undefined : this.secrets.get(SimCluster.key(shoot.namespace, secret))?.data;
    return data ? JSON.stringify(data) : undefined;
  }

  /** gardenlet starts a reconcile: observedGeneration catches up, lastOperation Processing (reconciler.go). */
  private startReconcile(shoot: SimShoot, at: number): void {
    shoot.observedGeneration = shoot.generation;
    // The flow reads the provider Secret as it is when it starts.
    shoot.reconciling = this.boundCredentials(shoot);
    shoot.lastOperation = {
      type: 'Reconcile',
      state: 'Processing',
      lastUpdateTime: new Date(at).toISOString(),
      doneAt: at + gardenerDelayMs.reconcile,
    };
  }

  /**
   * Annotates a Shoot with a Gardener operation, as Gardener's admission does: refused (HTTP 403 on
   * the wire) for a Shoot being deleted. A rotation operation reports progress in
   * `.status.credentials.rotation.<kind>`; any other runs as a reconcile.
   */
  annotateShoot(shoot: SimShoot, value: string): 'accepted' | 'being-deleted' | { refused: string } {
    this.sync();
    if (shoot.deletionTimestamp || shoot.annotations[deletionConfirmationAnnotation] === 'true') return 'being-deleted';
    // Several operations separated by ";" from v1.133 (GardenerOperationsSeparator); one before.
    const operations = value.split(';').filter(Boolean);
    if (operations.length > 1 && !gardenerAtLeast(this.gardener?.version, 1, 133))
      return { refused: `Unsupported value: "${value}": this Gardener takes one operation at a time (several from v1.133)` };
    for (const operation of operations) {
      const refused = refusedOperation(
        {
          name: shoot.name,
          beingDeleted: false,
          rotation: shoot.rotation,
          ...(this.gardener ? { gardenerVersion: this.gardener.version } : {}),
        },
        operation,
      );
      if (refused) return { refused };
    }
    for (const operation of operations) this.applyOperation(shoot, operation);
    return 'accepted';
  }

  /**
   * One operation as Gardener's API server strategy and gardenlet take it (gardener/gardener v1.149.3,
   * pkg/apiserver/registry/core/shoot/strategy.go): `reconcile` bumps the generation and is removed at
   * once, but not on a Shoot whose last operation Failed — only `retry` bumps that one
   * (pkg/utils/gardener/shoot.go IsShootFailedAndUpToDate; gardenlet skips it until then).
   */
  private applyOperation(shoot: SimShoot, operation: string): void {
    const now = this.now();
    const failed = shoot.lastOperation?.state === 'Failed';
    if (operation === 'reconcile' || operation === 'retry') {
      if (failed !== (operation === 'retry')) return;
      shoot.generation += 1;
      this.startReconcile(shoot, now);
      return;
    }
    shoot.generation += 1;
    shoot.annotations[operationAnnotation] = operation;
    const kind = rotationKindOf(operation);
    const iso = new Date(now).toISOString();
    const doneAt = now + gardenerDelayMs.rotation;
    const phase = rotationPhaseOf(operation);
    if (kind && phase === 'start') shoot.rotation[kind] = { ...shoot.rotation[kind], phase: 'Preparing', lastInitiationTime: iso, doneAt };
    else if (kind && phase === 'complete')
      shoot.rotation[kind] = { ...shoot.rotation[kind], phase: 'Completing', lastCompletionTriggeredTime: iso, doneAt };
    else if (kind) shoot.rotation[kind] = { ...shoot.rotation[kind], lastInitiationTime: iso, doneAt };
    else {
      delete shoot.annotations[operationAnnotation];
      this.startReconcile(shoot, now);
    }
  }

  /** Installs the Secrets Store CSI driver; with `rotation`, it refreshes every mount every `pollMs`. */
  enableCsi(pollMs: number, versionOf: (id: string) => string | undefined, rotation = true): void {
    this.csi = { pollMs, rotation, versionOf, lastPollAt: Math.floor(this.now() / pollMs) * pollMs };
    // The driver's DaemonSet, as the chart renders its flags: what a reader of the cluster sees of it.
    this.workloads.delete(SimCluster.key('kube-system', 'daemonset', 'secrets-store-csi-driver'));
    this.addWorkload({
      kind: 'daemonset',
      namespace: 'kube-system',
      name: 'secrets-store-csi-driver',
      replicas: 2,
      containers: ['node-driver-registrar', 'secrets-store'],
      containerArgs: {
        'secrets-store': [
          '--endpoint=$(CSI_ENDPOINT)',
          `--enable-secret-rotation=${rotation}`,
          ...(rotation ? [`--rotation-poll-interval=${pollMs / 1000}s`] : []),
        ],
      },
    });
  }

  /**
   * What a CSI mount of the workload's store objects holds when made now: the provider fetches each
   * object's current value and version at NodePublishVolume, so a pod started after the vault changed
   * mounts the new version whether or not rotation is on.
   */
  private mountNow(w: SimWorkload): Record<string, { value: string; version: string }> {
    const mounts: Record<string, { value: string; version: string }> = {};
    for (const s of w.secrets)
      if (s.startsWith('store:')) {
        const id = s.slice('store:'.length);
        mounts[id] = { value: this.readStore?.(id) ?? '', version: this.csi?.versionOf(id) ?? '' };
      }
    return mounts;
  }

  /** The CSI driver's rotation poll: every running pod's mount is fetched afresh, and the synced Secrets with it (rotation on only). */
  private pollCsi(): void {
    const mounted = new Set<string>();
    for (const w of this.workloads.values())
      if (w.secretProviderClass) {
        for (const pod of w.pods) if (pod.mounts) pod.mounts = this.mountNow(w);
        if (w.pods.length) mounted.add(SimCluster.key(w.namespace, w.secretProviderClass));
      }
    for (const key of mounted) this.syncSecrets(key, true);
  }

  /**
   * The synced Secrets of a class (`namespace/name`): created when missing; with `update`, rewritten
   * from the store as a rotation pass does (the controller alone never updates one).
   */
  private syncSecrets(classKey: string, update: boolean): void {
    const namespace = classKey.split('/')[0]!;
    for (const { secret, from } of this.providerClassSyncs.get(classKey) ?? []) {
      const current = this.secrets.get(SimCluster.key(namespace, secret));
      if (current && !update) continue;
      const value = this.readStore?.(from.slice('store:'.length)) ?? '';
      if (current?.data.value === value) continue;
      // Written directly: this runs inside a pod's start and a poll, where the model is mid-sync.
      this.secrets.set(SimCluster.key(namespace, secret), {
        data: { value },
        annotations: { 'secrets-store.csi.k8s.io/managed': 'true' },
        updatedAt: this.now(),
        resourceVersion: (current?.resourceVersion ?? 0) + 1,
      });
    }
  }

  /** The next CSI rotation poll after `t`, when a driver with rotation on is installed. */
  nextCsiPollAfter(t: number): number | undefined {
    if (!this.csi?.rotation) return undefined;
    return (Math.floor(t / this.csi.pollMs) + 1) * this.csi.pollMs;
  }

  /**
   * SecretProviderClassPodStatus as the CSI driver keeps it: one per running pod of a workload
   * mounting the class, with each object's id (`secret/<name>`) and the version its mount holds.
   */
  secretProviderClassPodStatuses(
    namespace?: string,
  ): { namespace: string; pod: string; secretProviderClass: string; objects: { id: string; version: string }[] }[] {
    this.sync();
    if (!this.csi) return [];
    return [...this.workloads.values()]
      .filter((w) => w.secretProviderClass && (namespace === undefined || w.namespace === namespace))
      .flatMap((w) =>
        w.pods.map((pod) => ({
          namespace: w.namespace,
          pod: pod.name,
          secretProviderClass: w.secretProviderClass!,
          objects: w.secrets
            .filter((s) => s.startsWith('store:'))
            .map((s) => ({ id: `secret/${s.split('/').at(-1)}`, version: pod.mounts?.[s.slice('store:'.length)]?.version ?? '' })),
        })),
      );
  }

  /** Brings rollouts, Gardener operations and pod logs up to the clock. */
  sync(at?: number): void {
    // `at` lets traffic play an interval the clock jumped over event by event; never backwards.
    const now = Math.max(at ?? this.now(), this.syncedAt);
    // Everything below is a function of the clock and of what changed: same time, nothing new, nothing to do.
    if (now === this.syncedAt && !this.dirty) return;
    this.syncedAt = now;
    this.dirty = false;
    if (this.csi?.rotation && now >= this.csi.lastPollAt + this.csi.pollMs) {
      this.csi.lastPollAt = Math.floor(now / this.csi.pollMs) * this.csi.pollMs;
      this.pollCsi();
    }
    for (const w of this.rolling) {
      this.progress(w, now);
      const settled = w.observedGeneration === w.generation && w.terminating.length === 0 && w.pods.length === w.replicas;
      if (!w.failRollout && settled && w.pods.every((p) => p.revision === w.revision && p.readyAt <= now)) this.rolling.delete(w);
    }
    if (this.controlPlane) for (const w of this.workloads.values()) if (w.reads === 'token') this.refreshTokens(w, now);
    for (const w of this.reloaders) this.reload(w, now);
    for (const shoot of this.shoots.values()) {
      // The periodic reconcile, a sync period after the last (gardenlet's shoot/helper/infos.go);
      // never for a Shoot whose last operation Failed.
      const period = this.gardener?.syncPeriodMs;
      const state = shoot.lastOperation?.state;
      if (period !== undefined && state !== 'Processing' && state !== 'Failed' && now >= shoot.lastReconcileAt + period)
        this.startReconcile(shoot, shoot.lastReconcileAt + period);
      if (shoot.lastOperation?.state === 'Processing' && shoot.lastOperation.doneAt <= now) {
        shoot.lastOperation = {
          ...shoot.lastOperation,
          state: 'Succeeded',
          lastUpdateTime: new Date(shoot.lastOperation.doneAt).toISOString(),
        };
        if (shoot.lastOperation.type === 'Reconcile') {
          if (shoot.reconciling !== undefined) shoot.credentials = shoot.reconciling;
          delete shoot.reconciling;
          shoot.lastReconcileAt = shoot.lastOperation.doneAt;
          this.version += 1;
        }
      }
      for (const [kind, r] of Object.entries(shoot.rotation)) {
        if (r.doneAt !== undefined && r.doneAt <= now) {
          const at = new Date(r.doneAt).toISOString();
          shoot.rotation[kind] =
            r.phase === 'Preparing'
              ? { ...r, phase: 'Prepared', lastInitiationFinishedTime: at }
              : r.phase === 'Completing'
                ? { ...r, phase: 'Completed', lastCompletionTime: at }
                : { ...r, lastCompletionTime: at };
          delete shoot.rotation[kind]!.doneAt;
          delete shoot.annotations[operationAnnotation];
        }
      }
    }
  }

  /** Pods that watch their mounted Secret load its new value once the kubelet has synced it. */
  private reload(w: SimWorkload, now: number): void {
    const synced = w.secrets.every(
      (s) => s.startsWith('store:') || (this.secrets.get(SimCluster.key(w.namespace, s))?.updatedAt ?? 0) + w.reloadAfterMs! <= now,
    );
    if (!synced) return;
    const current = this.read(w);
    for (const pod of w.pods) {
      if (pod.loaded !== current && pod.readyAt <= now) {
        pod.loaded = current;
        this.version += 1;
      }
    }
  }

  private refreshTokens(w: SimWorkload, now: number): void {
    for (const pod of w.pods) {
      if (pod.tokenIssuedAt !== undefined && now - pod.tokenIssuedAt >= tokenRefreshMs) {
        pod.tokenIssuedAt += Math.floor((now - pod.tokenIssuedAt) / tokenRefreshMs) * tokenRefreshMs;
        pod.loaded = this.issueToken();
        this.version += 1;
      }
    }
  }

  /** Plays the rollout forward to `now`, acting at each moment a pod became ready or went away. */
  private progress(w: SimWorkload, now: number): void {
    const observedAt = w.rolloutStartedAt + this.controllerLagMs;
    if (w.observedGeneration < w.generation) {
      if (now < observedAt) return;
      w.observedGeneration = w.generation;
      delete w.reportedFailure;
    }
    let t = Math.max(w.progressedTo, observedAt);
    for (;;) {
      this.reap(w, t);
      this.rollStep(w, t);
      const next = nextReadyAfter(w, t);
      if (next > now) break;
      t = next;
    }
    this.reap(w, now);
    w.progressedTo = now;
  }

  /** Terminating pods whose process has exited are gone. */
  private reap(w: SimWorkload, t: number): void {
    if (w.terminating.length === 0) return;
    const left = w.terminating.filter((p) => p.goneAt! > t);
    if (left.length !== w.terminating.length) {
      w.terminating = left;
      this.version += 1;
    }
  }

  /** The controller deletes a pod: it is Terminating until its process exits. */
  private deletePod(w: SimWorkload, pod: SimPod, t: number): void {
    w.pods = w.pods.filter((p) => p !== pod);
    pod.deletedAt = t;
    // A pod that never started has nothing to shut down.
    pod.goneAt = pod.readyAt > t ? t : t + w.podStopMs;
    if (pod.goneAt > t) w.terminating.push(pod);
    this.version += 1;
  }

  /**
   * What the controller does at time `t`, until it can do nothing more: drop old pods that are not
   * ready, drop ready old pods while no more than maxUnavailable are missing, and start new pods
   * while no more than maxSurge are extra.
   */
  private rollStep(w: SimWorkload, t: number): void {
    if (w.failRollout || w.paused || w.updateStrategy === 'OnDelete') return;
    // Deployments count only active pods against maxSurge; StatefulSets and DaemonSets replace a
    // pod in place, so its replacement waits until the Terminating one is gone.
    const inPlace = w.kind !== 'deployment';
    const target = w.kind === 'statefulset' ? w.replicas - Math.min(w.partition, w.replicas) : w.replicas;
    for (;;) {
      const old = w.pods.filter((p) => p.revision !== w.revision);
      const fresh = w.pods.length - old.length;
      const occupied = w.pods.length + (inPlace ? w.terminating.length : 0);
      const available = w.pods.filter((p) => p.readyAt <= t).length;
      // A partition keeps the lowest ordinals on the old revision.
      const replaceable = old.length > w.replicas - target;
      const victim = replaceable
        ? (old.find((p) => p.readyAt > t) ?? (available - 1 >= w.replicas - w.maxUnavailable ? old[0] : undefined))
        : undefined;
      if (victim) this.deletePod(w, victim, t);
      else if (fresh < target && occupied < w.replicas + w.maxSurge) w.pods.push(this.startPod(w, t));
      else return;
    }
  }

  private startPod(w: SimWorkload, at: number): SimPod {
    this.version += 1;
    // Mounting the class creates its synced Secrets if they are missing (never updates them).
    if (w.secretProviderClass && this.csi) this.syncSecrets(SimCluster.key(w.namespace, w.secretProviderClass), false);
    // A pod that mounts a Secret that is not there does not start; it holds nothing.
    const missing =
      w.reads === 'secrets'
        ? w.secrets.find((s) => !s.startsWith('store:') && !this.secrets.has(SimCluster.key(w.namespace, s)))
        : undefined;
    if (missing !== undefined) {
      return {
        name: `${w.name}-${w.revision}-${++this.podSerial}`,
        revision: w.revision,
        startedAt: at,
        readyAt: Infinity,
        loaded: '',
        logs: [],
        waiting: 'CreateContainerConfigError',
      };
    }
    const loaded = w.reads === 'token' ? this.issueToken() : this.read(w);
    const ok = this.accepts ? this.accepts(loaded) : true;
    const crashes = w.crashesOn?.(loaded) ?? false;
    const line = crashes
      ? 'Error: failed to initialise the storage client; exiting (CrashLoopBackOff)'
      : ok
        ? 'started; backend accepted the credential'
        : this.rejectionLine(loaded);
    const logs = w.containers.map((container) => ({ at, container, line }));
    return {
      name: `${w.name}-${w.revision}-${++this.podSerial}`,
      revision: w.revision,
      startedAt: at,
      readyAt: crashes ? Infinity : at + w.podStartMs,
      loaded,
      logs,
      ...(w.reads === 'token' ? { tokenIssuedAt: at } : {}),
      ...(w.secretProviderClass && this.csi ? { mounts: this.mountNow(w) } : {}),
    };
  }

  /** What a pod of the workload reads from its Secrets now. */
  private read(w: SimWorkload): string {
    return w.secrets
      .map((s) =>
        s.startsWith('store:')
          ? (this.readStore?.(s.slice('store:'.length)) ?? '')
          : JSON.stringify(this.secrets.get(SimCluster.key(w.namespace, s))?.data ?? {}),
      )
      .join('\n');
  }

  /** A projected token as a pod holds it: signed by the API server that restarted last (it answers the kubelet's TokenRequest). */
  private issueToken(): string {
    return `token:${this.newestSigner()}`;
  }

  /** Adds API servers that sign and verify service-account tokens with keys from two Secrets. */
  addControlPlane(namespace: string, signerSecret: string, bundleSecret: string, servers = 3): SimControlPlane {
    const read = (name: string) => Object.values(this.secrets.get(SimCluster.key(namespace, name))?.data ?? {}).join('\n');
    return this.addControlPlaneReading(() => ({ signer: read(signerSecret), trusted: read(bundleSecret) }), servers);
  }

  /** Adds API servers that read their signing key and trusted keys from `read` at every restart (kOps: the applied state store). */
  addControlPlaneReading(read: SimControlPlane['read'], servers = 3): SimControlPlane {
    this.controlPlane = { read, servers: Array.from({ length: servers }, () => ({ signer: '', trusted: '', restartedAt: this.now() })) };
    this.restartApiServers();
    return this.controlPlane;
  }

  /** Every API server restarts now and reads its keys again (a cluster booting; a rolling update without its pace). */
  restartApiServers(): void {
    for (const i of this.controlPlane?.servers.keys() ?? []) this.restartApiServer(i);
  }

  /** One API server restarts (a control-plane rolling update) and reads its key and trust bundle again. */
  restartApiServer(index: number): void {
    const cp = this.controlPlane;
    if (!cp) return;
    cp.servers[index] = { ...cp.read(), restartedAt: this.now() };
    this.version += 1;
  }

  /**
   * Every API server must accept a token: a request may land on any of them. A token is either
   * `token:<signer>` (a projected token as a pod holds it) or `token:<JWT>` (a legacy token Secret),
   * whose header names the key that signed it.
   */
  verifiesToken(loaded: string): boolean {
    const token = loaded.slice('token:'.length);
    if (!this.controlPlane) return false;
    if (token.includes('/private@')) {
      const publicKey = token.replace('/private@', '/public@');
      return this.controlPlane.servers.every((s) => s.trusted.split('\n').includes(publicKey));
    }
    const kid = jwtKeyId(token);
    return kid !== undefined && this.controlPlane.servers.every((s) => s.trusted.split('\n').some((p) => simKeyId(p) === kid));
  }

  /** The key the API servers sign new tokens with: the server that restarted last answers a TokenRequest. */
  private newestSigner(): string {
    const servers = this.controlPlane?.servers ?? [];
    return (
      servers.reduce<(typeof servers)[number] | undefined>((a, s) => (!a || s.restartedAt >= a.restartedAt ? s : a), undefined)?.signer ??
      ''
    );
  }

  /** A TokenRequest: a short-lived JWT for the service account, signed by the primary key. */
  requestToken(namespace: string, serviceAccount: string, expirationSeconds: number): { token: string; expiresAt: number } {
    const iat = Math.floor(this.now() / 1000);
    const exp = iat + expirationSeconds;
    return {
      token: simJwt(this.newestSigner(), {
        iss: 'https://kubernetes.default.svc',
        sub: `system:serviceaccount:${namespace}:${serviceAccount}`,
        iat,
        exp,
      }),
      expiresAt: exp * 1000,
    };
  }

  /**
   * A legacy token Secret (`kubernetes.io/service-account-token`) for the service account, its token
   * signed now by the primary key; the token controller never reissues it while it holds a token.
   */
  addLegacyToken(namespace: string, name: string, serviceAccount = 'default', signer = this.newestSigner()): void {
    const token = simJwt(signer, { iss: 'kubernetes/serviceaccount', sub: `system:serviceaccount:${namespace}:${serviceAccount}` });
    this.applySecret(namespace, name, { token }, { 'kubernetes.io/service-account.name': serviceAccount });
    this.secrets.get(SimCluster.key(namespace, name))!.type = serviceAccountTokenType;
  }

  /**
   * What the token controller does for a legacy token Secret whose `data.token` was removed: signs
   * a new token with the primary key.
   */
  reissueLegacyToken(namespace: string, name: string): void {
    const s = this.secrets.get(SimCluster.key(namespace, name));
    if (s?.type !== serviceAccountTokenType) throw new Error(`${namespace}/${name} is not a service-account token Secret`);
    const sa = s.annotations['kubernetes.io/service-account.name'] ?? 'default';
    this.addLegacyToken(namespace, name, sa);
  }

  /** Legacy token Secrets with the kid of the key that signed each. */
  serviceAccountTokenSecrets(): { namespace: string; name: string; keyId?: string }[] {
    return [...this.secrets.entries()]
      .filter(([, s]) => s.type === serviceAccountTokenType)
      .map(([key, s]) => {
        const [namespace, name] = key.split('/') as [string, string];
        const keyId = jwtKeyId(s.data.token ?? '');
        return { namespace, name, ...(keyId ? { keyId } : {}) };
      });
  }

  /**
   * The key ids the API servers verify tokens with, as the service account issuer's JWKS
   * (`/openid/v1/jwks`) lists them: every key of `--service-account-key-file`. A request lands on
   * one server: this is the one that restarted first (the stalest view a reader may get).
   */
  verificationKeyIds(): string[] {
    const servers = this.controlPlane?.servers ?? [];
    const oldest = servers.reduce<(typeof servers)[number] | undefined>((a, s) => (!a || s.restartedAt < a.restartedAt ? s : a), undefined);
    return (oldest?.trusted ?? '')
      .split('\n')
      .filter(Boolean)
      .map((p) => simKeyId(p));
  }

  /** The kid of the key new tokens are signed with. */
  signingKeyId(): string | undefined {
    const signer = this.newestSigner();
    return signer ? simKeyId(signer.replace('/private@', '/public@')) : undefined;
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

  /** Adds a log line to a pod, as its process would write it. */
  log(pod: SimPod, container: string, line: string): void {
    pod.logs.push({ at: this.now(), container, line });
  }

  /** What every running pod holds now, Terminating ones included (for traffic in the drill). */
  presentedKeys(): { workload: SimWorkload; pod: SimPod }[] {
    this.sync();
    return [...this.workloads.values()].flatMap((workload) =>
      [...workload.pods, ...workload.terminating].map((pod) => ({ workload, pod })),
    );
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
