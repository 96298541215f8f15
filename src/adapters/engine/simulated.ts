/**
 * StackEngine that deploys the real program under Pulumi's mock runtime into a simulated world:
 * Kubernetes Secrets land in the simulated clusters, vault and Secrets Manager values in the
 * simulated cloud, keys are the simulated cloud's. The stack file (a checkout) and the backend
 * (deployed outputs, tags, creation times) are separate objects, so a test or the drill can throw
 * a checkout away and start again from the backend, as a new pipeline agent would.
 */
import { parseStackConfig } from '../../config/parse.ts';
import { keyslotPolicies } from '../../../policy/policies/index.ts';
import { EngineError, PolicyViolationError } from '../../errors.ts';
import { analyzeResource, analyzeStack, type PackConfig, type PackViolation } from './policyEvaluation.ts';
import type { Policies } from '@pulumi/policy';
import { readFileSync } from 'node:fs';
import type { CredentialState } from '../../model/state.ts';
import type { Clock } from '../../ports/clock.ts';
import type { StackEngine, UpOptions, UpResult } from '../../ports/engine.ts';
import { SimLimitExceededError, SimProviderError, type SimCloud } from '../../sim/cloud.ts';
import { StepPlanner, type Made, type Planned, type SimResourceState } from './stepPlanner.ts';
import type { SimFleet } from '../../sim/cluster.ts';
import { namespacedConfig } from './namespacedConfig.ts';
import { defaultProgramHost, type ProgramResult } from './programHost.ts';
import type { ProgramTranscripts } from './transcripts.ts';

export type { SimResourceState } from './stepPlanner.ts';

