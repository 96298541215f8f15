/**
 * One lock per stack for a whole rotation, not just one `up`: a coordination.k8s.io Lease on the
 * primary cluster when the stack has clusters, else a stack tag. Stack tags have no
 * compare-and-swap, so the tag lock is best-effort: two drivers starting within the same second
 * can both believe they hold it. An expired lock is taken over.
 */
import type { StackConfig } from '../config/parse.ts';
import { LockedError } from '../errors.ts';
import type { Clock, ClusterFleet, StackEngine } from '../ports/index.ts';

export interface StackLock {
  /** Takes or renews the lock. @throws LockedError naming the holder. */
  acquire(): Promise<void>;
  release(): Promise<void>;
  readonly where: string;
}

export const lockName = 'keyslot-rotation';
const tagName = 'keyslot:lock';

export function stackLock(
  config: StackConfig,
  ports: { engine: StackEngine; clusters: ClusterFleet; clock: Clock },
  holder: string,
  ttlSeconds: number,
  waitSeconds = 0,
): StackLock {
  const primary = config.clusters.find((c) => c.primary) ?? config.clusters[0];
  if (primary) {
    const name = `${lockName}-${config.stack}`.slice(0, 63);
    const where = `Lease kube-system/${name} on cluster ${primary.name}`;
    const take = async () => {
      // Held by another: asked again every 10 s (client-go retries every RetryPeriod) until it is
      // free as this driver judges it, or the wait is over.
      const giveUpAt = ports.clock.now().getTime() + waitSeconds * 1000;
      for (;;) {
        const result = await ports.clusters.acquireLease(primary.name, { name, holder, ttlSeconds, now: ports.clock.now() });
        if (result.acquired) return;
        const left = giveUpAt - ports.clock.now().getTime();
        if (left <= 0) throw new LockedError(result.lease.holder, result.lease.expiresAt, where);
        await ports.clock.sleep(Math.min(10_000, left, Math.max(1, result.lease.expiresAt.getTime() - ports.clock.now().getTime())));
      }
    };
    // One renewal at a time: the clusters of a wave all renew as they start, and concurrent
    // compare-and-swaps of one holder would only fight each other. Callers meanwhile share it.
    let inFlight: Promise<void> | undefined;
    return {
      where,
      acquire() {
        inFlight ??= take().finally(() => {
          inFlight = undefined;
        });
        return inFlight;
      },
      release: () => ports.clusters.releaseLease(primary.name, { name, holder }),
    };
  }
  const where = `stack tag ${tagName} (best-effort: tags have no compare-and-swap)`;
  return {
    where,
    async acquire() {
      const current = await ports.engine.getTag(tagName);
      if (current) {
        const [owner, until] = current.split('|');
        const expiresAt = new Date(until ?? 0);
        if (owner && owner !== holder && expiresAt > ports.clock.now()) throw new LockedError(owner, expiresAt, where);
      }
      const expiresAt = new Date(ports.clock.now().getTime() + ttlSeconds * 1000);
      await ports.engine.setTag(tagName, `${holder}|${expiresAt.toISOString()}`);
    },
    async release() {
      const current = await ports.engine.getTag(tagName);
      if (current?.split('|')[0] === holder) await ports.engine.removeTag(tagName);
    },
  };
}
