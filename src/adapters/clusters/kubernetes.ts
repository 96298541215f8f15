/**
 * ClusterFleet over the Kubernetes API (`@kubernetes/client-node`), one client per cluster. Every
 * call goes through `KubeApi.call` (./kubernetes/api.ts), the one place where 429, 5xx, network
 * errors and (for idempotent writes) 409 are retried with exponential backoff and jitter, and
 * where what is left becomes a typed error naming the cluster, the object and — for 403 — the
 * permission to grant.
 *
 * One module per concern in ./kubernetes/: workloads and rollouts, logs, Gardener, the lock, the
 * CSI driver, tokens, discovery and kubeconfigs. This class is the port; each method is one line.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { DiscoveredConsumer } from '../../model/discovery.ts';
import type { ShootView } from '../../model/gardener.ts';
import type { ObjectMeta } from '../../model/helm.ts';
import type { CsiRotation } from '../../model/csi.ts';
import type { Clock } from '../../ports/clock.ts';
import type { ClusterFleet, Lease, LogCheck, LogCheckResult, RestartResult, RolloutWait, WorkloadId } from '../../ports/clusters.ts';
import { type ApiBudget, defaultApiBudget, defaultRetryPolicy, KubeApi, type RetryPolicy } from './kubernetes/api.ts';
import * as rollouts from './kubernetes/rollouts.ts';
import * as logs from './kubernetes/logs.ts';
import * as gardener from './kubernetes/gardener.ts';
import * as lock from './kubernetes/lock.ts';
import * as csi from './kubernetes/csi.ts';
import * as tokens from './kubernetes/tokens.ts';
import * as discovery from './kubernetes/discovery.ts';
import * as kubeconfig from './kubernetes/kubeconfig.ts';

export { type ApiBudget, defaultApiBudget, defaultRetryPolicy, microTime, type RetryPolicy } from './kubernetes/api.ts';
export { kubeConfigsFor, plainKubeConfig } from './kubernetes/kubeconfig.ts';

export class KubernetesClusterFleet implements ClusterFleet {
  private readonly api: KubeApi;

  constructor(
    kubeconfigs: ReadonlyMap<string, KubeConfig>,
    clock: Clock,
    pollMs = 2000,
    retry: RetryPolicy = defaultRetryPolicy,
    budget: ApiBudget = defaultApiBudget,
  ) {
    this.api = new KubeApi(kubeconfigs, clock, pollMs, retry, budget);
  }

  ping(cluster: string): Promise<void> {
    return rollouts.ping(this.api, cluster);
  }

  exists(cluster: string, id: WorkloadId): Promise<boolean> {
    return rollouts.exists(this.api, cluster, id);
  }

  restartStamp(cluster: string, id: WorkloadId): Promise<string | undefined> {
    return rollouts.restartStamp(this.api, cluster, id);
  }

  restart(cluster: string, id: WorkloadId, rotationId: string): Promise<RestartResult> {
    return rollouts.restart(this.api, cluster, id, rotationId);
  }

  rolloutBlocker(cluster: string, id: WorkloadId): Promise<string | undefined> {
    return rollouts.rolloutBlocker(this.api, cluster, id);
  }

  /** Grants whose refusal this fleet has already reported, by cluster: a refused watch is said once per run. */
  private readonly refusalsSaid = new Set<string>();

  async waitRollout(cluster: string, id: WorkloadId, timeoutSeconds: number): Promise<RolloutWait> {
    const { watchRefused } = await rollouts.waitRollout(this.api, cluster, id, timeoutSeconds);
    if (!watchRefused || this.refusalsSaid.has(`${cluster} ${watchRefused}`)) return {};
    this.refusalsSaid.add(`${cluster} ${watchRefused}`);
    return { watchRefused };
  }

  checkLogs(cluster: string, check: LogCheck): Promise<LogCheckResult> {
    return logs.checkLogs(this.api, cluster, check);
  }

  listShoots(cluster: string, namespace: string): Promise<ShootView[]> {
    return gardener.listShoots(this.api, cluster, namespace);
  }

  annotateShoots(
    cluster: string,
    args: { namespace: string; shoots?: readonly string[]; secretBinding?: string; operation: string; since: Date; timeoutSeconds: number },
  ): Promise<void> {
    return gardener.annotateShoots(this.api, cluster, args);
  }

  waitShootsReconciled(
    cluster: string,
    args: { namespace: string; secretBinding: string; since: Date; timeoutSeconds: number },
  ): Promise<void> {
    return gardener.waitShootsReconciled(this.api, cluster, args);
  }

  acquireLease(
    cluster: string,
    args: { name: string; holder: string; ttlSeconds: number; now: Date },
  ): Promise<{ acquired: true } | { acquired: false; lease: Lease }> {
    return lock.acquireLease(this.api, cluster, args);
  }

  releaseLease(cluster: string, args: { name: string; holder: string }): Promise<void> {
    return lock.releaseLease(this.api, cluster, args);
  }

  providerClassSyncedSecrets(cluster: string, namespace: string, secretProviderClass: string): Promise<string[]> {
    return csi.providerClassSyncedSecrets(this.api, cluster, namespace, secretProviderClass);
  }

  verificationKeyIds(cluster: string): Promise<string[]> {
    return tokens.verificationKeyIds(this.api, cluster);
  }

  secretMetadata(cluster: string, namespace: string, name: string): Promise<ObjectMeta | undefined> {
    return discovery.secretMetadata(this.api, cluster, namespace, name);
  }

  csiRotation(cluster: string): Promise<CsiRotation | undefined> {
    return csi.csiRotation(this.api, cluster);
  }

  secretSyncStatus(cluster: string, namespace: string, secretProviderClass: string) {
    return csi.secretSyncStatus(this.api, cluster, namespace, secretProviderClass);
  }

  serviceAccountTokenSecrets(cluster: string): Promise<{ namespace: string; name: string; keyId?: string }[]> {
    return tokens.serviceAccountTokenSecrets(this.api, cluster);
  }

  reissueServiceAccountTokens(cluster: string): Promise<number> {
    return tokens.reissueServiceAccountTokens(this.api, cluster);
  }

  listWorkloads(cluster: string): Promise<WorkloadId[]> {
    return rollouts.listWorkloads(this.api, cluster);
  }

  signingKeyId(cluster: string): Promise<string | undefined> {
    return tokens.signingKeyId(this.api, cluster);
  }

  listConsumers(cluster: string, namespace: string, secrets: readonly string[]): Promise<DiscoveredConsumer[]> {
    return discovery.listConsumers(this.api, cluster, namespace, secrets);
  }

  listCsiConsumers(cluster: string, namespace: string): Promise<DiscoveredConsumer[]> {
    return csi.listCsiConsumers(this.api, cluster, namespace);
  }

  listSecretBindings(cluster: string, namespace: string): Promise<{ name: string; secret: string }[]> {
    return gardener.listSecretBindings(this.api, cluster, namespace);
  }

  withKubeconfig<T>(cluster: string, fn: (path: string) => Promise<T>): Promise<T> {
    return kubeconfig.withKubeconfig(this.api, cluster, fn);
  }
}
