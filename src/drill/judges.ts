/**
 * What the drill judges a run by, apart from the fleet itself: the makespan's bound under the driver's
 * wave and canary policy (the physical bound is physicalBound.ts, an oracle of its own), and the
 * canary rule, judged from the events alone.
 */
import type { RotationEvent } from '../driver/index.ts';
import { isStage, sameClusters, stageDependencies, type CredentialPlan, type StageStep } from '../model/planner.ts';
import { orderForWaves, splitWaves, type WaveSpec } from '../model/waves.ts';
import { canaryClusters, canaryPhases } from '../model/canary.ts';
import { gardenerDelayMs, rolloutDurationMs, SimCluster, type SimWorkload } from '../sim/cluster.ts';
import type { World } from '../sim/world.ts';
import type { RotationMode } from '../model/planner.ts';
import type { TrafficTotals } from '../sim/traffic.ts';

/** The workload a restart or verify-logs stage acts on in a cluster of the world: the first of its names that exists, as the driver resolves it. */
export function stageWorkload(
  world: World,
  cluster: string,
  step: Extract<StageStep, { kind: 'restart' | 'verify-logs' }>,
): SimWorkload | undefined {
  for (const ref of step.workload ? [step.workload] : (step.firstExisting ?? [])) {
    const [kind, name] = ref.split('/');
    const w = world.fleet.cluster(cluster).workloads.get(SimCluster.key(step.namespace, kind!, name!));
    if (w) return w;
  }
  return undefined;
}

/**
 * A lower bound of the makespan from the plan and the simulated durations, for a schedule that
 * follows `waves` with no cap on clusters at once: the driver's own schedule. A stage starts on a
 * cluster when the stage before it is done there (same clusters) or everywhere (otherwise), and a
 * wave when the wave before it is done. With a single wave (`100%`) it is the physical bound: what
 * unlimited parallelism across clusters could do while keeping the runbook's order on each cluster.
 * Non-stage steps cost nothing here but a cloud-side regeneration. A `wait-secret-sync` ends at
 * the CSI driver's first poll after the up wrote the vault: `startMs` places the schedule on the
 * clock the polls keep.
 */
export function scheduleBound(
  plan: CredentialPlan,
  world: World,
  regenerationMs: number,
  waves: WaveSpec,
  startMs: number,
  replicas: ReadonlyMap<string, number>,
  perStage = false,
): number {
  let total = 0;
  let upAt = 0;
  const steps = plan.steps;
  for (let i = 0; i < steps.length; i++) {
    const first = steps[i]!;
    if (!isStage(first)) {
      if (first.kind === 'regenerate' && first.via !== 'pulumi-up') total += regenerationMs;
      if (first.kind === 'up') upAt = total;
      continue;
    }
    // A run of consecutive stages, scheduled by the dependencies the driver follows: with waves,
    // the canary runs every stage first, then the rest of the fleet does (src/model/canary.ts).
    let end = i;
    while (end < steps.length && isStage(steps[end]!)) end++;
    const whole = steps.slice(i, end) as StageStep[];
    const wholeDeps = stageDependencies(whole);
    const rotate = plan.mode === 'rotate';
    const fleet = [...new Set(whole.flatMap((s) => s.clusters))];
    const canary = rotate && !perStage ? canaryClusters(whole, orderForWaves(fleet, replicas), waves) : new Set<string>();
    const dones: number[] = [];
    for (const { stages: group, dependencies, waves: spec } of canaryPhases(whole, wholeDeps, canary, rotate ? waves : ['100%'])) {
      const groupStart = Math.max(total, ...dones);
      const finishes: Map<string | undefined, number>[] = [];
      const phaseDones: number[] = [];
      for (const [k, step] of group.entries()) {
        const duration = (cluster: string | undefined): number => {
          if (step.kind === 'restart' || step.kind === 'verify-logs') {
            const w = cluster === undefined ? undefined : stageWorkload(world, cluster, step);
            if (!w) return 0;
            return step.kind === 'restart' ? rolloutDurationMs(w) : step.windowSeconds * 1000;
          }
          if (step.kind === 'annotate') return gardenerDelayMs.rotation;
          if (step.kind === 'wait-reconciled') return gardenerDelayMs.reconcile;
          if (step.kind === 'exec') return world.commandMs(step.command);
          return 0;
        };
        const perCluster = dependencies[k]!.map((d) => sameClusters(group[d]!, step));
        const ready = (cluster: string | undefined) =>
          Math.max(groupStart, ...dependencies[k]!.map((d, j) => (perCluster[j] ? finishes[d]!.get(cluster)! : phaseDones[d]!)));
        const synced = (cluster: string | undefined) => {
          const poll = cluster === undefined ? undefined : world.fleet.cluster(cluster).nextCsiPollAfter(startMs + upAt);
          return poll === undefined ? 0 : poll - startMs;
        };
        const targets: (string | undefined)[] = step.clusters.length ? [...step.clusters] : [undefined];
        const finish = new Map<string | undefined, number>();
        let before = Number.NEGATIVE_INFINITY;
        for (const wave of splitWaves(orderForWaves(targets, replicas), spec)) {
          let last = before;
          for (const cluster of wave) {
            const begin = Math.max(before, ready(cluster));
            const f = step.kind === 'wait-secret-sync' ? Math.max(begin, synced(cluster)) : begin + duration(cluster);
            finish.set(cluster, f);
            last = Math.max(last, f);
          }
          before = last;
        }
        finishes.push(finish);
        phaseDones.push(before);
      }
      dones.push(...phaseDones);
    }
    total = Math.max(total, ...dones);
    i = end - 1;
  }
  return total;
}

