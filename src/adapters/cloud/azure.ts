/**
 * Cosmos DB and storage account keys through the Azure SDKs (`@azure/arm-cosmosdb`,
 * `@azure/arm-storage`), authenticated by a TokenCredential (`DefaultAzureCredential` in the
 * CLI). A Cosmos key regeneration is a long-running operation that can take minutes; the SDK's
 * poller follows it. Key values are read only to check a key exists; they never leave here.
 */
import type { Agent } from 'node:https';
import type { TokenCredential } from '@azure/identity';
import { CosmosDBManagementClient } from '@azure/arm-cosmosdb';
import { StorageManagementClient } from '@azure/arm-storage';
import { KeyVaultManagementClient } from '@azure/arm-keyvault';
import { ApiUnavailableError, ConfigError, ForbiddenError, KeyRejectedError, KeyslotError, ResourceNotFoundError } from '../../errors.ts';
import { cosmosKeyKind, storageKeyNames } from '../../model/slots.ts';
import type { CloudKeys, KeyRef, VaultSecretRef } from '../../ports/cloud.ts';

export interface AzureKeysOptions {
  readonly credential: TokenCredential;
  /** Used when a source names no subscriptionId. @default $AZURE_SUBSCRIPTION_ID */
  readonly subscriptionId?: string;
  /** An ARM endpoint override, for tests against a local emulator only. */
  readonly endpoint?: string;
  /** An https.Agent, for tests that trust an emulator's certificate. */
  readonly agent?: Agent;
  /** How often a regeneration's long-running operation is polled. @default the SDK's (Retry-After) */
  readonly pollIntervalMs?: number;
}

