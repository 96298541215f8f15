/**
 * `keyslot drill`: the production driver and the real Pulumi program against a simulated fleet
 * with simulated traffic, under one seed. Says whether any request would have failed, and checks
 * the invariants a zero-downtime rotation must keep. Same seed, same run, to the event.
 */
import { ProgramTranscripts } from '../adapters/engine/transcripts.ts';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { parseStackConfig, type StackConfig } from '../config/parse.ts';
import { Driver, type RotationEvent } from '../driver/index.ts';
import { ClusterUnreachableError, KeyslotError, RolledBackError } from '../errors.ts';
import { planCredential, type CredentialPlan, type RotationMode } from '../model/planner.ts';
import { defaultWaves, type WaveSpec } from '../model/waves.ts';
import { discoverConsumers } from '../driver/discover.ts';
import type { DriverPorts } from '../driver/driver.ts';
import type { ClusterFleet } from '../ports/clusters.ts';
import type { WorkloadSpec } from '../sim/cluster.ts';
import { dyingPorts, isAgentCrash, takeOver } from './crash.ts';
import { Traffic } from '../sim/traffic.ts';
import { keyOwner } from '../sim/cloud.ts';
import type { WorldDescription } from '../model/worldDescription.ts';
import { assumedWorld, buildWorld, type World } from '../sim/world.ts';
import { physicalBound } from './physicalBound.ts';
import { deadKeyHolders, judgeRun, scheduleBound, stageWorkload, type Invariant } from './judges.ts';
import { loadReferenceWorld } from './worldFile.ts';

/**
 * The drill's clock starts here, or later: an hour after the newest time the stack records, and
 * no sooner than each credential's minimum interval after its last rotation (the policy pack would
 * refuse earlier), so a stack rotated yesterday drills today as it would rotate.
 */
const drillEpochMs = Date.parse('2026-11-24T00:00:00Z');

function drillStart(config: StackConfig): Date {
  let start = drillEpochMs;
  for (const c of config.credentials) {
    for (const t of [c.lastRotatedAt, ...Object.values(c.generations ?? {}).map((g) => (g as { createdAt?: string }).createdAt)])
      if (t) start = Math.max(start, Date.parse(t) + 3600_000);
    if (c.lastRotatedAt) start = Math.max(start, Date.parse(c.lastRotatedAt) + c.minIntervalHours * 3600_000);
  }
  return new Date(Math.ceil(start / 3600_000) * 3600_000);
}

export type Fault =
  | 'none'
  | 'stuck-rollout'
  | 'slow-rollout'
  | 'api-error'
  | 'throttling'
  | 'failed-log-check'
  | 'crash-resume'
  | 'crash-on-new-key';
export const faultKinds: readonly Fault[] = [
  'stuck-rollout',
  'slow-rollout',
  'api-error',
  'throttling',
  'failed-log-check',
  'crash-resume',
  'crash-on-new-key',
];

export interface DrillOptions {
  readonly seed: number;
  /** Inject one fault, chosen by the seed. @default false */
  readonly faults?: boolean;
  /** @default rotate */
  readonly mode?: RotationMode;
  /** A cap on clusters worked on at once, as `--concurrency`. @default no cap */
  readonly concurrency?: number;
  /** As `--waves`. @default 1, 10%, 100% */
  readonly waves?: WaveSpec;
  /** As `--canary`. @default whole-rotation */
  readonly canary?: 'whole-rotation' | 'per-stage';
  /**
   * Rotate every credential in one rotation, as `rotate --all` does (one up for the flips, shared
   * consumers once); false: one after another, as `rotate --credential` one at a time. @default true
   */
  readonly together?: boolean;
  /**
   * The deployment to drill against: a world file (`--world`), taken as written. @default the
   * stack's reference world (`worlds/<stack>.yaml`) when one is shipped, else the world its own
   * stages assume, which cannot show a forgotten consumer (the result says which)
   */
  readonly world?: { readonly description: WorldDescription; readonly source: string };
  /** Changes the world before the run (a consumer no stage restarts, say). */
  readonly editWorld?: (world: World, config: StackConfig) => void;
  /** Rewrites each plan (mutation tests of the drill itself). */
  readonly planHook?: (plan: CredentialPlan) => CredentialPlan;
  /**
   * Replay a program run from a recorded transcript when every answer matches (the program is a
   * function of its config and answers; see `transcripts.ts`); false executes every run. @default true
   */
  readonly replay?: boolean;
  /** Filled with the CPU time of the program's runs and of the simulated traffic (for `npm run bench`). */
  readonly meter?: DrillMeter;
}

