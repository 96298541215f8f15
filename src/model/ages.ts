/**
 * Key age and due dates: the one copy of the rules that the policy pack, `keyslot status` and the
 * driver's "which credentials are due" selection all use. Pure; callers pass `now`.
 */
const dayMs = 24 * 60 * 60 * 1000;

/** Rotation is due once a key has lived this share of its maximum age. */
export const defaultDueFraction = 0.8;

/** The maximum key age when neither the stack nor the policy pack config says. */
export const defaultMaxAgeDays = 90;

export type AgeStatus = 'fresh' | 'due' | 'expired' | 'unknown';

export interface KeyAge {
  readonly status: AgeStatus;
  /** Whole and fractional days since creation; undefined when nothing recorded a creation time. */
  readonly ageDays?: number;
  readonly maxAgeDays: number;
  /** When rotation becomes due (by default at 80 % of max age). */
  readonly dueAt?: Date;
  /** When the key is over age. */
  readonly expiresAt?: Date;
}

export function keyAge(createdAt: string | undefined, maxAgeDays: number, now: Date, dueFraction = defaultDueFraction): KeyAge {
  const created = createdAt === undefined ? Number.NaN : Date.parse(createdAt);
  if (Number.isNaN(created)) return { status: 'unknown', maxAgeDays };
  const ageDays = (now.getTime() - created) / dayMs;
  const dueAt = new Date(created + maxAgeDays * dueFraction * dayMs);
  const expiresAt = new Date(created + maxAgeDays * dayMs);
  const status: AgeStatus = now >= expiresAt ? 'expired' : now >= dueAt ? 'due' : 'fresh';
  return { status, ageDays, maxAgeDays, dueAt, expiresAt };
}

/** The worst of several statuses: expired > due > unknown > fresh. */
export function worstStatus(statuses: readonly AgeStatus[]): AgeStatus {
  const order: AgeStatus[] = ['expired', 'due', 'unknown', 'fresh'];
  return order.find((s) => statuses.includes(s)) ?? 'fresh';
}

/** Hours from `earlier` to `later`; undefined when either is missing or unreadable. */
export function hoursBetween(earlier: string | undefined, later: string | Date | undefined): number | undefined {
  if (earlier === undefined || later === undefined) return undefined;
  const from = Date.parse(earlier);
  const to = later instanceof Date ? later.getTime() : Date.parse(later);
  return Number.isNaN(from) || Number.isNaN(to) ? undefined : (to - from) / 3_600_000;
}

/**
 * True when a rotation at `at` would come sooner than `minIntervalHours` after the one that
 * finished at `previous` (the kOps rule: wait until every token was reissued).
 */
export function tooSoon(previous: string | undefined, minIntervalHours: number, at: string | Date): boolean {
  const hours = hoursBetween(previous, at);
  return hours !== undefined && hours < minIntervalHours;
}
