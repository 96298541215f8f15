/**
 * The Kubernetes clusters of a stack, as the driver needs them. Every call names its cluster;
 * adapters keep one client per cluster. Real adapter: `@kubernetes/client-node` (hooks issue);
 * simulated: the shared cluster model.
 */
import type { WorkloadRef } from '../config/schema.ts';
import type { CsiRotation } from '../model/csi.ts';
import type { ShootView } from '../model/gardener.ts';
import type { ObjectMeta } from '../model/helm.ts';
import type { DiscoveredConsumer } from '../model/discovery.ts';

export interface WorkloadId {
  readonly namespace: string;
  readonly workload: WorkloadRef | string;
}

export interface RestartResult {
  /** `restarted` now, `already` stamped with this rotation id, or `absent` (no such workload). */
  readonly outcome: 'restarted' | 'already' | 'absent';
}

/** How a rollout wait went, beyond finishing. */
export interface RolloutWait {
  /**
   * The grant whose refusal made the wait read the workload every poll interval instead of watching
   * it (`watch deployments.apps in namespace kubecost`): it still finished, with more requests and
   * later. Said once per grant by an adapter, not on every wait.
   */
  readonly watchRefused?: string;
}

export interface LogCheck extends WorkloadId {
  readonly container?: string;
  /** Case-insensitive regular expressions that mean the key was rejected. */
  readonly patterns: readonly string[];
  /** Read logs written since this time. */
  readonly since: Date;
  readonly windowSeconds: number;
}

/** What a log check found: lines that matched (redacted to `pod [container]: auth error`), and what it read. */
export interface LogCheckResult {
  readonly matches: readonly string[];
  /** `pod/container` of every log read. */
  readonly read: readonly string[];
}

export interface Lease {
  readonly holder: string;
  readonly expiresAt: Date;
}

export interface ClusterFleet {
  /** Resolves when the cluster's API answers; throws ClusterUnreachableError otherwise. */
  ping(cluster: string): Promise<void>;
  exists(cluster: string, id: WorkloadId): Promise<boolean>;
  /** What `kubectl rollout restart` does, stamping the pod template with the rotation id. Idempotent per id. */
  restart(cluster: string, id: WorkloadId, rotationId: string): Promise<RestartResult>;
  /** The rotation id the workload's pod template was last restarted for, if any. */
  restartStamp(cluster: string, id: WorkloadId): Promise<string | undefined>;
  /**
   * Why a restart of the workload would never roll out (paused, `OnDelete`, a partition), or
   * undefined (also for a workload that does not exist: the restart stage reports that). Asked before
   * anything changes.
   */
  rolloutBlocker(cluster: string, id: WorkloadId): Promise<string | undefined>;
  /**
   * Resolves when the rollout finished: the controller observed the restart, every pod is updated
   * and available, and no pod of an old revision is left, Terminating ones included. Throws
   * RolloutFailedError on timeout or a failed condition.
   */
  waitRollout(cluster: string, id: WorkloadId, timeoutSeconds: number): Promise<RolloutWait>;
  /**
   * Reads the logs of the workload's running pods since `since`: the named container, or each
   * container of each pod. Throws LogsUnreadableError if logs cannot be read.
   */
  checkLogs(cluster: string, check: LogCheck): Promise<LogCheckResult>;
  /** The Shoots of a namespace of a garden cluster, as keyslot decides on them. */
  listShoots(cluster: string, namespace: string): Promise<ShootView[]>;
  /** Annotates Shoots and waits until Gardener reports the operation completed after `since`. */
  annotateShoots(
    cluster: string,
    args: { namespace: string; shoots?: readonly string[]; secretBinding?: string; operation: string; since: Date; timeoutSeconds: number },
  ): Promise<void>;
  /** Waits until every Shoot using the binding reconciled successfully after `since`. */
  waitShootsReconciled(
    cluster: string,
    args: { namespace: string; secretBinding: string; since: Date; timeoutSeconds: number },
  ): Promise<void>;
  /** Takes or renews the lock Lease; returns the current holder when someone else holds it unexpired. */
  acquireLease(
    cluster: string,
    args: { name: string; holder: string; ttlSeconds: number; now: Date },
  ): Promise<{ acquired: true } | { acquired: false; lease: Lease }>;
  releaseLease(cluster: string, args: { name: string; holder: string }): Promise<void>;
  /**
   * Legacy service-account token Secrets (`type: kubernetes.io/service-account-token`) in every
   * namespace, each with the `kid` of the key that signed its token (read from the JWT header;
   * the token itself never leaves the adapter).
   */
  serviceAccountTokenSecrets(cluster: string): Promise<{ namespace: string; name: string; keyId?: string }[]>;
  /**
   * Has the token controller reissue every legacy service-account token Secret (its `data.token`
   * removed, so it signs a new one with the primary key); resolves to how many there were.
   */
  reissueServiceAccountTokens(cluster: string): Promise<number>;
  /** Every Deployment, StatefulSet and DaemonSet on the cluster, in every namespace. */
  listWorkloads(cluster: string): Promise<WorkloadId[]>;
  /**
   * The `kid` the API servers sign new service-account tokens with now: a short-lived TokenRequest
   * for `kube-system/default`, read for its header and dropped.
   */
  signingKeyId(cluster: string): Promise<string | undefined>;
  /**
   * What the Secrets Store CSI driver records per pod of a SecretProviderClass in the namespace
   * (`SecretProviderClassPodStatus`, mounted ones only, of pods that still run): each object's id
   * and the version mounted.
   */
  secretSyncStatus(
    cluster: string,
    namespace: string,
    secretProviderClass: string,
  ): Promise<{ pod: string; objects: { id: string; version: string }[] }[]>;
  /**
   * The Secrets Store CSI driver's rotation settings, from the flags of its DaemonSet in kube-system
   * (the one with a `secrets-store` container); undefined when there is none to read.
   */
  csiRotation(cluster: string): Promise<CsiRotation | undefined>;
  /** The key ids the cluster's API servers verify service-account tokens with (the issuer's `/openid/v1/jwks`). */
  verificationKeyIds(cluster: string): Promise<string[]>;
  /** The Kubernetes Secrets a SecretProviderClass syncs (`spec.secretObjects[].secretName`); empty when none or no such class. */
  providerClassSyncedSecrets(cluster: string, namespace: string, secretProviderClass: string): Promise<string[]>;
  /** A Secret's labels and annotations (never its data); undefined when it does not exist. */
  secretMetadata(cluster: string, namespace: string, name: string): Promise<ObjectMeta | undefined>;
  /** Deployments, StatefulSets and DaemonSets in the namespace whose pods read any of these Secrets. */
  listConsumers(cluster: string, namespace: string, secrets: readonly string[]): Promise<DiscoveredConsumer[]>;
  /** Deployments, StatefulSets and DaemonSets in the namespace whose pods mount a SecretProviderClass (`secretProviderClass` set, no `secrets`). */
  listCsiConsumers(cluster: string, namespace: string): Promise<DiscoveredConsumer[]>;
  /** SecretBindings of a garden namespace: each binding's name and the Secret it refers to. */
  listSecretBindings(cluster: string, namespace: string): Promise<{ name: string; secret: string }[]>;
  /**
   * Runs `fn` with the path of a kubeconfig for this cluster alone (for `exec` stages' `KUBECONFIG`).
   * The file exists only while `fn` runs, readable by this user only.
   */
  withKubeconfig<T>(cluster: string, fn: (path: string) => Promise<T>): Promise<T>;
}
