/**
 * The stage scheduler: waves over the fleet (the canary running the whole rotation first), dependencies pipelined per cluster, a cap on clusters and on restarting pods. Shared by the driver and nothing else; each stage on each cluster is run by `stages/`.
 */
import pLimit from 'p-limit';
import { splitWaves, orderForWaves, sameClusters, type StageStep, type WaveSpec } from '../model/index.ts';
import { canaryClusters, canaryPhases } from '../model/canary.ts';
import type { StackLock } from './lock.ts';
import { type DriverContext, type Run, type StageNode, type Unconfirmed, GateClosed } from './context.ts';
import { stageLabel } from './stages/common.ts';
import { stageCluster } from './stages/index.ts';
import { stepFinished, stepStarted } from './steps.ts';

/** Runs one stage on one cluster (or once) for its owners; what went wrong for each. The stage executors by default (./stages/). */
export type StageRunner = (
  ctx: DriverContext,
  owners: StageNode['owners'],
  step: StageStep,
  cluster: string | undefined,
) => Promise<{ run: Run; unconfirmed: Unconfirmed }[]>;

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

/**
 * The schedule itself, over stage nodes that one or several rotations share (a restart of a
 * consumer of two credentials rotated together runs once, for both): each node runs on each of
 * its clusters once, with the first owner's rotation id, and every owner gets its events and its
 * failures.
 */
export async function schedule(
  ctx: DriverContext,
  nodes: readonly StageNode[],
  dependencies: readonly number[][],
  lock: StackLock,
  rotate: boolean,
  runOne: StageRunner = stageCluster,
) {
  // The canary first: it runs every stage and is confirmed before any other cluster is touched, so
  // a canary failure rolls back the canary alone (src/model/canary.ts). `canary: 'per-stage'`
  // pipelines each stage's canary into its later waves instead: faster, but the rest of the fleet
  // may restart onto the new key while the canary's later stages (a consumer that crashes on it,
  // a log check) have not yet passed.
  if (rotate && (ctx.options.canary ?? 'whole-rotation') === 'whole-rotation') {
    const lead = nodes[0]?.owners[0]?.run;
    const fleet = [...new Set(nodes.flatMap((n) => n.step.clusters))];
    const ordered = orderForWaves(fleet, lead?.replicas);
    const canary = canaryClusters(
      nodes.map((n) => n.step),
      ordered,
      ctx.waves,
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
      ctx.waves,
    )) {
      const phaseNodes = phase.indices.map((k, i) => ({ step: phase.stages[i]!, owners: nodes[k]!.owners }));
      await runSchedule(ctx, phaseNodes, phase.dependencies, lock, rotate, phase.waves, runOne);
    }
    return;
  }
  await runSchedule(ctx, nodes, dependencies, lock, rotate, ctx.waves, runOne);
}

export async function runSchedule(
  ctx: DriverContext,
  nodes: readonly StageNode[],
  dependencies: readonly number[][],
  lock: StackLock,
  rotate: boolean,
  spec: WaveSpec,
  runOne: StageRunner = stageCluster,
) {
  const limit = pLimit(ctx.concurrency);
  /** What went wrong, with the rotation it belongs to: a shared stage fails for each owner. */
  const failed: { run: Run; unconfirmed: Unconfirmed }[] = [];
  let stopped = false;
  const clusterDone: Map<string | undefined, Promise<void>>[] = [];
  const stageDone: Promise<void>[] = [];
  const pods = new PodBudget(ctx.options.maxRestartingPods ?? Number.POSITIVE_INFINITY);

  nodes.forEach(({ step, owners }, k) => {
    const lead = owners[0]!.run;
    const targets: (string | undefined)[] = step.clusters.length ? [...step.clusters] : [undefined];
    const waves = rotate ? splitWaves(orderForWaves(targets, lead.replicas), spec) : [targets];
    const byCluster = new Map<string | undefined, Promise<void>>();
    let started: number | undefined;
    let failures = 0;
    const begin = () => {
      started ??= stepStarted(ctx, owners, step.kind, step.clusters);
    };
    // Decided once per dependency, not per cluster: comparing cluster lists costs the fleet's size.
    const perCluster = dependencies[k]!.map((d) => sameClusters(nodes[d]!.step, step));
    const waitFor = (cluster: string | undefined): Promise<unknown> =>
      Promise.all(dependencies[k]!.map((d, j) => (perCluster[j] ? clusterDone[d]!.get(cluster) : stageDone[d])));
    let waveBefore: Promise<void> = Promise.resolve();
    for (const wave of waves) {
      const after = waveBefore;
      const sized = longestFirst(lead, step, wave);
      const runs = sized.map((cluster) => {
        const done = (async () => {
          await after;
          await waitFor(cluster);
          if (stopped) return;
          await limit(async () => {
            if (stopped) return;
            await lock.acquire();
            const release = step.kind === 'restart' ? await pods.take(replicasOf(lead, step, cluster)) : () => {};
            if (stopped) return release();
            begin();
            const problems = await runOne(ctx, owners, step, cluster).finally(release);
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
      stepFinished(
        ctx,
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
      `${step.kind} ${stageLabel(step)} failed on ${[...new Set(failed.map((f) => f.unconfirmed.label.split(' on ').pop()))].join(', ')}: ${first.unconfirmed.error.message}`,
    );
  }
}

/** Longest first within a wave: it ends when its slowest cluster does, so start the biggest rollouts before small ones fill the workers. */
export function longestFirst(run: Run, step: StageStep, wave: readonly (string | undefined)[]): (string | undefined)[] {
  if (step.kind !== 'restart' || !step.workload || !run.replicas) return [...wave];
  const size = (c: string | undefined) => run.replicas?.get(`${c} ${step.namespace}/${step.workload}`) ?? 0;
  return [...wave].sort((a, b) => size(b) - size(a));
}

/** Pods a restart of the stage's workload on the cluster takes down and brings up, as preflight discovery counted them. */
export function replicasOf(run: Run, step: StageStep, cluster: string | undefined): number {
  if (step.kind !== 'restart') return 0;
  const workload = step.workload ?? step.firstExisting?.[0];
  return run.replicas?.get(`${cluster} ${step.namespace}/${workload}`) ?? 1;
}
