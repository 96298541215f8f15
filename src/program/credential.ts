import * as pulumi from '@pulumi/pulumi';
import type { Provider } from '@pulumi/kubernetes/provider';
import type { Credential, StackConfig } from '../config/parse.ts';
import { deliver } from './deliveries.ts';
import { sourceComponents } from './sources/index.ts';

/**
 * What the stack records per credential: read by `status`, the driver and the policy pack (it is
 * the input of a `keyslot:index:CredentialState` resource). Never a value.
 */
export interface CredentialState {
  readonly stack: string;
  readonly credential: string;
  readonly scheme: string;
  readonly activeSlot: string;
  readonly slots: Record<string, { generation: number; createdAt?: string }>;
  /** Absent when the stack leaves the limit to the policy pack's config. */
  readonly maxAgeDays?: number;
  readonly minIntervalHours: number;
  readonly lastRotatedAt?: string;
  readonly previousRotatedAt?: string;
  readonly targets: string[];
}

export const credentialStateType = 'keyslot:index:CredentialState';

/**
 * The recorded state of a credential as a resource of its own, so that policies see it as inputs.
 * It is a child of the credential, registered after the keys whose creation times it carries.
 */
export class CredentialStateRecord extends pulumi.ComponentResource {
  constructor(name: string, state: pulumi.Input<CredentialState>, opts?: pulumi.ComponentResourceOptions) {
    super(credentialStateType, name, { state }, opts);
    this.registerOutputs({});
  }
}

/**
 * One credential: its source (every slot's key), the deliveries of the active slot, and the
 * record of its state. Flipping `keyslot:slots.<name>` changes the deliveries and nothing else.
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
    this.state = slots.apply(
      (s): CredentialState => ({
        stack: config.stack,
        credential: credential.name,
        scheme: credential.scheme,
        activeSlot: credential.active,
        slots: s,
        ...(credential.maxAgeDays !== undefined ? { maxAgeDays: credential.maxAgeDays } : {}),
        minIntervalHours: credential.minIntervalHours,
        ...(credential.lastRotatedAt ? { lastRotatedAt: credential.lastRotatedAt } : {}),
        ...(credential.previousRotatedAt ? { previousRotatedAt: credential.previousRotatedAt } : {}),
        targets,
      }),
    );
    new CredentialStateRecord(`${name}-state`, this.state, { parent: this });
    this.registerOutputs({ state: this.state });
  }
}
