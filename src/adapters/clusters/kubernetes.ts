/**
 * ClusterFleet over the Kubernetes API (`@kubernetes/client-node`), one client per cluster.
 * Every call goes through `call`, the one place where 429, 5xx, network errors and (for
 * idempotent writes) 409 are retried with exponential backoff and jitter, and where what is left
 * becomes a typed error naming the cluster, the object and — for 403 — the permission to grant.
 */
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  OpenidApi,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  VersionApi,
  setHeaderOptions,
  type V1Lease,
  type V1PodSpec,
} from '@kubernetes/client-node';
import pRetry from 'p-retry';
import { onInterrupt } from '../probes/interrupt.ts';
import type { Cluster } from '../../config/schema.ts';
import {
  ApiUnavailableError,
  ClusterUnreachableError,
  ConfigError,
  ConflictError,
  ForbiddenError,
  KeyslotError,
  LogsUnreadableError,
  ResourceNotFoundError,
  RolloutFailedError,
  ConsumerNotReadyError,
} from '../../errors.ts';
import { secretsReadBy, providerClassMountedBy, type DiscoveredConsumer } from '../../model/discovery.ts';
import { jwtKeyId } from '../../model/kops.ts';
import {
  deletionConfirmationAnnotation,
  operationAnnotation,
  operationCompleted,
  selectShoots,
  type ShootView,
} from '../../model/gardener.ts';
import { oldPodsLeft, rolloutBlocker, rolloutVerdict, type RolloutPod } from '../../model/rollout.ts';
import type { Clock } from '../../ports/clock.ts';
import type { ClusterFleet, Lease, LogCheck, LogCheckResult, RestartResult, WorkloadId } from '../../ports/clusters.ts';
import { restartedAtAnnotation, rotationAnnotation } from './simulated.ts';
import { reconcilePending, shootsToAnnotate, shootsToReconcile, waitForShoots } from './waitForShoots.ts';
import { csiDriverContainer, csiRotationOf, type CsiRotation } from '../../model/csi.ts';
import type { ObjectMeta } from '../../model/helm.ts';

interface Clients {
  readonly config: KubeConfig;
  readonly apps: AppsV1Api;
  readonly core: CoreV1Api;
  readonly openid: OpenidApi;
  readonly coordination: CoordinationV1Api;
  readonly custom: CustomObjectsApi;
  readonly version: VersionApi;
}

function statusOf(error: unknown): number | undefined {
  return typeof (error as { code?: unknown })?.code === 'number' ? (error as { code: number }).code : undefined;
}

/** The API server's own words from a `Status` body (reason and message), for errors it answers with. */
function serverSays(error: unknown): string {
  const body = (error as { body?: unknown })?.body;
  try {
    const status = (typeof body === 'string' ? JSON.parse(body) : body) as { reason?: string; message?: string } | undefined;
    if (status?.message) return `: ${status.reason ? `${status.reason}: ` : ''}${status.message.slice(0, 300)}`;
  } catch {
    // not a Status body
  }
  return '';
}

/** Where a pod's service-account token, CA and namespace are mounted (the path client-node and client-go read). */
const serviceAccountFolder = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * `metav1.MicroTime` as the API server parses it: RFC 3339 with exactly six fractional digits.
 * `Date#toISOString()` has three, which the server refuses with HTTP 400.
 */
export function microTime(at: Date): string {
  return at.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

type Kind = 'deployment' | 'statefulset' | 'daemonset';
const plurals: Record<Kind, string> = { deployment: 'deployments', statefulset: 'statefulsets', daemonset: 'daemonsets' };

interface WorkloadObject {
  metadata?: { name?: string; namespace?: string; generation?: number; annotations?: Record<string, string> };
  spec?: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> };
    template?: { metadata?: { annotations?: Record<string, string> }; spec?: V1PodSpec };
  };
  status?: Record<string, any>;
}

interface ShootObject {
  metadata?: { name?: string; generation?: number; deletionTimestamp?: string; annotations?: Record<string, string> };
  spec?: { secretBindingName?: string; credentialsBindingName?: string; hibernation?: { enabled?: boolean } };
  status?: {
    observedGeneration?: number;
    gardener?: { version?: string };
    lastOperation?: { type: string; state: string; lastUpdateTime?: string };
    credentials?: { rotation?: Record<string, { lastInitiationTime?: string; lastCompletionTime?: string }> };
  };
}

const gardener = { group: 'core.gardener.cloud', version: 'v1beta1', plural: 'shoots' } as const;
const leaseNamespace = 'kube-system';

