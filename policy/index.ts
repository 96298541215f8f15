// The pack's entry, and the only place a PolicyPack is constructed: the constructor reads
// package.json and starts the policy server, so tests import ./policies instead.
import { PolicyPack } from '@pulumi/policy';
import { keyslotPolicies } from './policies/index.ts';

new PolicyPack('keyslot', { policies: keyslotPolicies({ now: () => new Date() }) });
