/**
 * StackEngine that deploys the real program under Pulumi's mock runtime into a simulated world:
 * Kubernetes Secrets land in the simulated clusters, vault and Secrets Manager values in the
 * simulated cloud, keys are the simulated cloud's. The stack file (a checkout) and the backend
 * (deployed outputs, tags, creation times) are separate objects, so a test or the drill can throw
 * a checkout away and start again from the backend, as a new pipeline agent would.
 */
import type * as pulumi from '@pulumi/pulumi';
import { parseStackConfig } from '../../config/parse.ts';
import { keyslotPolicies } from '../../../policy/policies/index.ts';
import { EngineError, PolicyViolationError } from '../../errors.ts';
import { reveal } from './secretValues.ts';
import { analyzeResources, analyzeStack, type PackViolation, type ResourceInput } from './policyEvaluation.ts';
import type { CredentialState } from '../../model/state.ts';
import type { Clock } from '../../ports/clock.ts';
import type { StackEngine, UpOptions, UpResult } from '../../ports/engine.ts';
import { keyOwner, SimLimitExceededError, SimProviderError, type SimCloud } from '../../sim/cloud.ts';
import type { SimFleet } from '../../sim/cluster.ts';
import type { EngineView } from './mockRuntime.ts';
import { defaultProgramHost, namespacedConfig, type ProgramResult } from './programHost.ts';

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
type Made =
  | { readonly kind: 'key'; readonly token: string }
  | { readonly kind: 'secret'; readonly cluster: string; readonly namespace: string; readonly name: string }
  | { readonly kind: 'store'; readonly id: string };

/** What the Pulumi backend keeps between runs. */
export class SimBackend {
  outputs: Record<string, CredentialState> = {};
  keyMaterial: Record<string, Record<string, Readonly<Record<string, string>>>> = {};
  readonly tags = new Map<string, string>();
  /** Every resource at the last up, by `type::name`. */
  state = new Map<string, SimResourceState>();
  /** When set, the CPU time of the program's runs under the mock runtime is added here, and a host process's peak RSS kept (the benchmark's split). */
  meter?: { engineMicros: number; engineHostPeakRssBytes?: number };
  /** Models a Pulumi CLI older than 3.226, whose engine ignores `replacementTrigger`. */
  ignoresReplacementTrigger = false;
  /** Every up: the policy packs it was given and what changed. */
  readonly ups: { policyPacks: readonly string[]; changes: Record<string, number>; operations: readonly string[] }[] = [];
}

export interface SimWorld {
  readonly fleet: SimFleet;
  readonly cloud: SimCloud;
  readonly clock: Clock;
}

function setPath(root: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = root;
  for (const part of parts.slice(0, -1)) {
    if (typeof node[part] !== 'object' || node[part] === null) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts.at(-1)!] = value;
}

function getPath(root: Record<string, unknown>, path: string): unknown {
  return path.split('.').reduce<unknown>((node, part) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[part] : undefined), root);
}

function deletePath(root: Record<string, unknown>, path: string): void {
  const parts = path.split('.');
  const parent = getPath(root, parts.slice(0, -1).join('.'));
  if (parent && typeof parent === 'object') delete (parent as Record<string, unknown>)[parts.at(-1)!];
  if (parts.length === 1) delete root[parts[0]!];
}

export class SimulatedStackEngine implements StackEngine {
  private readonly file: Record<string, unknown>;

  constructor(
    readonly stack: string,
    checkout: Readonly<Record<string, unknown>>,
    private readonly backend: SimBackend,
    private readonly world: SimWorld,
  ) {
    this.file = structuredClone(checkout) as Record<string, unknown>;
  }

  /** The checkout's current `keyslot:` values (what `stacks/Pulumi.<stack>.yaml` would now hold). */
  checkout(): Record<string, unknown> {
    return structuredClone(this.file);
  }

  async getConfig(path: string) {
    const v = getPath(this.file, path);
    return v === undefined ? undefined : String(v);
  }

  async setConfig(path: string, value: string) {
    setPath(this.file, path, value);
  }

  async removeConfig(path: string) {
    deletePath(this.file, path);
  }

  async readConfig() {
    return structuredClone(this.file);
  }

  async getTag(name: string) {
    return this.backend.tags.get(name);
  }

  async setTag(name: string, value: string) {
    this.backend.tags.set(name, value);
  }

  async removeTag(name: string) {
    this.backend.tags.delete(name);
  }

  async deployed() {
    return structuredClone(this.backend.outputs);
  }