function shootView(o: ShootObject): ShootView {
  const binding = o.spec?.secretBindingName ?? o.spec?.credentialsBindingName;
  const pending = o.metadata?.annotations?.[operationAnnotation];
  return {
    name: o.metadata?.name ?? '',
    ...(binding ? { binding } : {}),
    beingDeleted: Boolean(o.metadata?.deletionTimestamp) || o.metadata?.annotations?.[deletionConfirmationAnnotation] === 'true',
    ...(o.status?.lastOperation ? { lastOperation: o.status.lastOperation } : {}),
    rotation: o.status?.credentials?.rotation ?? {},
    ...(o.metadata?.generation !== undefined ? { generation: o.metadata.generation } : {}),
    ...(o.status?.observedGeneration !== undefined ? { observedGeneration: o.status.observedGeneration } : {}),
    hibernated: Boolean(o.spec?.hibernation?.enabled),
    ...(o.status?.gardener?.version ? { gardenerVersion: o.status.gardener.version.replace(/^v/, '') } : {}),
    ...(pending ? { pendingOperation: pending } : {}),
  };
}

function consumerOf(
  cluster: string,
  namespace: string,
  kind: 'deployment' | 'statefulset' | 'daemonset',
  w: WorkloadObject,
  secrets: string[],
): DiscoveredConsumer {
  return {
    cluster,
    namespace,
    workload: `${kind}/${w.metadata?.name ?? ''}`,
    secrets,
    replicas: kind === 'daemonset' ? ((w.status?.desiredNumberScheduled as number | undefined) ?? 1) : (w.spec?.replicas ?? 1),
    containers: (w.spec?.template?.spec?.containers ?? []).map((c) => c.name),
  };
}

export interface RetryPolicy {
  /** Attempts after the first. @default 5 */
  readonly retries: number;
  /** First backoff; doubles each attempt, with full jitter. @default 500 */
  readonly minTimeoutMs: number;
  /** @default 15000 */
  readonly maxTimeoutMs: number;
}
export const defaultRetryPolicy: RetryPolicy = { retries: 5, minTimeoutMs: 500, maxTimeoutMs: 15_000 };

interface CallOptions {
  /** The RBAC a 403 means is missing, e.g. `patch deployments.apps in namespace kubecost`. */
  readonly needs: string;
  /** Retry 409: only for writes that are safe to repeat (merge patches, not compare-and-swap). */
  readonly retryConflict?: boolean;
}

/** Client-side rate limit per cluster, as client-go's token bucket: `qps` requests a second, bursts of `burst`. */
export interface ApiBudget {
  readonly qps: number;
  readonly burst: number;
}

/** Generous for one driver, gentle on an API server shared with controllers (kubectl allows 50/300). */
export const defaultApiBudget: ApiBudget = { qps: 20, burst: 40 };

