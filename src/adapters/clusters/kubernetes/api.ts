/**
 * The Kubernetes API as keyslot calls it, like client-go's REST client: one client set per cluster, a
 * token bucket per cluster, and `call`, the one place where 429, 5xx, network errors and (for
 * idempotent writes) 409 are retried with exponential backoff and jitter, and where what is left
 * becomes a typed error naming the cluster, the object and, for 403, the permission to grant.
 */
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  OpenidApi,
  CustomObjectsApi,
  type KubeConfig,
  VersionApi,
  type V1PodSpec,
} from '@kubernetes/client-node';
import pRetry from 'p-retry';
import type { LabelSelector } from '../../../model/labelSelector.ts';
import { LeaseObserver } from '../../../model/lease.ts';
import {
  ApiUnavailableError,
  ClusterUnreachableError,
  ConflictError,
  ResourceExpiredError,
  ForbiddenError,
  KeyslotError,
  ResourceNotFoundError,
  ConsumerNotReadyError,
} from '../../../errors.ts';
import type { DiscoveredConsumer } from '../../../model/discovery.ts';
import { deletionConfirmationAnnotation, operationAnnotation, type ShootView } from '../../../model/gardener.ts';
import type { Clock } from '../../../ports/clock.ts';
import type { WorkloadId } from '../../../ports/clusters.ts';

export interface Clients {
  readonly config: KubeConfig;
  readonly apps: AppsV1Api;
  readonly core: CoreV1Api;
  readonly openid: OpenidApi;
  readonly coordination: CoordinationV1Api;
  readonly custom: CustomObjectsApi;
  readonly version: VersionApi;
}

export function statusOf(error: unknown): number | undefined {
  return typeof (error as { code?: unknown })?.code === 'number' ? (error as { code: number }).code : undefined;
}

/**
 * The seconds an answer's `Retry-After` asks for, as client-go reads it (rest/request.go
 * retryAfterSeconds: an integer only; a date or nothing is no wait). Capped at two minutes.
 */
export function retryAfterSeconds(error: unknown): number | undefined {
  const headers = (error as { headers?: Record<string, string> })?.headers ?? {};
  const value = Object.entries(headers).find(([k]) => k.toLowerCase() === 'retry-after')?.[1];
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  return Math.min(120, Number(value.trim()));
}

/** The API server's own words from a `Status` body (reason and message), for errors it answers with. */
export function serverSays(error: unknown): string {
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
export const serviceAccountFolder = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * `metav1.MicroTime` as the API server parses it: RFC 3339 with exactly six fractional digits.
 * `Date#toISOString()` has three, which the server refuses with HTTP 400.
 */
export function microTime(at: Date): string {
  return at.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export type Kind = 'deployment' | 'statefulset' | 'daemonset';
export const plurals: Record<Kind, string> = { deployment: 'deployments', statefulset: 'statefulsets', daemonset: 'daemonsets' };

export interface WorkloadObject {
  metadata?: { name?: string; namespace?: string; generation?: number; resourceVersion?: string; annotations?: Record<string, string> };
  spec?: {
    replicas?: number;
    selector?: LabelSelector;
    template?: { metadata?: { annotations?: Record<string, string> }; spec?: V1PodSpec };
  };
  status?: Record<string, any>;
}

export interface ShootObject {
  metadata?: { name?: string; generation?: number; deletionTimestamp?: string; annotations?: Record<string, string> };
  spec?: { secretBindingName?: string; credentialsBindingName?: string; hibernation?: { enabled?: boolean } };
  status?: {
    observedGeneration?: number;
    gardener?: { version?: string };
    lastOperation?: { type: string; state: string; lastUpdateTime?: string };
    credentials?: { rotation?: Record<string, { lastInitiationTime?: string; lastCompletionTime?: string }> };
  };
}

export const gardener = { group: 'core.gardener.cloud', version: 'v1beta1', plural: 'shoots' } as const;
export const leaseNamespace = 'kube-system';

export function shootView(o: ShootObject): ShootView {
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

export function consumerOf(
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

export interface CallOptions {
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

export class KubeApi {
  /** What this process saw of each lock Lease, and when by its own clock (src/model/lease.ts). */
  readonly leases = new LeaseObserver();
  readonly clients = new Map<string, Clients>();
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    kubeconfigs: ReadonlyMap<string, KubeConfig>,
    readonly clock: Clock,
    readonly pollMs = 2000,
    readonly retry: RetryPolicy = defaultRetryPolicy,
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

  on(cluster: string): Clients {
    const c = this.clients.get(cluster);
    if (!c)
      throw new ClusterUnreachableError(
        `cluster ${cluster} has no kubeconfig; set its context, kubeconfigPath or kubeconfigSecret in keyslot:clusters`,
      );
    return c;
  }

  /** Waits for a token of the cluster's bucket: every request, retries included, spends one. */
  async throttle(cluster: string): Promise<void> {
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
  async call<T>(cluster: string, what: string, options: CallOptions, body: (c: Clients) => Promise<T>): Promise<T> {
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
          // A server that says when to come back is waited for before the next attempt, never after
          // the last (client-go rest/with_retry.go: IsNextRetry, then checkWait on 429 or any 5xx
          // with an integer Retry-After), on top of the backoff.
          onFailedAttempt: async ({ error, retriesLeft }) => {
            const code = statusOf(error);
            const after = retryAfterSeconds(error);
            if (retriesLeft > 0 && after !== undefined && code !== undefined && (code === 429 || code >= 500))
              await this.clock.sleep(after * 1000);
          },
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
      if (code === 410) throw new ResourceExpiredError(`${where} failed: the resourceVersion expired (HTTP 410)`, { cause: error });
      if (code === 429 || code >= 500)
        throw new ApiUnavailableError(`${where} failed with HTTP ${code} after ${this.retry.retries + 1} attempts`, { cause: error });
      throw new ConsumerNotReadyError(`${where} failed with HTTP ${code}${serverSays(error)}`, { cause: error });
    }
  }

  /**
   * Every item of a list, `pageSize` at a time (`limit`/`continue`), as client-go's pager reads
   * large lists (client-go v0.33.13 tools/pager: 500 a page; a continue token that expired, 410,
   * falls back to one full list). Each page is a call of its own: retried, throttled, classified.
   */
  async listAll<T>(
    cluster: string,
    what: string,
    options: CallOptions,
    page: (c: Clients, args: { limit?: number; _continue?: string }) => Promise<{ items: T[]; metadata?: { _continue?: string } }>,
    pageSize = 500,
  ): Promise<T[]> {
    const items: T[] = [];
    let cont: string | undefined;
    for (let n = 1; ; n++) {
      let got: { items: T[]; metadata?: { _continue?: string } };
      try {
        got = await this.call(cluster, n > 1 ? `${what} (page ${n})` : what, options, (c) =>
          page(c, { limit: pageSize, ...(cont ? { _continue: cont } : {}) }),
        );
      } catch (error) {
        if (!(error instanceof ResourceExpiredError) || !cont) throw error;
        return (await this.call(cluster, `${what} (whole, after an expired page)`, options, (c) => page(c, {}))).items;
      }
      items.push(...got.items);
      cont = got.metadata?._continue || undefined;
      if (!cont) return items;
    }
  }

  split(id: WorkloadId): { kind: Kind; name: string } {
    const [kind, name] = id.workload.split('/') as [Kind, string];
    return { kind, name };
  }

  async read(cluster: string, id: WorkloadId): Promise<WorkloadObject | undefined> {
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
}
