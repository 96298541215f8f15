/**
 * The cluster model's objects — workloads, pods, Secrets, Leases, Shoots, the control plane — and
 * the pure rules they share (default rollout strategies, simulated keys and tokens). The
 * controllers that move them are in ./controllers/; the cluster they live in is ./cluster.ts.
 */
import type { RotationStatus } from '../model/gardener.ts';
import { createHash } from 'node:crypto';

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
  /**
   * The pod template's annotations of each revision the controller still keeps, as its ReplicaSets
   * or ControllerRevisions hold them (a Deployment's `revisionHistoryLimit`, 10 by default); made at
   * the first restart (a fleet of tens of thousands of workloads mostly never restarts).
   */
  templateHistory?: Map<number, Readonly<Record<string, string>>>;
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
 * The first moment after `t` one of the workload's pods becomes ready or a Terminating one is gone
 * (Infinity: none will; crashed pods never become ready).
 */
export function nextReadyAfter(w: SimWorkload, t: number): number {
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
