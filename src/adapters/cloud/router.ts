/**
 * The CLI's CloudKeys: each source type goes to the adapter for its cloud, made on first use so a
 * stack without Azure never asks for Azure credentials. Sources whose keys Pulumi makes (random,
 * TLS) or their owner rotates (Gardener) have no cloud-side operations.
 */
import { KeyslotError } from '../../errors.ts';
import type { CloudKeys, KeyRef, VaultSecretRef } from '../../ports/cloud.ts';

export class CloudRouter implements CloudKeys {
  private readonly adapters = new Map<string, CloudKeys>();

  constructor(private readonly factories: { readonly azure: () => CloudKeys; readonly aws: () => CloudKeys }) {}

  private made(cloud: 'azure' | 'aws'): CloudKeys {
    let adapter = this.adapters.get(cloud);
    if (!adapter) {
      adapter = this.factories[cloud]();
      this.adapters.set(cloud, adapter);
    }
    return adapter;
  }

  private adapter(key: KeyRef): CloudKeys {
    const cloud =
      key.source.type === 'aws-iam-access-key'
        ? 'aws'
        : key.source.type === 'azure-cosmosdb-keys' || key.source.type === 'azure-storage-keys'
          ? 'azure'
          : undefined;
    if (!cloud)
      throw new KeyslotError(`credential ${key.credential}: a ${key.source.type} key has no cloud-side operations; this is a planner bug`);
    return this.made(cloud);
  }

  /** Key Vault is Azure's. */
  vaultSecretVersion(secret: VaultSecretRef) {
    return this.made('azure').vaultSecretVersion(secret);
  }

  testKey(key: KeyRef, slot: string) {
    return this.adapter(key).testKey(key, slot);
  }

  regenerate(key: KeyRef, slot: string) {
    return this.adapter(key).regenerate(key, slot);
  }

  keyCreatedAt(key: KeyRef, slot: string) {
    return this.adapter(key).keyCreatedAt(key, slot);
  }

  /** Only IAM keys have an off switch. */
  async setActive(key: KeyRef, slot: string, active: boolean) {
    if (key.source.type !== 'aws-iam-access-key') return false;
    return this.adapter(key).setActive(key, slot, active);
  }

  /** Only clouds that track use answer; for the others there is nothing to ask. */
  async keyLastUsedAt(key: KeyRef, slot: string) {
    if (key.source.type !== 'aws-iam-access-key') return undefined;
    return this.adapter(key).keyLastUsedAt(key, slot);
  }
}
