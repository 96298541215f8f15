/**
 * The keyslot Pulumi program: declares each credential's slots and delivers the active one.
 * It reads config through `pulumi.Config` and the shared parser; it decides nothing on its own.
 */
import * as pulumi from '@pulumi/pulumi';
import { configKeys, parseStackConfig, type StackConfig } from '../config/parse.ts';
import type { Cluster } from '../config/schema.ts';
import type { CredentialState } from '../model/state.ts';
import { CredentialComponent } from './credential.ts';
import { clusterProviders } from './providers.ts';
import { notStale } from './staleGuard.ts';

export { CredentialComponent } from './credential.ts';
export { annotations } from '../model/annotations.ts';

export interface ProgramOutputs {
  readonly credentials: pulumi.Output<Record<string, CredentialState>>;
}

/** Reads `keyslot:*` config of the current stack. Secret kubeconfigs stay Outputs, unread. */
export function readConfig(): { config: StackConfig; kubeconfigs: Record<string, pulumi.Output<string>> } {
  const cfg = new pulumi.Config('keyslot');
  const raw: Record<string, unknown> = {};
  for (const key of configKeys) {
    const value = cfg.getObject<unknown>(key);
    if (value !== undefined) raw[key] = value;
  }
  const kubeconfigs: Record<string, pulumi.Output<string>> = {};
  for (const c of Array.isArray(raw.clusters) ? (raw.clusters as Partial<Cluster>[]) : []) {
    const key = c?.kubeconfigSecret;
    if (typeof key !== 'string') continue;
    const value = cfg.getSecret(key);
    if (value !== undefined) {
      kubeconfigs[key] = value;
      raw[key] = { secure: true };
    }
  }
  return { config: parseStackConfig(pulumi.getStack(), raw, `stack ${pulumi.getStack()}`), kubeconfigs };
}

/** Declares every credential of `config`. */
export function declareStack(config: StackConfig, kubeconfigs: Readonly<Record<string, pulumi.Output<string>>> = {}): ProgramOutputs {
  const providers = clusterProviders(config.clusters, kubeconfigs);
  const ready = notStale(config);
  const states: Record<string, pulumi.Output<CredentialState>> = {};
  for (const credential of config.credentials) {
    states[credential.name] = new CredentialComponent(credential.name, { config, credential, providers, ready }).state;
  }
  return { credentials: pulumi.all(states) };
}

/** The whole program: what `pulumi up` and the driver run. */
export function keyslotProgram(): ProgramOutputs {
  const { config, kubeconfigs } = readConfig();
  return declareStack(config, kubeconfigs);
}
