/**
 * The rotation driver: executes the planner's steps through ports, never a copy of the plan.
 *
 * Truth lives with the stack and the fleet, not with this process. Before the flip the driver
 * records the rotation in stack config (deployed with the stack); every restart stamps the pod
 * template with the rotation id; cloud keys carry their creation time. `resume` re-plans from the
 * recorded pre-rotation state and skips whatever the world shows as done, so a crash at any step
 * — on a fresh checkout — finishes with each consumer restarted once and each slot regenerated once.
 */
import pLimit from 'p-limit';
import { parseStackConfig, type Credential, type StackConfig } from '../config/parse.ts';
import type { Delivery, RotationRecord } from '../config/schema.ts';
import {
  ConfigError,
  ConsumerNotReadyError,
  EngineError,
  KeyslotError,
  NothingInFlightError,
  PolicyViolationError,
  PreflightRefusedError,
  RollbackImpossibleError,
  RolledBackError,
  RotationInFlightError,
  StaleStackError,
  TooSoonError,
  WorkloadNotFoundError,
} from '../errors.ts';
import {
  selects,
  defaultWaves,
  driftOf,
  isStage,
  planCredential,
  splitWaves,
  tooSoon,
  hoursBetween,
  compareIds,
  assertStagedNext,
  kopsAdvance,
  kopsAfter,
  kopsCommands,
  kopsSlots,
  orderForWaves,
  sameClusters,
  stageDependencies,
  kopsHome,
  kopsReplaceAll,
  parseKeypairs,
  tokenReissueCheck,
  type KopsKeypair,
  type KopsSlots,
  type KopsTarget,
  type CredentialPlan,
  type RotationMode,
  type StageStep,
  type Step,
  type StepKind,
  type WaveSpec,
} from '../model/index.ts';
import { mountedVersion } from '../model/csi.ts';
import { canaryClusters, canaryPhases } from '../model/canary.ts';
import { helmRelease } from '../model/helm.ts';
import { deliveredSecrets, type DiscoveredConsumer } from '../model/discovery.ts';
import { refusedOperation, rotationKindOf, rotationPhaseOf, selectShoots, shootsToReconcile } from '../model/gardener.ts';
import type { CredentialState } from '../model/state.ts';
import { describeUncovered, discoverConsumers, uncoveredConsumers, uncoveredError } from './discover.ts';
import type { Clock, CloudKeys, ClusterFleet, CommandRunner, HttpProbe, Journal, KeyRef, StackEngine, WorkloadId } from '../ports/index.ts';
import type { EventSink, RotationEvent, StepOutcome } from './events.ts';
import { stackLock, type StackLock } from './lock.ts';

export interface DriverPorts {
  readonly engine: StackEngine;
  readonly clusters: ClusterFleet;
  readonly cloud: CloudKeys;
  readonly clock: Clock;
  readonly commands: CommandRunner;
  readonly http: HttpProbe;
  readonly journal: Journal;
}

export interface DriverOptions {
  /** Policy pack folders passed to every `up`; empty with `--no-policy`. */
  readonly policyPacks: readonly string[];
  /**
   * Registers a cleanup to run if the process is interrupted (SIGTERM, SIGINT) while a lock is
   * held; returns its remover. The CLI passes the process's registry.
   */
  readonly onInterrupt?: (cleanup: () => Promise<void>) => () => void;
  /** Clusters the stages work on at once, over the whole schedule: a cap. @default no cap */
  readonly concurrency?: number;
  /** How each stage widens over its clusters (rotate mode). @default 1, 10%, 100% */
  readonly waves?: WaveSpec;
  /**
   * `whole-rotation`: the canary wave runs every stage (restarts, log checks, waits) and is
   * confirmed before any other cluster is touched. `per-stage`: each stage's canary is its own, and
   * later waves of a stage start once its canary is done, while the canary's later stages may still
   * be running — faster, at the risk of restarting the fleet onto a key the canary has not yet
   * proven. @default whole-rotation
   */
  readonly canary?: 'whole-rotation' | 'per-stage';
  /**
   * A cap on pods restarting at once across the fleet: a restart takes as many as the workload
   * has replicas (as preflight discovery counted them; 1 when unknown) until it rolled out. @default no cap
   */
  readonly maxRestartingPods?: number;
  /** Rotate even if `minIntervalHours` has not passed. @default false */
  readonly force?: boolean;
  /** Who holds the lock, e.g. `ci@runner-7:4121`. */
  readonly holder: string;
  /** @default 3600 */
  readonly lockTtlSeconds?: number;
  readonly onEvent?: EventSink;
  /**
   * Consumer discovery in preflight: `warn` reports workloads that read a delivered Secret but no
   * stage restarts; `strict` refuses to start (exit 2); `off` skips the listing. @default warn
   */
  readonly discovery?: 'off' | 'warn' | 'strict';
  /**
   * Rewrites the plan before it runs. Only drills set it, to prove that a wrong plan (regenerating
   * before the restarts, say) is caught; production never does.
   */
  readonly planHook?: (plan: CredentialPlan) => CredentialPlan;
}

export interface RotationResult {
  readonly credential: string;
  readonly rotationId: string;
  readonly outcome: 'rotated' | 'rolled-back';
  readonly unconfirmed: readonly string[];
}

/** A stage that did not confirm on a cluster. */
interface Unconfirmed {
  readonly step: number;
  readonly label: string;
  readonly error: KeyslotError;
}

interface Run {
  readonly config: StackConfig;
  /** The credential as it was before the rotation started. */
  readonly before: Credential;
  readonly plan: CredentialPlan;
  readonly record: RotationRecord;
  readonly resumed: boolean;
  readonly unconfirmed: Unconfirmed[];
  /** Slot → creation time of keys a cloud hook regenerated in this run. */
  readonly regenerated: Map<string, Date>;
  /** Slot → the key id deployed before a `pulumi-up` regeneration asked for a new key (fresh runs only). */
  keyIdsBefore?: Map<string, string>;
  /** When the gate opened in this run: every declared consumer holds the new key from then on. */
  gateAt?: Date;
  /** `wait-secret-sync` stages passed with CSI rotation off: their mounts are checked at the gate. */
  mountsAtGate?: { step: Extract<StageStep, { kind: 'wait-secret-sync' }>; cluster: string }[];
  /** Replicas of each consumer preflight discovery saw, as `cluster namespace/kind/name`: the longest rollouts go first. */
  replicas?: ReadonlyMap<string, number>;
}

/** Thrown inside a run when the gate stays closed; turned into a rollback. */
class GateClosed extends KeyslotError {}

/** A rotation that has a step, and where in its plan. */
interface StepOwner {
  readonly run: Run;
  readonly index: number;
  /** The clusters this rotation's own stage names, when the shared node covers more (a merged restart). */
  readonly clusters?: ReadonlySet<string>;
}

/** A stage step as the scheduler runs it: once, for every rotation that has it (`owners`). */
interface StageNode {
  readonly step: StageStep;
  readonly owners: readonly StepOwner[];
}

/** What an optional stage says on a cluster where its workload does not exist: never silence. */
function absentOptional(
  step: { namespace: string; workload?: string; firstExisting?: readonly string[] },
  cluster: string,
): { outcome: 'skipped'; detail: string } {
  const candidates = step.workload ? [step.workload] : [...(step.firstExisting ?? [])];
  return { outcome: 'skipped', detail: `${step.namespace}/${candidates.join(' or ')} does not exist on ${cluster} (optional)` };
}

function stripPrefix(path: string): string {
  return path.replace(/^keyslot:/, '');
}

/**
 * A fleet-wide budget of pods restarting at once: `take(n)` waits until n fit (a workload larger
 * than the whole budget waits until nothing else restarts), first come, first served.
 */
class PodBudget {
  private used = 0;
  private readonly queue: { n: number; go: () => void }[] = [];

  constructor(private readonly cap: number) {}

  async take(wanted: number): Promise<() => void> {
    const n = Math.min(wanted, this.cap);
    if (this.queue.length > 0 || this.used + n > this.cap) await new Promise<void>((go) => this.queue.push({ n, go }));
    else this.used += n;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= n;
      while (this.queue.length && this.used + this.queue[0]!.n <= this.cap) {
        const next = this.queue.shift()!;
        this.used += next.n;
        next.go();
      }
    };
  }
}

interface MergedStages {
  readonly nodes: StageNode[];
  readonly dependencies: number[][];
}

/**
 * The stages of several rotations as one schedule: a stage that two of them share (everything but
 * its position and its id) is one node with both as owners, waiting for what either waits for.
 * Undefined when a rotation is not a plain dual one (preflight, flip, up, stages, gate,
 * regenerate, record) or when their orders cross (the merged graph has a cycle).
 */
function mergeStages(runs: readonly Run[]): MergedStages | undefined {
  const shape = /^preflight,flip,up,(stage,)*gate,(regenerate,)?record$/;
  const nodes: { step: StageStep; owners: StepOwner[] }[] = [];
  const dependencies: Set<number>[] = [];
  const byKey = new Map<string, number>();
  for (const run of runs) {
    if (run.plan.scheme !== 'dual' || run.plan.mode !== 'rotate') return undefined;
    if (!shape.test(run.plan.steps.map((s) => (isStage(s) ? 'stage' : s.kind)).join(','))) return undefined;
    const first = run.plan.steps.findIndex(isStage);
    const stages = run.plan.steps.filter(isStage);
    const own = stageDependencies(stages);
    const ids = stages.map((step, k) => {
      const { stage: _position, id: _id, after: _after, ...what } = step;
      // A restart is one per workload and cluster for the whole batch: restarts of the same workload
      // share a node whatever their clusters or timeouts (the node covers the union, with the
      // longest timeout); other stages share one only when they are the same.
      const key =
        step.kind === 'restart'
          ? JSON.stringify([step.kind, step.namespace, step.workload, step.firstExisting, step.optional])
          : JSON.stringify(what);
      let n = byKey.get(key);
      if (n === undefined) {
        n = nodes.push({ step, owners: [] }) - 1;
        dependencies.push(new Set());
        byKey.set(key, n);
      } else if (step.kind === 'restart') {
        const shared = nodes[n]!.step as Extract<StageStep, { kind: 'restart' }>;
        const union = new Set([...shared.clusters, ...step.clusters]);
        nodes[n]!.step = {
          ...shared,
          clusters: run.config.clusters.map((c) => c.name).filter((c) => union.has(c)),
          // The longest: a rollout one credential allows time for is not failed for all by another's shorter wait.
          timeoutSeconds: Math.max(shared.timeoutSeconds, step.timeoutSeconds),
        };
      }
      nodes[n]!.owners.push({ run, index: first + k, clusters: new Set(step.clusters) });
      return n;
    });
    for (const [k, deps] of own.entries()) for (const d of deps) if (ids[d] !== ids[k]) dependencies[ids[k]!]!.add(ids[d]!);
  }
  // A cycle would wait forever: those rotations go one after another.
  const state = new Map<number, 'open' | 'done'>();
  const acyclic = (n: number): boolean => {
    if (state.get(n) === 'done') return true;
    if (state.get(n) === 'open') return false;
    state.set(n, 'open');
    for (const d of dependencies[n]!) if (!acyclic(d)) return false;
    state.set(n, 'done');
    return true;
  };
  if (!nodes.every((_, n) => acyclic(n))) return undefined;
  return { nodes, dependencies: dependencies.map((d) => [...d]) };
}