/**
 * The canary rule, judged from the events alone (no scheduler code): per rotation, the canary is
 * confirmed at the first moment some cluster has finished every stage step it has; before then, no
 * more clusters than the first wave holds may have started a stage. What breaks it, one line per
 * rotation.
 */
export function canaryHeld(events: readonly RotationEvent[], waves: WaveSpec): { broken: string[]; confirmedAt: number[] } {
  // A first wave of the whole fleet has no canary to protect it.
  if (waves[0] === '100%') return { broken: [], confirmedAt: [] };
  const broken: string[] = [];
  const confirmedAt: number[] = [];
  const byRotation = new Map<string, Extract<RotationEvent, { type: 'cluster-finished' }>[]>();
  for (const e of events) {
    if (e.type !== 'cluster-finished') continue;
    const list = byRotation.get(e.rotationId);
    if (list) list.push(e);
    else byRotation.set(e.rotationId, [e]);
  }
  for (const [id, finished] of byRotation) {
    const steps = new Map<string, Map<number, number>>();
    const firstStart = new Map<string, number>();
    for (const e of finished) {
      const end = Date.parse(e.at);
      const byStep = steps.get(e.cluster) ?? new Map<number, number>();
      byStep.set(e.step, Math.min(byStep.get(e.step) ?? end, end));
      steps.set(e.cluster, byStep);
      firstStart.set(e.cluster, Math.min(firstStart.get(e.cluster) ?? end, end - e.durationMs));
    }
    const confirmed = Math.min(...[...steps.values()].map((byStep) => Math.max(...byStep.values())));
    const first = waves[0]!;
    const size = typeof first === 'number' ? first : Math.ceil((Number.parseFloat(first) / 100) * steps.size);
    // A first wave that holds the whole fleet is no canary: nothing waited for it.
    if (steps.size > size) confirmedAt.push(confirmed);
    const early = [...firstStart].filter(([, t]) => t < confirmed).map(([c]) => c);
    if (early.length > size) broken.push(`${id}: ${early.join(', ')} started stages before any cluster had finished its own`);
  }
  return { broken, confirmedAt };
}

/** One invariant of a drill run: its name, whether it held, and what it saw. */
export interface Invariant {
  readonly name: string;
  readonly held: boolean;
  readonly detail: string;
}

/** What the drill saw of a run, for `judgeRun`: nothing here is the driver's own account but the events. */
export interface RunFacts {
  readonly mode: RotationMode;
  /** The waves the rotation was asked to follow (`['100%']` when there is no canary to judge). */
  readonly waves: WaveSpec;
  readonly traffic: Readonly<TrafficTotals>;
  /** Each credential's outcome as the drill read it back from the deployed stack. */
  readonly outcomes: Readonly<Record<string, string>>;
  /** The faults injected into this run, one line each. */
  readonly injected: readonly string[];
  readonly events: readonly RotationEvent[];
  /** Every restart the fleet saw, in order: `cluster namespace/kind/name rotationId`. */
  readonly restarts: readonly string[];
  /** The index in `restarts` from which a new agent took over after a crash (Infinity when none did). */
  readonly resumedFrom: number;
  /** The batch each rotation ran in (rotations run together share one). */
  readonly batchOf: ReadonlyMap<string, number>;
  /** The pods and Shoots left on a key nobody accepts (`deadKeyHolders`). */
  readonly onDeadKeys: readonly string[];
}

