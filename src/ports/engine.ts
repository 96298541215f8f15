/**
 * The Pulumi engine, as the driver needs it. One real adapter (Automation API `LocalWorkspace`,
 * src/adapters/engine/localWorkspace.ts); tests and the drill use others.
 */
import type { CredentialState } from '../model/state.ts';

/** A progress event from an engine operation, already free of values. */
export interface EngineEvent {
  readonly kind: 'resource' | 'diagnostic' | 'summary';
  readonly message: string;
}

export interface UpOptions {
  /** Policy pack folders passed as `--policy-pack`. */
  readonly policyPacks: readonly string[];
  /** Policy pack config files passed as `--policy-pack-config`, one per pack, in the same order. */
  readonly policyPackConfigs?: readonly string[];
  readonly onEvent?: (event: EngineEvent) => void;
}

export interface UpResult {
  /** Resource operation counts, e.g. { update: 3, same: 12 }. */
  readonly changes: Readonly<Record<string, number>>;
}

export interface StackEngine {
  readonly stack: string;
  /** The Pulumi CLI's version when a CLI runs the stack; undefined for an engine without one (simulated). */
  readonly cliVersion?: string;
  /** Reads a `keyslot:` config value by path (`slots.cosmos`), undefined when unset. */
  getConfig(path: string): Promise<string | undefined>;
  /** Writes a `keyslot:` config value by path, as `pulumi config set --path` would. */
  setConfig(path: string, value: string): Promise<void>;
  removeConfig(path: string): Promise<void>;
  /** The whole `keyslot:` config as the program would read it (un-namespaced keys). */
  readConfig(): Promise<Record<string, unknown>>;
  up(options: UpOptions): Promise<UpResult>;
  preview(options: UpOptions): Promise<UpResult>;
  /** The deployed per-credential state (the `credentials` stack output); empty before the first up. */
  deployed(): Promise<Record<string, CredentialState>>;
  /**
   * What the program exported (as a secret) to test a slot's key, e.g. an IAM key pair for
   * GetCallerIdentity. Held in memory by the caller only; never logged. Undefined when absent.
   */
  keyMaterial(credential: string, slot: string): Promise<Readonly<Record<string, string>> | undefined>;
  /** Decrypts one secret `keyslot:` config value (a kubeconfig) into memory; never logged. */
  readSecretConfig(key: string): Promise<string | undefined>;
  getTag(name: string): Promise<string | undefined>;
  setTag(name: string, value: string): Promise<void>;
  removeTag(name: string): Promise<void>;
}
