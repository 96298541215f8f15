import * as pulumi from '@pulumi/pulumi';
import type { StackConfig } from '../config/parse.ts';
import { driftOf, readCredentialState } from '../model/state.ts';

/**
 * Resolves once the stack file's key generations are known not to be older than what is deployed,
 * by reading this stack's own outputs. A stale checkout — one that predates a regenerated key —
 * fails here, before any key or delivery that waits on it changes. (A rotation in flight that the
 * file does not know of is the driver's to refuse: `rotate` points at `resume`.)
 */
export function notStale(config: StackConfig): pulumi.Output<true> {
  const self = new pulumi.StackReference('keyslot-deployed', {
    name: `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`,
  });
  return self.getOutput('credentials').apply((deployed: unknown) => {
    const byName = (deployed ?? {}) as Record<string, unknown>;
    for (const cred of config.credentials) {
      const stale = driftOf(cred, readCredentialState({ state: byName[cred.name] })).find((d) => d.stale && d.kind === 'generations');
      if (stale) {
        throw new pulumi.RunError(
          `stack ${config.stack}: ${stale.path}: found ${stale.file} but ${stale.deployed} is deployed; fix: pull the current stacks/Pulumi.${config.stack}.yaml (it predates the last rotation), or run keyslot resume`,
        );
      }
    }
    return true as const;
  });
}

/** `value`, but only once `ready` resolved: how keys and deliveries wait for the guard. */
export function after<T>(ready: pulumi.Output<true>, value: pulumi.Input<T>): pulumi.Output<T> {
  return pulumi.all([ready, value]).apply(([, v]) => v as T);
}
