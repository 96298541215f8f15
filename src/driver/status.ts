/**
 * Per-credential status and the "which credentials are due" selection, from the stack file and
 * the deployed state, with the one age module the policy pack uses too.
 */
import type { StackConfig } from '../config/parse.ts';
import { defaultMaxAgeDays, driftOf, keyAge, worstStatus, type AgeStatus, type Drift, type KeyAge } from '../model/index.ts';
import type { CredentialState } from '../model/state.ts';

export interface SlotStatus {
  readonly slot: string;
  readonly generation: number;
  readonly createdAt?: string;
  readonly age: KeyAge;
}

export interface CredentialStatus {
  readonly name: string;
  readonly scheme: string;
  readonly activeSlot: string;
  readonly slots: readonly SlotStatus[];
  readonly status: AgeStatus;
  /** Earliest date a slot becomes due. */
  readonly dueAt?: Date;
  readonly lastRotatedAt?: string;
  readonly inFlight?: string;
  readonly drift: readonly Drift[];
}

export function credentialStatuses(
  config: StackConfig,
  deployed: Readonly<Record<string, CredentialState>>,
  now: Date,
): CredentialStatus[] {
  return config.credentials.map((cred) => {
    const state = deployed[cred.name];
    const maxAge = cred.maxAgeDays ?? defaultMaxAgeDays;
    const slots = Object.entries(cred.generations).map(([slot, g]): SlotStatus => {
      const createdAt = state?.slots[slot]?.createdAt ?? g.createdAt;
      return {
        slot,
        generation: state?.slots[slot]?.generation ?? g.generation,
        ...(createdAt ? { createdAt } : {}),
        age: keyAge(createdAt, maxAge, now),
      };
    });
    const dues = slots.flatMap((s) => (s.age.dueAt ? [s.age.dueAt.getTime()] : []));
    const inFlight = cred.rotation?.id ?? state?.rotation?.id;
    const lastRotatedAt = state?.lastRotatedAt ?? cred.lastRotatedAt;
    return {
      name: cred.name,
      scheme: cred.scheme,
      activeSlot: state?.activeSlot ?? cred.active,
      slots,
      status: worstStatus(slots.map((s) => s.age.status)),
      ...(dues.length ? { dueAt: new Date(Math.min(...dues)) } : {}),
      ...(lastRotatedAt ? { lastRotatedAt } : {}),
      ...(inFlight ? { inFlight } : {}),
      drift: driftOf(cred, state),
    };
  });
}

/** Credentials whose rotation is due or overdue: the default of `keyslot rotate`. */
export function dueCredentials(statuses: readonly CredentialStatus[]): string[] {
  return statuses.filter((s) => s.status === 'due' || s.status === 'expired').map((s) => s.name);
}
