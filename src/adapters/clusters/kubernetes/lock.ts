/**
 * The stack's lock: a coordination.k8s.io Lease on the primary cluster.
 */
import type { V1Lease } from '@kubernetes/client-node';
import { ConflictError, ResourceNotFoundError } from '../../../errors.ts';
import type { Lease } from '../../../ports/clusters.ts';
import { type KubeApi, leaseNamespace, microTime } from './api.ts';

export async function readLease(api: KubeApi, cluster: string, name: string): Promise<V1Lease | undefined> {
  try {
    return await api.call(
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

export async function acquireLease(
  api: KubeApi,
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
    const current = await readLease(api, cluster, args.name);
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
        await api.call(cluster, 'creating the lock Lease', { needs }, ({ coordination }) =>
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
        await api.call(cluster, 'renewing the lock Lease', { needs }, ({ coordination }) =>
          coordination.replaceNamespacedLease({ name: args.name, namespace: leaseNamespace, body }),
        );
      }
      return { acquired: true };
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
    }
  }
  const now = await readLease(api, cluster, args.name);
  return { acquired: false, lease: now ? expiry(now) : { holder: 'unknown', expiresAt: args.now } };
}

export async function releaseLease(api: KubeApi, cluster: string, args: { name: string; holder: string }): Promise<void> {
  const current = await readLease(api, cluster, args.name);
  if (current?.spec?.holderIdentity !== args.holder) return;
  try {
    await api.call(
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