/** What the Pulumi backend keeps between runs. */
export class SimBackend {
  outputs: Record<string, CredentialState> = {};
  keyMaterial: Record<string, Record<string, Readonly<Record<string, string>>>> = {};
  readonly tags = new Map<string, string>();
  /** Every resource at the last up, by `type::name`. */
  state = new Map<string, SimResourceState>();
  /** When set, the CPU time of the program's runs under the mock runtime is added here, and a host process's peak RSS kept (the benchmark's split). */
  meter?: { engineMicros: number; engineHostPeakRssBytes?: number };
  /** The version of the CLI the stack runs under, when a test models one; undefined: no CLI. */
  cliVersion?: string;
  /** Models a Pulumi CLI older than 3.226, whose engine ignores `replacementTrigger`. */
  ignoresReplacementTrigger = false;
  /**
   * When set (the drill), program runs are replayed from recorded transcripts whenever every answer
   * matches (`transcripts.ts`); unset (the driver's tests, `--simulate`), every run executes the program.
   */
  transcripts?: ProgramTranscripts;
  /** Every preview and up, in order, with the packs it was given. */
  readonly runs: { kind: 'preview' | 'up'; policyPacks: readonly string[] }[] = [];
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
  return path
    .split('.')
    .reduce<unknown>((node, part) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[part] : undefined), root);
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

  get cliVersion(): string | undefined {
    return this.backend.cliVersion;
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
    const prior = this.backend.state;
    const makePlanner = () => new StepPlanner(config, this.world, prior, this.backend.outputs, this.backend.ignoresReplacementTrigger);
    const namespaced = namespacedConfig(this.file);
    let planner: StepPlanner;
    let run: ProgramResult;
    try {
      if (this.backend.transcripts) {
        // The drill's seeds: a run whose every answer matches a recorded one is replayed (see transcripts.ts).
        const planners = new Map<object, StepPlanner>();
        const providers = () => {
          const p = makePlanner();
          const callbacks = { newResource: p.newResource, call: p.call };
          planners.set(callbacks, p);
          return callbacks;
        };
        const done = await this.backend.transcripts.run(this.stack, namespaced, providers, (recording) =>
          defaultProgramHost().run(this.stack, namespaced, recording),
        );
        run = done.result;
        planner = planners.get(done.providers)!;
      } else {
        planner = makePlanner();
        // In a child process, as `pulumi up` runs a program in its own language host.
        run = await defaultProgramHost().run(this.stack, namespaced, { newResource: planner.newResource, call: planner.call });
      }
    } catch (error) {
      const message = (error instanceof Error ? error.message.split('\n')[0]! : String(error)).replace(
        /^(error serializing property "[^"]*": )+/,
        '',
      );
      throw new EngineError(`pulumi ${apply ? 'up' : 'preview'} failed: ${message}`, { cause: error });
    }
    if (this.backend.meter) {
      // The host reports its own CPU and peak memory; this process only waited.
      this.backend.meter.engineMicros += run.cpuMicros;
      this.backend.meter.engineHostPeakRssBytes = Math.max(this.backend.meter.engineHostPeakRssBytes ?? 0, run.hostPeakRssBytes);
    }
    const { planned } = planner;
    const what = apply ? 'up' : 'preview';
    this.backend.runs.push({ kind: what, policyPacks: [...options.policyPacks] });
    const packs = this.packs(options);
    const registered = new Set(planned.map((p) => p.key));
    const vanished = [...prior].filter(([key]) => !registered.has(key));
    const changes: Record<string, number> = { same: 0, update: 0, create: 0, replace: 0, delete: vanished.length };
    for (const p of planned) changes[p.op]! += 1;
    // As the engine runs a pack: resource policies per resource as it registers, on its inputs,
    // before its step. In an up, a mandatory violation stops the update there: the steps before it
    // stay applied, nothing after it runs, stack policies are not asked. A preview judges every
    // resource and the stack, then fails. (pulumi/pulumi v3.259.0, pkg/resource/deploy/
    // step_generator.go continueStepsFromImport; analyze_snapshot.go analyzeResource;
    // deployment_executor.go Execute.)
    let stoppedAt: number | undefined;
    const refused: PackViolation[] = [];
    if (packs) {
      for (const [i, p] of planned.entries()) {
        const found = await analyzeResource(packs.policies, p.analyzed('inputs'), packs.config);
        this.report(found, options);
        refused.push(...found.filter((v) => v.level === 'mandatory'));
        if (apply && refused.length) {
          stoppedAt = i;
          break;
        }
      }
    }
    if (stoppedAt === undefined)
      for (const [op, n] of Object.entries(changes))
        if (n > 0 && op !== 'same') options.onEvent?.({ kind: 'summary', message: `${n} to ${op}` });
    if (apply) {
      const done = stoppedAt === undefined ? planned : planned.slice(0, stoppedAt);
      const operations = this.apply(done, stoppedAt === undefined ? vanished : [], stoppedAt !== undefined);
      // What ran is in the checkpoint, step by step; the outputs are the program's only when it finished.
      const state = stoppedAt === undefined ? new Map<string, SimResourceState>() : new Map(prior);
      for (const p of done) state.set(p.key, p.state);
      this.backend.state = state;
      if (stoppedAt === undefined) {
        this.backend.outputs = structuredClone(run.credentials);
        this.backend.keyMaterial = run.keyMaterial;
      }
      this.backend.ups.push({ policyPacks: [...options.policyPacks], changes, operations });
    }
    // Stack policies judge the stack as the update left it: a mandatory violation fails the
    // update although its steps were applied (and a preview before anything was).
    if (packs && stoppedAt === undefined) {
      const found = await analyzeStack(
        packs.policies,
        planned.map((p) => p.analyzed('outputs')),
        packs.config,
      );
      this.report(found, options);
      refused.push(...found.filter((v) => v.level === 'mandatory'));
    }
    if (refused.length)
      throw new PolicyViolationError(
        `pulumi ${what} failed: policy ${refused[0]!.policy} (mandatory): ${refused[0]!.message}${refused.length > 1 ? ` (and ${refused.length - 1} more)` : ''}`,
      );
    return { changes };
  }

  /** keyslot's pack when asked for (`policy`, the repository's folder), as `--policy-pack` loads it, with its config file. */
  private packs(options: UpOptions): { policies: Policies; config: PackConfig } | undefined {
    const paths = options.policyPacks;
    if (paths.length === 0) return undefined;
    const unknown = paths.filter((p) => p.replace(/\/$/, '') !== 'policy');
    if (unknown.length) throw new EngineError(`the simulated engine runs keyslot's own pack (policy) only, not ${unknown.join(', ')}`);
    const file = options.policyPackConfigs?.[0];
    let config: PackConfig = {};
    if (file) {
      try {
        config = JSON.parse(readFileSync(file, 'utf8')) as PackConfig;
      } catch (cause) {
        throw new EngineError(`pulumi: cannot read the policy pack config ${file}: ${(cause as Error).message.split('\n')[0]}`, { cause });
      }
    }
    return { policies: keyslotPolicies({ now: () => this.world.clock.now() }), config };
  }

  private report(found: readonly PackViolation[], options: UpOptions): void {
    for (const v of found) options.onEvent?.({ kind: 'diagnostic', message: `policy ${v.policy} (${v.level}): ${v.message}` });
  }

  /**
   * Carries out an up's plan in the simulated world in the engine's order: creates and updates in
   * registration order; a replacement deletes the old resource first when it asked for
   * `deleteBeforeReplace`, else after every create; resources gone from the program are deleted
   * last. Returns the operations as `op type::name`, in order.
   * @throws EngineError when a provider refuses (IAM's two-key limit, say); what ran stays done.
   */
  private apply(planned: readonly Planned[], vanished: readonly (readonly [string, SimResourceState])[], stopped = false): string[] {
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
      // A stopped update starts no more steps: the replaced resources' deletes do not run.
      if (!stopped) for (const d of deferred) d();
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
