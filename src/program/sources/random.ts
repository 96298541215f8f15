import * as pulumi from '@pulumi/pulumi';
import { RandomPassword } from '@pulumi/random/randomPassword';
import { after } from '../staleGuard.ts';
import { creationTime, type KeySource, type SlotKey, type SourceArgs, sourceOf, sourceVars } from './keySource.ts';

/** A random password per slot; bumping a slot's generation replaces exactly that password. */
export class RandomSource extends pulumi.ComponentResource implements KeySource {
  readonly slots: Record<string, SlotKey> = {};
  readonly vars: Record<string, pulumi.Output<string>>;

  constructor(name: string, args: SourceArgs, opts?: pulumi.ComponentResourceOptions) {
    super('keyslot:source:Random', name, {}, opts);
    const { credential } = args;
    const source = sourceOf(credential, 'random');
    const values: Record<string, pulumi.Output<string>> = {};
    for (const [slot, { generation }] of Object.entries(credential.generations)) {
      const password = new RandomPassword(
        `${name}-${slot}`,
        { length: source.length, special: false, keepers: { generation: after(args.ready, String(generation)) } },
        { parent: this, additionalSecretOutputs: ['result'] },
      );
      values[slot] = password.result;
      this.slots[slot] = {
        generation,
        createdAt: creationTime(`${name}-${slot}`, generation, this),
        resource: password,
        testMaterial: pulumi.secret(pulumi.all({ value: password.result })),
      };
    }
    this.vars = sourceVars(args, { value: values[credential.active]! });
    this.registerOutputs({});
  }
}