/** Where the fleet holds a key nobody accepts any more: pods by workload, and Shoots. */
export function deadKeyHolders(clusters: Iterable<SimCluster>): string[] {
  // A pod is live only if every credential it holds is; a Shoot's controllers hold the provider
  // credential of their last reconcile.
  return [...clusters].flatMap((c) => [
    ...c
      .presentedKeys()
      .filter(({ pod }) => !(c.accepts?.(pod.loaded) ?? true))
      .map(({ workload, pod }) => `${c.name} ${workload.namespace}/${workload.kind}/${workload.name} ${pod.name}`),
    ...[...c.shoots.values()]
      .filter((shoot) => shoot.credentials !== undefined && !(c.accepts?.(shoot.credentials) ?? true))
      .map((shoot) => `${c.name} shoot ${shoot.namespace}/${shoot.name} still uses the old key`),
  ]);
}

/**
 * The invariants a zero-downtime rotation must keep, judged from what the drill saw: the traffic,
 * the fleet's restarts and keys, the outcomes read back from the stack, and the events.
 */
export function judgeRun(facts: RunFacts): {
  invariants: Invariant[];
  canary: ReturnType<typeof canaryHeld>;
  restartsPerConsumer: number;
  downtimeMs: number;
} {
  const { mode, waves, traffic: t, outcomes, injected, events, restarts, resumedFrom, batchOf, onDeadKeys } = facts;
  const tolerant = mode !== 'rotate';
  const rotatedIds = events
    .filter((e): e is Extract<RotationEvent, { type: 'rotation-finished' }> => e.type === 'rotation-finished' && e.outcome === 'rotated')
    .map((e) => e.rotationId);
  // Judged per batch (the rotations run together, or one rotation): a consumer of two credentials
  // rotated together restarts once for both; rotated one after another, once for each.
  const restartCounts = new Map<string, number>();
  for (const [i, r] of restarts.entries()) {
    const [cluster, workload, id] = r.split(' ');
    if (!rotatedIds.includes(id!)) continue;
    const key = `${cluster} ${workload} ${i >= resumedFrom ? `resume-of-${id}` : (batchOf.get(id!) ?? id)}`;
    restartCounts.set(key, (restartCounts.get(key) ?? 0) + 1);
  }
  const twice = [...restartCounts].filter(([, n]) => n > 1).map(([w]) => w.replace(/ (\S+)$/, ' in batch $1'));
  const consumers = new Set([...restartCounts.keys()].map((k) => k.replace(/ \S+$/, ''))).size;
  const restartsPerConsumer = consumers ? [...restartCounts.values()].reduce((a, b) => a + b, 0) / consumers : 0;
  const downtimeMs = [...t.downtimeBy.values()].reduce((a, b) => a + b, 0);
  const failures = [...t.failures].map(([w, at]) => `${w} from ${new Date(at).toISOString()}`);
  const canary = canaryHeld(events, waves);
  const invariants: Invariant[] = [
    {
      name: 'no failed request',
      held: tolerant || t.failed === 0,
      detail:
        t.failed === 0
          ? `${Math.round(t.requests)} requests, none failed`
          : `${Math.round(t.failed)} of ${Math.round(t.requests)} failed: ${failures.join('; ')}`,
    },
    {
      name: 'no downtime',
      held: tolerant || downtimeMs === 0,
      detail:
        downtimeMs === 0
          ? 'every workload always had a ready pod'
          : `without a ready pod: ${[...t.downtimeBy].map(([w, ms]) => `${w} for ${ms / 1000}s`).join('; ')}`,
    },
    {
      name: 'no key invalidated while a live pod held it',
      held: tolerant || t.invalidatedWhileHeld.length === 0,
      detail: t.invalidatedWhileHeld.length ? t.invalidatedWhileHeld.join('; ') : 'none',
    },
    // A rollback is the right answer to a fault, never to a healthy fleet: with nothing injected, every rotation must finish.
    {
      name: 'every rotation finished, or rolled back from an injected fault',
      held: Object.values(outcomes).every((o) => !o.startsWith('failed') && (o !== 'rolled back' || injected.length > 0)),
      detail: Object.entries(outcomes)
        .map(([c, o]) => `${c}: ${o}`)
        .join('; '),
    },
    {
      name: 'no cluster outside the canary was touched before the canary confirmed',
      held: canary.broken.length === 0,
      detail: canary.broken.length ? canary.broken.join('; ') : 'the canary ran every stage before the rest of the fleet',
    },
    {
      name: 'each consumer restarted at most once per batch',
      held: twice.length === 0,
      detail: twice.length ? `restarted more than once: ${twice.join(', ')}` : `${consumers} consumer(s)`,
    },
    // In every mode: an emergency may fail requests on the way, never leave the fleet on dead keys.
    {
      name: 'the fleet ends on live keys',
      held: onDeadKeys.length === 0,
      detail: onDeadKeys.length ? onDeadKeys.join('; ') : 'every pod holds an accepted key',
    },
  ];
  return { invariants, canary, restartsPerConsumer, downtimeMs };
}
