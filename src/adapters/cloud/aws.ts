/**
 * IAM access keys through the AWS SDK v3: test a key with STS GetCallerIdentity, read a key's
 * creation and last use with IAM. New keys are not made here: an IAM key is a Pulumi resource,
 * replaced by `up` when its generation changes. Failures are classified once, in `call`.
 */
import { GetAccessKeyLastUsedCommand, IAMClient, ListAccessKeysCommand, UpdateAccessKeyCommand } from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { ApiUnavailableError, ForbiddenError, KeyRejectedError, KeyslotError, ResourceNotFoundError } from '../../errors.ts';
import type { CloudKeys, KeyRef } from '../../ports/cloud.ts';

export interface AwsKeysOptions {
  /** The slot's key pair as the engine holds it (a secret stack output), for GetCallerIdentity. */
  readonly material: (credential: string, slot: string) => Promise<Readonly<Record<string, string>> | undefined>;
  /** The slot's access key id as recorded in the deployed state. */
  readonly keyId: (credential: string, slot: string) => Promise<string | undefined>;
  /** keyslot's own identity for IAM reads; @default the SDK's default provider chain. */
  readonly credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** @default us-east-1 (IAM is global; STS answers in every region) */
  readonly region?: string;
  /** An endpoint override, for tests against a local emulator only. */
  readonly endpoint?: string;
  /** @default 3 */
  readonly maxAttempts?: number;
}

type AwsSource = Extract<KeyRef['source'], { type: 'aws-iam-access-key' }>;

/**
 * The user's ARN as an IAM policy names it (the access-key actions take the `user` resource), any
 * account: keyslot does not know its own, and a user takes no resource policy.
 */
const userArn = (source: AwsSource) => `arn:aws:iam::*:user/${source.userName}`;

/** The error codes AWS answers when it does not accept a key pair. */
const rejectedCodes = new Set(['InvalidClientTokenId', 'SignatureDoesNotMatch', 'InvalidAccessKeyId', 'ExpiredToken', 'AccessDenied']);

export class AwsIamKeys implements CloudKeys {
  private readonly iam: IAMClient;

  constructor(private readonly options: AwsKeysOptions) {
    this.iam = new IAMClient(this.clientConfig(options.credentials));
  }

  private clientConfig(credentials: AwsKeysOptions['credentials'], region?: string) {
    return {
      region: region ?? this.options.region ?? 'us-east-1',
      maxAttempts: this.options.maxAttempts ?? 3,
      ...(credentials ? { credentials } : {}),
      ...(this.options.endpoint ? { endpoint: this.options.endpoint } : {}),
    };
  }

  private source(key: KeyRef): AwsSource {
    if (key.source.type !== 'aws-iam-access-key') throw new TypeError(`the AWS adapter was given a ${key.source.type} source`);
    return key.source;
  }

  /** One place where an SDK failure becomes a typed error; AWS error messages never quote secrets. */
  private async call<T>(what: string, needs: string, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (error) {
      const name = (error as { name?: string }).name ?? '';
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (name === 'NoSuchEntity' || name === 'NoSuchEntityException' || status === 404)
        throw new ResourceNotFoundError(`AWS: ${what}: not found`, { cause: error });
      if (name === 'InvalidClientTokenId' || name === 'SignatureDoesNotMatch' || name === 'ExpiredToken') {
        throw new ForbiddenError(
          `AWS: ${what}: keyslot's own AWS credentials were not accepted (${name}); check the profile or environment it runs with`,
          { cause: error },
        );
      }
      if (name === 'AccessDenied' || name === 'AccessDeniedException' || status === 403)
        throw new ForbiddenError(`AWS: ${what} was denied (${name || status}); grant ${needs} to keyslot's identity`, { cause: error });
      throw new ApiUnavailableError(`AWS: ${what} failed (${name || status || 'no answer'})`, { cause: error });
    }
  }

  async testKey(key: KeyRef, slot: string): Promise<void> {
    const source = this.source(key);
    const material = await this.options.material(key.credential, slot);
    if (!material?.accessKeyId || !material.secretAccessKey) {
      throw new KeyRejectedError(`the ${slot} access key of IAM user ${source.userName} is not in the deployed stack; run pulumi up first`);
    }
    const sts = new STSClient(
      this.clientConfig({ accessKeyId: material.accessKeyId, secretAccessKey: material.secretAccessKey }, source.region),
    );
    try {
      await sts.send(new GetCallerIdentityCommand({}));
    } catch (error) {
      const name = (error as { name?: string }).name ?? '';
      if (rejectedCodes.has(name))
        throw new KeyRejectedError(`AWS rejected the ${slot} access key of IAM user ${source.userName} (${name}); it cannot take traffic`, {
          cause: error,
        });
      throw new ApiUnavailableError(`AWS: testing the ${slot} access key of ${source.userName} failed (${name || 'no answer'})`, {
        cause: error,
      });
    } finally {
      sts.destroy();
    }
  }

  async regenerate(key: KeyRef, slot: string): Promise<Date> {
    throw new KeyslotError(
      `IAM access keys are replaced by pulumi up, not regenerated in place (${key.credential} ${slot}); this is a planner bug`,
    );
  }

  private async metadata(key: KeyRef, slot: string) {
    const source = this.source(key);
    const id = await this.options.keyId(key.credential, slot);
    if (!id) return undefined;
    const listed = await this.call(`listing the access keys of ${source.userName}`, `iam:ListAccessKeys on ${userArn(source)}`, () =>
      this.iam.send(new ListAccessKeysCommand({ UserName: source.userName })),
    );
    return listed.AccessKeyMetadata?.find((k) => k.AccessKeyId === id);
  }

  async keyCreatedAt(key: KeyRef, slot: string): Promise<Date | undefined> {
    return (await this.metadata(key, slot))?.CreateDate;
  }

  async keyLastUsedAt(key: KeyRef, slot: string): Promise<Date | undefined> {
    const meta = await this.metadata(key, slot);
    if (!meta?.AccessKeyId) return undefined;
    const used = await this.call(
      `reading when ${key.credential}'s ${slot} key was last used`,
      `iam:GetAccessKeyLastUsed on ${userArn(this.source(key))}`,
      () => this.iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: meta.AccessKeyId })),
    );
    return used.AccessKeyLastUsed?.LastUsedDate;
  }

  /** UpdateAccessKey: AWS's "deactivate, watch, then delete" (and its undo). Idempotent. */
  /** Key Vault secrets are Azure's; the router never sends one here. */
  async vaultSecretVersion(): Promise<string | undefined> {
    throw new KeyslotError('a Key Vault secret was routed to the AWS adapter; this is a routing bug');
  }

  async setActive(key: KeyRef, slot: string, active: boolean): Promise<boolean> {
    const source = this.source(key);
    const id = await this.options.keyId(key.credential, slot);
    if (!id) throw new ResourceNotFoundError(`AWS: the ${slot} access key of ${source.userName} is not in the deployed stack`);
    await this.call(
      `${active ? 'activating' : 'deactivating'} ${key.credential}'s ${slot} key`,
      `iam:UpdateAccessKey on ${userArn(source)}`,
      () =>
        this.iam.send(new UpdateAccessKeyCommand({ UserName: source.userName, AccessKeyId: id, Status: active ? 'Active' : 'Inactive' })),
    );
    return true;
  }
}
