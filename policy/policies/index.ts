import type { Policies } from '@pulumi/policy';
import type { Clock } from './common.ts';
import { deployerLeastPrivilege } from './deployerLeastPrivilege.ts';
import { iamTwoKeyLimit } from './iamTwoKeyLimit.ts';
import { keyRotationDue } from './keyRotationDue.ts';
import { maxKeyAge } from './maxKeyAge.ts';
import { minRotationInterval } from './minRotationInterval.ts';
import { secretsStaySecret } from './secretsStaySecret.ts';
import { slotsDistinct } from './slotsDistinct.ts';
import { trustBundleComplete } from './trustBundleComplete.ts';

export type { Clock } from './common.ts';
export {
  deployerLeastPrivilege,
  iamTwoKeyLimit,
  keyRotationDue,
  maxKeyAge,
  minRotationInterval,
  secretsStaySecret,
  slotsDistinct,
  trustBundleComplete,
};

/** Every keyslot policy; only the age policies need the clock. */
export function keyslotPolicies(clock: Clock): Policies {
  return [
    maxKeyAge(clock),
    keyRotationDue(clock),
    slotsDistinct,
    trustBundleComplete,
    secretsStaySecret,
    iamTwoKeyLimit,
    minRotationInterval,
    deployerLeastPrivilege,
  ];
}