/** The replicas of each discovered consumer, keyed as `Run.replicas` is. */
function replicasBy(discovered: readonly DiscoveredConsumer[]): Map<string, number> {
  return new Map(discovered.map((d) => [`${d.cluster} ${d.namespace}/${d.workload}`, d.replicas]));
}

/** The Key Vault delivery that serves a cluster: the one whose `clusters` include it. */
function vaultServing(run: Run, cluster: string): Extract<Delivery, { type: 'azure-keyvault-secret' }> | undefined {
  return run.before.deliver.find(
    (d): d is Extract<Delivery, { type: 'azure-keyvault-secret' }> =>
      d.type === 'azure-keyvault-secret' && d.clusters !== undefined && selects(run.config.clusters, d.clusters, cluster),
  );
}

function substitute(text: string, cluster: string | undefined): string {
  return cluster === undefined ? text : text.replaceAll('${cluster}', cluster);
}

export class Driver {
  private readonly concurrency: number;
  private readonly waves: WaveSpec;

  constructor(
    private readonly ports: DriverPorts,
    private readonly options: DriverOptions,
  ) {
    this.concurrency = options.concurrency ?? Number.POSITIVE_INFINITY;
    this.waves = options.waves ?? defaultWaves;
  }

  /** The stack config as the program will read it, through the one parser. */
  async loadConfig(): Promise<StackConfig> {
    const stack = this.ports.engine.stack;
    return parseStackConfig(stack, await this.ports.engine.readConfig(), `stack ${stack}`, this.ports.clock.now());
  }

  /** Starts and finishes a rotation. @throws RotationInFlightError, TooSoonError, LockedError, RolledBackError, ... */
  async rotate(credentialName: string, mode: RotationMode = 'rotate'): Promise<RotationResult> {
    const run = await this.prepare(credentialName, mode);
    const lock = stackLock(run.config, this.ports, this.options.holder, this.options.lockTtlSeconds ?? 3600);
    return this.locked(lock, () => this.execute(run, lock));
  }

  /**
   * Rotates several dual credentials as one: each is prepared and preflighted as if alone, then
   * every flip, one `up`, the union of their stages — a stage two of them share (same kind,
   * namespace, workload, clusters…) runs once, for both — each gate and regeneration, and one
   * record `up`: 2 ups and one restart per consumer, however many credentials. Every credential
   * keeps its own record, so `resume` finishes any of them alone after a crash (a shared consumer
   * is then restarted again for it, never skipped). Rotates one after another instead when a
   * credential is not a plain dual rotation or their stage orders cross.
   */
  async rotateTogether(names: readonly string[]): Promise<RotationResult[]> {
    const runs: Run[] = [];
    for (const name of names) runs.push(await this.prepare(name, 'rotate'));
    const merged = names.length > 1 ? mergeStages(runs) : undefined;
    if (!merged) {
      const results: RotationResult[] = [];
      for (const name of names) results.push(await this.rotate(name));
      return results;
    }
    const lock = stackLock(runs.at(-1)!.config, this.ports, this.options.holder, this.options.lockTtlSeconds ?? 3600);
    return this.locked(lock, () => this.executeTogether(runs, merged, lock));
  }

  private async executeTogether(runs: readonly Run[], merged: MergedStages, lock: StackLock): Promise<RotationResult[]> {
    for (const run of runs) this.rotationStarted(run);
    const at = (run: Run, kind: Step['kind']) => run.plan.steps.findIndex((s) => s.kind === kind);
    const each = async (kind: Step['kind']) => {
      for (const run of runs) {
        const i = at(run, kind);
        if (i < 0) continue;
        await lock.acquire();
        await this.runStep(run, i, run.plan.steps[i]!);
      }
    };
    const prepared: Run[] = [];
    let phase: 'preflight' | 'changed' | 'gated' = 'preflight';
    try {
      for (const run of runs) {
        await lock.acquire();
        await this.runStep(run, 0, run.plan.steps[0]!);
        prepared.push(run);
      }
      phase = 'changed';
      await each('flip');
      await this.together(runs, 'up', () => this.up(runs[0]!));
      await this.schedule(merged.nodes, merged.dependencies, lock, true);
      await each('gate');
      phase = 'gated';
      await each('regenerate');
      await this.together(runs, 'record', async () => {
        for (const run of runs) await this.recordConfig(run);
        const result = await this.up(runs[0]!);
        for (const run of runs) await this.checkReplaced(run);
        return result;
      });
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      if (phase === 'preflight') {
        // Nothing changed but the records of those already preflighted: they go, as one refusal leaves no trace.
        for (const run of prepared) await this.ports.engine.removeConfig(`rotations.${run.plan.name}`);
      } else if (phase === 'changed' && error instanceof KeyslotError && !(error instanceof ConfigError)) {
        let first: RolledBackError | undefined;
        for (const run of runs) {
          const reason = await this.rollBack(run, detail);
          first ??= new RolledBackError(`rotation ${run.record.id} of ${run.plan.name} rolled back: ${reason}`, { cause: error });
        }
        throw first;
      }
      for (const run of runs) this.rotationHalted(run, error);
      throw error;
    }
    return runs.map((run) => this.rotated(run));
  }

  /** One step that several rotations share (the `up`): done once, reported by each. */
  private async together(runs: readonly Run[], kind: 'up' | 'record', body: () => Promise<{ outcome: StepOutcome; detail?: string }>) {
    const owners = runs.map((run) => ({ run, index: run.plan.steps.findIndex((s) => s.kind === kind) }));
    const shared = runs.length > 1 ? ` (one ${kind === 'record' ? 'up' : kind} for ${runs.map((r) => r.plan.name).join(', ')})` : '';
    await this.stepFor(owners, kind, [], async () => {
      const result = await body();
      return { ...result, detail: `${result.detail ?? ''}${shared}` };
    });
  }

  /** Everything a new rotation checks and decides before it takes the lock: nothing is changed but adopted state. */
  private async prepare(credentialName: string, mode: RotationMode): Promise<Run> {
    let config = await this.loadConfig();
    this.credential(config, credentialName);
    const deployedAll = await this.ports.engine.deployed();
    // The other credentials are brought up to what is deployed (an earlier run's commit may not have
    // landed); the one being rotated must not be behind: that is refused below, naming the fix.
    const others = { ...config, credentials: config.credentials.filter((c) => c.name !== credentialName) };
    if (await this.adoptDeployed(others, deployedAll)) config = await this.loadConfig();
    const cred = this.credential(config, credentialName);
    const deployed = deployedAll[cred.name];
    const inFlight = cred.rotation ?? deployed?.rotation;
    if (inFlight) throw new RotationInFlightError(cred.name, inFlight.id, config.stack);
    this.refuseStale(config, cred, deployed);
    if (mode === 'rotate' && !this.options.force && tooSoon(cred.lastRotatedAt, cred.minIntervalHours, this.ports.clock.now())) {
      throw new TooSoonError(
        `credential ${cred.name} was rotated at ${cred.lastRotatedAt}, less than minIntervalHours (${cred.minIntervalHours}h) ago; wait, or pass --force (for an exposed key: --emergency)`,
      );
    }
    const plan = (this.options.planHook ?? ((p: CredentialPlan) => p))(planCredential(config, cred, mode));
    const now = this.ports.clock.now();
    const keyIds = cred.source.type === 'kops-keyset' ? await this.kopsBefore(config, cred, mode) : undefined;
    const record: RotationRecord = {
      // Time and credential name it uniquely: the lock allows one rotation of a stack at a time.
      id: `r-${now.toISOString().replace(/[-:.]/g, '').toLowerCase()}-${cred.name}`,
      startedAt: now.toISOString(),
      from: plan.from,
      to: plan.to,
      mode,
      generations: Object.fromEntries(Object.entries(cred.generations).map(([slot, g]) => [slot, g.generation])),
      ...(keyIds ? { keyIds } : {}),
    };
    return { config, before: cred, plan, record, resumed: false, unconfirmed: [], regenerated: new Map() };
  }

  /** Finishes the rotation in flight, from whatever the stack and the fleet show as done. */
  async resume(credentialName: string): Promise<RotationResult> {
    const { config, cred, record } = await this.inFlight(credentialName);
    const before = this.beforeRotation(cred, record);
    const plan = planCredential(config, before, record.mode);
    const lock = stackLock(config, this.ports, this.options.holder, this.options.lockTtlSeconds ?? 3600);
    return this.locked(lock, () =>
      this.execute({ config, before, plan, record, resumed: true, unconfirmed: [], regenerated: new Map() }, lock),
    );
  }

  /** Flips back the rotation in flight. Impossible once the freed key was regenerated. */
  async rollback(credentialName: string): Promise<RotationResult> {
    const { config, cred, record } = await this.inFlight(credentialName);
    const before = this.beforeRotation(cred, record);
    const plan = planCredential(config, before, record.mode);
    const lock = stackLock(config, this.ports, this.options.holder, this.options.lockTtlSeconds ?? 3600);
    return this.locked(lock, async () => {
      await this.assertRollbackPossible({ config, before, plan, record, resumed: true, unconfirmed: [], regenerated: new Map() });
      await this.rollBack({ config, before, plan, record, resumed: true, unconfirmed: [], regenerated: new Map() }, 'asked for');
      return { credential: cred.name, rotationId: record.id, outcome: 'rolled-back', unconfirmed: [] };
    });
  }

  // ---- the state machine -----------------------------------------------------------------------

