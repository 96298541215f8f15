import type { StackValidationPolicy } from '@pulumi/policy';
import { defaultDueFraction, keyAge, retiringSlot } from '../../src/model/index.ts';
import { credentialStates, maxAgeConfig, maxAgeOf, rotateCommand, slotCreatedAt, type Clock } from './common.ts';

/** A slot past its due share of the limit (80 % unless configured) is flagged, not blocked. */
export function keyRotationDue(clock: Clock): StackValidationPolicy {
  return {
    name: 'key-rotation-due',
    description: 'Flags slots past duePercent (default 80) of their maximum age.',
    enforcementLevel: 'advisory',
    configSchema: {
      properties: {
        ...maxAgeConfig,
        duePercent: {
          type: 'integer',
          minimum: 1,
          maximum: 100,
          default: defaultDueFraction * 100,
          description: 'Share of the maximum age after which rotation is due.',
        },
      },
    },
    validateStack: (args, reportViolation) => {
      const { maxAgeDays, duePercent } = args.getConfig<{ maxAgeDays?: number; duePercent?: number }>();
      const now = clock.now();
      for (const { resource, state } of credentialStates(args.resources)) {
        const limit = maxAgeOf(state, maxAgeDays);
        const retiring = retiringSlot(state);
        for (const [slot, s] of Object.entries(state.slots)) {
          // The rotation in flight is the cure of this slot's age; blocking its ups would keep the key.
          if (slot === retiring) continue;
          const age = keyAge(slotCreatedAt(s, args.resources), limit, now, (duePercent ?? defaultDueFraction * 100) / 100);
          if (age.status !== 'due') continue;
          reportViolation(
            `credential ${state.credential}: slot ${slot} is ${Math.floor(age.ageDays!)} days old; rotation was due on ${age.dueAt!.toISOString().slice(0, 10)} and the ${limit}-day limit is reached on ${age.expiresAt!.toISOString().slice(0, 10)}; run: ${rotateCommand(state)}`,
            resource.urn,
          );
        }
      }
    },
  };
}
