/**
 * Cloud-side key operations for sources whose keys the cloud makes or tracks. Real adapters: Azure
 * (src/adapters/cloud/azure.ts) and AWS (src/adapters/cloud/aws.ts), routed by source type
 * (src/adapters/cloud/router.ts); the drill uses the simulated cloud. Values never cross this port.
 */
import type { Source } from '../config/schema.ts';

/** Whose key: the credential's name (where the engine keeps its state) and its source. */
export interface KeyRef {
  readonly credential: string;
  readonly source: Source;
}

export interface CloudKeys {
  /** Proves the slot's key is accepted (AWS: STS GetCallerIdentity with it; Azure: the account lists it). Throws KeyRejectedError. */
  testKey(key: KeyRef, slot: string): Promise<void>;
  /** Makes a new key for the slot (Cosmos/Storage regenerate); resolves to its creation time. */
  regenerate(key: KeyRef, slot: string): Promise<Date>;
  /** When the cloud made the slot's current key, if it says. */
  keyCreatedAt(key: KeyRef, slot: string): Promise<Date | undefined>;
  /** When the slot's key was last used, where the cloud tracks it (IAM); undefined otherwise. */
  keyLastUsedAt(key: KeyRef, slot: string): Promise<Date | undefined>;
  /**
   * Turns the slot's key off or back on without deleting it (IAM: Status=Inactive/Active), so
   * that a soak before its replacement is reversible. Resolves false where the cloud has no such
   * state (Azure account keys).
   */
  setActive(key: KeyRef, slot: string, active: boolean): Promise<boolean>;
  /**
   * The current version id of a Key Vault secret (Azure Resource Manager's
   * `Microsoft.KeyVault/vaults/secrets/read`, which returns no value), or undefined if it does not exist.
   */
  vaultSecretVersion(secret: VaultSecretRef): Promise<string | undefined>;
}

export interface VaultSecretRef {
  readonly subscriptionId?: string;
  readonly resourceGroupName: string;
  readonly vaultName: string;
  readonly secretName: string;
}
