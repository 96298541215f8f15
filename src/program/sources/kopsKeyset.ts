import * as pulumi from '@pulumi/pulumi';
import { type KeySource, recordedSlots, type SlotKey, type SourceArgs, sourceOf } from './keySource.ts';

/**
 * A keyset kOps owns in its state store (a kOps cluster's service-account signing keys). Nothing
 * is declared: the driver moves the keyset with `kops` and records each slot's keypair id,
 * generation and creation time in `keyslot:generations`, which this component carries into the
 * stack's state for the driver, `status` and the policy pack.
 */
export class KopsKeysetSource extends pulumi.ComponentResource implements KeySource {
  readonly slots: Record<string, SlotKey>;
  readonly vars: Record<string, pulumi.Output<string>> = {};

  constructor(name: string, args: SourceArgs, opts?: pulumi.ComponentResourceOptions) {
    super('keyslot:source:KopsKeyset', name, {}, opts);
    sourceOf(args.credential, 'kops-keyset');
    const recorded = recordedSlots(args.credential);
    this.slots = Object.fromEntries(
      Object.entries(recorded).map(([slot, key]) => {
        const keyId = args.credential.generations[slot]?.keyId;
        return [slot, keyId ? { ...key, keyId: pulumi.output(keyId) } : key];
      }),
    );
    this.registerOutputs({});
  }
}
