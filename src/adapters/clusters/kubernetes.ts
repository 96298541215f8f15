/**
 * ClusterFleet over the Kubernetes API (`@kubernetes/client-node`), one client per cluster.
 * Failures are classified once, here. This build covers restarts, rollouts, log checks and the
 * Lease lock; the Gardener operations are not in it yet (issue 4) and fail with a clear error.
 */
import { AppsV1Api, CoordinationV1Api, CoreV1Api, KubeConfig, PatchStrategy, VersionApi, setHeaderOptions, type V1Lease } from '@kubernetes/client-node';
import type { Cluster } from '../../config/schema.ts';
import { ClusterUnreachableError, ConsumerNotReadyError, KeyslotError, LogsUnreadableError, RolloutFailedError } from '../../errors.ts';
import type { Clock } from '../../ports/clock.ts';
import type { ClusterFleet, Lease, LogCheck, RestartResult, WorkloadId } from '../../ports/clusters.ts';
import { restartedAtAnnotation, rotationAnnotation } from './simulated.ts';

interface Clients {
  readonly apps: AppsV1Api;
  readonly core: CoreV1Api;
  readonly coordination: CoordinationV1Api;
  readonly version: VersionApi;
}

function status(error: unknown): number | undefined {
  return typeof (error as { code?: unknown })?.code === 'number' ? (error as { code: number }).code : undefined;
}

const kinds = { deployment: 'Deployment', statefulset: 'StatefulSet', daemonset: 'DaemonSet' } as const;
type Kind = keyof typeof kinds;

interface WorkloadObject {
  metadata?: { generation?: number; annotations?: Record<string, string> };
  spec?: { replicas?: number; selector?: { matchLabels?: Record<string, string> }; template?: { metadata?: { annotations?: Record<string, string> } }; progressDeadlineSeconds?: number };
  status?: Record<string, any>;
}

export class KubernetesClusterFleet implements ClusterFleet {
  private readonly clients = new Map<string, Clients>();

  constructor(
    kubeconfigs: ReadonlyMap<string, KubeConfig>,
    private readonly clock: Clock,
    private readonly pollMs = 2000,
  ) {
    for (const [name, kc] of kubeconfigs) {
      this.clients.set(name, { apps: kc.makeApiClient(AppsV1Api), core: kc.makeApiClient(CoreV1Api), coordination: kc.makeApiClient(CoordinationV1Api), version: kc.makeApiClient(VersionApi) });
    }
  }

  private on(cluster: string): Clients {
    const c = this.clients.get(cluster);
    if (!c) throw new ClusterUnreachableError(`cluster ${cluster} has no usable kubeconfig (a kubeconfigSecret is not supported by this build yet; use context or kubeconfigPath)`);
    return c;
  }

  /** One place where a failed call becomes a typed error. */
  private async call<T>(cluster: string, what: string, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (error) {
      if (error instanceof KeyslotError) throw error;
      const code = status(error);
      if (code === undefined || code >= 500) throw new ClusterUnreachableError(`cluster ${cluster}: ${what} failed (${code ?? (error as Error).message})`, { cause: error });
      throw new ConsumerNotReadyError(`cluster ${cluster}: ${what} failed with HTTP ${code}`, { cause: error });
    }
  }

  private split(id: WorkloadId): { kind: Kind; name: string } {
    const [kind, name] = id.workload.split('/') as [Kind, string];
    return { kind, name };
  }

  private async read(cluster: string, id: WorkloadId): Promise<WorkloadObject | undefined> {
    const { kind, name } = this.split(id);
    const { apps } = this.on(cluster);
    try {
      const args = { name, namespace: id.namespace };
      return (await (kind === 'deployment' ? apps.readNamespacedDeployment(args) : kind === 'statefulset' ? apps.readNamespacedStatefulSet(args) : apps.readNamespacedDaemonSet(args))) as WorkloadObject;
    } catch (error) {
      if (status(error) === 404) return undefined;
      return this.call(cluster, `reading ${id.namespace}/${id.workload}`, () => Promise.reject(error));
    }
  }

  async ping(cluster: string): Promise<void> {
    await this.call(cluster, 'GET /version', () => this.on(cluster).version.getCode());
  }

  async exists(cluster: string, id: WorkloadId): Promise<boolean> {
    return (await this.read(cluster, id)) !== undefined;
  }

