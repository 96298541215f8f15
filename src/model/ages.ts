/**
 * Key age and due dates: the one copy of the rules that the policy pack, `keyslot status` and the
 * driver's "which credentials are due" selection all use. Pure; callers pass `now`.
 */
const dayMs = 24 * 60 * 60 * 1000;

/** Rotation is due once a key has lived this share of its maximum age. */
export const dueFraction = 0.8;

export type AgeStatus = 'fresh' | 'due' | 'expired' | 'unknown';

export interface KeyAge {
  readonly status: AgeStatus;
  /** Whole and fractional days since creation; undefined when nothing recorded a creation time. */
  readonly ageDays?: number;
  readonly maxAgeDays: number;
  /** When rotation becomes due (80 % of max age). */
  readonly dueAt?: Date;
  /** When the key is over age. */
  readonly expiresAt?: Date;
}

export function keyAge(createdAt: string | undefined, maxAgeDays: number, now: Date): KeyAge {
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

/** True when a new rotation `now` would come sooner than `minIntervalHours` after the last. */
export function tooSoon(lastRotatedAt: string | undefined, minIntervalHours: number, now: Date): boolean {
  if (lastRotatedAt === undefined) return false;
  const last = Date.parse(lastRotatedAt);
  return !Number.isNaN(last) && now.getTime() - last < minIntervalHours * 60 * 60 * 1000;
}
