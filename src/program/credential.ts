import * as pulumi from '@pulumi/pulumi';
import type { Provider } from '@pulumi/kubernetes/provider';
import type { Credential, StackConfig } from '../config/parse.ts';
import { recordedImports } from '../model/imports.ts';
import { credentialStateType, type CredentialState } from '../model/state.ts';
import { deliver } from './deliveries.ts';
import { sourceComponents } from './sources/index.ts';

/**
 * The recorded state of a credential as a resource of its own, so that policies see it as inputs.
 * It is a child of the credential, registered after the keys whose creation times it carries.
 */
export class CredentialStateRecord extends pulumi.ComponentResource {
  /**
   * `inputs` is the same state with each value an input of its own, so that what the keys report
   * (a replaced key's id and creation time, unknown in a preview) is unknown alone and everything
   * else stays known: resource policies run on inputs, and the preview before every up can judge
   * them. Stack policies see the outputs: the resolved state.
   */
  constructor(name: string, state: pulumi.Output<CredentialState>, inputs: pulumi.Inputs, opts?: pulumi.ComponentResourceOptions) {
    super(credentialStateType, name, { state: inputs }, opts);
    this.registerOutputs({ state });
  }
}

/**
 * One credential: its source (every slot's key), the deliveries of the active slot, and the
 * record of its state. Flipping `keyslot:slots.<name>` changes the deliveries and nothing else.
 */
export class CredentialComponent extends pulumi.ComponentResource {
  readonly state: pulumi.Output<CredentialState>;
  /** Per slot, what preflight needs to test the key (IAM keys only); a secret. */
  readonly testMaterial: pulumi.Output<Record<string, Readonly<Record<string, string>>>> | undefined;

  constructor(
    name: string,
    args: { config: StackConfig; credential: Credential; providers: ReadonlyMap<string, Provider>; ready: pulumi.Output<true> },
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super('keyslot:index:Credential', name, {}, opts);
    const { config, credential, providers, ready } = args;
    const source = new sourceComponents[credential.source.type](credential.name, { credential, ready }, { parent: this });
    const targets = credential.deliver.flatMap((d, i) => deliver(d, i, { config, credential, vars: source.vars, providers, parent: this }));
    const slots = pulumi.all(
      Object.fromEntries(
        Object.entries(source.slots).map(([slot, k]) => [
          slot,
          pulumi.all([k.createdAt, k.resource?.urn, k.keyId]).apply(([createdAt, keyUrn, keyId]) => ({
            generation: k.generation,
            ...(createdAt ? { createdAt } : {}),
            ...(keyUrn ? { keyUrn } : {}),
            ...(keyId ? { keyId } : {}),
          })),
        ]),
      ),
    );
    const imports = recordedImports(config, credential);
    const known = {
      stack: config.stack,
      credential: credential.name,
      scheme: credential.scheme,
      activeSlot: credential.active,
      ...(credential.maxAgeDays !== undefined ? { maxAgeDays: credential.maxAgeDays } : {}),
      minIntervalHours: credential.minIntervalHours,
      ...(credential.lastRotatedAt ? { lastRotatedAt: credential.lastRotatedAt } : {}),
      ...(credential.previousRotatedAt ? { previousRotatedAt: credential.previousRotatedAt } : {}),
      ...(credential.rotation ? { rotation: credential.rotation } : {}),
      targets,
      ...(imports ? { imports } : {}),
    };
    this.state = slots.apply((s): CredentialState => ({ ...known, slots: s }));
    // Leaf by leaf: a slot's generation is config (known); what its key reports may not be yet.
    const slotInputs = Object.fromEntries(
      Object.entries(source.slots).map(([slot, k]) => [
        slot,
        {
          generation: k.generation,
          createdAt: k.createdAt,
          ...(k.resource ? { keyUrn: k.resource.urn } : {}),
          ...(k.keyId ? { keyId: k.keyId } : {}),
        },
      ]),
    );
    new CredentialStateRecord(`${name}-state`, this.state, { ...known, slots: slotInputs }, { parent: this });
    const material = Object.entries(source.slots).filter(([, k]) => k.testMaterial);
    this.testMaterial = material.length
      ? pulumi.secret(pulumi.all(Object.fromEntries(material.map(([slot, k]) => [slot, k.testMaterial!]))))
      : undefined;
    this.registerOutputs({ state: this.state });
  }
}
