/**
 * The physical bound of a rotation, as an oracle of its own: the longest path through the stack's
 * stages, each on each of its clusters, with the simulated world's durations — no waves, no cap, no
 * canary: what a fleet could do at best while keeping the order the stack asks for. Read from the
 * stack's config as a user wrote it, with the documented order rules and nothing of the planner's
 * or the scheduler's code, so a regression in either moves the makespan and not this bound.
 *
 * The rules it encodes (README, "Stage kinds"): a stage waits for the stages its `after` names, or
 * for the one before it; on a cluster, when both act on exactly the same clusters, else for the
 * whole of it. A stage with no clusters runs once.
 */
import type { Credential, StackConfig } from '../config/parse.ts';
import { gardenerDelayMs, rolloutDurationMs, SimCluster } from '../sim/cluster.ts';
import type { World } from '../sim/world.ts';

type Stage = Credential['stages'][number];

/** The clusters a stage's `clusters` names, in the stack's order (`all` by default). */
function clustersOf(config: StackConfig, stage: Stage): string[] {
  const selector = (stage as { clusters?: 'all' | 'primary' | readonly string[] }).clusters ?? 'all';
  if (selector === 'all') return config.clusters.map((c) => c.name);
  if (selector === 'primary') return config.clusters.filter((c) => c.primary).map((c) => c.name);
  return config.clusters.map((c) => c.name).filter((c) => selector.includes(c));
}

/** How long a stage takes on a cluster of the world, from `t0` (the up that delivered the value). */
function durationOf(world: World, stage: Stage, cluster: string | undefined, finishAt: number, upAtAbs: number): number {
  switch (stage.kind) {
    case 'restart':
    case 'verify-logs': {
      if (cluster === undefined) return 0;
      const names = stage.workload ? [stage.workload] : (stage.firstExisting ?? []);
      for (const ref of names) {
        const [kind, name] = ref.split('/') as [string, string];
        const w = world.fleet.cluster(cluster).workloads.get(SimCluster.key(stage.namespace, kind, name));
        if (w) return stage.kind === 'restart' ? rolloutDurationMs(w) : stage.windowSeconds * 1000;
      }
      return 0;
    }
    case 'wait-secret-sync': {
      // Until the CSI driver's next poll after the up, when it polls at all.
      const poll = cluster === undefined ? undefined : world.fleet.cluster(cluster).nextCsiPollAfter(upAtAbs);
      return poll === undefined ? 0 : Math.max(0, poll - finishAt);
    }
    case 'annotate':
      return gardenerDelayMs.rotation;
    case 'wait-reconciled':
      return gardenerDelayMs.reconcile;
    case 'exec':
      return world.commandMs(stage.command);
    default:
      return 0;
  }
}

/**
 * The physical bound of one credential's rotation (ms from its start): its stages' longest path,
 * then a cloud-side regeneration of `regenerationMs`. `startMs` is the rotation's start on the
 * world's clock (a CSI wait ends at a poll of that clock).
 */
export function physicalBound(config: StackConfig, credential: Credential, world: World, regenerationMs: number, startMs: number): number {
  const stages = credential.stages;
  const targets = stages.map((s) => {
    const c = clustersOf(config, s);
    return c.length ? c : [undefined];
  });
  const finish: Map<string | undefined, number>[] = [];
  for (const [k, stage] of stages.entries()) {
    const waitsFor =
      stage.after === undefined
        ? k > 0
          ? [k - 1]
          : []
        : stage.after.map((id) => stages.findIndex((s) => s.id === id)).filter((d) => d >= 0 && d < k);
    const mine = new Map<string | undefined, number>();
    const same = waitsFor.map((d) => targets[d]!.length === targets[k]!.length && targets[d]!.every((c, i) => c === targets[k]![i]));
    const whole = waitsFor.map((d) => [...finish[d]!.values()].reduce((a, b) => Math.max(a, b), 0));
    for (const cluster of targets[k]!) {
      let ready = 0;
      for (const [j, d] of waitsFor.entries()) ready = Math.max(ready, same[j] ? finish[d]!.get(cluster)! : whole[j]!);
      mine.set(cluster, ready + durationOf(world, stage, cluster, startMs + ready, startMs));
    }
    finish.push(mine);
  }
  let stagesEnd = 0;
  for (const m of finish) for (const f of m.values()) stagesEnd = Math.max(stagesEnd, f);
  return stagesEnd + regenerationMs;
}
