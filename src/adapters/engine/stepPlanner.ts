/**
 * What the simulated providers do with each registration of an up or preview: the engine's diff
 * (create, update, replace, same; `replacementTrigger`; `import`) and each provider's outputs and
 * effect in the simulated world. One model for both engines that run the real program against
 * the simulated world: the simulated StackEngine (the program under the mock runtime) and the
 * fake `pulumi` CLI of the adapter tests (the program under Pulumi's own cmd/run).
 */
import type * as pulumi from '@pulumi/pulumi';
import type { StackConfig } from '../../config/parse.ts';
import { EngineError } from '../../errors.ts';
import type { CredentialState } from '../../model/state.ts';
import type { Clock } from '../../ports/clock.ts';
import { keyOwner, SimProviderError, type SimCloud } from '../../sim/cloud.ts';
import type { SimFleet } from '../../sim/cluster.ts';
import type { EngineView } from './mockRuntime.ts';
import type { ResourceInput } from './policyEvaluation.ts';
import { reveal } from './secretValues.ts';

/** One resource as the backend keeps it after an up. */
export interface SimResourceState {
  readonly id: string;
  /** Inputs, revealed and serialised: a change is an update (or, for a key, a replacement). */
  readonly inputs: string;
  /** What forces a replacement: a key's inputs, or the `replacementTrigger` option. */
  readonly replaceKey: string;
  readonly outputs: Record<string, unknown>;
  /** What the resource made in the simulated world, to undo when it is deleted. */
  readonly made: readonly Made[];
}

/** A thing in the simulated world a resource owns. */
export type Made =
  | { readonly kind: 'key'; readonly token: string }
  | { readonly kind: 'secret'; readonly cluster: string; readonly namespace: string; readonly name: string }
  | { readonly kind: 'store'; readonly id: string };

export type Operation = 'create' | 'update' | 'replace' | 'same';

/** Types whose every input change replaces them (keys and `time.Static`). */
const replacedOnAnyChange = /:(RandomPassword|AccessKey|PrivateKey|Static)$/;

/** One resource of an up: what the engine will do with it. */
export interface Planned {
  readonly key: string;
  readonly op: Operation;
  readonly made: readonly Made[];
  /**
   * The resource as a policy pack sees it: `inputs` for a resource policy (the engine's Analyze,
   * asked per resource as it registers, before its step), `outputs` for a stack policy
   * (AnalyzeStack, on the final outputs once every step ran). pulumi/pulumi v3.259.0,
   * pkg/resource/deploy/step_generator.go continueStepsFromImport and AnalyzeResources.
   */
  readonly analyzed: (view?: 'inputs' | 'outputs') => ResourceInput;
  readonly deleteBeforeReplace: boolean;
  readonly before?: SimResourceState;
  readonly state: SimResourceState;
  /** Creates or updates it in the simulated world. */
  readonly effect?: () => void;
}

export interface PlannerWorld {
  readonly fleet: SimFleet;
  readonly cloud: SimCloud;
  readonly clock: Clock;
}

export class StepPlanner {
  /** Every registration of the run, in order. */
  readonly planned: Planned[] = [];
  private readonly generationOf: Map<string, number>;
  private readonly sourceOf: Map<string, { type: string }>;

  constructor(
    config: StackConfig,
    private readonly world: PlannerWorld,
    /** The resources of the last up, by `type::name`. */
    private readonly prior: ReadonlyMap<string, SimResourceState>,
    /** The stack's outputs as deployed (what its self-reference reads). */
    private readonly deployed: Record<string, CredentialState>,
    /** Models a CLI older than 3.226, whose engine ignores `replacementTrigger`. */
    private readonly ignoresReplacementTrigger = false,
  ) {
    this.generationOf = new Map<string, number>(
      config.credentials.flatMap((c) => Object.entries(c.generations).map(([slot, g]) => [`${c.name}-${slot}`, g.generation] as const)),
    );
    this.sourceOf = new Map(config.credentials.map((c) => [c.name, c.source as { type: string }]));
  }

  private ownerOfKey(name: string) {
    const cred = name.replace(/-(primary|secondary|previous|next|current)$/, '');
    const slot = name.slice(cred.length + 1);
    return { owner: keyOwner(this.sourceOf.get(cred) ?? { type: 'random' }, cred), slot, generation: this.generationOf.get(name) ?? 1 };
  }

