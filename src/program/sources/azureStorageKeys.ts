import * as pulumi from '@pulumi/pulumi';
import { listStorageAccountKeysOutput } from '@pulumi/azure-native/storage/listStorageAccountKeys';
import { type KeySource, type SlotKey, type SourceArgs, sourceOf, sourceVars } from './keySource.ts';

import { storageKeyNames } from '../../model/slots.ts';

/**
 * key1/key2 of a storage account. Azure makes the keys and reports each one's creation time, so
 * createdAt comes from the provider (falling back to what the regeneration hook recorded).
 */
export class AzureStorageKeysSource extends pulumi.ComponentResource implements KeySource {
  readonly slots: Record<string, SlotKey> = {};
  readonly vars: Record<string, pulumi.Output<string>>;

  constructor(name: string, args: SourceArgs, opts?: pulumi.ComponentResourceOptions) {
    super('keyslot:source:AzureStorageKeys', name, {}, opts);
    const { credential } = args;
    const source = sourceOf(credential, 'azure-storage-keys');
    const listed = listStorageAccountKeysOutput(
      { resourceGroupName: source.resourceGroupName, accountName: source.accountName },
      { parent: this },
    );
    const find = (slot: keyof typeof storageKeyNames) => listed.keys.apply((keys) => keys.find((k) => k.keyName === storageKeyNames[slot]));
    for (const [slot, g] of Object.entries(credential.generations)) {
      const recorded = g.createdAt;
      this.slots[slot] = {
        generation: g.generation,
        createdAt: find(slot as keyof typeof storageKeyNames).apply((k) => k?.creationTime ?? recorded),
      };
    }
    const key = pulumi.secret(
      find(credential.active as keyof typeof storageKeyNames).apply((k) => {
        if (!k) throw new Error(`storage account ${source.accountName} has no ${storageKeyNames[credential.active as 'primary']}`);
        return k.value;
      }),
    );
    this.vars = sourceVars(args, {
      key,
      accountName: source.accountName,
      connectionString: pulumi.interpolate`DefaultEndpointsProtocol=https;AccountName=${source.accountName};AccountKey=${key};EndpointSuffix=core.windows.net`,
    });
    this.registerOutputs({});
  }
}