  private async execute(run: Run, lock: StackLock): Promise<RotationResult> {
    const { plan, record } = run;
    this.rotationStarted(run);
    const gateAt = plan.steps.findIndex((s) => s.kind === 'gate');
    let step = 0;
    try {
      for (; step < plan.steps.length; step++) {
        await lock.acquire();
        if (isStage(plan.steps[step]!)) {
          let end = step;
          while (end < plan.steps.length && isStage(plan.steps[end]!)) end++;
          await this.stages(run, step, end, lock);
          step = end - 1;
          continue;
        }
        await this.runStep(run, step, plan.steps[step]!);
      }
    } catch (error) {
      if (step === 0) {
        // Preflight changes nothing but the in-flight record, which goes last; a refusal leaves no trace.
        this.rotationHalted(run, error);
        throw error;
      }
      const beforeGate = step <= gateAt && plan.mode === 'rotate';
      if (beforeGate && error instanceof KeyslotError && !(error instanceof ConfigError)) {
        const reason = await this.rollBack(run, error.message);
        throw new RolledBackError(`rotation ${record.id} of ${plan.name} rolled back: ${reason}`, { cause: error });
      }
      this.rotationHalted(run, error);
      throw error;
    }
    return this.rotated(run);
  }

  private rotationStarted({ config, plan, record, resumed }: Run): void {
    this.emit({
      type: 'rotation-started',
      at: this.now(),
      stack: config.stack,
      credential: plan.name,
      rotationId: record.id,
      mode: plan.mode,
      from: plan.from,
      to: plan.to,
      resumed,
    });
  }

  /** A rotation stopped by `error`: what it went past so far, and why. */
  private rotationHalted(run: Run, error: unknown): void {
    this.emit({
      type: 'rotation-finished',
      at: this.now(),
      credential: run.plan.name,
      rotationId: run.record.id,
      outcome: 'halted',
      unconfirmed: run.unconfirmed.map((u) => u.label),
      detail: error instanceof Error ? error.message : String(error),
    });
  }

  private rotated(run: Run): RotationResult {
    const unconfirmed = run.unconfirmed.map((u) => u.label);
    this.emit({
      type: 'rotation-finished',
      at: this.now(),
      credential: run.plan.name,
      rotationId: run.record.id,
      outcome: 'rotated',
      unconfirmed,
    });
    return { credential: run.plan.name, rotationId: run.record.id, outcome: 'rotated', unconfirmed };
  }

  private runStep(run: Run, index: number, step: Step): Promise<void> {
    return this.stepFor([{ run, index }], step.kind, 'clusters' in step ? step.clusters : [], () => this.stepHandler(run, index, step));
  }

  /** A step of one rotation, or one that several share: the work once, `step-started` and `step-finished` for each owner. */
  private async stepFor(
    owners: readonly StepOwner[],
    kind: StepKind,
    clusters: readonly string[],
    body: () => Promise<{ outcome: StepOutcome; detail?: string } | undefined>,
  ): Promise<void> {
    const started = this.stepStarted(owners, kind, clusters);
    let result: { outcome: StepOutcome; detail?: string } | undefined;
    try {
      result = await body();
    } catch (error) {
      this.stepFinished(owners, kind, started, 'failed', error instanceof Error ? error.message : String(error));
      throw error;
    }
    this.stepFinished(owners, kind, started, result?.outcome ?? 'done', result?.detail);
  }

  /** `step-started` for each owner of a step; when it started. */
  private stepStarted(owners: readonly StepOwner[], kind: StepKind, clusters: readonly string[]): number {
    for (const { run, index } of owners)
      this.emit({
        type: 'step-started',
        at: this.now(),
        credential: run.plan.name,
        rotationId: run.record.id,
        step: index,
        kind,
        clusters,
      });
    return this.ports.clock.now().getTime();
  }

  private stepFinished(owners: readonly StepOwner[], kind: StepKind, started: number, outcome: StepOutcome, detail?: string): void {
    for (const { run, index } of owners)
      this.emit({
        type: 'step-finished',
        at: this.now(),
        credential: run.plan.name,
        rotationId: run.record.id,
        step: index,
        kind,
        outcome,
        durationMs: this.ports.clock.now().getTime() - started,
        ...(detail ? { detail } : {}),
      });
  }

  private async stepHandler(run: Run, index: number, step: Step): Promise<{ outcome: StepOutcome; detail?: string } | undefined> {
    switch (step.kind) {
      case 'preflight':
        await this.preflight(run, step.clusters, step.checks);
        return undefined;
      case 'flip':
        await this.setAll(step.set);
        return undefined;
      case 'up': {
        const result = await this.up(run);
        // A kOps keyset moves only once the rotation is in the deployed stack: an agent that dies
        // from here on leaves a record a fresh checkout resumes, and the kops steps skip what is done.
        const kops = run.plan.steps.find((s) => s.kind === 'flip' && s.kops);
        if (kops?.kind === 'flip' && kops.kops)
          return {
            outcome: 'done' as const,
            detail: `${result.detail ?? ''}; ${await this.kopsFlip(run, kops.kops, kops.replaceAll === true)}`,
          };
        return result;
      }
      case 'reissue':
        return this.reissueEverything(run, index, step.clusters);
      case 'gate':
        await this.checkMountsAtGate(run);
        return this.gate(run, step.mode);
      case 'regenerate':
        return this.regenerate(run, step);
      case 'record':
        return this.recordFinish(run);
      default:
        throw new Error(`stage step ${index} reached the single-step path; stages run through stages()`);
    }
  }

  private async preflight(run: Run, clusters: readonly string[], checks: readonly string[]) {
    const limit = pLimit(this.concurrency);
    await Promise.all(clusters.map((c) => limit(() => this.ports.clusters.ping(c))));
    await this.checkRollouts(run);
    if (!run.resumed) {
      if (checks.some((c) => c.startsWith(tokenReissueCheck))) await this.kopsTokensReissued(run);
      await this.checkHelmOwned(run);
      await this.checkShootOperations(run);
      await this.checkConsumers(run);
      if (checks.includes('standby key accepted by the cloud')) await this.ports.cloud.testKey(keyRef(run), run.plan.to);
      // The record goes into the stack before anything changes, so any later crash is resumable.
      await this.setRecord(run.plan.name, run.record);
      await this.policyGate(run);
    } else if ((this.options.discovery ?? 'warn') !== 'off') {
      // A resumed run fills its waves in the order the first run did (the canary stays the canary).
      run.replicas = replicasBy(await discoverConsumers(run.config, run.before, this.ports.clusters));
    }
  }

  /**
   * Previews with the policy packs before the first change, with the rotation recorded as it will
   * be deployed: a mandatory violation refuses the rotation here, with nothing changed, instead of
   * failing the flip's up after it was applied (and the rollback's up after that).
   */
  private async policyGate(run: Run) {
    if (this.options.policyPacks.length === 0) return;
    try {
      await this.ports.engine.preview({
        policyPacks: this.options.policyPacks,
        onEvent: (e) => this.emit({ type: 'engine', at: this.now(), credential: run.plan.name, message: e.message }),
      });
    } catch (error) {
      if (!(error instanceof PolicyViolationError)) throw error;
      await this.ports.engine.removeConfig(`rotations.${run.plan.name}`);
      throw new PreflightRefusedError(
        `refused before any change: ${error.message.replace(/^pulumi preview failed: /, '')}; or run without the pack (--no-policy)`,
        { cause: error },
      );
    }
  }

  /**
   * Refuses, before anything changes, to deliver into a Secret a Helm release owns: the release's
   * next `helm upgrade` writes its values back over the new key (src/model/helm.ts).
   */
  private async checkHelmOwned(run: Run) {
    const limit = pLimit(this.concurrency);
    const targets = [...deliveredSecrets(run.config, run.before)].flatMap(([cluster, secrets]) => secrets.map((d) => ({ d, cluster })));
    const owned = await Promise.all(
      targets.map(({ d, cluster }) =>
        limit(async () => {
          const meta = await this.ports.clusters.secretMetadata(cluster, d.namespace, d.name);
          const release = meta ? helmRelease(meta) : undefined;
          return release ? `Secret ${d.namespace}/${d.name} on ${cluster} belongs to Helm release ${release}` : undefined;
        }),
      ),
    );
    const found = owned.filter((o): o is string => o !== undefined);
    if (found.length)
      throw new PreflightRefusedError(
        `refused before any change: ${found.join('; ')}, so the next helm upgrade would write the chart's value back over the new key; fix: have the chart read a Secret it does not create (Kubecost: kubecostModel.federatedStorageConfigSecret, kubecostProductConfigs.cloudIntegrationSecret) and let keyslot deliver that one`,
      );
  }

  /**
   * Refuses, before anything changes, an annotate stage the landscape's Gardener would refuse on a
   * Shoot it selects: an operation this version no longer has (rotate-kubeconfig-credentials from
   * v1.114), a -complete before its phase is Prepared, a rotation on a hibernated Shoot.
   */
  private async checkShootOperations(run: Run) {
    const problems: string[] = [];
    // A -complete after this plan's own -start is judged when it runs, once the start is Prepared.
    const started = new Set<string>();
    for (const step of run.plan.steps) {
      // wait-reconciled: a Shoot gardenlet will not reconcile (Failed, being deleted, an operation
      // an older Gardener cannot share the annotation with) is found before the flip, not after it.
      if (step.kind === 'wait-reconciled') {
        for (const cluster of step.clusters) {
          try {
            shootsToReconcile(cluster, await this.ports.clusters.listShoots(cluster, step.namespace), step);
          } catch (error) {
            if (!(error instanceof KeyslotError)) throw error;
            problems.push(error.message);
          }
          // The binding is read, not assumed to share the Secret's name: its secretRef must be a
          // Secret this credential delivers there, or the Shoots reconcile onto the old key.
          const delivered = (deliveredSecrets(run.config, run.before).get(cluster) ?? [])
            .filter((d) => d.namespace === step.namespace)
            .map((d) => d.name);
          const binding = (await this.ports.clusters.listSecretBindings(cluster, step.namespace)).find(
            (b) => b.name === step.secretBinding,
          );
          if (!binding)
            problems.push(
              `cluster ${cluster}: no SecretBinding ${step.namespace}/${step.secretBinding}; fix the stage's secretBinding (kubectl get secretbindings -n ${step.namespace})`,
            );
          else if (!delivered.includes(binding.secret))
            problems.push(
              `cluster ${cluster}: SecretBinding ${step.namespace}/${step.secretBinding} refers to Secret ${binding.secret}, which ${run.plan.name} does not deliver (it delivers ${delivered.join(', ') || 'none there'}); fix the delivery's name, or the stage's secretBinding`,
            );
        }
        continue;
      }
      if (step.kind !== 'annotate') continue;
      const kind = rotationKindOf(step.operation);
      const phase = rotationPhaseOf(step.operation);
      if (!(phase === 'complete' && kind && started.has(kind)))
        for (const cluster of step.clusters) {
          const shoots = selectShoots(await this.ports.clusters.listShoots(cluster, step.namespace), step);
          for (const shoot of shoots) {
            const why = refusedOperation(shoot, step.operation);
            if (why) problems.push(`shoot ${step.namespace}/${shoot.name} on ${cluster}: ${why}`);
          }
        }
      if (kind && phase === 'start') started.add(kind);
    }
    if (problems.length) throw new PreflightRefusedError(`refused before any change: ${problems.join('; ')}`);
  }

