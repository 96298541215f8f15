import * as pulumi from '@pulumi/pulumi';
import type { Provider } from '@pulumi/kubernetes/provider';
import type { Credential, StackConfig } from '../config/parse.ts';
import { deliver } from './deliveries.ts';
import { sourceComponents } from './sources/index.ts';

/** What the stack exports per credential: state the driver, `status` and policies read. No values. */
export interface CredentialState {
  readonly scheme: string;
  readonly activeSlot: string;
  readonly slots: Record<string, { generation: number; createdAt?: string }>;
  readonly maxAgeDays: number;
  readonly minIntervalHours: number;
  readonly lastRotatedAt?: string;
  readonly targets: string[];
}

/**
 * One credential: its source (every slot's key) and the deliveries of the active slot.
 * Flipping `keyslot:slots.<name>` changes the deliveries and nothing else.
 */
export class CredentialComponent extends pulumi.ComponentResource {
  readonly state: pulumi.Output<CredentialState>;

  constructor(name: string, args: { config: StackConfig; credential: Credential; providers: ReadonlyMap<string, Provider> }, opts?: pulumi.ComponentResourceOptions) {
    super('keyslot:index:Credential', name, {}, opts);
    const { config, credential, providers } = args;
    const source = new sourceComponents[credential.source.type](credential.name, { credential }, { parent: this });
    const targets = credential.deliver.flatMap((d, i) => deliver(d, i, { config, credential, vars: source.vars, providers, parent: this }));
    const slots = pulumi.all(
      Object.fromEntries(Object.entries(source.slots).map(([slot, k]) => [slot, k.createdAt.apply((createdAt) => ({ generation: k.generation, ...(createdAt ? { createdAt } : {}) }))])),
    );
    this.state = slots.apply((s) => ({
      scheme: credential.scheme,
      activeSlot: credential.active,
      slots: s,
      maxAgeDays: credential.maxAgeDays,
      minIntervalHours: credential.minIntervalHours,
      ...(credential.lastRotatedAt ? { lastRotatedAt: credential.lastRotatedAt } : {}),
      targets,
    }));
    this.registerOutputs({ state: this.state });
  }
}
