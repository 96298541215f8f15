/**
 * Slot schemes and the two moves a rotation makes on them. Pure: plain data in, plain data out.
 *
 * Generation numbers are credential-wide and only grow, so two slots never hold the same
 * generation and "regenerate" is always "take max + 1". Resources are named by slot (dual) or by
 * generation (triple), so a generation bump is exactly one key replaced.
 */
import type { Scheme } from '../config/schema.ts';

export const schemeSlots = {
  dual: ['primary', 'secondary'],
  triple: ['previous', 'primary', 'next'],
  managed: ['current'],
} as const satisfies Record<Scheme, readonly string[]>;

export type SlotName = (typeof schemeSlots)[Scheme][number];

export interface SlotGeneration {
  readonly generation: number;
  /** RFC 3339; absent until something recorded when the key was made. */
  readonly createdAt?: string;
  /** kOps keysets: the keypair id in the slot. */
  readonly keyId?: string;
}

export type Generations = Readonly<Record<string, SlotGeneration>>;

/** The slot consumers are given when the stack does not say: always the first "in use" one. */
export function defaultActiveSlot(scheme: Scheme): SlotName {
  return scheme === 'managed' ? 'current' : 'primary';
}

/** Generation numbers a credential starts with: 1, 2, 3 in slot order. */
export function defaultGenerations(scheme: Scheme): Record<string, SlotGeneration> {
  return Object.fromEntries(schemeSlots[scheme].map((slot, i) => [slot, { generation: i + 1 }]));
}

export function isSlotOf(scheme: Scheme, slot: string): slot is SlotName {
  return (schemeSlots[scheme] as readonly string[]).includes(slot);
}

/** The slot a dual flip moves consumers to. */
export function standbySlot(active: 'primary' | 'secondary'): 'primary' | 'secondary' {
  return active === 'primary' ? 'secondary' : 'primary';
}

export function nextGeneration(generations: Generations): number {
  return Math.max(0, ...Object.values(generations).map((g) => g.generation)) + 1;
}

/** A dual slot's key is made anew: it gets a fresh generation and no creation time yet. */
export function regenerate(generations: Generations, slot: string): Record<string, SlotGeneration> {
  return { ...generations, [slot]: { generation: nextGeneration(generations) } };
}

/**
 * kOps-style advance of a triple keyset: primary becomes previous, next becomes primary, and a
 * new next is created. Signers move to the old next, which verifiers already trust.
 */
export function advance(generations: Generations): Record<string, SlotGeneration> {
  const { primary, next } = generations;
  if (!primary || !next) throw new RangeError('advance needs a triple keyset with primary and next');
  return { previous: primary, primary: next, next: { generation: nextGeneration(generations) } };
}

/** The generations verifiers trust: every member of the keyset, in slot order. */
export function trustedGenerations(generations: Generations): number[] {
  return schemeSlots.triple.flatMap((slot) => (generations[slot] ? [generations[slot].generation] : []));
}

/** Storage account keys by slot: Azure calls them key1 and key2. */
export const storageKeyNames = { primary: 'key1', secondary: 'key2' } as const;

/** The Cosmos DB `keyKind` of a slot: `primary`, `secondary`, or their `...Readonly` pair. */
export function cosmosKeyKind(slot: string, readOnly: boolean): 'primary' | 'secondary' | 'primaryReadonly' | 'secondaryReadonly' {
  if (slot !== 'primary' && slot !== 'secondary') throw new TypeError(`a Cosmos DB key slot is primary or secondary, not ${slot}`);
  return readOnly ? `${slot}Readonly` : slot;
}