  /** Refuses, before anything changes, a rotation whose restarts could never roll out. */
  private async checkRollouts(run: Run) {
    const limit = pLimit(this.concurrency);
    const checks = run.plan.steps.flatMap((step) => (step.kind === 'restart' ? step.clusters.map((cluster) => ({ step, cluster })) : []));
    const found = await Promise.all(
      checks.map(({ step, cluster }) =>
        limit(async () => {
          // A missing workload is the restart stage's to report (or skip, when optional).
          const id = await this.resolveWorkload(cluster, step).catch((error: unknown) => {
            if (error instanceof WorkloadNotFoundError) return undefined;
            throw error;
          });
          const why = id ? await this.ports.clusters.rolloutBlocker(cluster, id) : undefined;
          return why ? `${id!.namespace}/${why} (cluster ${cluster})` : undefined;
        }),
      ),
    );
    const blocked = found.filter((b): b is string => b !== undefined);
    if (blocked.length) throw new PreflightRefusedError(`refused before any change: ${blocked.join('; ')}`);
  }

  private async checkConsumers(run: Run) {
    const mode = this.options.discovery ?? 'warn';
    if (mode === 'off') return;
    const discovered = await discoverConsumers(run.config, run.before, this.ports.clusters);
    run.replicas = replicasBy(discovered);
    const uncovered = uncoveredConsumers(run.config, run.before, discovered);
    if (uncovered.length === 0) return;
    if (mode === 'strict') throw uncoveredError(run.config, run.before, uncovered);
    for (const c of uncovered)
      this.emit({
        type: 'warning',
        at: this.now(),
        credential: run.plan.name,
        message: `${describeUncovered(c)}; it keeps the old key until that key is regenerated`,
      });
  }

  private async setRecord(credential: string, record: RotationRecord) {
    const base = `rotations.${credential}`;
    await this.ports.engine.setConfig(`${base}.id`, record.id);
    await this.ports.engine.setConfig(`${base}.startedAt`, record.startedAt);
    await this.ports.engine.setConfig(`${base}.from`, record.from);
    await this.ports.engine.setConfig(`${base}.to`, record.to);
    await this.ports.engine.setConfig(`${base}.mode`, record.mode);
    for (const [slot, g] of Object.entries(record.generations)) await this.ports.engine.setConfig(`${base}.generations.${slot}`, String(g));
    for (const [slot, id] of Object.entries(record.keyIds ?? {})) await this.ports.engine.setConfig(`${base}.keyIds.${slot}`, id);
  }

  private async setAll(values: Readonly<Record<string, string | number>>) {
    for (const [path, value] of Object.entries(values)) await this.ports.engine.setConfig(stripPrefix(path), String(value));
  }

  private async up(run: Run) {
    const result = await this.ports.engine.up({
      policyPacks: this.options.policyPacks,
      onEvent: (e) => this.emit({ type: 'engine', at: this.now(), credential: run.plan.name, message: e.message }),
    });
    const changed = Object.entries(result.changes)
      .filter(([op]) => op !== 'same')
      .map(([op, n]) => `${n} ${op}`);
    return { outcome: 'done' as const, detail: changed.length ? changed.join(', ') : 'no changes' };
  }

  /** The mounts of classes whose CSI driver does not rotate: after the restarts, every pod must hold the new version. */
  private async checkMountsAtGate(run: Run) {
    for (const { step, cluster } of run.mountsAtGate ?? []) {
      const vault = vaultServing(run, cluster)!;
      try {
        // The restarts are done: a pod behind now stays behind, so a short wait for the status to settle.
        await this.awaitMounts(step, cluster, vault, 60);
      } catch (error) {
        if (!(error instanceof KeyslotError)) throw error;
        const index = run.plan.steps.findIndex((s) => s.kind === 'wait-secret-sync' && 'stage' in s && s.stage === step.stage);
        run.unconfirmed.push({ step: index, label: `wait-secret-sync ${this.stageLabel(step)} on ${cluster}`, error });
      }
    }
  }

  private gate(run: Run, mode: 'strict' | 'emergency') {
    run.gateAt = this.ports.clock.now();
    if (run.unconfirmed.length === 0) return { outcome: 'done' as const, detail: 'every consumer confirmed' };
    const labels = run.unconfirmed.map((u) => `${u.label}: ${u.error.message}`);
    if (mode === 'strict') throw new GateClosed(`gate closed, ${run.unconfirmed.length} consumer(s) not confirmed: ${labels.join('; ')}`);
    return {
      outcome: 'done' as const,
      detail: `emergency: regenerating although ${run.unconfirmed.length} consumer(s) did not confirm: ${labels.join('; ')}`,
    };
  }

  private async regenerate(run: Run, step: Extract<Step, { kind: 'regenerate' }>) {
    const path = `generations.${run.plan.name}.${step.slot}.generation`;
    // Every consumer was restarted before the gate; a use of the freed key after it means one was missed.
    const used = run.gateAt ? await this.ports.cloud.keyLastUsedAt(keyRef(run), step.slot) : undefined;
    if (used && run.gateAt && used > run.gateAt) {
      this.emit({
        type: 'warning',
        at: this.now(),
        credential: run.plan.name,
        message: `the freed ${step.slot} key was used at ${used.toISOString()}, after every declared consumer was restarted: a consumer is missing from the stages (run keyslot plan --discover)`,
      });
    }
    if (step.via === 'pulumi-up') {
      // AWS's own procedure: switch the freed key off first, so that a missed consumer fails while
      // turning it back on still helps, and replace it only after the soak.
      let soaked = '';
      if (step.soakMinutes > 0 && !run.resumed) {
        const off = await this.ports.cloud.setActive(keyRef(run), step.slot, false);
        await this.ports.clock.sleep(step.soakMinutes * 60_000);
        soaked = `, after ${off ? 'deactivating it for ' : ''}a ${step.soakMinutes} min soak`;
      }
      // Replaced by the next `up` (record's); setting the generation twice is the same config.
      if (!run.resumed) {
        const id = (await this.ports.engine.deployed())[run.plan.name]?.slots[step.slot]?.keyId;
        if (id) {
          run.keyIdsBefore ??= new Map();
          run.keyIdsBefore.set(step.slot, id);
        }
      }
      await this.ports.engine.setConfig(path, String(step.generation));
      return { outcome: 'done' as const, detail: `${step.slot} → generation ${step.generation} (replaced at the next up${soaked})` };
    }
    const startedAt = new Date(run.record.startedAt);
    const made = await this.ports.cloud.keyCreatedAt(keyRef(run), step.slot);
    if (made && made > startedAt) {
      run.regenerated.set(step.slot, made);
      await this.ports.engine.setConfig(path, String(step.generation));
      return { outcome: 'skipped' as const, detail: `${step.slot} was already regenerated at ${made.toISOString()}` };
    }
    if (step.soakMinutes > 0 && !run.resumed) await this.ports.clock.sleep(step.soakMinutes * 60_000);
    const createdAt = await this.ports.cloud.regenerate(keyRef(run), step.slot);
    run.regenerated.set(step.slot, createdAt);
    await this.ports.engine.setConfig(path, String(step.generation));
    return { outcome: 'done' as const, detail: `${step.slot} regenerated (${step.via}), generation ${step.generation}` };
  }

  private async recordFinish(run: Run) {
    const now = await this.recordConfig(run);
    await this.up(run);
    await this.checkReplaced(run);
    return { outcome: 'done' as const, detail: `lastRotatedAt ${now}` };
  }

  /** The record step's config: creation times of regenerated keys, the rotation times, the in-flight record removed. */
  private async recordConfig(run: Run): Promise<string> {
    const gens = `generations.${run.plan.name}`;
    const now = this.now();
    for (const [slot, createdAt] of run.regenerated)
      await this.ports.engine.setConfig(`${gens}.${slot}.createdAt`, createdAt.toISOString());
    if (run.before.lastRotatedAt) await this.ports.engine.setConfig(`${gens}.previousRotatedAt`, run.before.lastRotatedAt);
    await this.ports.engine.setConfig(`${gens}.lastRotatedAt`, now);
    await this.ports.engine.removeConfig(`rotations.${run.plan.name}`);
    return now;
  }

  /**
   * A key regenerated by a generation bump must have a new id after the up: a CLI that ignores
   * `replacementTrigger` (before 3.226) keeps the old key while the recorded createdAt moves on.
   */
  private async checkReplaced(run: Run) {
    if (!run.keyIdsBefore?.size) return;
    const deployed = (await this.ports.engine.deployed())[run.plan.name];
    for (const [slot, before] of run.keyIdsBefore) {
      if (deployed?.slots[slot]?.keyId !== before) continue;
      throw new EngineError(
        `credential ${run.plan.name}: slot ${slot} still has key …${before.slice(-4)} after the up that should have replaced it, so the old key was not regenerated; the Pulumi CLI ignored replacementTrigger (check pulumi version: keyslot needs 3.226 or newer), then run keyslot resume --stack ${run.config.stack} --credential ${run.plan.name}`,
      );
    }
  }

  // ---- stages: waves over the fleet, pipelined along each cluster's chain -------------------------

