import type { ResourceValidationPolicy } from '@pulumi/policy';
import { credentialStateOf } from './common.ts';

/** Two slots with one generation would be one key twice: a flip would change nothing. */
export const slotsDistinct: ResourceValidationPolicy = {
  name: 'slots-distinct',
  description: 'The slots of a credential (active and standby, or previous/primary/next) never share a generation.',
  enforcementLevel: 'mandatory',
  validateResource: (args, reportViolation) => {
    const state = credentialStateOf(args);
    if (!state) return;
    const seen = new Map<number, string>();
    for (const [slot, { generation }] of Object.entries(state.slots)) {
      const other = seen.get(generation);
      if (other) {
        reportViolation(
          `credential ${state.credential}: slots ${other} and ${slot} share generation ${generation}; fix: give each slot its own generation in keyslot:generations.${state.credential}`,
        );
      }
      seen.set(generation, slot);
    }
  },
};