export interface DrillMeter {
  /** CPU of the program's runs, wherever they ran (µs). */
  engineMicros: number;
  /** Peak RSS of the process the program ran in, when that is not this one (bytes). */
  engineHostPeakRssBytes?: number;
  trafficMicros: number;
}

export type { Invariant } from './judges.ts';

export interface DrillResult {
  readonly stack: string;
  /** Where the simulated deployment came from: a reference world, a world file, or the stack's own stages. */
  readonly world: string;
  readonly seed: number;
  readonly fault: Fault;
  /** Where the fault landed, or that the world had nothing to inject it into. */
  readonly faultDetail: string;
  readonly outcomes: Record<string, string>;
  readonly requests: number;
  readonly failed: number;
  readonly downtimeMs: number;
  readonly makespanMs: number;
  /**
   * The price of the canary: from the first rotation's start until its canary had finished every
   * stage (judged from the events, latest over the rotations of a batch); 0 without one.
   */
  readonly canaryMs: number;
  /** Lower bound of the makespan from the plan and the simulated durations, for the waves the driver follows. */
  readonly boundMs: number;
  /**
   * The physical bound: the stack's stages with unlimited parallelism across clusters, so each stage
   * of a chain costs its slowest cluster's rollout. What a fleet could do at best, whatever the
   * limit; computed from the stack as written by an implementation that shares no code with the
   * planner or the scheduler (`physicalBound.ts`), so a scheduling regression cannot move it.
   */
  readonly physicalBoundMs: number;
  /** Restarts per consumer (cluster and workload) over the whole run, all credentials together. */
  readonly restartsPerConsumer: number;
  readonly ups: number;
  readonly invariants: readonly Invariant[];
  readonly events: readonly RotationEvent[];
}

/** The program runs the drills of this process recorded (`ProgramTranscripts`). */
const transcripts = new ProgramTranscripts();

/** How many program runs the drills of this process replayed, and how many executed the program. */
export function programRuns(): Readonly<{ replayed: number; executed: number }> {
  return { ...transcripts.counts };
}

