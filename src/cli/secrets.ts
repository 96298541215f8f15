import { Redactor } from '../model/redact.ts';

/**
 * The secret values this process has seen (standby key material, kubeconfigs held as stack
 * secrets): whatever keyslot prints or writes is masked by them first.
 */
export const knownSecrets = new Redactor();
