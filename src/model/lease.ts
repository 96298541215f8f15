/**
 * When another driver's lock Lease stops binding this one: client-go's leader-election rule, not a
 * comparison of clocks. A Lease's `renewTime` is another machine's clock; adding the duration to it
 * gives two holders as soon as the clocks differ by more than what is left. client-go instead
 * measures from when *it* saw the record change (kubernetes/client-go v0.33.13,
 * tools/leaderelection/leaderelection.go: `setObservedRecord` stamps `observedTime = clock.Now()`
 * whenever the record read differs from the last one; `isLeaseValid` is
 * `observedTime + record.LeaseDurationSeconds > now`; an empty holder is free at once). Pure: the
 * adapters keep one observer per driver process and give it their own clock's time.
 */

/** The parts of a Lease's spec that make its record (client-go compares them as one serialised record). */
export interface LeaseRecord {
  readonly holder: string;
  readonly durationSeconds: number;
  readonly renewTime?: string | number;
  readonly acquireTime?: string | number;
  readonly transitions?: number;
}

export type LeaseVerdict = { readonly held: false } | { readonly held: true; readonly freeAt: Date };

export class LeaseObserver {
  private readonly seen = new Map<string, { readonly raw: string; readonly at: number }>();

  /**
   * Notes the record as read (or as written by this process) at `nowMs` on this process's clock;
   * returns when this process first saw it as it is now.
   */
  observe(key: string, record: LeaseRecord, nowMs: number): number {
    const raw = JSON.stringify([record.holder, record.durationSeconds, record.renewTime, record.acquireTime, record.transitions ?? 0]);
    const last = this.seen.get(key);
    if (last?.raw === raw) return last.at;
    this.seen.set(key, { raw, at: nowMs });
    return nowMs;
  }

  /**
   * Whether the Lease binds `holder` at `nowMs`: held by someone else, and not yet unchanged for its
   * whole duration since this process first saw it so. With it, when it will be free if nothing
   * changes (as this process judges it).
   */
  verdict(key: string, record: LeaseRecord, holder: string, nowMs: number): LeaseVerdict {
    const since = this.observe(key, record, nowMs);
    if (!record.holder || record.holder === holder) return { held: false };
    const freeAt = since + record.durationSeconds * 1000;
    return freeAt > nowMs ? { held: true, freeAt: new Date(freeAt) } : { held: false };
  }
}

/**
 * The record a holder writes when it takes or renews the lock, as client-go's tryAcquireOrRenew
 * does: while it stays the holder, its acquireTime and the transition count are kept; when the
 * holder changes, acquireTime is now and one transition is counted. `T` is the adapter's time form.
 */
export function takenBy<T>(
  current: { readonly holder?: string; readonly acquireTime?: T; readonly transitions?: number } | undefined,
  holder: string,
  durationSeconds: number,
  now: T,
): { holder: string; durationSeconds: number; renewTime: T; acquireTime: T; transitions: number } {
  const taken = current?.holder !== holder;
  return {
    holder,
    durationSeconds,
    renewTime: now,
    acquireTime: taken || current?.acquireTime === undefined ? now : current.acquireTime,
    transitions: (current?.transitions ?? 0) + (current && taken ? 1 : 0),
  };
}