/** An ARM resource id, as Azure RBAC scopes an assignment. */
const armId = (sub: string, rg: string, type: string, name: string) =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/${type}/${name}`;

type AzureSource = Extract<KeyRef['source'], { type: 'azure-cosmosdb-keys' | 'azure-storage-keys' }>;

export class AzureAccountKeys implements CloudKeys {
  private readonly cosmos = new Map<string, CosmosDBManagementClient>();
  private readonly storage = new Map<string, StorageManagementClient>();
  private readonly vaults = new Map<string, KeyVaultManagementClient>();

  constructor(private readonly options: AzureKeysOptions) {}

  private source(key: KeyRef): AzureSource {
    if (key.source.type !== 'azure-cosmosdb-keys' && key.source.type !== 'azure-storage-keys')
      throw new TypeError(`the Azure adapter was given a ${key.source.type} source`);
    return key.source;
  }

  private subscription(key: KeyRef): string {
    const id = this.source(key).subscriptionId ?? this.options.subscriptionId ?? process.env.AZURE_SUBSCRIPTION_ID;
    if (!id)
      throw new ConfigError(
        `credential ${key.credential}`,
        'source.subscriptionId',
        'no subscription and AZURE_SUBSCRIPTION_ID unset',
        'set keyslot:credentials[…].source.subscriptionId, or export AZURE_SUBSCRIPTION_ID',
      );
    return id;
  }

  private clientOptions() {
    return {
      ...(this.options.endpoint ? { endpoint: this.options.endpoint, $host: this.options.endpoint } : {}),
      ...(this.options.agent ? { agent: this.options.agent } : {}),
    };
  }

  private cosmosClient(key: KeyRef): CosmosDBManagementClient {
    const sub = this.subscription(key);
    let c = this.cosmos.get(sub);
    if (!c) {
      c = new CosmosDBManagementClient(this.options.credential, sub, this.clientOptions());
      this.cosmos.set(sub, c);
    }
    return c;
  }

  private storageClient(key: KeyRef): StorageManagementClient {
    const sub = this.subscription(key);
    let c = this.storage.get(sub);
    if (!c) {
      c = new StorageManagementClient(this.options.credential, sub, this.clientOptions());
      this.storage.set(sub, c);
    }
    return c;
  }

  /**
   * A Key Vault secret's current version through Azure Resource Manager (`Secrets - Get`), which
   * answers with the secret's URIs and attributes, never its value.
   */
  async vaultSecretVersion(secret: VaultSecretRef): Promise<string | undefined> {
    const sub = secret.subscriptionId ?? this.options.subscriptionId ?? process.env.AZURE_SUBSCRIPTION_ID;
    if (!sub)
      throw new ConfigError(
        `vault ${secret.vaultName}`,
        'deliver[].subscriptionId',
        'no subscription and AZURE_SUBSCRIPTION_ID unset',
        'set the delivery subscriptionId, or export AZURE_SUBSCRIPTION_ID',
      );
    let client = this.vaults.get(sub);
    if (!client) {
      client = new KeyVaultManagementClient(this.options.credential, sub, this.clientOptions());
      this.vaults.set(sub, client);
    }
    const where = `${secret.resourceGroupName}/${secret.vaultName}/${secret.secretName}`;
    const vault = armId(sub, secret.resourceGroupName, 'Microsoft.KeyVault/vaults', secret.vaultName);
    try {
      const found = await client.secrets.get(secret.resourceGroupName, secret.vaultName, secret.secretName);
      return found.properties?.secretUriWithVersion?.split('/').at(-1);
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 404) return undefined;
      if (status === 401 || status === 403)
        throw new ForbiddenError(
          `Azure: reading Key Vault secret ${where} was denied; grant Microsoft.KeyVault/vaults/secrets/read on ${vault} to keyslot's identity`,
          {
            cause: error,
          },
        );
      throw new ApiUnavailableError(`Azure: reading Key Vault secret ${where} failed (${status ?? (error as Error).message})`, {
        cause: error,
      });
    }
  }

  /** One place where an SDK failure becomes a typed error. ARM messages name actions, not keys. */
  private async call<T>(key: KeyRef, what: string, action: string, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (error) {
      if (error instanceof KeyslotError) throw error;
      const status = (error as { statusCode?: number }).statusCode;
      const code = (error as { code?: string }).code ?? '';
      const account = `${this.source(key).resourceGroupName}/${this.source(key).accountName}`;
      if (status === 404) throw new ResourceNotFoundError(`Azure: ${what} ${account}: not found (${code})`, { cause: error });
      if (status === 401)
        throw new ForbiddenError(
          `Azure: ${what} ${account}: keyslot's own Azure credential was not accepted (${code}); check az login or the AZURE_* environment`,
          { cause: error },
        );
      if (status === 403) {
        const source = this.source(key);
        const type = source.type === 'azure-cosmosdb-keys' ? 'Microsoft.DocumentDB/databaseAccounts' : 'Microsoft.Storage/storageAccounts';
        // The scope `keyslot permissions` assigns the role at; ARM's own message names the caller too.
        const scope = armId(this.subscription(key), source.resourceGroupName, type, source.accountName);
        throw new ForbiddenError(`Azure: ${what} ${account} was denied (${code}); grant ${action} on ${scope} to keyslot's identity`, {
          cause: error,
        });
      }
      throw new ApiUnavailableError(`Azure: ${what} ${account} failed (${status ?? (error as Error).message})`, { cause: error });
    }
  }

  async testKey(key: KeyRef, slot: string): Promise<void> {
    const source = this.source(key);
    if (source.type === 'azure-cosmosdb-keys') {
      const kind = cosmosKeyKind(slot, source.readOnly);
      const keys = await this.call(key, 'listing the keys of', 'Microsoft.DocumentDB/databaseAccounts/listKeys/action', () =>
        this.cosmosClient(key).databaseAccounts.listKeys(source.resourceGroupName, source.accountName),
      );
      if (!keys[`${kind}MasterKey`]) throw new KeyRejectedError(`Azure lists no ${kind} key for Cosmos DB account ${source.accountName}`);
      return;
    }
    const name = storageKeyNames[slot as keyof typeof storageKeyNames];
    const listed = await this.call(key, 'listing the keys of', 'Microsoft.Storage/storageAccounts/listKeys/action', () =>
      this.storageClient(key).storageAccounts.listKeys(source.resourceGroupName, source.accountName),
    );
    const found = listed.keys?.find((k) => k.keyName === name);
    if (!found?.value || found.permissions?.toUpperCase() !== 'FULL')
      throw new KeyRejectedError(
        `storage account ${source.accountName} has no usable ${name} (permissions ${found?.permissions ?? 'none'})`,
      );
  }

  async regenerate(key: KeyRef, slot: string): Promise<Date> {
    const source = this.source(key);
    if (source.type === 'azure-cosmosdb-keys') {
      const keyKind = cosmosKeyKind(slot, source.readOnly);
      await this.call(key, `regenerating the ${keyKind} key of`, 'Microsoft.DocumentDB/databaseAccounts/regenerateKey/action', () =>
        this.cosmosClient(key).databaseAccounts.beginRegenerateKeyAndWait(
          source.resourceGroupName,
          source.accountName,
          { keyKind },
          this.options.pollIntervalMs ? { updateIntervalInMs: this.options.pollIntervalMs } : {},
        ),
      );
      return (await this.keyCreatedAt(key, slot)) ?? new Date();
    }
    const keyName = storageKeyNames[slot as keyof typeof storageKeyNames];
    const result = await this.call(key, `regenerating ${keyName} of`, 'Microsoft.Storage/storageAccounts/regenerateKey/action', () =>
      this.storageClient(key).storageAccounts.regenerateKey(source.resourceGroupName, source.accountName, { keyName }),
    );
    return result.keys?.find((k) => k.keyName === keyName)?.creationTime ?? new Date();
  }

  async keyCreatedAt(key: KeyRef, slot: string): Promise<Date | undefined> {
    const source = this.source(key);
    if (source.type === 'azure-cosmosdb-keys') {
      const kind = cosmosKeyKind(slot, source.readOnly);
      const account = await this.call(key, 'reading', 'Microsoft.DocumentDB/databaseAccounts/read', () =>
        this.cosmosClient(key).databaseAccounts.get(source.resourceGroupName, source.accountName),
      );
      return account.keysMetadata?.[`${kind}MasterKey`]?.generationTime;
    }
    const keyName = storageKeyNames[slot as keyof typeof storageKeyNames];
    const listed = await this.call(key, 'listing the keys of', 'Microsoft.Storage/storageAccounts/listKeys/action', () =>
      this.storageClient(key).storageAccounts.listKeys(source.resourceGroupName, source.accountName),
    );
    return listed.keys?.find((k) => k.keyName === keyName)?.creationTime;
  }

  /** Azure account keys are on until regenerated; there is no inactive state. */
  async setActive(): Promise<boolean> {
    return false;
  }

  /** Azure does not report when an account key was last used. */
  async keyLastUsedAt(): Promise<Date | undefined> {
    return undefined;
  }
}
