/**
 * The stack's lock: a coordination.k8s.io Lease on the primary cluster.
 */
import type { V1Lease } from '@kubernetes/client-node';
import { ConflictError, ResourceNotFoundError } from '../../../errors.ts';
import { takenBy, type LeaseRecord } from '../../../model/lease.ts';
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

/** The record client-go would compare, from a Lease as read. */
function recordOf(l: V1Lease): LeaseRecord {
  return {
    holder: l.spec?.holderIdentity ?? '',
    durationSeconds: l.spec?.leaseDurationSeconds ?? 0,
    ...(l.spec?.renewTime ? { renewTime: String(l.spec.renewTime) } : {}),
    ...(l.spec?.acquireTime ? { acquireTime: String(l.spec.acquireTime) } : {}),
    transitions: l.spec?.leaseTransitions ?? 0,
  };
}

/**
 * Takes or renews the lock as client-go's leader election does (client-go v0.33.13,
 * tools/leaderelection/leaderelection.go tryAcquireOrRenew; resourcelock/leaselock.go): a missing
 * Lease is created; one held by another binds until this process has seen it unchanged for its
 * duration (src/model/lease.ts), never by the other machine's renewTime; every write is a
 * compare-and-swap on the resourceVersion read, so a driver that raced us gets 409, re-reads and
 * decides again.
 */
export async function acquireLease(
  api: KubeApi,
  cluster: string,
  args: { name: string; holder: string; ttlSeconds: number; now: Date },
): Promise<{ acquired: true } | { acquired: false; lease: Lease }> {
  const key = `${cluster}/${leaseNamespace}/${args.name}`;
  const needs = `create, update leases.coordination.k8s.io in namespace ${leaseNamespace}`;
  const nowMs = args.now.getTime();
  const refused = (l: V1Lease, freeAt: Date) => ({
    acquired: false as const,
    lease: { holder: l.spec?.holderIdentity ?? 'unknown', expiresAt: freeAt },
  });
  for (let round = 0; round < 3; round++) {
    const current = await readLease(api, cluster, args.name);
    if (current) {
      const verdict = api.leases.verdict(key, recordOf(current), args.holder, nowMs);
      if (verdict.held) return refused(current, verdict.freeAt);
    }
    // As client-go's leader election writes it: MicroTime stamps, and a transition counted when the holder changes.
    const record = takenBy(
      current && {
        ...(current.spec?.holderIdentity !== undefined ? { holder: current.spec.holderIdentity } : {}),
        ...(current.spec?.acquireTime ? { acquireTime: current.spec.acquireTime } : {}),
        transitions: current.spec?.leaseTransitions ?? 0,
      },
      args.holder,
      args.ttlSeconds,
      microTime(args.now) as unknown as Date,
    );
    const spec = {
      holderIdentity: record.holder,
      leaseDurationSeconds: record.durationSeconds,
      renewTime: record.renewTime,
      acquireTime: record.acquireTime,
      leaseTransitions: record.transitions,
    };
    try {
      const written = current
        ? await api.call(cluster, 'renewing the lock Lease', { needs }, ({ coordination }) =>
            coordination.replaceNamespacedLease({
              name: args.name,
              namespace: leaseNamespace,
              // The resourceVersion read makes this a compare-and-swap: a racing driver gets 409.
              body: { metadata: { name: args.name, namespace: leaseNamespace, resourceVersion: current.metadata?.resourceVersion }, spec },
            }),
          )
        : await api.call(cluster, 'creating the lock Lease', { needs }, ({ coordination }) =>
            coordination.createNamespacedLease({
              namespace: leaseNamespace,
              body: { metadata: { name: args.name, namespace: leaseNamespace }, spec },
            }),
          );
      // What this process wrote is what it has observed (client-go's setObservedRecord after a write).
      api.leases.observe(key, recordOf(written), nowMs);
      return { acquired: true };
    } catch (error) {
      // 409: another driver wrote in between (an update), or created it first (a create).
      if (!(error instanceof ConflictError)) throw error;
    }
  }
  const now = await readLease(api, cluster, args.name);
  if (!now) return { acquired: false, lease: { holder: 'unknown', expiresAt: args.now } };
  // Renewals of this driver that raced each other: one of them won, and the lock is ours.
  if (now.spec?.holderIdentity === args.holder) {
    api.leases.observe(key, recordOf(now), nowMs);
    return { acquired: true };
  }
  const verdict = api.leases.verdict(key, recordOf(now), args.holder, nowMs);
  return refused(now, verdict.held ? verdict.freeAt : args.now);
}

/**
 * Gives the lock up as client-go's `release()` does: an update that empties the holder (duration 1 s,
 * transitions kept), never a delete, and only on the resourceVersion this process read with itself
 * as the holder: a lock another driver took in between is left alone (its write moved the
 * resourceVersion, so ours gets 409).
 */
export async function releaseLease(api: KubeApi, cluster: string, args: { name: string; holder: string }): Promise<void> {
  const current = await readLease(api, cluster, args.name);
  if (current?.spec?.holderIdentity !== args.holder) return;
  const now = microTime(api.clock.now()) as unknown as Date;
  try {
    await api.call(
      cluster,
      'releasing the lock Lease',
      { needs: `update leases.coordination.k8s.io in namespace ${leaseNamespace}` },
      ({ coordination }) =>
        coordination.replaceNamespacedLease({
          name: args.name,
          namespace: leaseNamespace,
          body: {
            metadata: { name: args.name, namespace: leaseNamespace, resourceVersion: current.metadata?.resourceVersion },
            spec: {
              holderIdentity: '',
              leaseDurationSeconds: 1,
              renewTime: now,
              acquireTime: now,
              leaseTransitions: current.spec?.leaseTransitions ?? 0,
            },
          },
        }),
    );
  } catch (error) {
    if (!(error instanceof ConflictError) && !(error instanceof ResourceNotFoundError)) throw error;
  }
}
