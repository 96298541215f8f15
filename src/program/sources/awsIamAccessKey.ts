import * as pulumi from '@pulumi/pulumi';
import { AccessKey } from '@pulumi/aws/iam/accessKey';
import { Provider } from '@pulumi/aws/provider';
import { after } from '../staleGuard.ts';
import { creationTime, type KeySource, type SlotKey, type SourceArgs, sourceOf, sourceVars } from './keySource.ts';

/**
 * The two access keys of one existing IAM user, one per slot. AWS allows two keys per user, so a
 * regenerated slot's key is deleted before its replacement is created (`deleteBeforeReplace`),
 * and the replacement is driven by the generation (`replacementTrigger`).
 */
export class AwsIamAccessKeySource extends pulumi.ComponentResource implements KeySource {
  readonly slots: Record<string, SlotKey> = {};
  readonly vars: Record<string, pulumi.Output<string>>;

  constructor(name: string, args: SourceArgs, opts?: pulumi.ComponentResourceOptions) {
    super('keyslot:source:AwsIamAccessKey', name, {}, opts);
    const { credential } = args;
    const source = sourceOf(credential, 'aws-iam-access-key');
    const provider = source.region ? new Provider(`${name}-${source.region}`, { region: source.region }, { parent: this }) : undefined;
    const keys: Record<string, AccessKey> = {};
    for (const [slot, { generation }] of Object.entries(credential.generations)) {
      keys[slot] = new AccessKey(
        `${name}-${slot}`,
        { user: after(args.ready, source.userName) },
        {
          parent: this,
          ...(provider ? { provider } : {}),
          deleteBeforeReplace: true,
          replacementTrigger: String(generation),
          additionalSecretOutputs: ['secret', 'sesSmtpPasswordV4'],
        },
      );
      this.slots[slot] = {
        generation,
        createdAt: creationTime(`${name}-${slot}`, generation, this),
        resource: keys[slot],
        keyId: keys[slot].id,
        testMaterial: pulumi.secret(
          pulumi
            .all([keys[slot].id, keys[slot].secret])
            .apply(([accessKeyId, secretAccessKey]): Readonly<Record<string, string>> => ({ accessKeyId, secretAccessKey })),
        ),
      };
    }
    const active = keys[credential.active]!;
    this.vars = sourceVars(args, { accessKeyId: active.id, secretAccessKey: active.secret });
    this.registerOutputs({});
  }
}