  async restartStamp(cluster: string, id: WorkloadId): Promise<string | undefined> {
    return (await this.read(cluster, id))?.spec?.template?.metadata?.annotations?.[rotationAnnotation];
  }

  async restart(cluster: string, id: WorkloadId, rotationId: string): Promise<RestartResult> {
    const current = await this.read(cluster, id);
    if (!current) return { outcome: 'absent' };
    if (current.spec?.template?.metadata?.annotations?.[rotationAnnotation] === rotationId) return { outcome: 'already' };
    // What `kubectl rollout restart` does, plus the rotation id so that resume can tell.
    const body = { spec: { template: { metadata: { annotations: { [restartedAtAnnotation]: this.clock.now().toISOString(), [rotationAnnotation]: rotationId } } } } };
    const { kind, name } = this.split(id);
    const { apps } = this.on(cluster);
    const options = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    const args = { name, namespace: id.namespace, body };
    await this.call(cluster, `restarting ${id.namespace}/${id.workload}`, () =>
      kind === 'deployment' ? apps.patchNamespacedDeployment(args, options) : kind === 'statefulset' ? apps.patchNamespacedStatefulSet(args, options) : apps.patchNamespacedDaemonSet(args, options),
    );
    return { outcome: 'restarted' };
  }

  async waitRollout(cluster: string, id: WorkloadId, timeoutSeconds: number): Promise<void> {
    const deadline = this.clock.now().getTime() + timeoutSeconds * 1000;
    for (;;) {
      const w = await this.read(cluster, id);
      if (!w) throw new RolloutFailedError(`${id.namespace}/${id.workload} disappeared from cluster ${cluster} during its rollout`);
      const s = w.status ?? {};
      const failed = (s.conditions ?? []).find((c: { type: string; reason?: string; status: string }) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded');
      if (failed) throw new RolloutFailedError(`${id.namespace}/${id.workload} on ${cluster}: rollout failed (ProgressDeadlineExceeded)`);
      const desired = w.spec?.replicas ?? s.desiredNumberScheduled ?? 1;
      const updated = s.updatedReplicas ?? s.updatedNumberScheduled ?? 0;
      const ready = s.readyReplicas ?? s.numberReady ?? 0;
      const available = s.availableReplicas ?? s.numberAvailable ?? 0;
      const total = s.replicas ?? s.currentNumberScheduled ?? 0;
      if ((s.observedGeneration ?? 0) >= (w.metadata?.generation ?? 0) && updated === desired && ready === desired && available === desired && total === desired) return;
      if (this.clock.now().getTime() >= deadline) throw new RolloutFailedError(`${id.namespace}/${id.workload} on ${cluster}: rollout not finished after ${timeoutSeconds}s (${ready}/${desired} ready, ${total - updated} old)`);
      await this.clock.sleep(this.pollMs);
    }
  }

  async checkLogs(cluster: string, check: LogCheck): Promise<string[]> {
    const w = await this.read(cluster, check);
    if (!w) throw new LogsUnreadableError(`${check.namespace}/${check.workload} not found on ${cluster}; its logs cannot be read`);
    await this.clock.sleep(check.windowSeconds * 1000);
    const labels = w.spec?.selector?.matchLabels ?? {};
    const labelSelector = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
    const { core } = this.on(cluster);
    const pods = await this.call(cluster, `listing pods of ${check.workload}`, () => core.listNamespacedPod({ namespace: check.namespace, labelSelector }));
    if (pods.items.length === 0) throw new LogsUnreadableError(`${check.namespace}/${check.workload} on ${cluster} has no pods to read logs from`);
    const sinceSeconds = Math.max(1, Math.ceil((this.clock.now().getTime() - check.since.getTime()) / 1000));
    const patterns = check.patterns.map((p) => new RegExp(p, 'i'));
    const matches: string[] = [];
    for (const pod of pods.items) {
      let text: string;
      try {
        text = await core.readNamespacedPodLog({ name: pod.metadata!.name!, namespace: check.namespace, sinceSeconds, ...(check.container ? { container: check.container } : {}) });
      } catch (cause) {
        throw new LogsUnreadableError(`logs of ${check.namespace}/${pod.metadata!.name}${check.container ? ` [${check.container}]` : ''} on ${cluster} cannot be read (HTTP ${status(cause) ?? '?'}); the check cannot pass`, { cause });
      }
      // Only the fact of a match leaves this adapter, never the line: it may quote a credential.
      for (const line of text.split('\n')) if (patterns.some((p) => p.test(line))) matches.push(`${pod.metadata!.name}: auth error`);
    }
    return matches;
  }

  async annotateShoots(): Promise<void> {
    throw new KeyslotError('Gardener annotate is not in this build of the Kubernetes adapter yet (issue 4); drill it with --simulate');
  }

  async waitShootsReconciled(): Promise<void> {
    throw new KeyslotError('Gardener wait-reconciled is not in this build of the Kubernetes adapter yet (issue 4); drill it with --simulate');
  }

  async acquireLease(cluster: string, args: { name: string; holder: string; ttlSeconds: number; now: Date }): Promise<{ acquired: true } | { acquired: false; lease: Lease }> {
    const { coordination } = this.on(cluster);
    const namespace = 'kube-system';
    const spec = { holderIdentity: args.holder, leaseDurationSeconds: args.ttlSeconds, renewTime: args.now.toISOString() as unknown as Date };
    let current: V1Lease | undefined;
    try {
      current = await coordination.readNamespacedLease({ name: args.name, namespace });
    } catch (error) {
      if (status(error) !== 404) return this.call(cluster, 'reading the lock Lease', () => Promise.reject(error));
    }
    if (!current) {
      try {
        await coordination.createNamespacedLease({ namespace, body: { metadata: { name: args.name, namespace }, spec } });
        return { acquired: true as const };
      } catch (error) {
        if (status(error) === 409) return this.acquireLease(cluster, args);
        return this.call(cluster, 'creating the lock Lease', () => Promise.reject(error));
      }
    }
    const holder = current.spec?.holderIdentity ?? '';
    const renewed = current.spec?.renewTime ? new Date(current.spec.renewTime as unknown as string).getTime() : 0;
    const expiresAt = new Date(renewed + (current.spec?.leaseDurationSeconds ?? 0) * 1000);
    if (holder && holder !== args.holder && expiresAt > args.now) return { acquired: false as const, lease: { holder, expiresAt } };
    try {
      // resourceVersion makes this a compare-and-swap: a racing driver gets 409.
      await coordination.replaceNamespacedLease({ name: args.name, namespace, body: { metadata: { name: args.name, namespace, resourceVersion: current.metadata?.resourceVersion }, spec } });
      return { acquired: true as const };
    } catch (error) {
      if (status(error) === 409) {
        const now = await coordination.readNamespacedLease({ name: args.name, namespace });
        return { acquired: false as const, lease: { holder: now.spec?.holderIdentity ?? 'unknown', expiresAt: new Date(new Date(now.spec?.renewTime as unknown as string).getTime() + (now.spec?.leaseDurationSeconds ?? 0) * 1000) } };
      }
      return this.call(cluster, 'renewing the lock Lease', () => Promise.reject(error));
    }
  }

  async releaseLease(cluster: string, args: { name: string; holder: string }): Promise<void> {
    const { coordination } = this.on(cluster);
    try {
      const current = await coordination.readNamespacedLease({ name: args.name, namespace: 'kube-system' });
      if (current.spec?.holderIdentity === args.holder) await coordination.deleteNamespacedLease({ name: args.name, namespace: 'kube-system' });
    } catch (error) {
      if (status(error) !== 404) await this.call(cluster, 'releasing the lock Lease', () => Promise.reject(error));
    }
  }
}

/**
 * The client configuration of each declared cluster: its context of the default kubeconfig
 * (`$KUBECONFIG` or ~/.kube/config), or a kubeconfig file. Clusters whose kubeconfig is a stack
 * secret are not in this build: they are left out, and calls to them fail with a clear error.
 */
export function kubeConfigsFor(clusters: readonly Cluster[]): Map<string, KubeConfig> {
  const configs = new Map<string, KubeConfig>();
  for (const c of clusters) {
    if (c.kubeconfigSecret) continue;
    const kc = new KubeConfig();
    if (c.kubeconfigPath) kc.loadFromFile(c.kubeconfigPath);
    else kc.loadFromDefault();
    if (c.context) kc.setCurrentContext(c.context);
    configs.set(c.name, kc);
  }
  return configs;
}

/** A KubeConfig pointing at one API server URL without auth (emulators on 127.0.0.1). */
export function plainKubeConfig(server: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({ clusters: [{ name: 'c', server, skipTLSVerify: true }], users: [{ name: 'u' }], contexts: [{ name: 'c', cluster: 'c', user: 'u' }], currentContext: 'c' });
  return kc;
}