  /**
   * Runs the consecutive stage steps `from`..`to - 1` of one rotation as one schedule. Each stage
   * widens over its clusters in waves (rotate mode; emergencies and disruptive runs go everywhere at
   * once), a wave starting only when the one before it is done on all its clusters. A stage starts
   * on a cluster as soon as what it waits for (`stageDependencies`) is done there, when both act on
   * the same clusters; otherwise (the Thanos store on the primary after prometheus everywhere, a
   * once-only command) when it is done everywhere. In rotate mode the first failure stops new work:
   * nothing more starts, what is under way finishes, and the gate closes.
   */
  private async stages(run: Run, from: number, to: number, lock: StackLock) {
    const steps = run.plan.steps.slice(from, to) as StageStep[];
    await this.schedule(
      steps.map((step, k) => ({ step, owners: [{ run, index: from + k }] })),
      stageDependencies(steps),
      lock,
      run.plan.mode === 'rotate',
    );
  }

  /**
   * The schedule itself, over stage nodes that one or several rotations share (a restart of a
   * consumer of two credentials rotated together runs once, for both): each node runs on each of
   * its clusters once, with the first owner's rotation id, and every owner gets its events and its
   * failures.
   */
  private async schedule(nodes: readonly StageNode[], dependencies: readonly number[][], lock: StackLock, rotate: boolean) {
    // The canary first: it runs every stage and is confirmed before any other cluster is touched, so
    // a canary failure rolls back the canary alone (src/model/canary.ts). `canary: 'per-stage'`
    // pipelines each stage's canary into its later waves instead: faster, but the rest of the fleet
    // may restart onto the new key while the canary's later stages (a consumer that crashes on it,
    // a log check) have not yet passed.
    if (rotate && (this.options.canary ?? 'whole-rotation') === 'whole-rotation') {
      const lead = nodes[0]?.owners[0]?.run;
      const fleet = [...new Set(nodes.flatMap((n) => n.step.clusters))];
      const ordered = orderForWaves(fleet, lead?.replicas);
      const canary = canaryClusters(
        nodes.map((n) => n.step),
        ordered,
        this.waves,
      );
      // Rotated together, every credential gets a canary of its own: a credential with no stage on
      // the batch's canary adds its own first cluster to it.
      if (canary.size > 0)
        for (const run of new Set(nodes.flatMap((n) => n.owners.map((o) => o.run)))) {
          const mine = new Set(
            nodes.flatMap((n) => n.owners.filter((o) => o.run === run).flatMap((o) => [...(o.clusters ?? n.step.clusters)])),
          );
          if (![...mine].some((c) => canary.has(c))) {
            const first = ordered.find((c) => mine.has(c));
            if (first) canary.add(first);
          }
        }
      for (const phase of canaryPhases(
        nodes.map((n) => n.step),
        dependencies,
        canary,
        this.waves,
      )) {
        const phaseNodes = phase.indices.map((k, i) => ({ step: phase.stages[i]!, owners: nodes[k]!.owners }));
        await this.runSchedule(phaseNodes, phase.dependencies, lock, rotate, phase.waves);
      }
      return;
    }
    await this.runSchedule(nodes, dependencies, lock, rotate, this.waves);
  }

  private async runSchedule(
    nodes: readonly StageNode[],
    dependencies: readonly number[][],
    lock: StackLock,
    rotate: boolean,
    spec: WaveSpec,
  ) {
    const limit = pLimit(this.concurrency);
    /** What went wrong, with the rotation it belongs to: a shared stage fails for each owner. */
    const failed: { run: Run; unconfirmed: Unconfirmed }[] = [];
    let stopped = false;
    const clusterDone: Map<string | undefined, Promise<void>>[] = [];
    const stageDone: Promise<void>[] = [];
    const pods = new PodBudget(this.options.maxRestartingPods ?? Number.POSITIVE_INFINITY);

    nodes.forEach(({ step, owners }, k) => {
      const lead = owners[0]!.run;
      const targets: (string | undefined)[] = step.clusters.length ? [...step.clusters] : [undefined];
      const waves = rotate ? splitWaves(orderForWaves(targets, lead.replicas), spec) : [targets];
      const byCluster = new Map<string | undefined, Promise<void>>();
      let started: number | undefined;
      let failures = 0;
      const begin = () => {
        started ??= this.stepStarted(owners, step.kind, step.clusters);
      };
      // Decided once per dependency, not per cluster: comparing cluster lists costs the fleet's size.
      const perCluster = dependencies[k]!.map((d) => sameClusters(nodes[d]!.step, step));
      const waitFor = (cluster: string | undefined): Promise<unknown> =>
        Promise.all(dependencies[k]!.map((d, j) => (perCluster[j] ? clusterDone[d]!.get(cluster) : stageDone[d])));
      let waveBefore: Promise<void> = Promise.resolve();
      for (const wave of waves) {
        const after = waveBefore;
        const sized = this.longestFirst(lead, step, wave);
        const runs = sized.map((cluster) => {
          const done = (async () => {
            await after;
            await waitFor(cluster);
            if (stopped) return;
            await limit(async () => {
              if (stopped) return;
              await lock.acquire();
              const release = step.kind === 'restart' ? await pods.take(this.replicasOf(lead, step, cluster)) : () => {};
              if (stopped) return release();
              begin();
              const problems = await this.stageCluster(owners, step, cluster).finally(release);
              if (problems.length === 0) return;
              failures++;
              failed.push(...problems);
              if (rotate) stopped = true;
            });
          })();
          byCluster.set(cluster, done);
          return done;
        });
        waveBefore = Promise.all(runs).then(() => undefined);
      }
      clusterDone[k] = byCluster;
      stageDone[k] = waveBefore.then(() => {
        if (started === undefined) return;
        this.stepFinished(
          owners,
          step.kind,
          started,
          failures ? 'failed' : 'done',
          failures ? `${failures} cluster(s) unconfirmed` : undefined,
        );
      });
    });
    // Every unit settles before anything is decided; a bug (not a KeyslotError) still propagates.
    const settled = await Promise.allSettled(stageDone);
    const bug = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (bug) throw bug.reason;
    for (const f of failed) f.run.unconfirmed.push(f.unconfirmed);
    if (failed.length && rotate) {
      const first = failed[0]!;
      const step = first.run.plan.steps[first.unconfirmed.step] as StageStep;
      // Nothing after the failed wave started; the gate closes now.
      throw new GateClosed(
        `${step.kind} ${this.stageLabel(step)} failed on ${[...new Set(failed.map((f) => f.unconfirmed.label.split(' on ').pop()))].join(', ')}: ${first.unconfirmed.error.message}`,
      );
    }
  }

  /** Longest first within a wave: it ends when its slowest cluster does, so start the biggest rollouts before small ones fill the workers. */
  private longestFirst(run: Run, step: StageStep, wave: readonly (string | undefined)[]): (string | undefined)[] {
    if (step.kind !== 'restart' || !step.workload || !run.replicas) return [...wave];
    const size = (c: string | undefined) => run.replicas?.get(`${c} ${step.namespace}/${step.workload}`) ?? 0;
    return [...wave].sort((a, b) => size(b) - size(a));
  }

  /** Pods a restart of the stage's workload on the cluster takes down and brings up, as preflight discovery counted them. */
  private replicasOf(run: Run, step: StageStep, cluster: string | undefined): number {
    if (step.kind !== 'restart') return 0;
    const workload = step.workload ?? step.firstExisting?.[0];
    return run.replicas?.get(`${cluster} ${step.namespace}/${workload}`) ?? 1;
  }

  /**
   * One stage on one cluster (or once), run with the first owner's rotation: each owner gets the
   * outcome as its event; returns what went wrong for each, if anything did.
   */
  private async stageCluster(
    owners: StageNode['owners'],
    step: StageStep,
    cluster: string | undefined,
  ): Promise<{ run: Run; unconfirmed: Unconfirmed }[]> {
    const started = this.ports.clock.now().getTime();
    const where = cluster ?? 'once';
    // A merged restart reports to, and fails for, the rotations whose own stage names this cluster.
    const mine = owners.filter((o) => cluster === undefined || !o.clusters || o.clusters.has(cluster));
    const tell = (outcome: StepOutcome, detail: string) => {
      for (const { run, index } of mine)
        this.emit({
          type: 'cluster-finished',
          at: this.now(),
          credential: run.plan.name,
          rotationId: run.record.id,
          step: index,
          kind: step.kind,
          cluster: where,
          outcome,
          durationMs: this.ports.clock.now().getTime() - started,
          detail,
        });
    };
    try {
      const result = await this.stageOn((mine[0] ?? owners[0]!).run, step, cluster);
      const { outcome, detail }: { outcome: StepOutcome; detail: string } =
        typeof result === 'string' ? { outcome: 'done', detail: result } : result;
      tell(outcome, detail);
      return [];
    } catch (error) {
      if (!(error instanceof KeyslotError)) throw error;
      tell('failed', error.message);
      return mine.map(({ run, index }) => ({
        run,
        unconfirmed: { step: index, label: `${step.kind} ${this.stageLabel(step)} on ${where}`, error },
      }));
    }
  }

  private stageLabel(step: StageStep): string {
    switch (step.kind) {
      case 'restart':
      case 'verify-logs':
        return `${step.namespace}/${step.workload ?? step.firstExisting?.join('|')}`;
      case 'verify-http':
        return step.url;
      case 'wait-reconciled':
        return `${step.namespace}/${step.secretBinding}`;
      case 'wait-secret-sync':
        return `${step.namespace}/${step.secretProviderClass}`;
      case 'annotate':
        return `${step.namespace}/${step.shoots?.join(',') ?? step.secretBinding}`;
      case 'exec':
        return step.command[0]!;
    }
  }

  /** The workload a restart or log check acts on: the named one, or the first that exists. */
  private async resolveWorkload(
    cluster: string,
    step: Extract<StageStep, { kind: 'restart' | 'verify-logs' }>,
  ): Promise<WorkloadId | undefined> {
    const candidates = step.workload ? [step.workload] : (step.firstExisting ?? []);
    for (const workload of candidates) {
      const id = { namespace: step.namespace, workload };
      if (await this.ports.clusters.exists(cluster, id)) return id;
    }
    if (step.optional) return undefined;
    throw new WorkloadNotFoundError(
      `${step.namespace}/${candidates.join(' or ')} not found on cluster ${cluster}; fix the stage, or mark it optional: true`,
    );
  }