export class KubernetesClusterFleet implements ClusterFleet {
  private readonly clients = new Map<string, Clients>();
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    kubeconfigs: ReadonlyMap<string, KubeConfig>,
    private readonly clock: Clock,
    private readonly pollMs = 2000,
    private readonly retry: RetryPolicy = defaultRetryPolicy,
    private readonly budget: ApiBudget = defaultApiBudget,
  ) {
    for (const [name, config] of kubeconfigs) {
      this.clients.set(name, {
        config,
        apps: config.makeApiClient(AppsV1Api),
        core: config.makeApiClient(CoreV1Api),
        openid: config.makeApiClient(OpenidApi),
        coordination: config.makeApiClient(CoordinationV1Api),
        custom: config.makeApiClient(CustomObjectsApi),
        version: config.makeApiClient(VersionApi),
      });
    }
  }

  private on(cluster: string): Clients {
    const c = this.clients.get(cluster);
    if (!c)
      throw new ClusterUnreachableError(
        `cluster ${cluster} has no kubeconfig; set its context, kubeconfigPath or kubeconfigSecret in keyslot:clusters`,
      );
    return c;
  }

  /** Waits for a token of the cluster's bucket: every request, retries included, spends one. */
  private async throttle(cluster: string): Promise<void> {
    const now = this.clock.now().getTime();
    const bucket = this.buckets.get(cluster) ?? { tokens: this.budget.burst, at: now };
    bucket.tokens = Math.min(this.budget.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.budget.qps);
    bucket.at = now;
    bucket.tokens -= 1;
    this.buckets.set(cluster, bucket);
    // In debt: this request goes out when the bucket has refilled to zero.
    if (bucket.tokens < 0) await this.clock.sleep((-bucket.tokens / this.budget.qps) * 1000);
  }

  /** The one place a call is retried and its failure classified. */
  private async call<T>(cluster: string, what: string, options: CallOptions, body: (c: Clients) => Promise<T>): Promise<T> {
    const clients = this.on(cluster);
    const retriable = (code: number | undefined) =>
      code === undefined || code === 429 || code >= 500 || (code === 409 && options.retryConflict === true);
    try {
      return await pRetry(
        async () => {
          await this.throttle(cluster);
          return body(clients);
        },
        {
          retries: this.retry.retries,
          factor: 2,
          minTimeout: this.retry.minTimeoutMs,
          maxTimeout: this.retry.maxTimeoutMs,
          randomize: true,
          shouldRetry: ({ error }) => !(error instanceof KeyslotError) && retriable(statusOf(error)),
        },
      );
    } catch (error) {
      if (error instanceof KeyslotError) throw error;
      const code = statusOf(error);
      const where = `cluster ${cluster}: ${what}`;
      if (code === undefined)
        throw new ClusterUnreachableError(`${where} failed: the API did not answer (${(error as Error).message})`, { cause: error });
      if (code === 401)
        throw new ForbiddenError(`${where} failed with HTTP 401: the cluster's credentials were not accepted; renew the kubeconfig`, {
          cause: error,
        });
      if (code === 403)
        throw new ForbiddenError(
          `${where} failed with HTTP 403; grant ${options.needs} to keyslot's identity (see the README's RBAC table)`,
          { cause: error },
        );
      if (code === 404) throw new ResourceNotFoundError(`${where} failed: not found`, { cause: error });
      if (code === 409) throw new ConflictError(`${where} failed: conflicting write (HTTP 409)`, { cause: error });
      if (code === 429 || code >= 500)
        throw new ApiUnavailableError(`${where} failed with HTTP ${code} after ${this.retry.retries + 1} attempts`, { cause: error });
      throw new ConsumerNotReadyError(`${where} failed with HTTP ${code}${serverSays(error)}`, { cause: error });
    }
  }

  private split(id: WorkloadId): { kind: Kind; name: string } {
    const [kind, name] = id.workload.split('/') as [Kind, string];
    return { kind, name };
  }

  private async read(cluster: string, id: WorkloadId): Promise<WorkloadObject | undefined> {
    const { kind, name } = this.split(id);
    const args = { name, namespace: id.namespace };
    try {
      return (await this.call(
        cluster,
        `reading ${id.namespace}/${id.workload}`,
        { needs: `get ${plurals[kind]}.apps in namespace ${id.namespace}` },
        ({ apps }) =>
          kind === 'deployment'
            ? apps.readNamespacedDeployment(args)
            : kind === 'statefulset'
              ? apps.readNamespacedStatefulSet(args)
              : apps.readNamespacedDaemonSet(args),
      )) as WorkloadObject;
    } catch (error) {
      if (error instanceof ResourceNotFoundError) return undefined;
      throw error;
    }
  }

  async ping(cluster: string): Promise<void> {
    await this.call(cluster, 'GET /version', { needs: 'get on the /version non-resource URL' }, ({ version }) => version.getCode());
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
    const body = {
      spec: {
        template: {
          metadata: { annotations: { [restartedAtAnnotation]: this.clock.now().toISOString(), [rotationAnnotation]: rotationId } },
        },
      },
    };
    const { kind, name } = this.split(id);
    const options = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    const args = { name, namespace: id.namespace, body };
    await this.call(
      cluster,
      `restarting ${id.namespace}/${id.workload}`,
      { needs: `patch ${plurals[kind]}.apps in namespace ${id.namespace}`, retryConflict: true },
      ({ apps }) =>
        kind === 'deployment'
          ? apps.patchNamespacedDeployment(args, options)
          : kind === 'statefulset'
            ? apps.patchNamespacedStatefulSet(args, options)
            : apps.patchNamespacedDaemonSet(args, options),
    );
    return { outcome: 'restarted' };
  }

  async rolloutBlocker(cluster: string, id: WorkloadId): Promise<string | undefined> {
    const w = await this.read(cluster, id);
    return w ? rolloutBlocker(this.split(id).kind, w) : undefined;
  }

  /** The workload's pods (its selector), with their revision label and whether they are Terminating. */
  private async podsOf(cluster: string, id: WorkloadId, w: WorkloadObject) {
    const labels = w.spec?.selector?.matchLabels ?? {};
    const labelSelector = Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const list = await this.call(
      cluster,
      `listing pods of ${id.namespace}/${id.workload}`,
      { needs: `list pods in namespace ${id.namespace}` },
      ({ core }) => core.listNamespacedPod({ namespace: id.namespace, labelSelector }),
    );
    return list.items;
  }

  async waitRollout(cluster: string, id: WorkloadId, timeoutSeconds: number): Promise<void> {
    const deadline = this.clock.now().getTime() + timeoutSeconds * 1000;
    const { kind } = this.split(id);
    for (;;) {
      const w = await this.read(cluster, id);
      if (!w) throw new RolloutFailedError(`${id.namespace}/${id.workload} disappeared from cluster ${cluster} during its rollout`);
      const verdict = rolloutVerdict(kind, w);
      if (verdict.state === 'failed')
        throw new RolloutFailedError(`${id.namespace}/${id.workload} on ${cluster}: rollout failed: ${verdict.message}`);
      let waiting = verdict.message;
      if (verdict.state === 'done') {
        // Rolled out is not yet old pods gone: status does not count Terminating pods, which still run with the old key.
        const pods: RolloutPod[] = (await this.podsOf(cluster, id, w)).map((p) => ({
          name: p.metadata?.name ?? '',
          revision: p.metadata?.labels?.['pod-template-hash'] ?? p.metadata?.labels?.['controller-revision-hash'],
          terminating: Boolean(p.metadata?.deletionTimestamp),
        }));
        const left = oldPodsLeft(pods);
        if (!left) return;
        waiting = left;
      }
      if (this.clock.now().getTime() >= deadline)
        throw new RolloutFailedError(
          `${id.namespace}/${id.workload} on ${cluster}: rollout not finished after ${timeoutSeconds}s (${waiting})`,
        );
      await this.clock.sleep(this.pollMs);
    }
  }

  async checkLogs(cluster: string, check: LogCheck): Promise<LogCheckResult> {
    const w = await this.read(cluster, check);
    if (!w) throw new LogsUnreadableError(`${check.namespace}/${check.workload} not found on ${cluster}; its logs cannot be read`);
    await this.clock.sleep(check.windowSeconds * 1000);
    // Pods that are going away are not what the check is about, and a container that never
    // started has no log to read (the server answers 400 for it).
    const pods = (await this.podsOf(cluster, check, w)).filter((p) => !p.metadata?.deletionTimestamp);
    if (pods.length === 0)
      throw new LogsUnreadableError(`${check.namespace}/${check.workload} on ${cluster} has no running pods to read logs from`);
    // client-node's log call takes sinceSeconds only; a second more never misses a line.
    const sinceSeconds = Math.max(1, Math.ceil((this.clock.now().getTime() - check.since.getTime()) / 1000));
    const patterns = check.patterns.map((p) => new RegExp(p, 'i'));
    const matches: string[] = [];
    const read: string[] = [];
    for (const pod of pods) {
      const name = pod.metadata!.name!;
      const containers = (pod.spec?.containers ?? []).map((c) => c.name);
      if (check.container && !containers.includes(check.container)) {
        throw new LogsUnreadableError(
          `${check.namespace}/${check.workload} on ${cluster}: pod ${name} has no container ${check.container} (it has ${containers.join(', ')}); fix the stage's container`,
        );
      }
      const statuses = pod.status?.containerStatuses ?? [];
      for (const container of check.container ? [check.container] : containers) {
        const status = statuses.find((c) => c.name === container);
        const neverStarted = status?.state?.waiting && !status.restartCount;
        if (neverStarted) continue;
        let text: string;
        try {
          text = await this.call(
            cluster,
            `reading logs of ${check.namespace}/${name} [${container}]`,
            { needs: `get pods/log in namespace ${check.namespace}` },
            ({ core }) => core.readNamespacedPodLog({ name, namespace: check.namespace, container, sinceSeconds }),
          );
        } catch (cause) {
          throw new LogsUnreadableError(`${(cause as Error).message}; a log check that cannot read logs fails`, { cause });
        }
        read.push(`${name}/${container}`);
        // Only the fact of a match leaves this adapter, never the line: it may quote a credential.
        for (const line of text.split('\n')) if (patterns.some((p) => p.test(line))) matches.push(`${name} [${container}]: auth error`);
      }
    }
    if (read.length === 0)
      throw new LogsUnreadableError(
        `${check.namespace}/${check.workload} on ${cluster}: no container of its pods has started, so no log could be read`,
      );
    return { matches, read };
  }

  // ---- Gardener ------------------------------------------------------------------------------

  private async shoots(cluster: string, namespace: string): Promise<ShootObject[]> {
    const list = await this.call(
      cluster,
      `listing shoots in ${namespace}`,
      { needs: `list shoots.core.gardener.cloud in namespace ${namespace}` },
      ({ custom }) => custom.listNamespacedCustomObject({ ...gardener, namespace }),
    );
    return (list as { items?: ShootObject[] }).items ?? [];
  }

  async listShoots(cluster: string, namespace: string): Promise<ShootView[]> {
    return (await this.shoots(cluster, namespace)).map(shootView);
  }

  async annotateShoots(
    cluster: string,
    args: { namespace: string; shoots?: readonly string[]; secretBinding?: string; operation: string; since: Date; timeoutSeconds: number },
  ): Promise<void> {
    const options = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    for (const shoot of shootsToAnnotate(cluster, (await this.shoots(cluster, args.namespace)).map(shootView), args)) {
      await this.call(
        cluster,
        `annotating shoot ${args.namespace}/${shoot.name}`,
        { needs: `patch shoots.core.gardener.cloud in namespace ${args.namespace}`, retryConflict: true },
        ({ custom }) =>
          custom.patchNamespacedCustomObject(
            {
              ...gardener,
              namespace: args.namespace,
              name: shoot.name,
              body: { metadata: { annotations: { [operationAnnotation]: args.operation } } },
            },
            options,
          ),
      );
    }
    await this.pollShoots(cluster, args.namespace, args.timeoutSeconds, `${args.operation}`, (all) => {
      const now = selectShoots(all, args);
      return now.filter((s) => !operationCompleted(s, args.operation, args.since));
    });
  }

  async waitShootsReconciled(
    cluster: string,
    args: { namespace: string; secretBinding: string; since: Date; timeoutSeconds: number },
  ): Promise<void> {
    const options = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    const generations = new Map<string, number>();
    for (const { shoot, value } of shootsToReconcile(cluster, (await this.shoots(cluster, args.namespace)).map(shootView), args)) {
      // The patch answers the Shoot as stored: the generation the reconcile annotation produced.
      const patched = (await this.call(
        cluster,
        `annotating shoot ${args.namespace}/${shoot.name} for a reconcile`,
        { needs: `patch shoots.core.gardener.cloud in namespace ${args.namespace}`, retryConflict: true },
        ({ custom }) =>
          custom.patchNamespacedCustomObject(
            {
              ...gardener,
              namespace: args.namespace,
              name: shoot.name,
              body: { metadata: { annotations: { [operationAnnotation]: value } } },
            },
            options,
          ),
      )) as ShootObject;
      generations.set(shoot.name, patched.metadata?.generation ?? (shoot.generation ?? 0) + 1);
    }
    await this.pollShoots(
      cluster,
      args.namespace,
      args.timeoutSeconds,
      `reconcile after the ${args.secretBinding} secret changed`,
      reconcilePending(cluster, { ...args, generations }),
    );
  }

  private pollShoots(
    cluster: string,
    namespace: string,
    timeoutSeconds: number,
    what: string,
    pending: (shoots: ShootView[]) => ShootView[],
  ): Promise<void> {
    return waitForShoots({
      clock: this.clock,
      intervalMs: this.pollMs * 5,
      timeoutSeconds,
      cluster,
      what,
      pending,
      read: async () => (await this.shoots(cluster, namespace)).map(shootView),
    });
  }

  // ---- the lock Lease --------------------------------------------------------------------------

  private async readLease(cluster: string, name: string): Promise<V1Lease | undefined> {
    try {
      return await this.call(
        cluster,
        'reading the lock Lease',
        { needs: `get leases.coordination.k8s.io in namespace ${leaseNamespace}` },
        ({ coordination }) => coordination.readNamespacedLease({ name, namespace: leaseNamespace }),
      );
    } catch (error) {
      if (error instanceof ResourceNotFoundError) return undefined;
      throw error;
    }
  }

  async acquireLease(
    cluster: string,
    args: { name: string; holder: string; ttlSeconds: number; now: Date },
  ): Promise<{ acquired: true } | { acquired: false; lease: Lease }> {
    const expiry = (l: V1Lease): Lease => ({
      holder: l.spec?.holderIdentity ?? 'unknown',
      expiresAt: new Date(
        (l.spec?.renewTime ? Date.parse(l.spec.renewTime as unknown as string) : 0) + (l.spec?.leaseDurationSeconds ?? 0) * 1000,
      ),
    });
    const needs = `create, update leases.coordination.k8s.io in namespace ${leaseNamespace}`;
    // Two rounds at most: a 409 means another driver wrote in between; re-read and decide again.
    for (let round = 0; round < 2; round++) {
      const current = await this.readLease(cluster, args.name);
      if (current) {
        const lease = expiry(current);
        if (current.spec?.holderIdentity && lease.holder !== args.holder && lease.expiresAt > args.now) return { acquired: false, lease };
      }
      // As client-go's leader election writes it: MicroTime stamps, and a transition counted when the holder changes.
      const now = microTime(args.now) as unknown as Date;
      const taken = current?.spec?.holderIdentity !== args.holder;
      const spec = {
        holderIdentity: args.holder,
        leaseDurationSeconds: args.ttlSeconds,
        renewTime: now,
        acquireTime: taken || !current?.spec?.acquireTime ? now : (current.spec.acquireTime as unknown as Date),
        leaseTransitions: (current?.spec?.leaseTransitions ?? 0) + (current && taken ? 1 : 0),
      };
      try {
        if (!current) {
          await this.call(cluster, 'creating the lock Lease', { needs }, ({ coordination }) =>
            coordination.createNamespacedLease({
              namespace: leaseNamespace,
              body: { metadata: { name: args.name, namespace: leaseNamespace }, spec },
            }),
          );
        } else {
          // resourceVersion makes this a compare-and-swap: a racing driver gets 409.
          const body = {
            metadata: { name: args.name, namespace: leaseNamespace, resourceVersion: current.metadata?.resourceVersion },
            spec,
          };
          await this.call(cluster, 'renewing the lock Lease', { needs }, ({ coordination }) =>
            coordination.replaceNamespacedLease({ name: args.name, namespace: leaseNamespace, body }),
          );
        }
        return { acquired: true };
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
      }
    }
    const now = await this.readLease(cluster, args.name);
    return { acquired: false, lease: now ? expiry(now) : { holder: 'unknown', expiresAt: args.now } };
  }

  async releaseLease(cluster: string, args: { name: string; holder: string }): Promise<void> {
    const current = await this.readLease(cluster, args.name);
    if (current?.spec?.holderIdentity !== args.holder) return;
    try {
      await this.call(
        cluster,
        'releasing the lock Lease',
        { needs: `delete leases.coordination.k8s.io in namespace ${leaseNamespace}` },
        ({ coordination }) => coordination.deleteNamespacedLease({ name: args.name, namespace: leaseNamespace }),
      );
    } catch (error) {
      if (!(error instanceof ResourceNotFoundError)) throw error;
    }
  }

  // ---- the Secrets Store CSI driver ------------------------------------------------------------------

  async providerClassSyncedSecrets(cluster: string, namespace: string, secretProviderClass: string): Promise<string[]> {
    try {
      const spc = (await this.call(
        cluster,
        `reading SecretProviderClass ${namespace}/${secretProviderClass}`,
        { needs: `get secretproviderclasses.secrets-store.csi.x-k8s.io in namespace ${namespace}` },
        ({ custom }) =>
          custom.getNamespacedCustomObject({
            group: 'secrets-store.csi.x-k8s.io',
            version: 'v1',
            namespace,
            plural: 'secretproviderclasses',
            name: secretProviderClass,
          }),
      )) as { spec?: { secretObjects?: { secretName?: string }[] } };
      return (spc.spec?.secretObjects ?? []).flatMap((o) => (o.secretName ? [o.secretName] : []));
    } catch (error) {
      if (error instanceof ResourceNotFoundError) return [];
      throw error;
    }
  }

  async verificationKeyIds(cluster: string): Promise<string[]> {
    const text = await this.call(
      cluster,
      "reading the service account issuer's keys",
      { needs: 'get on the /openid/v1/jwks non-resource URL (system:service-account-issuer-discovery)' },
      ({ openid }) => openid.getServiceAccountIssuerOpenIDKeyset(),
    );
    const jwks = (typeof text === 'string' ? JSON.parse(text) : text) as { keys?: { kid?: string }[] };
    return (jwks.keys ?? []).flatMap((k) => (k.kid ? [k.kid] : []));
  }

  async secretMetadata(cluster: string, namespace: string, name: string): Promise<ObjectMeta | undefined> {
    try {
      const secret = await this.call(
        cluster,
        `reading Secret ${namespace}/${name}`,
        { needs: `get secrets in namespace ${namespace}` },
        ({ core }) => core.readNamespacedSecret({ name, namespace }),
      );
      // Only the metadata leaves this method; the data is dropped here.
      return {
        ...(secret.metadata?.labels ? { labels: { ...secret.metadata.labels } } : {}),
        ...(secret.metadata?.annotations ? { annotations: { ...secret.metadata.annotations } } : {}),
      };
    } catch (error) {
      if (error instanceof ResourceNotFoundError) return undefined;
      throw error;
    }
  }

  async csiRotation(cluster: string): Promise<CsiRotation | undefined> {
    const list = await this.call(
      cluster,
      'listing DaemonSets in kube-system',
      { needs: 'list daemonsets.apps in namespace kube-system' },
      ({ apps }) => apps.listNamespacedDaemonSet({ namespace: 'kube-system' }),
    );
    for (const ds of list.items ?? []) {
      const container = ds.spec?.template.spec?.containers.find((c) => c.name === csiDriverContainer);
      if (container) return csiRotationOf([...(container.command ?? []), ...(container.args ?? [])]);
    }
    return undefined;
  }

  async secretSyncStatus(cluster: string, namespace: string, secretProviderClass: string) {
    const list = (await this.call(
      cluster,
      `listing SecretProviderClassPodStatuses in ${namespace}`,
      { needs: `list secretproviderclasspodstatuses.secrets-store.csi.x-k8s.io in namespace ${namespace}` },
      ({ custom }) =>
        custom.listNamespacedCustomObject({
          group: 'secrets-store.csi.x-k8s.io',
          version: 'v1',
          plural: 'secretproviderclasspodstatuses',
          namespace,
        }),
    )) as {
      items?: {
        status?: { podName?: string; secretProviderClassName?: string; mounted?: boolean; objects?: { id?: string; version?: string }[] };
      }[];
    };
    // A status outlives its pod until the driver's garbage collection: only pods that run count.
    const pods = await this.call(cluster, `listing pods in ${namespace}`, { needs: `list pods in namespace ${namespace}` }, ({ core }) =>
      core.listNamespacedPod({ namespace, fieldSelector: 'status.phase=Running' }),
    );
    const running = new Set(pods.items.map((p) => p.metadata?.name));
    return (list.items ?? [])
      .map((i) => i.status ?? {})
      .filter((s) => s.secretProviderClassName === secretProviderClass && s.mounted === true && running.has(s.podName))
      .map((s) => ({
        pod: s.podName ?? '',
        objects: (s.objects ?? []).map((o) => ({ id: o.id ?? '', version: o.version ?? '' })),
      }));
  }

  // ---- service-account tokens (kOps keysets) -------------------------------------------------------

  async serviceAccountTokenSecrets(cluster: string): Promise<{ namespace: string; name: string; keyId?: string }[]> {
    const list = await this.call(
      cluster,
      'listing service-account token Secrets',
      { needs: 'list secrets in all namespaces' },
      ({ core }) => core.listSecretForAllNamespaces({ fieldSelector: 'type=kubernetes.io/service-account-token' }),
    );
    return list.items.map((s) => {
      const token = s.data?.token ? Buffer.from(s.data.token, 'base64').toString('utf8') : '';
      const keyId = jwtKeyId(token);
      return { namespace: s.metadata?.namespace ?? '', name: s.metadata?.name ?? '', ...(keyId ? { keyId } : {}) };
    });
  }

  async reissueServiceAccountTokens(cluster: string): Promise<number> {
    const list = await this.call(
      cluster,
      'listing service-account token Secrets',
      { needs: 'list secrets in all namespaces' },
      ({ core }) => core.listSecretForAllNamespaces({ fieldSelector: 'type=kubernetes.io/service-account-token' }),
    );
    const options = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    for (const s of list.items) {
      const namespace = s.metadata?.namespace ?? '';
      const name = s.metadata?.name ?? '';
      // A JSON merge patch that removes the token: the token controller signs a new one.
      await this.call(cluster, `reissuing ${namespace}/${name}`, { needs: `patch secrets in namespace ${namespace}` }, ({ core }) =>
        core.patchNamespacedSecret({ name, namespace, body: { data: { token: null } } }, options),
      );
    }
    return list.items.length;
  }

  async listWorkloads(cluster: string): Promise<WorkloadId[]> {
    return (await this.workloadsIn(cluster)).map(({ kind, w }) => ({
      namespace: w.metadata?.namespace ?? '',
      workload: `${kind}/${w.metadata?.name ?? ''}`,
    }));
  }

  async signingKeyId(cluster: string): Promise<string | undefined> {
    const request = await this.call(
      cluster,
      'requesting a service-account token to read its signing key id',
      { needs: 'create serviceaccounts/token for kube-system/default' },
      ({ core }) =>
        core.createNamespacedServiceAccountToken({
          name: 'default',
          namespace: 'kube-system',
          body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [], expirationSeconds: 600 } },
        }),
    );
    return jwtKeyId(request.status?.token ?? '');
  }

  // ---- discovery and exec ----------------------------------------------------------------------

  async listConsumers(cluster: string, namespace: string, secrets: readonly string[]): Promise<DiscoveredConsumer[]> {
    const wanted = new Set(secrets);
    return (await this.workloadsIn(cluster, namespace)).flatMap(({ kind, w }) => {
      const reads = [...secretsReadBy(w.spec?.template?.spec)].filter((n) => wanted.has(n));
      return reads.length ? [consumerOf(cluster, namespace, kind, w, reads)] : [];
    });
  }

  async listCsiConsumers(cluster: string, namespace: string): Promise<DiscoveredConsumer[]> {
    return (await this.workloadsIn(cluster, namespace)).flatMap(({ kind, w }) => {
      const spc = providerClassMountedBy(w.spec?.template?.spec);
      return spc ? [{ ...consumerOf(cluster, namespace, kind, w, []), secretProviderClass: spc }] : [];
    });
  }

  async listSecretBindings(cluster: string, namespace: string): Promise<{ name: string; secret: string }[]> {
    const list = (await this.call(
      cluster,
      `listing secretbindings in ${namespace}`,
      { needs: `list secretbindings.core.gardener.cloud in namespace ${namespace}` },
      ({ custom }) =>
        custom.listNamespacedCustomObject({ group: 'core.gardener.cloud', version: 'v1beta1', namespace, plural: 'secretbindings' }),
    )) as { items?: { metadata?: { name?: string }; secretRef?: { name?: string } }[] };
    return (list.items ?? []).map((b) => ({ name: b.metadata?.name ?? '', secret: b.secretRef?.name ?? '' }));
  }

  /** Every Deployment, StatefulSet and DaemonSet of a namespace, or of the cluster when none is named. */
  private async workloadsIn(
    cluster: string,
    namespace?: string,
  ): Promise<{ kind: 'deployment' | 'statefulset' | 'daemonset'; w: WorkloadObject }[]> {
    const found: { kind: 'deployment' | 'statefulset' | 'daemonset'; w: WorkloadObject }[] = [];
    for (const kind of ['deployment', 'statefulset', 'daemonset'] as const) {
      const list = await this.call<{ items: unknown[] }>(
        cluster,
        namespace === undefined ? `listing ${plurals[kind]}` : `listing ${plurals[kind]} in ${namespace}`,
        { needs: `list ${plurals[kind]}.apps in ${namespace === undefined ? 'all namespaces' : `namespace ${namespace}`}` },
        ({ apps }) =>
          namespace === undefined
            ? kind === 'deployment'
              ? apps.listDeploymentForAllNamespaces()
              : kind === 'statefulset'
                ? apps.listStatefulSetForAllNamespaces()
                : apps.listDaemonSetForAllNamespaces()
            : kind === 'deployment'
              ? apps.listNamespacedDeployment({ namespace })
              : kind === 'statefulset'
                ? apps.listNamespacedStatefulSet({ namespace })
                : apps.listNamespacedDaemonSet({ namespace }),
      );
      for (const w of list.items as WorkloadObject[]) found.push({ kind, w });
    }
    return found;
  }

  async withKubeconfig<T>(cluster: string, fn: (path: string) => Promise<T>): Promise<T> {
    const { config } = this.on(cluster);
    const dir = await mkdtemp(join(tmpdir(), 'keyslot-kubeconfig-'));
    const path = join(dir, 'config');
    // The file holds a cluster credential: it goes when fn ends, and when keyslot is interrupted.
    const forget = onInterrupt(() => rmSync(dir, { recursive: true, force: true }));
    try {
      await writeFile(path, onlyCurrentContext(config).exportConfig(), { mode: 0o600 });
      return await fn(path);
    } finally {
      forget();
      await rm(dir, { recursive: true, force: true });
    }
  }
}