export async function runDrill(stack: string, raw: Readonly<Record<string, unknown>>, options: DrillOptions): Promise<DrillResult> {
  const rng = xoroshiro128plus(options.seed);
  const pick = (from: number, to: number) => uniformInt(rng, from, to);
  const fault: Fault = options.faults ? faultKinds[pick(0, faultKinds.length - 1)]! : 'none';
  // Recorded times are judged against the real clock: the drill's own clock starts after them.
  const config = parseStackConfig(stack, raw, `stack ${stack}`, new Date());
  const reference = options.world ? undefined : loadReferenceWorld(stack, config);
  const chosen = options.world ?? reference;
  // Reference and assumed worlds run their consumers highly available, in seeded variations: a
  // Deployment surges, so one replica keeps serving while it restarts; a StatefulSet or DaemonSet
  // replaces pods in place, so it gets at least two. A world file is taken as written: a
  // single-replica StatefulSet there shows the gap that leaves.
  const tune = (spec: WorkloadSpec): WorkloadSpec => ({
    ...spec,
    replicas: pick(spec.kind === 'deployment' ? 1 : 2, 4),
    podStartMs: (fault === 'slow-rollout' ? pick(30, 120) : pick(2, 20)) * 1000,
  });
  const world = buildWorld(
    config,
    drillStart(config),
    options.world ? (spec) => (fault === 'slow-rollout' ? { ...spec, podStartMs: pick(30, 120) * 1000 } : spec) : tune,
    chosen?.description ?? assumedWorld(config),
  );
  const worldSource = chosen?.source ?? "assumed from the stack's own stages (cannot show a forgotten consumer; pass --world)";
  // A Cosmos DB key regeneration takes minutes; the slot has no working key meanwhile.
  const regenerationMs = new Map(
    config.credentials
      .filter((c) => c.source.type === 'azure-cosmosdb-keys')
      .map((c) => [keyOwner(c.source, c.name), pick(30, 180) * 1000] as const),
  );
  world.cloud.regenerationMs = (owner) => regenerationMs.get(owner) ?? 0;
  options.editWorld?.(world, config);
  const checkout = structuredClone(raw) as Record<string, unknown>;
  if (options.meter) world.backend.meter = options.meter;
  // Seeds of one process share their program runs' transcripts: a run whose answers all match is replayed.
  if (options.replay ?? true) world.backend.transcripts = transcripts;
  await world.ports(checkout).engine.up({ policyPacks: [] });
  world.boot();
  world.clock.advance(3600_000);
  const before = await world.ports(checkout).engine.deployed();
  const traffic = new Traffic(world.fleet, world.cloud, world.clock, 1, options.meter);
  const upsBefore = world.backend.ups.length;

  const events: RotationEvent[] = [];
  const mode = options.mode ?? 'rotate';
  const concurrency = options.concurrency ?? Number.POSITIVE_INFINITY;
  const outcomes: Record<string, string> = {};
  let engine = world.ports(checkout).engine;
  const driverFor = (ports: DriverPorts, holder: string) =>
    new Driver(ports, {
      policyPacks: ['policy'],
      holder,
      concurrency,
      ...(options.waves ? { waves: options.waves } : {}),
      ...(options.canary ? { canary: options.canary } : {}),
      force: true,
      onEvent: (e) => events.push(e),
      ...(options.planHook ? { planHook: options.planHook } : {}),
    });

  const injected: string[] = fault === 'slow-rollout' ? ['pods take 30–120 s to start'] : [];
  let boundMs = 0;
  let physicalBoundMs = 0;
  // `together`: the credentials in one rotation (one up for the flips, shared consumers restarted
  // once); otherwise one after another.
  const batches =
    (options.together ?? true) && mode === 'rotate' && config.credentials.length > 1
      ? [config.credentials]
      : config.credentials.map((c) => [c]);
  /** The batch each rotation id belongs to: a consumer restarts at most once per batch. */
  const batchOf = new Map<string, number>();
  /**
   * Restarts from here on were made by the agents that took over after a crash: each resumes one
   * credential, a run of its own (a shared consumer restarts again for it, by design: never skipped).
   */
  let resumedFrom = Number.POSITIVE_INFINITY;
  for (const [b, batch] of batches.entries()) {
    const eventsBefore = events.length;
    const plans = batch.map((cred) => planCredential(config, cred, mode));
    // Together, the slowest credential's own schedule is a lower bound; one after another, their sum.
    // The waves fill in the order the driver gives them, from what its preflight discovery sees.
    const seen = new Map<string, number>();
    for (const d of await discoverConsumers(config, batch[0]!, world.clusters))
      seen.set(`${d.cluster} ${d.namespace}/${d.workload}`, d.replicas);
    const bounds = batch.map((cred, i) => {
      const regeneration = regenerationMs.get(keyOwner(cred.source, cred.name)) ?? 0;
      return [
        scheduleBound(
          plans[i]!,
          world,
          regeneration,
          options.waves ?? defaultWaves,
          world.clock.nowMs(),
          seen,
          options.canary === 'per-stage',
        ),
        // The oracle: from the stack as written, with none of the planner's or scheduler's code.
        physicalBound(config, cred, world, regeneration, world.clock.nowMs()),
      ] as const;
    });
    boundMs += Math.max(...bounds.map((b) => b[0]));
    physicalBoundMs += Math.max(...bounds.map((b) => b[1]));
    // Rollout faults land on workloads these rotations restart, where they can matter.
    const restartedWorkloads = plans
      .flatMap((plan) => plan.steps)
      .flatMap((s) =>
        s.kind === 'restart'
          ? s.clusters.flatMap((name) => {
              const w = stageWorkload(world, name, s);
              return w ? [{ c: world.fleet.cluster(name), w }] : [];
            })
          : [],
      );
    const ports = world.ports(engine.checkout());
    let clusters: ClusterFleet = ports.clusters;
    if (fault === 'stuck-rollout' && restartedWorkloads.length) {
      const { c, w } = restartedWorkloads[pick(0, restartedWorkloads.length - 1)]!;
      w.failRollout = true;
      injected.push(`${c.name} ${w.namespace}/${w.kind}/${w.name} cannot finish a rollout`);
    }
    if (fault === 'crash-on-new-key') {
      // One consumer's client cannot use the new key: its new pods crash, the rollout stalls.
      const candidates = restartedWorkloads.filter(({ w }) => w.reads === 'secrets');
      if (candidates.length) {
        const { c, w } = candidates[pick(0, candidates.length - 1)]!;
        const known = new Set(
          c
            .presentedKeys()
            .filter((p) => p.workload === w)
            .map((p) => p.pod.loaded),
        );
        w.crashesOn = (loaded) => !known.has(loaded);
        injected.push(`${c.name} ${w.namespace}/${w.kind}/${w.name} crashes with the new key`);
      }
    }
    if (fault === 'api-error' || fault === 'failed-log-check') {
      const failAt = pick(1, 3);
      let calls = 0;
      clusters = new Proxy(ports.clusters, {
        get(t, p, r) {
          const value = Reflect.get(t, p, r);
          const target = fault === 'api-error' ? 'restart' : 'checkLogs';
          if (p !== target || typeof value !== 'function') return typeof value === 'function' ? value.bind(t) : value;
          return async (...args: unknown[]) => {
            if (++calls === failAt) {
              injected.push(
                fault === 'api-error'
                  ? `restart call ${failAt} (cluster ${String(args[0])}) answered 503`
                  : `log check ${failAt} (cluster ${String(args[0])}) found an auth error`,
              );
              if (fault === 'api-error')
                throw new ClusterUnreachableError(`cluster ${String(args[0])}: 503 from the API server (injected)`);
              return { matches: ['injected [auth]: auth error'], read: ['injected/auth'] };
            }
            return value.apply(t, args);
          };
        },
      });
    }
    if (fault === 'throttling') {
      // The API servers answer 429 for a while: every call waits out its Retry-After before it lands.
      const throttledCalls = pick(5, 50);
      let calls = 0;
      const inner = clusters;
      clusters = new Proxy(inner, {
        get(t, p, r) {
          const value = Reflect.get(t, p, r);
          if (typeof value !== 'function') return value;
          return async (...args: unknown[]) => {
            if (++calls <= throttledCalls) {
              if (calls === 1) injected.push(`the first ${throttledCalls} cluster calls wait out a Retry-After`);
              await world.clock.sleep(pick(1, 10) * 1000);
            }
            return value.apply(t, args);
          };
        },
      });
    }
    const names = batch.map((c) => c.name);
    const rotateAll = (driver: Driver) =>
      names.length > 1 ? driver.rotateTogether(names).then(() => undefined) : driver.rotate(names[0]!, mode).then(() => undefined);
    const outcome = (text: string) => {
      for (const name of names) outcomes[name] = text;
    };
    try {
      if (fault === 'crash-resume') {
        // The agent dies at a port call after the rotation's first up began, never in preflight alone.
        const state = { calls: 0, at: pick(1, 30), dead: false, armOn: 'up' };
        try {
          await rotateAll(driverFor(dyingPorts({ ...ports, clusters }, state, ['engine', 'clusters', 'cloud']), 'drill@agent-1'));
          outcome('rotated');
        } catch (error) {
          if (!isAgentCrash(error)) throw error;
          injected.push(`the agent died at port call ${state.at}; a new one took over`);
          resumedFrom = Math.min(resumedFrom, world.clusters.restarts.length);
          // A new agent on a fresh checkout, once the dead one's lock expired: it finishes each credential.
          world.clock.advance(2 * 3600_000);
          engine = world.ports(structuredClone(raw) as Record<string, unknown>).engine;
          const fresh = { ...world.ports(engine.checkout()), engine };
          await takeOver(driverFor(fresh, 'drill@agent-2'), () => engine.deployed(), names, mode, before);
          outcome('rotated after a crash and resume');
        }
      } else {
        await rotateAll(driverFor({ ...ports, engine, clusters }, 'drill@agent'));
        outcome('rotated');
      }
    } catch (error) {
      outcome(
        error instanceof RolledBackError
          ? 'rolled back'
          : `failed: ${error instanceof KeyslotError || error instanceof Error ? error.message : String(error)}`,
      );
    }
    for (const e of events.slice(eventsBefore)) if ('rotationId' in e) batchOf.set(e.rotationId, b);
  }
  // Keep the traffic flowing a while: a consumer left on a dead key shows up here.
  world.clock.advance(600_000);
  // A credential reported rotated must have changed slot and generation in what is deployed.
  const after = await engine.deployed();
  for (const [name, outcome] of Object.entries(outcomes)) {
    if (!outcome.startsWith('rotated')) continue;
    const was = before[name];
    const now = after[name];
    if (!was || !now || was.scheme === 'managed') continue;
    const generations = (s: typeof was) => JSON.stringify(Object.values(s.slots).map((x) => x.generation));
    // A dual credential flips its active slot; a keyset keeps `primary` and advances its generations.
    const flipped = was.scheme !== 'dual' || mode === 'disruptive' || now.activeSlot !== was.activeSlot;
    if (now.rotation || !flipped || generations(now) === generations(was))
      outcomes[name] =
        `failed: reported ${outcome}, but the deployed stack shows ${now.rotation ? 'a rotation still in flight' : `slot ${now.activeSlot} and generations ${generations(now)} (were ${was.activeSlot}, ${generations(was)})`}`;
  }

  const started = events.filter((e) => e.type === 'rotation-started').map((e) => Date.parse(e.at));
  const finished = events.filter((e) => e.type === 'rotation-finished').map((e) => Date.parse(e.at));
  const makespanMs = started.length && finished.length ? Math.max(...finished) - Math.min(...started) : 0;
  const t = traffic.totals;
  const { invariants, canary, restartsPerConsumer, downtimeMs } = judgeRun({
    mode,
    waves: mode === 'rotate' ? (options.waves ?? defaultWaves) : ['100%'],
    traffic: t,
    outcomes,
    injected,
    events,
    restarts: world.clusters.restarts,
    resumedFrom,
    batchOf,
    onDeadKeys: deadKeyHolders(world.fleet.clusters.values()),
  });
  return {
    stack,
    world: worldSource,
    seed: options.seed,
    fault,
    faultDetail: fault === 'none' ? '' : injected.length ? injected.join('; ') : 'drawn, but nothing in this world to inject it into',
    outcomes,
    requests: t.requests,
    failed: t.failed,
    downtimeMs,
    makespanMs,
    canaryMs: canary.confirmedAt.length && started.length ? Math.max(...canary.confirmedAt) - Math.min(...started) : 0,
    boundMs,
    physicalBoundMs,
    restartsPerConsumer,
    ups: world.backend.ups.length - upsBefore,
    invariants,
    events,
  };
}