  /** What a resource of this type is and makes in the world: its id, outputs, and the effect of creating or updating it. */
  private materialise(
    type: string,
    name: string,
    inputs: Record<string, unknown>,
    plain: Record<string, unknown>,
    provider: string | undefined,
    creating: boolean,
  ): { id: string; outputs: Record<string, unknown>; made: readonly Made[]; effect?: () => void } {
    const { cloud, fleet, clock } = this.world;
    if (type.endsWith(':RandomPassword') || type.endsWith(':AccessKey')) {
      const k = this.ownerOfKey(name);
      const token = `sim:${k.owner}/${k.slot}@g${k.generation}`;
      const made: Made[] = [{ kind: 'key', token }];
      const effect = () => void cloud.create(k.owner, k.slot, token);
      return type.endsWith(':AccessKey')
        ? { id: token, outputs: { ...inputs, secret: token, createDate: clock.now().toISOString(), status: 'Active' }, made, effect }
        : { id: name, outputs: { ...inputs, result: token }, made, effect };
    }
    if (type.endsWith(':PrivateKey')) {
      const pem = (part: string) => `sim:tls:${name}/${part}@g1`;
      const made: Made[] = [
        { kind: 'key', token: pem('private') },
        { kind: 'key', token: pem('public') },
      ];
      const effect = () => {
        cloud.create(`tls:${name}`, 'private', pem('private'));
        cloud.create(`tls:${name}`, 'public', pem('public'));
      };
      return { id: name, outputs: { ...inputs, privateKeyPem: pem('private'), publicKeyPem: pem('public') }, made, effect };
    }
    if (type.endsWith(':Static')) return { id: name, outputs: { ...inputs, rfc3339: clock.now().toISOString() }, made: [] };
    if (type === 'kubernetes:core/v1:Secret' || type === 'kubernetes:core/v1:SecretPatch') {
      const cluster = /::cluster-([^:]+)::/.exec(provider ?? '')?.[1];
      const meta = plain.metadata as { namespace: string; name: string; annotations?: Record<string, string> };
      const data = plain.stringData as Record<string, string>;
      const made: Made[] =
        cluster && type.endsWith(':Secret') ? [{ kind: 'secret', cluster, namespace: meta.namespace, name: meta.name }] : [];
      return {
        id: `${meta.namespace}/${meta.name}`,
        outputs: inputs,
        made,
        ...(cluster ? { effect: () => fleet.cluster(cluster).applySecret(meta.namespace, meta.name, data, meta.annotations ?? {}) } : {}),
      };
    }
    if (/^azure-native:keyvault(\/[^:]+)?:Secret$/.test(type)) {
      const target = plain as { vaultName: string; secretName: string; properties?: { value?: string } };
      const id = `${target.vaultName}/${target.secretName}`;
      const value = target.properties?.value ?? '';
      const effect = () => {
        // azure-native refuses to create a secret that exists (pulumi-azure-native#1123); an import adopts it, then updates its value.
        if (creating && cloud.stores.has(id))
          throw new SimProviderError(
            `Key Vault secret ${id} already exists; adopt it: set adopt: true (and subscriptionId) on the delivery`,
          );
        cloud.stores.set(id, value);
      };
      return { id, outputs: inputs, made: [{ kind: 'store', id }], effect };
    }
    if (type === 'aws:secretsmanager/secretVersion:SecretVersion') {
      const target = plain as { secretId: string; secretString?: string };
      return {
        id: target.secretId,
        outputs: inputs,
        made: [{ kind: 'store', id: target.secretId }],
        effect: () => cloud.stores.set(target.secretId, target.secretString ?? ''),
      };
    }
    return { id: `${name}-id`, outputs: inputs, made: [] };
  }

