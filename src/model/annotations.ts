/** Marks keyslot puts on delivered objects: which credential, slot and generation they hold. Never a value. */
export const annotations = {
  credential: 'keyslot.dev/credential',
  slot: 'keyslot.dev/slot',
  generation: 'keyslot.dev/generation',
  /** On verifier deliveries of a triple keyset: the generations the trust bundle holds. */
  trusts: 'keyslot.dev/trusts',
} as const;
