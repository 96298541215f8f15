/**
 * StackEngine that deploys the real program under Pulumi's mock runtime into a simulated world:
 * Kubernetes Secrets land in the simulated clusters, vault and Secrets Manager values in the
 * simulated cloud, keys are the simulated cloud's. The stack file (a checkout) and the backend
 * (deployed outputs, tags, creation times) are separate objects, so a test or the drill can throw
 * a checkout away and start again from the backend, as a new pipeline agent would.
 */
import type * as pulumi from '@pulumi/pulumi';
import { parseStackConfig } from '../../config/parse.ts';
import { EngineError } from '../../errors.ts';
import type { CredentialState } from '../../model/state.ts';
import type { Clock } from '../../ports/clock.ts';
import type { StackEngine, UpOptions, UpResult } from '../../ports/engine.ts';
import { keyOwner, type SimCloud } from '../../sim/cloud.ts';
import type { SimFleet } from '../../sim/cluster.ts';
import { namespacedConfig, reveal, runProgramUnderMocks } from './mockRuntime.ts';

/** What the Pulumi backend keeps between runs. */
export class SimBackend {
  outputs: Record<string, CredentialState> = {};
  keyMaterial: Record<string, Record<string, Readonly<Record<string, string>>>> = {};
  readonly tags = new Map<string, string>();
  /** time.Static results by resource name: kept until their triggers change. */
  readonly statics = new Map<string, { triggers: string; rfc3339: string }>();
  /** Inputs of every resource at the last up, by type and name. */
  state = new Map<string, string>();
  /** Every up: the policy packs it was given and what changed. */
  readonly ups: { policyPacks: readonly string[]; changes: Record<string, number> }[] = [];
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
    const effects: (() => void)[] = [];
    const ownerOfKey = (name: string) => {
      const cred = name.replace(/-(primary|secondary|previous|next|current)$/, '');
      const slot = name.slice(cred.length + 1);
      return { owner: keyOwner((sourceOf.get(cred) ?? { type: 'random' }) as { type: string }, cred), slot, generation: generationOf.get(name) ?? 1 };
    };

    const newResource = (args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } => {
      const { type, name, inputs } = args;
      if (type === 'pulumi:pulumi:StackReference') return { id: String(inputs.name), state: { ...inputs, outputs: { credentials: structuredClone(this.backend.outputs) }, secretOutputNames: [] } };
      if (type.endsWith(':RandomPassword') || type.endsWith(':AccessKey')) {
        const k = ownerOfKey(name);
        const key = apply ? cloud.ensure(k.owner, k.slot, k.generation) : { token: `sim:${k.owner}/${k.slot}@g${k.generation}`, createdAt: clock.now() };
        return type.endsWith(':AccessKey')
          ? { id: key.token, state: { ...inputs, secret: key.token, createDate: key.createdAt.toISOString(), status: 'Active' } }
          : { id: name, state: { ...inputs, result: key.token } };
      }
      if (type.endsWith(':PrivateKey')) {
        const pem = (part: string) => (apply ? cloud.ensure(`tls:${name}`, part, 1).token : `sim:tls:${name}/${part}@g1`);
        return { id: name, state: { ...inputs, privateKeyPem: pem('private'), publicKeyPem: pem('public') } };
      }
      if (type.endsWith(':Static')) {
        const triggers = JSON.stringify(reveal(inputs.triggers));
        const known = this.backend.statics.get(name);
        const rfc3339 = known && known.triggers === triggers ? known.rfc3339 : clock.now().toISOString();
        if (apply) effects.push(() => this.backend.statics.set(name, { triggers, rfc3339 }));
        return { id: name, state: { ...inputs, rfc3339 } };
      }
      if (type === 'kubernetes:core/v1:Secret' || type === 'kubernetes:core/v1:SecretPatch') {
        const cluster = /::cluster-([^:]+)::/.exec(args.provider ?? '')?.[1];
        const meta = reveal(inputs.metadata) as { namespace: string; name: string; annotations?: Record<string, string> };
        const data = reveal(inputs.stringData) as Record<string, string>;
        if (apply && cluster) effects.push(() => fleet.cluster(cluster).applySecret(meta.namespace, meta.name, data, meta.annotations ?? {}));
        return { id: `${meta.namespace}/${meta.name}`, state: inputs };
      }
      if (/^azure-native:keyvault(\/[^:]+)?:Secret$/.test(type) || type === 'aws:secretsmanager/secretVersion:SecretVersion') {
        const plain = reveal(inputs) as { vaultName?: string; secretName?: string; properties?: { value?: string }; secretId?: string; secretString?: string };
        const id = plain.secretId ?? `${plain.vaultName}/${plain.secretName}`;
        const value = plain.secretString ?? plain.properties?.value ?? '';
        if (apply) effects.push(() => cloud.stores.set(id, value));
        return { id, state: inputs };
      }
      return { id: `${name}-id`, state: inputs };
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

    let run: Awaited<ReturnType<typeof runProgramUnderMocks>>;
    try {
      run = await runProgramUnderMocks(this.stack, namespacedConfig(this.file), { newResource, call });
    } catch (error) {
      const message = (error instanceof Error ? error.message.split('\n')[0]! : String(error)).replace(/^(error serializing property "[^"]*": )+/, '');
      throw new EngineError(`pulumi ${apply ? 'up' : 'preview'} failed: ${message}`, { cause: error });
    }
    const next = new Map(run.resources.map((r) => [`${r.type}::${r.name}`, JSON.stringify(reveal(r.inputs))]));
    const changes: Record<string, number> = { same: 0, update: 0, create: 0, delete: 0 };
    for (const [key, inputs] of next) {
      const before = this.backend.state.get(key);
      changes[before === undefined ? 'create' : before === inputs ? 'same' : 'update']! += 1;
    }
    for (const key of this.backend.state.keys()) if (!next.has(key)) changes.delete! += 1;
    for (const [op, n] of Object.entries(changes)) if (n > 0 && op !== 'same') options.onEvent?.({ kind: 'summary', message: `${n} to ${op}` });
    if (apply) {
      for (const effect of effects) effect();
      this.backend.state = next;
      this.backend.outputs = structuredClone(run.credentials);
      this.backend.keyMaterial = run.keyMaterial;
      this.backend.ups.push({ policyPacks: [...options.policyPacks], changes });
    }
    return { changes };
  }
}
