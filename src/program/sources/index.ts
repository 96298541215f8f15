import type * as pulumi from '@pulumi/pulumi';
import type { SourceType } from '../../config/schema.ts';
import { AwsIamAccessKeySource } from './awsIamAccessKey.ts';
import { AzureCosmosDbKeysSource } from './azureCosmosDbKeys.ts';
import { AzureStorageKeysSource } from './azureStorageKeys.ts';
import { GardenerKubeconfigSource } from './gardenerKubeconfig.ts';
import { KopsKeysetSource } from './kopsKeyset.ts';
import type { KeySource, SourceArgs } from './keySource.ts';
import { RandomSource } from './random.ts';
import { TlsSigningKeySource } from './tlsSigningKey.ts';

export * from './keySource.ts';
export { storageKeyNames } from '../../model/slots.ts';

type SourceClass = new (name: string, args: SourceArgs, opts?: pulumi.ComponentResourceOptions) => KeySource & pulumi.ComponentResource;

export const sourceComponents: Record<SourceType, SourceClass> = {
  random: RandomSource,
  'aws-iam-access-key': AwsIamAccessKeySource,
  'azure-cosmosdb-keys': AzureCosmosDbKeysSource,
  'azure-storage-keys': AzureStorageKeysSource,
  'tls-signing-key': TlsSigningKeySource,
  'kops-keyset': KopsKeysetSource,
  'gardener-kubeconfig': GardenerKubeconfigSource,
};