  private async stageOn(run: Run, step: StageStep, cluster: string | undefined): Promise<string | { outcome: 'skipped'; detail: string }> {
    const since = new Date(run.record.startedAt);
    const need = (c: string | undefined): string => {
      if (c === undefined) throw new ConsumerNotReadyError(`${step.kind} needs a cluster`);
      return c;
    };
    switch (step.kind) {
      case 'restart': {
        const c = need(cluster);
        const id = await this.resolveWorkload(c, step);
        if (!id) return absentOptional(step, c);
        const { outcome } = await this.ports.clusters.restart(c, id, run.record.id);
        await this.ports.clusters.waitRollout(c, id, step.timeoutSeconds);
        return outcome === 'already'
          ? `${id.workload} already restarted for ${run.record.id}; rolled out`
          : `${id.workload} restarted and rolled out`;
      }
      case 'verify-logs': {
        const c = need(cluster);
        const id = await this.resolveWorkload(c, step);
        if (!id) return absentOptional(step, c);
        const { matches, read } = await this.ports.clusters.checkLogs(c, {
          ...id,
          ...(step.container ? { container: step.container } : {}),
          patterns: step.patterns,
          since,
          windowSeconds: step.windowSeconds,
        });
        const containers = [...new Set(read.map((r) => r.slice(r.lastIndexOf('/') + 1)))].join(', ');
        const pods = new Set(read.map((r) => r.slice(0, r.lastIndexOf('/')))).size;
        if (matches.length)
          throw new ConsumerNotReadyError(
            `${matches.length} auth error line(s) in ${id.namespace}/${id.workload} logs on ${c} (${[...new Set(matches)].join('; ')})`,
          );
        return `${id.workload} logs clean (${pods} pod(s), container(s) ${containers})`;
      }
      case 'verify-http': {
        const url = substitute(step.url, cluster);
        const deadline = this.ports.clock.now().getTime() + step.timeoutSeconds * 1000;
        const expected = `${step.expectStatus}${step.expectJson ? ` with ${step.expectJson.path} = ${JSON.stringify(step.expectJson.equals)}` : ''}`;
        let last = 'no answer';
        for (;;) {
          try {
            const { status, body } = await this.ports.http.get(url, Math.min(10, step.timeoutSeconds));
            const field = step.expectJson ? jsonField(body, step.expectJson.path) : undefined;
            // The body is never quoted: a diagnostics endpoint may echo configuration.
            if (status !== step.expectStatus) last = `status ${status}`;
            else if (step.expectJson && field !== step.expectJson.equals)
              last = `${step.expectJson.path} ${field === undefined ? 'missing' : 'had another value'}`;
            else return `${url} answered ${expected}`;
          } catch (error) {
            last = error instanceof Error ? error.message : String(error);
          }
          if (this.ports.clock.now().getTime() >= deadline)
            throw new ConsumerNotReadyError(`${url} did not answer ${expected} within ${step.timeoutSeconds}s (last: ${last})`);
          await this.ports.clock.sleep(2000);
        }
      }
      case 'wait-secret-sync':
        return this.waitSecretSync(run, step, need(cluster));
      case 'wait-reconciled':
        await this.ports.clusters.waitShootsReconciled(need(cluster), {
          namespace: step.namespace,
          secretBinding: step.secretBinding,
          since,
          timeoutSeconds: step.timeoutSeconds,
        });
        return `shoots of ${step.secretBinding} reconciled`;
      case 'annotate':
        await this.ports.clusters.annotateShoots(need(cluster), {
          namespace: step.namespace,
          ...(step.shoots ? { shoots: step.shoots } : {}),
          ...(step.secretBinding ? { secretBinding: step.secretBinding } : {}),
          operation: step.operation,
          since,
          timeoutSeconds: step.timeoutSeconds,
        });
        return `${step.operation} completed`;
      case 'exec': {
        const env: Record<string, string> = {
          KEYSLOT_STACK: run.config.stack,
          KEYSLOT_CREDENTIAL: run.plan.name,
          KEYSLOT_SLOT: run.plan.to,
          KEYSLOT_ROTATION: run.record.id,
          ...(cluster ? { KEYSLOT_CLUSTER: cluster } : {}),
        };
        const command = step.command.map((a) => substitute(a, cluster));
        const exec = (extra: Record<string, string>) =>
          this.ports.commands.run(command, { env: { ...env, ...extra }, timeoutSeconds: step.timeoutSeconds });
        await (cluster ? this.ports.clusters.withKubeconfig(cluster, (path) => exec({ KUBECONFIG: path })) : exec({}));
        return `${step.command[0]} exited 0`;
      }
    }
  }

  // ---- Key Vault through the Secrets Store CSI driver --------------------------------------------

  /**
   * Waits until every pod of the SecretProviderClass on the cluster mounts the version of the
   * secret that the vault serving this cluster holds now, as the CSI driver's
   * SecretProviderClassPodStatus objects record it. Versions are ids, never values.
   */
  private async waitSecretSync(run: Run, step: Extract<StageStep, { kind: 'wait-secret-sync' }>, cluster: string): Promise<string> {
    const vault = vaultServing(run, cluster);
    if (!vault)
      throw new ConsumerNotReadyError(
        `no azure-keyvault-secret delivery of ${run.plan.name} declares cluster ${cluster} in its clusters, so there is no vault version to wait for; fix: add the cluster to the delivery of the vault its pods read`,
      );
    // With rotation off (the driver's and the AKS add-on's default), a running pod's mount never
    // changes: waiting would time out. A pod that starts mounts the vault's current version
    // (NodePublishVolume, pkg/secrets-store/nodeserver.go v1.5.6), so the restarts after this stage
    // carry the new value by themselves.
    const rotation = await this.ports.clusters.csiRotation(cluster);
    // A Secret synced through secretObjects changes only on a rotation pass: with rotation off the
    // driver creates it once and never updates it (secrets-store-csi-driver v1.5.6,
    // controllers/secretproviderclasspodstatus_controller.go; pkg/rotation/reconciler.go), so its
    // readers would keep the old key through any restart. Refused before any restart.
    const synced = await this.ports.clusters.providerClassSyncedSecrets(cluster, step.namespace, step.secretProviderClass);
    if (rotation && !rotation.enabled && synced.length)
      throw new ConsumerNotReadyError(
        `SecretProviderClass ${step.namespace}/${step.secretProviderClass} on ${cluster} syncs Secret(s) ${synced.join(', ')} through secretObjects, and the CSI driver's rotation is off there: the driver never updates a synced Secret then, so its readers would keep the old key even after a restart; fix: enable rotation (--enable-secret-rotation), or stop syncing and mount the vault directly`,
      );
    if (rotation && !rotation.enabled) {
      // The same check runs at the gate, after the restarts: a pod of the class that no stage
      // restarted would still mount the old version there, and close the gate.
      run.mountsAtGate ??= [];
      run.mountsAtGate.push({ step, cluster });
      return `CSI secret rotation is off on ${cluster}: running pods keep their mount until they restart, and a restarted pod mounts ${vault.vaultName}/${vault.secretName} as it is now; every pod's mount is checked at the gate`;
    }
    return this.awaitMounts(step, cluster, vault, step.timeoutSeconds, rotation);
  }

  /** Waits until every pod of the class mounts the version the vault holds now; the detail, or a ConsumerNotReadyError. */
  private async awaitMounts(
    step: Extract<StageStep, { kind: 'wait-secret-sync' }>,
    cluster: string,
    vault: Extract<Delivery, { type: 'azure-keyvault-secret' }>,
    timeoutSeconds: number,
    rotation?: { pollSeconds: number },
  ): Promise<string> {
    const deadline = this.ports.clock.now().getTime() + timeoutSeconds * 1000;
    let behind: string[] = [];
    for (;;) {
      const expected = await this.ports.cloud.vaultSecretVersion({
        ...(vault.subscriptionId ? { subscriptionId: vault.subscriptionId } : {}),
        resourceGroupName: vault.resourceGroupName,
        vaultName: vault.vaultName,
        secretName: vault.secretName,
      });
      const pods = await this.ports.clusters.secretSyncStatus(cluster, step.namespace, step.secretProviderClass);
      behind = pods.filter((p) => mountedVersion(p.objects, vault.secretName) !== expected).map((p) => p.pod);
      // The rotation pass that refreshed the mounts wrote the synced Secrets in the same pass.
      if (pods.length > 0 && behind.length === 0)
        return `${pods.length} pod(s) mount ${vault.vaultName}/${vault.secretName} version …${(expected ?? '').slice(-6)}`;
      if (this.ports.clock.now().getTime() >= deadline)
        throw new ConsumerNotReadyError(
          pods.length === 0
            ? `no pod of SecretProviderClass ${step.namespace}/${step.secretProviderClass} on ${cluster} reports a mount (no SecretProviderClassPodStatus) within ${timeoutSeconds}s`
            : `the CSI driver had not synced ${vault.vaultName}/${vault.secretName} into ${behind.length} pod(s) on ${cluster} within ${timeoutSeconds}s (${behind.slice(0, 3).join(', ')}); ${rotation ? `check its rotation poll interval (${rotation.pollSeconds}s)` : 'with rotation off, only a restart remounts: restart their workloads in a stage'}`,
        );
      await this.ports.clock.sleep(10_000);
    }
  }

  // ---- kOps keysets ------------------------------------------------------------------------------

  /** The keyset's kops flags, and the keyslot cluster whose API servers use it (the source's `cluster`, else the primary). */
  private kopsTarget(config: StackConfig, cred: Credential): KopsTarget & { cluster: string } {
    const source = cred.source;
    if (source.type !== 'kops-keyset') throw new TypeError(`credential ${cred.name} is not a kOps keyset`);
    return {
      clusterName: source.clusterName,
      stateStore: source.stateStore,
      keyset: source.keyset,
      cluster: kopsHome(config.clusters, source.cluster),
    };
  }

  private async kopsRun(argv: readonly string[]): Promise<string> {
    return (await this.ports.commands.run(argv, { env: {}, timeoutSeconds: 300 })).output;
  }

  private async kopsKeypairs(target: KopsTarget): Promise<KopsKeypair[]> {
    const printed = await this.kopsRun(kopsCommands.getKeypairs(target));
    try {
      return parseKeypairs(printed, target.keyset);
    } catch (error) {
      throw new EngineError((error as Error).message, { cause: error });
    }
  }

