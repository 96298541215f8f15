import type { StackValidationPolicy } from '@pulumi/policy';
import { annotations, trustedGenerations } from '../../src/model/index.ts';
import { credentialStates, deliveryMarks } from './common.ts';

/** Verifiers of a triple keyset must trust previous, primary and next, or an advance breaks them. */
export const trustBundleComplete: StackValidationPolicy = {
  name: 'trust-bundle-complete',
  description: 'Every verifier delivery of a triple credential trusts its previous, primary and next keys.',
  enforcementLevel: 'mandatory',
  validateStack: (args, reportViolation) => {
    for (const { state } of credentialStates(args.resources)) {
      if (state.scheme !== 'triple') continue;
      const expected = trustedGenerations(state.slots);
      for (const r of args.resources) {
        const marks = deliveryMarks(r.props);
        if (marks[annotations.credential] !== state.credential || marks[annotations.trusts] === undefined) continue;
        const trusted = marks[annotations.trusts].split(',').filter(Boolean).map(Number);
        const missing = expected.filter((g) => !trusted.includes(g));
        if (missing.length) {
          reportViolation(
            `credential ${state.credential}: verifier ${r.name} does not trust generation ${missing.join(', ')} of the keyset; fix: deliver \${trustBundle} (it holds previous, primary and next) and run pulumi up`,
            r.urn,
          );
        }
      }
    }
  },
};