  /** The simulated fleet needs no kubeconfigs; a secret config reads back as it was written. */
  async readSecretConfig(key: string) {
    const value = this.file[key];
    return typeof value === 'string' ? value : undefined;
  }

  async keyMaterial(credential: string, slot: string) {
    return this.backend.keyMaterial[credential]?.[slot];
  }

  async preview(options: UpOptions): Promise<UpResult> {
    return this.deploy(options, false);
  }

  async up(options: UpOptions): Promise<UpResult> {
    return this.deploy(options, true);
  }

  private async deploy(options: UpOptions, apply: boolean): Promise<UpResult> {
    const config = parseStackConfig(this.stack, this.file, `stack ${this.stack}`);
    const generationOf = new Map<string, number>(config.credentials.flatMap((c) => Object.entries(c.generations).map(([slot, g]) => [`${c.name}-${slot}`, g.generation] as const)));
    const sourceOf = new Map(config.credentials.map((c) => [c.name, c.source]));
    const { cloud, fleet, clock } = this.world;
    const prior = this.backend.state;
    const planned: Planned[] = [];
    const ownerOfKey = (name: string) => {
      const cred = name.replace(/-(primary|secondary|previous|next|current)$/, '');
      const slot = name.slice(cred.length + 1);
      return { owner: keyOwner((sourceOf.get(cred) ?? { type: 'random' }) as { type: string }, cred), slot, generation: generationOf.get(name) ?? 1 };
    };

    /** What a resource of this type is and makes in the world: its id, outputs, and the effect of creating or updating it. */
    const materialise = (type: string, name: string, inputs: Record<string, unknown>, plain: Record<string, unknown>, provider: string | undefined, creating: boolean): { id: string; outputs: Record<string, unknown>; made: readonly Made[]; effect?: () => void } => {
      if (type.endsWith(':RandomPassword') || type.endsWith(':AccessKey')) {
        const k = ownerOfKey(name);
        const token = `sim:${k.owner}/${k.slot}@g${k.generation}`;
        const made: Made[] = [{ kind: 'key', token }];
        const effect = () => void cloud.create(k.owner, k.slot, token);
        return type.endsWith(':AccessKey')
          ? { id: token, outputs: { ...inputs, secret: token, createDate: clock.now().toISOString(), status: 'Active' }, made, effect }
          : { id: name, outputs: { ...inputs, result: token }, made, effect };
      }
      if (type.endsWith(':PrivateKey')) {
        const pem = (part: string) => `sim:tls:${name}/${part}@g1`;
        const made: Made[] = [{ kind: 'key', token: pem('private') }, { kind: 'key', token: pem('public') }];
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
        const made: Made[] = cluster && type.endsWith(':Secret') ? [{ kind: 'secret', cluster, namespace: meta.namespace, name: meta.name }] : [];
        return { id: `${meta.namespace}/${meta.name}`, outputs: inputs, made, ...(cluster ? { effect: () => fleet.cluster(cluster).applySecret(meta.namespace, meta.name, data, meta.annotations ?? {}) } : {}) };
      }
      if (/^azure-native:keyvault(\/[^:]+)?:Secret$/.test(type)) {
        const target = plain as { vaultName: string; secretName: string; properties?: { value?: string } };
        const id = `${target.vaultName}/${target.secretName}`;
        const value = target.properties?.value ?? '';
        const effect = () => {
          // azure-native refuses to create a secret that exists (pulumi-azure-native#1123); an import adopts it, then updates its value.
          if (creating && cloud.stores.has(id)) throw new SimProviderError(`Key Vault secret ${id} already exists; adopt it: set adopt: true (and subscriptionId) on the delivery`);
          cloud.stores.set(id, value);
        };
        return { id, outputs: inputs, made: [{ kind: 'store', id }], effect };
      }
      if (type === 'aws:secretsmanager/secretVersion:SecretVersion') {
        const target = plain as { secretId: string; secretString?: string };
        return { id: target.secretId, outputs: inputs, made: [{ kind: 'store', id: target.secretId }], effect: () => cloud.stores.set(target.secretId, target.secretString ?? '') };
      }
      return { id: `${name}-id`, outputs: inputs, made: [] };
    };

    const newResource = (args: pulumi.runtime.MockResourceArgs, view: Readonly<EngineView>, plain: Record<string, unknown>): { id: string; state: Record<string, unknown> } => {
      const { type, name, inputs } = args;
      if (type === 'pulumi:pulumi:StackReference') return { id: String(inputs.name), state: { ...inputs, outputs: { credentials: structuredClone(this.backend.outputs) }, secretOutputNames: [] } };
      const key = `${type}::${name}`;
      const plainInputs = JSON.stringify(plain);
      // Keys and timestamps are replaced by any change of their inputs, as their providers do; anything by its replacementTrigger.
      const replaceKey = `${replacedOnAnyChange.test(type) ? plainInputs : ''}|${view.replacementTrigger ?? ''}`;
      const compared = (k: string) => (this.backend.ignoresReplacementTrigger ? k.slice(0, k.lastIndexOf('|')) : k);
      const before = prior.get(key);
      // The `import` option adopts an existing resource on the up that first declares it (and
      // reads it already at preview); once in the stack it is a resource like any other.
      const adopting = !before && view.importId !== undefined;
      if (adopting && /:keyvault(\/[^:]+)?:Secret$/.test(type)) {
        const target = plain as { vaultName: string; secretName: string };
        if (!cloud.stores.has(`${target.vaultName}/${target.secretName}`)) throw new EngineError(`importing ${type} ${name} (${view.importId}) failed: the secret does not exist; create it, or remove adopt from the delivery`);
      }
      const op: Operation = !before ? 'create' : compared(before.replaceKey) !== compared(replaceKey) ? 'replace' : before.inputs !== plainInputs ? 'update' : 'same';
      const fresh = materialise(type, name, inputs, plain, args.provider, !before && !adopting);
      // An unchanged key keeps its value and creation time; a Secret is rewritten on update.
      const keep = before && op !== 'replace' && replacedOnAnyChange.test(type);
      const outputs = keep ? before.outputs : fresh.outputs;
      const made = keep ? before.made : fresh.made;
      const id = keep ? before.id : fresh.id;
      // What a policy pack is shown: inputs with the provider's outputs, secrets unwrapped, and the options.
      // (Read once the run is over: the monitor records the URN when it answers the registration.)
      const analyzed = (): ResourceInput => ({
        type,
        name,
        ...(view.urn ? { urn: view.urn } : {}),
        ...(view.parent ? { parent: view.parent } : {}),
        props: (args.custom ?? true) ? { ...plain, ...(reveal(outputs) as Record<string, unknown>) } : plain,
        opts: { deleteBeforeReplace: view.deleteBeforeReplace, additionalSecretOutputs: [...view.additionalSecretOutputs] },
      });
      planned.push({ key, op, made, analyzed, ...(before ? { before } : {}), ...(op !== 'same' && fresh.effect ? { effect: fresh.effect } : {}), deleteBeforeReplace: view.deleteBeforeReplace, state: { id, inputs: plainInputs, replaceKey, outputs, made } });
      return { id, state: outputs };
    };

    const call = (args: pulumi.runtime.MockCallArgs): Record<string, unknown> => {
      const account = String(args.inputs.accountName);
      switch (args.token) {
        case 'azure-native:cosmosdb:listDatabaseAccountKeys': {
          const k = (slot: string) => cloud.key(`cosmos:${account}`, slot).token;
          return { primaryMasterKey: k('primary'), secondaryMasterKey: k('secondary'), primaryReadonlyMasterKey: k('primary-ro'), secondaryReadonlyMasterKey: k('secondary-ro') };
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

    let run: ProgramResult;
    try {
      // In a child process, as `pulumi up` runs a program in its own language host.
      run = await defaultProgramHost().run(this.stack, namespacedConfig(this.file), { newResource, call });
    } catch (error) {
      const message = (error instanceof Error ? error.message.split('\n')[0]! : String(error)).replace(/^(error serializing property "[^"]*": )+/, '');
      throw new EngineError(`pulumi ${apply ? 'up' : 'preview'} failed: ${message}`, { cause: error });
    }
    if (this.backend.meter) {
      // The host reports its own CPU and peak memory; this process only waited.
      this.backend.meter.engineMicros += run.cpuMicros;
      this.backend.meter.engineHostPeakRssBytes = Math.max(this.backend.meter.engineHostPeakRssBytes ?? 0, run.hostPeakRssBytes);
    }
    // As the CLI runs a pack: resource policies before each step (a mandatory violation stops the
    // update before it changes anything), stack policies once the steps ran.
    const policies = this.packs(options.policyPacks);
    const resources = planned.map((p) => p.analyzed());
    if (policies) this.refuse(apply ? 'up' : 'preview', await analyzeResources(policies, resources), options);
    const registered = new Set(planned.map((p) => p.key));
    const vanished = [...prior].filter(([key]) => !registered.has(key));
    const changes: Record<string, number> = { same: 0, update: 0, create: 0, replace: 0, delete: vanished.length };
    for (const p of planned) changes[p.op]! += 1;
    for (const [op, n] of Object.entries(changes)) if (n > 0 && op !== 'same') options.onEvent?.({ kind: 'summary', message: `${n} to ${op}` });
    if (apply) {
      const operations = this.apply(planned, vanished);
      this.backend.state = new Map(planned.map((p) => [p.key, p.state]));
      this.backend.outputs = structuredClone(run.credentials);
      this.backend.keyMaterial = run.keyMaterial;
      this.backend.ups.push({ policyPacks: [...options.policyPacks], changes, operations });
    }
    // Stack policies judge the stack as the update left it: a mandatory violation fails the
    // update although its steps were applied (and a preview before anything was).
    if (policies) this.refuse(apply ? 'up' : 'preview', await analyzeStack(policies, resources), options);
    return { changes };
  }

  /** keyslot's pack when asked for (`policy`, the repository's folder), as `--policy-pack` loads it. */
  private packs(paths: readonly string[]) {
    if (paths.length === 0) return undefined;
    const unknown = paths.filter((p) => p.replace(/\/$/, '') !== 'policy');
    if (unknown.length) throw new EngineError(`the simulated engine runs keyslot's own pack (policy) only, not ${unknown.join(', ')}`);
    return keyslotPolicies({ now: () => this.world.clock.now() });
  }

  private refuse(what: 'up' | 'preview', found: readonly PackViolation[], options: UpOptions): void {
    for (const v of found) options.onEvent?.({ kind: 'diagnostic', message: `policy ${v.policy} (${v.level}): ${v.message}` });
    const mandatory = found.filter((v) => v.level === 'mandatory');
    if (mandatory.length) throw new PolicyViolationError(`pulumi ${what} failed: policy ${mandatory[0]!.policy} (mandatory): ${mandatory[0]!.message}${mandatory.length > 1 ? ` (and ${mandatory.length - 1} more)` : ''}`);
  }

  /**
   * Carries out an up's plan in the simulated world in the engine's order: creates and updates in
   * registration order; a replacement deletes the old resource first when it asked for
   * `deleteBeforeReplace`, else after every create; resources gone from the program are deleted
   * last. Returns the operations as `op type::name`, in order.
   * @throws EngineError when a provider refuses (IAM's two-key limit, say); what ran stays done.
   */
  private apply(planned: readonly Planned[], vanished: readonly (readonly [string, SimResourceState])[]): string[] {
    const operations: string[] = [];
    const remove = (key: string, state: SimResourceState, keep: readonly Made[] = []) => {
      operations.push(`delete ${key}`);
      for (const m of state.made) if (!keep.some((k) => JSON.stringify(k) === JSON.stringify(m))) this.undo(m);
    };
    const deferred: (() => void)[] = [];
    try {
      for (const p of planned) {
        if (p.op === 'same') continue;
        if (p.op === 'replace' && p.before) {
          const before = p.before;
          // As Pulumi does, the option of the new registration decides.
          if (p.deleteBeforeReplace) remove(p.key, before, p.made);
          else deferred.push(() => remove(p.key, before, p.made));
        }
        operations.push(`${p.op === 'replace' ? 'create-replacement' : p.op} ${p.key}`);
        p.effect?.();
      }
      for (const d of deferred) d();
      for (const [key, state] of [...vanished].reverse()) remove(key, state);
    } catch (error) {
      if (!(error instanceof SimLimitExceededError || error instanceof SimProviderError)) throw error;
      throw new EngineError(`pulumi up failed: ${operations.at(-1)}: ${error.message}`, { cause: error });
    }
    return operations;
  }

  private undo(m: Made): void {
    if (m.kind === 'key') this.world.cloud.remove(m.token);
    else if (m.kind === 'secret') this.world.fleet.cluster(m.cluster).deleteSecret(m.namespace, m.name);
    else this.world.cloud.stores.delete(m.id);
  }
}

type Operation = 'create' | 'update' | 'replace' | 'same';

/** Types whose every input change replaces them (keys and `time.Static`). */
const replacedOnAnyChange = /:(RandomPassword|AccessKey|PrivateKey|Static)$/;

/** One resource of an up: what the engine will do with it. */
interface Planned {
  readonly key: string;
  /** The resource as a policy pack sees it. */
  readonly analyzed: () => ResourceInput;
  readonly op: Operation;
  readonly made: readonly Made[];
  readonly deleteBeforeReplace: boolean;
  readonly before?: SimResourceState;
  readonly state: SimResourceState;
  /** Creates or updates it in the simulated world. */
  readonly effect?: () => void;
}