  /**
   * Before a kOps rotation: the keyset's slots as kOps holds them (the record keeps them, so a
   * resumed flip knows what it was moving), and the token gate no flag skips: every projected
   * token is reissued within `tokenRefreshHours` of the rolling update that ended the last rotation.
   */
  private async kopsBefore(config: StackConfig, cred: Credential, mode: RotationMode): Promise<Record<string, string>> {
    const source = cred.source;
    if (source.type !== 'kops-keyset') throw new TypeError(`credential ${cred.name} is not a kOps keyset`);
    const target = this.kopsTarget(config, cred);
    const keypairs = await this.kopsKeypairs(target);
    let slots: KopsSlots;
    try {
      slots = kopsSlots(keypairs, target);
      // A disruptive run replaces everything; any other needs a staged next.
      if (mode !== 'disruptive') assertStagedNext(slots, target);
    } catch (error) {
      throw new PreflightRefusedError(`credential ${cred.name}: ${(error as Error).message}`);
    }
    // Promoting next is safe only if every API server already trusts it: kOps writes every
    // keypair not distrusted to service-account.pub (kubernetes/kops v1.36.2, nodeup
    // pkg/nodemodel/nodeupconfigbuilder.go, upup/pkg/fi/ca.go ToPublicKeys), which a server reads
    // at its start and lists in the issuer's JWKS. Fewer keys there than trusted keypairs: the
    // staged next came after the last rolling update, and tokens it signs would be refused.
    if (mode !== 'disruptive') {
      const trusted = keypairs.filter((k) => !k.distrusted).length;
      const served = (await this.ports.clusters.verificationKeyIds(target.cluster)).length;
      if (served < trusted)
        throw new PreflightRefusedError(
          `credential ${cred.name}: the API servers of cluster ${target.cluster} verify tokens with ${served} key(s) but the ${target.keyset} keyset has ${trusted} trusted keypairs, so the staged next (${slots.next ?? 'none'}) came after their last rolling update and promoting it would sign tokens they refuse; fix: kops update cluster --yes and kops rolling-update cluster --instance-group-roles=control-plane,apiserver --yes, then rotate again`,
        );
    }
    const recorded = cred.generations.primary?.keyId;
    if (recorded && recorded !== slots.primary)
      this.emit({
        type: 'warning',
        at: this.now(),
        credential: cred.name,
        message: `kOps keyset ${target.keyset}: the primary is keypair ${slots.primary}, the stack recorded ${recorded}; it was changed outside keyslot, and kOps is taken as the truth`,
      });
    if (mode === 'rotate' && tooSoon(cred.lastRotatedAt, source.tokenRefreshHours, this.ports.clock.now()))
      throw new TooSoonError(
        `credential ${cred.name}: the last rotation finished at ${cred.lastRotatedAt}, ${hoursBetween(cred.lastRotatedAt, this.ports.clock.now())!.toFixed(1)}h ago; projected service-account tokens are reissued with the new primary within tokenRefreshHours (${source.tokenRefreshHours}h), and this rotation distrusts the key that signed the older ones; wait (--force does not skip this; for an exposed key: --emergency)`,
      );
    return { primary: slots.primary, ...(slots.next ? { next: slots.next } : {}), ...(slots.previous ? { previous: slots.previous } : {}) };
  }

  /**
   * No legacy token Secret may still be signed by a key other than the primary: this rotation
   * distrusts the previous key, and the token controller never reissues a token it already made.
   */
  private async kopsTokensReissued(run: Run) {
    const target = this.kopsTarget(run.config, run.before);
    const signing = await this.ports.clusters.signingKeyId(target.cluster);
    const stale = (await this.ports.clusters.serviceAccountTokenSecrets(target.cluster)).filter((s) => s.keyId !== signing);
    if (stale.length === 0) return;
    const shown = stale.slice(0, 5).map((s) => `${s.namespace}/${s.name}`);
    throw new PreflightRefusedError(
      `credential ${run.plan.name}: ${stale.length} legacy service-account token Secret(s) on cluster ${target.cluster} are signed by a key other than the primary (${shown.join(', ')}${stale.length > shown.length ? ', …' : ''}), and this rotation distrusts the previous key; fix: reissue each (remove its data.token and the token controller signs a new one) or delete the ones nothing uses, then rotate again (--force does not skip this)`,
    );
  }

  /**
   * The flip of a kOps keyset: distrust previous, promote next, create a new next (each only if
   * the state store does not show it done), `kops update cluster --yes`, then record the keypair ids.
   */
  private async kopsFlip(run: Run, target: KopsTarget, replaceAll: boolean): Promise<string> {
    const before = run.record.keyIds as KopsSlots | undefined;
    if (!before?.primary) throw new EngineError(`rotation ${run.record.id}: the record has no kOps keypair ids to move from`);
    let commands: string[][] = [];
    let now = await this.kopsKeypairs(target);
    if (replaceAll) {
      // New ids exist only once kops made them: a batch at a time, each decided on the state store.
      for (let batch = kopsReplaceAll(before, now, target); batch.length; batch = kopsReplaceAll(before, now, target)) {
        if (commands.length > 16) throw new EngineError(`kOps keyset ${target.keyset}: the replacement does not converge`);
        for (const argv of batch) await this.kopsRun(argv);
        commands.push(...batch);
        now = await this.kopsKeypairs(target);
      }
    } else {
      commands = kopsAdvance(before, now, target);
      for (const argv of commands) await this.kopsRun(argv);
      now = await this.kopsKeypairs(target);
    }
    let after: Required<KopsSlots>;
    try {
      after = kopsAfter(before, now, target, replaceAll);
    } catch (error) {
      throw new EngineError((error as Error).message);
    }
    await this.kopsRun(kopsCommands.update(target));
    const gens = `generations.${run.plan.name}`;
    for (const [slot, id] of Object.entries(after)) {
      await this.ports.engine.setConfig(`${gens}.${slot}.keyId`, id);
      // kOps' own date for each keypair (its certificate's notBefore) is the slot's age.
      const issued = now.find((k) => k.id === id)?.issued ?? (slot === 'next' ? this.now() : undefined);
      if (issued) await this.ports.engine.setConfig(`${gens}.${slot}.createdAt`, issued);
    }
    return `kops: previous ${after.previous}, primary ${after.primary}, next ${after.next} (${commands.length} change(s), then update cluster)`;
  }

  /**
   * After a disruptive replacement: every legacy token Secret reissued (the token controller signs
   * anew), then every workload restarted and rolled out, so no pod keeps a token of a distrusted
   * key. A workload that does not roll out is reported as unconfirmed, as a disruptive run reports
   * every consumer it went past, and the run goes on.
   */
  private async reissueEverything(run: Run, index: number, clusters: readonly string[]): Promise<{ outcome: StepOutcome; detail: string }> {
    const limit = pLimit(Math.min(this.concurrency, 16));
    let tokens = 0;
    let restarted = 0;
    const stuck: Unconfirmed[] = [];
    for (const cluster of clusters) {
      tokens += await this.ports.clusters.reissueServiceAccountTokens(cluster);
      const workloads = await this.ports.clusters.listWorkloads(cluster);
      await Promise.all(
        workloads.map((id) =>
          limit(async () => {
            try {
              await this.ports.clusters.restart(cluster, id, run.record.id);
              await this.ports.clusters.waitRollout(cluster, id, 600);
              restarted += 1;
            } catch (error) {
              if (!(error instanceof KeyslotError)) throw error;
              stuck.push({ step: index, label: `restart ${id.namespace}/${id.workload} on ${cluster}`, error });
            }
          }),
        ),
      );
    }
    run.unconfirmed.push(...stuck);
    const detail = `${tokens} legacy token Secret(s) reissued, ${restarted} workload(s) restarted`;
    return stuck.length
      ? { outcome: 'failed', detail: `${detail}; not rolled out: ${stuck.map((s) => s.label.slice('restart '.length)).join(', ')}` }
      : { outcome: 'done', detail };
  }

  /** Rolling back a kOps flip: the old primary signs again, the key made by the flip is distrusted (it never signed). */
  private async kopsRollBack(run: Run, target: KopsTarget) {
    const before = run.record.keyIds as KopsSlots | undefined;
    if (!before?.primary || !before.next) return;
    const keypairs = await this.kopsKeypairs(target);
    if (!keypairs.some((k) => k.id === before.primary && k.primary)) await this.kopsRun(kopsCommands.promote(target, before.primary));
    for (const k of keypairs)
      if (!k.distrusted && !k.primary && compareIds(k.id, before.next) > 0) await this.kopsRun(kopsCommands.distrust(target, k.id));
    await this.kopsRun(kopsCommands.update(target));
    const gens = `generations.${run.plan.name}`;
    for (const [slot, id] of Object.entries(before)) await this.ports.engine.setConfig(`${gens}.${slot}.keyId`, id);
    // The API servers sign with the old primary again only once they restart.
    for (const step of run.plan.steps)
      if (step.kind === 'exec' && step.command[0] === 'kops' && step.command[1] === 'rolling-update')
        await this.ports.commands.run(step.command, { env: {}, timeoutSeconds: step.timeoutSeconds });
  }

  // ---- rollback --------------------------------------------------------------------------------

  private async assertRollbackPossible(run: Run) {
    const current = this.credential(await this.loadConfig(), run.plan.name);
    for (const step of run.plan.steps) {
      if (step.kind !== 'regenerate') continue;
      const now = current.generations[step.slot]?.generation;
      const made = step.via === 'pulumi-up' ? undefined : await this.ports.cloud.keyCreatedAt(keyRef(run), step.slot);
      if (now === step.generation || (made && made > new Date(run.record.startedAt))) {
        throw new RollbackImpossibleError(
          `rotation ${run.record.id}: the freed ${step.slot} key was already regenerated, so the old key no longer exists; finish instead: keyslot resume --stack ${run.config.stack} --credential ${run.plan.name}`,
        );
      }
    }
  }