/** The current context of a kubeconfig with its cluster and user, and nothing else. */
function onlyCurrentContext(config: KubeConfig): KubeConfig {
  const context = config.getContextObject(config.getCurrentContext());
  const cluster = config.getCurrentCluster();
  const user = config.getCurrentUser();
  if (!context || !cluster || !user) return config;
  const single = new KubeConfig();
  single.loadFromOptions({ clusters: [cluster], users: [user], contexts: [context], currentContext: context.name });
  return single;
}

/**
 * The client configuration of each declared cluster: a context of the default kubeconfig
 * (`$KUBECONFIG` or ~/.kube/config, else the pod's service account when keyslot runs in a
 * cluster), a kubeconfig file, or a kubeconfig held as a stack secret (`kubeconfigSecret`,
 * decrypted by the engine into memory only and passed here). `inClusterRoot` prefixes the
 * service-account folder, as client-node's `loadFromCluster` does (tests point it at a temp folder).
 */
export function kubeConfigsFor(
  clusters: readonly Cluster[],
  secretKubeconfigs: ReadonlyMap<string, string> = new Map(),
  inClusterRoot = '',
): Map<string, KubeConfig> {
  const configs = new Map<string, KubeConfig>();
  for (const [i, c] of clusters.entries()) {
    const path = `keyslot:clusters[${i}]`;
    const refuse = (found: string, fix: string): never => {
      throw new ConfigError(`cluster ${c.name}`, path, found, fix);
    };
    const kc = new KubeConfig();
    if (c.kubeconfigSecret) {
      const text = secretKubeconfigs.get(c.kubeconfigSecret);
      if (text === undefined) continue;
      kc.loadFromString(text);
    } else if (c.kubeconfigPath) {
      if (!existsSync(c.kubeconfigPath))
        refuse(
          `kubeconfigPath ${c.kubeconfigPath}, which does not exist`,
          'point kubeconfigPath at a kubeconfig file (relative paths are from the project folder)',
        );
      kc.loadFromFile(c.kubeconfigPath);
    } else {
      // With no kubeconfig at all, client-node falls back to http://localhost and fails later with an
      // unrelated TLS message: say what is missing instead.
      const fromEnv = process.env.KUBECONFIG?.split(delimiter).filter(Boolean) ?? [];
      const home = join(homedir(), '.kube', 'config');
      const token = `${inClusterRoot}${serviceAccountFolder}/token`;
      if (fromEnv.some((f) => existsSync(f)) || existsSync(home)) kc.loadFromDefault();
      // In a pod (a CronJob running keyslot) the service account is the credential, as client-node's own default falls back to.
      else if (existsSync(token)) kc.loadFromCluster(inClusterRoot);
      else {
        refuse(
          `no kubeconfig (${fromEnv.length ? `$KUBECONFIG ${fromEnv.join(delimiter)} does not exist` : '$KUBECONFIG is not set'} and ${home} does not exist) and no service account token at ${token}`,
          'set its context with a kubeconfig in place, set kubeconfigPath or kubeconfigSecret, or run keyslot in a pod with a service account',
        );
      }
    }
    if (c.context) {
      if (!kc.getContexts().some((x) => x.name === c.context))
        refuse(
          `context ${c.context}, which the kubeconfig does not have (it has ${
            kc
              .getContexts()
              .map((x) => x.name)
              .join(', ') || 'none'
          })`,
          'use one of its contexts',
        );
      kc.setCurrentContext(c.context);
    } else if (!kc.getCurrentCluster()) refuse('a kubeconfig with no current context', 'set context to one of its contexts');
    configs.set(c.name, kc);
  }
  return configs;
}

/** A KubeConfig pointing at one API server URL without auth (emulators on 127.0.0.1). */
export function plainKubeConfig(server: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
    currentContext: 'c',
  });
  return kc;
}
