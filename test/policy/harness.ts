// The policy tests evaluate policies with the same code the simulated engine uses.
export {
  policyConfig,
  policyResources,
  runPolicy,
  validateResource,
  validateStack,
  type ResourceInput,
  type Violation,
} from '../../src/adapters/engine/policyEvaluation.ts';