  /** The answer to one registration: its id and state (inputs plus outputs); records what the up will do with it. */
  readonly newResource = (
    args: pulumi.runtime.MockResourceArgs,
    view: Readonly<EngineView>,
    plain: Record<string, unknown>,
  ): { id: string; state: Record<string, unknown> } => {
    const { cloud } = this.world;
    const { type, name, inputs } = args;
    if (type === 'pulumi:pulumi:StackReference')
      return {
        id: String(inputs.name),
        state: { ...inputs, outputs: { credentials: structuredClone(this.deployed) }, secretOutputNames: [] },
      };
    const key = `${type}::${name}`;
    const plainInputs = JSON.stringify(plain);
    // Keys and timestamps are replaced by any change of their inputs, as their providers do; anything by its replacementTrigger.
    const replaceKey = `${replacedOnAnyChange.test(type) ? plainInputs : ''}|${view.replacementTrigger ?? ''}`;
    const compared = (k: string) => (this.ignoresReplacementTrigger ? k.slice(0, k.lastIndexOf('|')) : k);
    const before = this.prior.get(key);
    // The `import` option adopts an existing resource on the up that first declares it (and
    // reads it already at preview); once in the stack it is a resource like any other.
    const adopting = !before && view.importId !== undefined;
    if (adopting && /:keyvault(\/[^:]+)?:Secret$/.test(type)) {
      const target = plain as { vaultName: string; secretName: string };
      if (!cloud.stores.has(`${target.vaultName}/${target.secretName}`))
        throw new EngineError(
          `importing ${type} ${name} (${view.importId}) failed: the secret does not exist; create it, or remove adopt from the delivery`,
        );
    }
    const op: Operation = !before
      ? 'create'
      : compared(before.replaceKey) !== compared(replaceKey)
        ? 'replace'
        : before.inputs !== plainInputs
          ? 'update'
          : 'same';
    const fresh = this.materialise(type, name, inputs, plain, args.provider, !before && !adopting);
    // An unchanged key keeps its value and creation time; a Secret is rewritten on update.
    const keep = before && op !== 'replace' && replacedOnAnyChange.test(type);
    const outputs = keep ? before.outputs : fresh.outputs;
    const made = keep ? before.made : fresh.made;
    const id = keep ? before.id : fresh.id;
    // What a policy pack is shown: the inputs, or the inputs with the provider's outputs; secrets
    // unwrapped; the options. (Read once the run is over: the monitor records the URN when it
    // answers the registration.)
    const analyzed = (shown: 'inputs' | 'outputs' = 'outputs'): ResourceInput => ({
      type,
      name,
      ...(view.urn ? { urn: view.urn } : {}),
      ...(view.parent ? { parent: view.parent } : {}),
      props: shown === 'outputs' && (args.custom ?? true) ? { ...plain, ...(reveal(outputs) as Record<string, unknown>) } : plain,
      opts: { deleteBeforeReplace: view.deleteBeforeReplace, additionalSecretOutputs: [...view.additionalSecretOutputs] },
    });
    this.planned.push({
      key,
      op,
      made,
      analyzed,
      ...(before ? { before } : {}),
      ...(op !== 'same' && fresh.effect ? { effect: fresh.effect } : {}),
      deleteBeforeReplace: view.deleteBeforeReplace,
      state: { id, inputs: plainInputs, replaceKey, outputs, made },
    });
    return { id, state: outputs };
  };

  /** The answer to an invoke (the key reads of Cosmos DB and storage accounts). */
  readonly call = (args: pulumi.runtime.MockCallArgs): Record<string, unknown> => {
    const { cloud } = this.world;
    const account = String(args.inputs.accountName);
    switch (args.token) {
      case 'azure-native:cosmosdb:listDatabaseAccountKeys': {
        const k = (slot: string) => cloud.key(`cosmos:${account}`, slot).token;
        return {
          primaryMasterKey: k('primary'),
          secondaryMasterKey: k('secondary'),
          primaryReadonlyMasterKey: k('primary-ro'),
          secondaryReadonlyMasterKey: k('secondary-ro'),
        };
      }
      case 'azure-native:cosmosdb:getDatabaseAccount':
        return { documentEndpoint: `https://${account}.documents.sim.invalid:443/` };
      case 'azure-native:storage:listStorageAccountKeys':
        return {
          keys: (['primary', 'secondary'] as const).map((slot, i) => {
            const key = cloud.key(`storage:${account}`, slot);
            return { keyName: `key${i + 1}`, value: key.token, permissions: 'FULL', creationTime: key.createdAt.toISOString() };
          }),
        };
      default:
        throw new EngineError(`the simulated engine has no provider for ${args.token}`);
    }
  };
}
