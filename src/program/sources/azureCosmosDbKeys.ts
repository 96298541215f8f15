import * as pulumi from '@pulumi/pulumi';
import { getDatabaseAccountOutput } from '@pulumi/azure-native/cosmosdb/getDatabaseAccount';
import { listDatabaseAccountKeysOutput } from '@pulumi/azure-native/cosmosdb/listDatabaseAccountKeys';
import { type KeySource, recordedSlots, type SlotKey, type SourceArgs, sourceOf, sourceVars } from './keySource.ts';

/**
 * The primary/secondary keys of a Cosmos DB account. Azure makes the keys; the program only reads
 * them and hands the active one on. Regeneration is a driver hook, which also records createdAt.
 */
export class AzureCosmosDbKeysSource extends pulumi.ComponentResource implements KeySource {
  readonly slots: Record<string, SlotKey>;
  readonly vars: Record<string, pulumi.Output<string>>;

  constructor(name: string, args: SourceArgs, opts?: pulumi.ComponentResourceOptions) {
    super('keyslot:source:AzureCosmosDbKeys', name, {}, opts);
    const { credential } = args;
    const source = sourceOf(credential, 'azure-cosmosdb-keys');
    const account = { resourceGroupName: source.resourceGroupName, accountName: source.accountName };
    const keys = listDatabaseAccountKeysOutput(account, { parent: this });
    const endpoint = getDatabaseAccountOutput(account, { parent: this }).documentEndpoint;
    const primary = credential.active === 'primary';
    const key = pulumi.secret(
      keys.apply((k) =>
        source.readOnly
          ? primary
            ? k.primaryReadonlyMasterKey
            : k.secondaryReadonlyMasterKey
          : primary
            ? k.primaryMasterKey
            : k.secondaryMasterKey,
      ),
    );
    this.slots = recordedSlots(credential);
    this.vars = sourceVars(args, {
      key,
      accountName: source.accountName,
      accountEndpoint: endpoint,
      connectionString: pulumi.interpolate`AccountEndpoint=${endpoint};AccountKey=${key};`,
    });
    this.registerOutputs({});
  }
}
