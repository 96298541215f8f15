import * as pulumi from '@pulumi/pulumi';
import { recordedSlots, type KeySource, type SlotKey, type SourceArgs } from './keySource.ts';

/**
 * A credential Gardener owns (a Shoot's static-token kubeconfig). Nothing is declared: rotation is
 * an annotation made by the driver, which records the new generation and its time.
 */
export class GardenerKubeconfigSource extends pulumi.ComponentResource implements KeySource {
  readonly slots: Record<string, SlotKey>;
  readonly vars: Record<string, pulumi.Output<string>> = {};

  constructor(name: string, args: SourceArgs, opts?: pulumi.ComponentResourceOptions) {
    super('keyslot:source:GardenerKubeconfig', name, {}, opts);
    this.slots = recordedSlots(args.credential);
    this.registerOutputs({});
  }
}
