import type { StackValidationPolicy } from '@pulumi/policy';
import { keyAge, retiringSlot } from '../../src/model/index.ts';
import { credentialStates, maxAgeConfig, maxAgeOf, rotateCommand, slotCreatedAt, type Clock } from './common.ts';

/** No slot of any credential is older than its limit. */
export function maxKeyAge(clock: Clock): StackValidationPolicy {
  return {
    name: 'max-key-age',
    description: 'Every slot of every credential is younger than maxAgeDays (stack setting, else the pack config).',
    enforcementLevel: 'mandatory',
    configSchema: { properties: maxAgeConfig },
    validateStack: (args, reportViolation) => {
      const { maxAgeDays } = args.getConfig<{ maxAgeDays?: number }>();
      const now = clock.now();
      for (const { resource, state } of credentialStates(args.resources)) {
        const limit = maxAgeOf(state, maxAgeDays);
        const retiring = retiringSlot(state);
        for (const [slot, s] of Object.entries(state.slots)) {
          // The rotation in flight is the cure of this slot's age; blocking its ups would keep the key.
          if (slot === retiring) continue;
          const age = keyAge(slotCreatedAt(s, args.resources), limit, now);
          if (age.status !== 'expired') continue;
          reportViolation(
            `credential ${state.credential}: slot ${slot} (generation ${s.generation}) is ${Math.floor(age.ageDays!)} days old, over the ${limit}-day limit; rotate it: ${rotateCommand(state)}`,
            resource.urn,
          );
        }
      }
    },
  };
}
