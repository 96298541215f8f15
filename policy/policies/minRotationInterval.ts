import type { ResourceValidationPolicy } from '@pulumi/policy';
import { hoursBetween } from '../../src/model/index.ts';
import { credentialStateOf, rotateCommand } from './common.ts';

/** The kOps rule: do not rotate again before every consumer picked up the last rotation. */
export const minRotationInterval: ResourceValidationPolicy = {
  name: 'min-rotation-interval',
  description: 'A rotation is recorded no sooner than minIntervalHours after the previous one.',
  enforcementLevel: 'mandatory',
  validateResource: (args, reportViolation) => {
    const state = credentialStateOf(args);
    if (!state) return;
    const hours = hoursBetween(state.previousRotatedAt, state.lastRotatedAt);
    if (hours !== undefined && hours < state.minIntervalHours) {
      reportViolation(
        `credential ${state.credential}: rotated at ${state.lastRotatedAt}, only ${hours.toFixed(1)}h after the previous rotation (minimum ${state.minIntervalHours}h); fix: restore the stack file from before the early rotation, or wait and use ${rotateCommand(state)}`,
      );
    }
  },
};
