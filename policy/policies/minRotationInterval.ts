import type { ResourceValidationPolicy } from '@pulumi/policy';
import { hoursBetween, tooSoon } from '../../src/model/index.ts';
import { credentialStateOf, rotateCommand } from './common.ts';

/**
 * The kOps rule: do not start a rotation before every consumer picked up the last one. Judged when
 * a rotation starts (its first up carries the rotation in flight), with the driver's own rule
 * (`tooSoon`): refusing the up that records a finished rotation would come after the old key was
 * already gone. Emergency and disruptive rotations are not held back: an exposed key goes now.
 * `keyslot rotate --force` overrides the driver's check only; with the pack on, an early rotation
 * also needs the pack's level lowered or `--no-policy`.
 */
export const minRotationInterval: ResourceValidationPolicy = {
  name: 'min-rotation-interval',
  description: 'A rotation starts no sooner than minIntervalHours after the previous one finished (emergency rotations excepted).',
  enforcementLevel: 'mandatory',
  validateResource: (args, reportViolation) => {
    const state = credentialStateOf(args);
    const rotation = state?.rotation;
    if (!state || !rotation || rotation.mode !== 'rotate') return;
    if (!tooSoon(state.lastRotatedAt, state.minIntervalHours, rotation.startedAt)) return;
    const hours = hoursBetween(state.lastRotatedAt, rotation.startedAt)!;
    reportViolation(
      `credential ${state.credential}: rotation ${rotation.id} started ${hours.toFixed(1)}h after the last rotation at ${state.lastRotatedAt} (minimum ${state.minIntervalHours}h); fix: wait, then ${rotateCommand(state)} (an exposed key: add --emergency)`,
    );
  },
};
