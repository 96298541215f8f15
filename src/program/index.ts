/**
 * The keyslot Pulumi program: declares each credential's slots and delivers the active one.
 * It reads config through `pulumi.Config` and the shared parser; it decides nothing on its own.
 */
import * as pulumi from '@pulumi/pulumi';
import { parseJsonExact } from '../config/exactNumbers.ts';
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
  /**
   * Per credential and slot, what the driver needs to test a standby key against the cloud
   * (`aws sts get-caller-identity` with it). A Pulumi secret: encrypted in state, read only by
   * the engine adapter into memory. Absent when no source needs it.
   */
  readonly keyMaterial?: pulumi.Output<Record<string, Record<string, Readonly<Record<string, string>>>>>;
}

/** Reads `keyslot:*` config of the current stack. Secret kubeconfigs stay Outputs, unread. */
export function readConfig(): { config: StackConfig; kubeconfigs: Record<string, pulumi.Output<string>> } {
  const cfg = new pulumi.Config('keyslot');
  const raw: Record<string, unknown> = {};
  for (const key of configKeys) {
    // As getObject, but a kOps keypair id past 2^53 keeps its digits (config/exactNumbers.ts).
    const text = cfg.get(key);
    if (text !== undefined) raw[key] = parseJsonExact(text) ?? text;
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
  const material: Record<string, pulumi.Output<Record<string, Readonly<Record<string, string>>>>> = {};
  for (const credential of config.credentials) {
    const component = new CredentialComponent(credential.name, { config, credential, providers, ready });
    states[credential.name] = component.state;
    if (component.testMaterial) material[credential.name] = component.testMaterial;
  }
  return { credentials: pulumi.all(states), ...(Object.keys(material).length ? { keyMaterial: pulumi.secret(pulumi.all(material)) } : {}) };
}

/** The whole program: what `pulumi up` and the driver run. */
export function keyslotProgram(): ProgramOutputs {
  const { config, kubeconfigs } = readConfig();
  return declareStack(config, kubeconfigs);
}