  private async rollBack(run: Run, reason: string): Promise<string> {
    const { plan, record } = run;
    const cred = plan.name;
    // The rollback's own step, numbered -1 (the report words it as the rollback's).
    const self = [{ run, index: -1 }];
    const started = this.stepStarted(self, 'flip', []);
    if (run.before.scheme === 'dual') {
      // A soak may have switched the old key off; it takes traffic again from here.
      await this.ports.cloud.setActive(keyRef(run), plan.from, true);
      await this.ports.engine.setConfig(`slots.${cred}`, plan.from);
    }
    if (run.before.scheme === 'triple') {
      // Signers go back to the old primary; every key made since stays trusted, and no generation
      // number is reused: previous = the would-be primary, next = the new next.
      const back = {
        previous: plan.generations.primary!.generation,
        primary: record.generations.primary!,
        next: plan.generations.next!.generation,
      };
      for (const [slot, g] of Object.entries(back)) await this.ports.engine.setConfig(`generations.${cred}.${slot}.generation`, String(g));
    }
    const kopsFlip = plan.steps.find((s) => s.kind === 'flip' && s.kops);
    if (kopsFlip?.kind === 'flip' && kopsFlip.kops) await this.kopsRollBack(run, kopsFlip.kops);
    await this.up(run);
    // Everything restarted onto the new key is restarted again onto the old one. A workload that
    // does not roll out does not stop the others; it is reported.
    const limit = pLimit(this.concurrency);
    const stuck: string[] = [];
    for (const step of plan.steps) {
      if (step.kind !== 'restart') continue;
      await Promise.all(
        step.clusters.map((cluster) =>
          limit(async () => {
            for (const workload of step.workload ? [step.workload] : (step.firstExisting ?? [])) {
              const id = { namespace: step.namespace, workload };
              try {
                if ((await this.ports.clusters.restartStamp(cluster, id)) !== record.id) continue;
                await this.ports.clusters.restart(cluster, id, `${record.id}-rollback`);
                await this.ports.clusters.waitRollout(cluster, id, step.timeoutSeconds);
              } catch (error) {
                if (!(error instanceof KeyslotError)) throw error;
                stuck.push(`${cluster} ${step.namespace}/${workload}: ${error.message}`);
              }
            }
          }),
        ),
      );
    }
    if (stuck.length) reason = `${reason}; after the flip back, not rolled out: ${stuck.join('; ')}`;
    await this.ports.engine.removeConfig(`rotations.${cred}`);
    await this.up(run);
    this.stepFinished(self, 'flip', started, 'done', `rolled back to ${plan.from}`);
    this.emit({
      type: 'rotation-finished',
      at: this.now(),
      credential: cred,
      rotationId: record.id,
      outcome: 'rolled-back',
      unconfirmed: run.unconfirmed.map((u) => u.label),
      detail: reason,
    });
    return reason;
  }

  // ---- helpers ---------------------------------------------------------------------------------

  private async locked<T>(lock: StackLock, body: () => Promise<T>): Promise<T> {
    await lock.acquire();
    // Interrupted, the process releases the lock too: the rotation stays resumable by anyone.
    const forget = this.options.onInterrupt?.(() => lock.release()) ?? (() => {});
    try {
      // Holding the lock, no other agent is mid-rotation: what is deployed is settled, and every
      // credential this checkout is behind on — in flight or finished — is brought up to it
      // before anything here deploys.
      await this.adoptBehind(await this.loadConfig(), await this.ports.engine.deployed(), true);
      return await body();
    } finally {
      forget();
      await lock.release();
    }
  }

  private credential(config: StackConfig, name: string): Credential {
    const cred = config.credentials.find((c) => c.name === name);
    if (!cred)
      throw new ConfigError(
        `stack ${config.stack}`,
        '--credential',
        JSON.stringify(name),
        `use one of ${config.credentials.map((c) => c.name).join(', ')}`,
      );
    return cred;
  }

  private refuseStale(config: StackConfig, cred: Credential, deployed: CredentialState | undefined) {
    const stale = driftOf(cred, deployed).find((d) => d.stale);
    if (stale) {
      throw new StaleStackError(
        `stack ${config.stack}`,
        stale.path,
        `${stale.file} but ${stale.deployed} is deployed`,
        `pull the current stacks/Pulumi.${config.stack}.yaml (the file is older than the stack), or run keyslot resume`,
      );
    }
  }

  /**
   * The deployed stack is the source of truth: every credential whose deployed state is ahead of
   * this checkout (a rotation finished by an agent whose commit never landed) is brought up to it
   * — active slot, generations, creation times, last rotations — so that a fresh checkout can
   * finish a multi-credential run without the program refusing the file as stale.
   */
  private async adoptDeployed(config: StackConfig, deployedAll: Record<string, CredentialState>): Promise<boolean> {
    return (await this.adoptBehind(config, deployedAll)).length > 0;
  }

  /**
   * Brings this checkout up to the deployed stack for every credential it is behind on (a rotation
   * whose commit never landed), without rotating anything; the credentials it changed. What
   * `rotate` does first, and all it does when nothing is due.
   */
  async adopt(): Promise<string[]> {
    return this.adoptBehind(await this.loadConfig(), await this.ports.engine.deployed());
  }

  private async adoptBehind(config: StackConfig, deployedAll: Record<string, CredentialState>, underLock = false): Promise<string[]> {
    const changed: string[] = [];
    for (const cred of config.credentials) {
      const deployed = deployedAll[cred.name];
      if (!deployed) continue;
      // Only while holding the lock may another credential's rotation be taken for settled: before
      // it, an agent may still be running it.
      if (underLock && cred.rotation && !deployed.rotation && (deployed.lastRotatedAt ?? '') > (cred.lastRotatedAt ?? '')) {
        // This checkout records a rotation the deployed stack shows finished: drop the record and
        // take the finished state below.
        await this.ports.engine.removeConfig(`rotations.${cred.name}`);
      } else if (cred.rotation) continue;
      // A rotation in flight that this checkout does not know (flipped and recorded by an agent whose
      // commit never landed): adopt its record, slot and generations. Deploying this checkout as it
      // is would flip the credential back and erase its record while its pods run on the new slot.
      if (deployed.rotation) {
        if (!underLock) continue;
        changed.push(cred.name);
        await this.adoptInFlight(cred, deployed);
        continue;
      }
      const fileNewest = Math.max(0, ...Object.values(cred.generations).map((g) => g.generation));
      const deployedNewest = Math.max(0, ...Object.values(deployed.slots).map((s) => s.generation));
      const behind = deployedNewest > fileNewest || (deployed.lastRotatedAt ?? '') > (cred.lastRotatedAt ?? '');
      if (!behind) continue;
      changed.push(cred.name);
      const gens = `generations.${cred.name}`;
      if (deployed.scheme === 'dual') await this.ports.engine.setConfig(`slots.${cred.name}`, deployed.activeSlot);
      for (const [slot, s] of Object.entries(deployed.slots)) {
        await this.ports.engine.setConfig(`${gens}.${slot}.generation`, String(s.generation));
        if (s.createdAt) await this.ports.engine.setConfig(`${gens}.${slot}.createdAt`, s.createdAt);
        // Only a kOps keyset's ids are config; other sources' key ids are what the cloud reports.
        if (s.keyId && cred.source.type === 'kops-keyset') await this.ports.engine.setConfig(`${gens}.${slot}.keyId`, s.keyId);
      }
      if (deployed.lastRotatedAt) await this.ports.engine.setConfig(`${gens}.lastRotatedAt`, deployed.lastRotatedAt);
      if (deployed.previousRotatedAt) await this.ports.engine.setConfig(`${gens}.previousRotatedAt`, deployed.previousRotatedAt);
    }
    return changed;
  }

  /** Brings this checkout to a deployed rotation in flight: its record, active slot and newer generations. */
  private async adoptInFlight(cred: Credential, deployed: CredentialState) {
    if (!deployed.rotation) return;
    await this.setRecord(cred.name, deployed.rotation);
    if (deployed.scheme === 'dual') await this.ports.engine.setConfig(`slots.${cred.name}`, deployed.activeSlot);
    for (const [slot, s] of Object.entries(deployed.slots)) {
      if ((cred.generations[slot]?.generation ?? 0) < s.generation)
        await this.ports.engine.setConfig(`generations.${cred.name}.${slot}.generation`, String(s.generation));
      // A keyset's ids are config: the flip moved them.
      if (s.keyId && cred.source.type === 'kops-keyset')
        await this.ports.engine.setConfig(`generations.${cred.name}.${slot}.keyId`, s.keyId);
    }
  }

  /**
   * The rotation in flight, with the stack file brought up to what is deployed: a fresh checkout
   * may predate the flip, and the deployed record is the truth.
   */
  private async inFlight(name: string): Promise<{ config: StackConfig; cred: Credential; record: RotationRecord }> {
    let config = await this.loadConfig();
    let cred = this.credential(config, name);
    const deployedAll = await this.ports.engine.deployed();
    if (await this.adoptDeployed(config, deployedAll)) {
      config = await this.loadConfig();
      cred = this.credential(config, name);
    }
    const deployed = deployedAll[cred.name];
    if (!cred.rotation && deployed?.rotation) {
      await this.adoptInFlight(cred, deployed);
      config = await this.loadConfig();
      cred = this.credential(config, name);
    }
    if (!cred.rotation)
      throw new NothingInFlightError(
        `credential ${name} has no rotation in flight in stack ${config.stack}; start one: keyslot rotate --stack ${config.stack} --credential ${name}`,
      );
    return { config, cred, record: cred.rotation };
  }

  /** The credential as it was when the recorded rotation started. */
  private beforeRotation(cred: Credential, record: RotationRecord): Credential {
    const generations = Object.fromEntries(
      Object.entries(record.generations).map(([slot, g]) => [
        slot,
        {
          generation: g,
          ...(cred.generations[slot]?.generation === g && cred.generations[slot]?.createdAt
            ? { createdAt: cred.generations[slot]!.createdAt }
            : {}),
        },
      ]),
    );
    const { rotation: _rotation, ...rest } = cred;
    return { ...rest, active: record.from as Credential['active'], generations };
  }

  private now(): string {
    return this.ports.clock.now().toISOString();
  }

  private emit(event: RotationEvent) {
    this.options.onEvent?.(event);
    if (event.type === 'engine') return;
    const entry = {
      at: event.at,
      rotationId: 'rotationId' in event ? event.rotationId : '',
      credential: event.credential,
      step: 'step' in event ? event.step : -1,
      kind: 'kind' in event ? event.kind : event.type,
      ...('cluster' in event ? { cluster: event.cluster } : {}),
      outcome:
        event.type === 'warning'
          ? ('warning' as const)
          : event.type === 'step-started' || event.type === 'rotation-started'
            ? ('started' as const)
            : event.type === 'rotation-finished'
              ? event.outcome === 'rolled-back'
                ? ('rolled-back' as const)
                : event.outcome === 'halted'
                  ? ('failed' as const)
                  : ('done' as const)
              : event.outcome,
      attempt: 1,
      ...('detail' in event && event.detail ? { detail: event.detail } : event.type === 'warning' ? { detail: event.message } : {}),
    };
    void this.ports.journal.append(entry).catch(() => {
      // The journal is an audit copy; a rotation never fails because it could not be written.
    });
  }
}

/** The value at a dotted path of a JSON text; undefined when the text is not JSON or the path is absent. */
function jsonField(body: string, path: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function keyRef(run: Run): KeyRef {
  return { credential: run.plan.name, source: run.before.source };
}
