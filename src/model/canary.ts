/**
 * The canary phase: with waves, the canary clusters run every stage of the rotation — restarts, log
 * checks, waits — and are confirmed before any other cluster is touched; the rest of the fleet then
 * runs the same stages, in the remaining waves. Pure: which clusters are the canary, and each
 * phase's share of the stage graph.
 */
import { splitWaves, type WaveSpec } from './waves.ts';

/**
 * The canary: the first wave of the whole fleet the stages touch, in wave order. Empty when there
 * is no phase to split off — a single wave, a fleet the first wave already covers, or a stage that
 * runs once for the fleet (no clusters), which cannot be tried on a canary.
 */
export function canaryClusters(
  stages: readonly { readonly clusters: readonly string[] }[],
  ordered: readonly string[],
  waves: WaveSpec,
): Set<string> {
  if (stages.some((s) => s.clusters.length === 0)) return new Set();
  const touched = new Set(stages.flatMap((s) => s.clusters));
  const fleet = ordered.filter((c) => touched.has(c));
  const [first, ...rest] = splitWaves(fleet, waves);
  return first && rest.length ? new Set(first) : new Set();
}

/**
 * The waves of the rest of the fleet, once the canary (the spec's first wave, `canarySize`
 * clusters of a `fleetSize` fleet) is done: each later entry still says how much of the whole fleet
 * is done once its wave is, so it is restated as a count of the rest.
 */
export function wavesAfterCanary(waves: WaveSpec, fleetSize: number, canarySize: number): WaveSpec {
  const rest = waves.slice(1).map((entry) => {
    const upTo = typeof entry === 'number' ? entry : Math.ceil((Number.parseFloat(entry) / 100) * fleetSize);
    return Math.max(1, upTo - canarySize);
  });
  return rest.length ? rest : ['100%'];
}

/**
 * One phase of a stage graph: each stage on the clusters `keep` admits, stages left with none
 * dropped, and what a dropped stage waited for passed on to the stages that waited for it (so the
 * order among the stages kept is the whole graph's). `dependencies[k]` lists the earlier stages
 * stage k waits for. Returns the kept stages' indices and their dependencies, renumbered.
 */
export function phaseOf<S extends { readonly clusters: readonly string[] }>(
  stages: readonly S[],
  dependencies: readonly (readonly number[])[],
  keep: (cluster: string) => boolean,
): { readonly indices: number[]; readonly stages: S[]; readonly dependencies: number[][] } {
  const clusters = stages.map((s) => s.clusters.filter(keep));
  // What each stage waits for among the kept ones, through any dropped stages between. Worked out
  // by following the dependencies, not the list order: a batch's merged graph may have a stage
  // wait for one listed after it (src/driver/batch.ts mergeStages; it is acyclic).
  const keptDeps = new Map<number, Set<number>>();
  const keptOf = (k: number): Set<number> => {
    let deps = keptDeps.get(k);
    if (deps) return deps;
    deps = new Set<number>();
    keptDeps.set(k, deps);
    for (const d of dependencies[k]!) {
      if (clusters[d]!.length > 0) deps.add(d);
      else for (const inherited of keptOf(d)) deps.add(inherited);
    }
    return deps;
  };
  const indices = stages.map((_, k) => k).filter((k) => clusters[k]!.length > 0);
  const renumber = new Map(indices.map((k, i) => [k, i]));
  return {
    indices,
    stages: indices.map((k) => ({ ...stages[k]!, clusters: clusters[k]! })),
    dependencies: indices.map((k) => [...keptOf(k)].map((d) => renumber.get(d)!).sort((a, b) => a - b)),
  };
}

/**
 * The phases a stage graph runs in: the canary clusters' share with one unlimited wave, then the
 * rest's in the remaining waves; or the whole graph in `waves` when there is no canary to split off
 * (none, or it is the whole fleet).
 */
export function canaryPhases<S extends { readonly clusters: readonly string[] }>(
  stages: readonly S[],
  dependencies: readonly (readonly number[])[],
  canary: ReadonlySet<string>,
  waves: WaveSpec,
): { readonly indices: number[]; readonly stages: S[]; readonly dependencies: number[][]; readonly waves: WaveSpec }[] {
  const fleetSize = new Set(stages.flatMap((s) => s.clusters)).size;
  if (canary.size === 0 || canary.size >= fleetSize)
    return [{ indices: stages.map((_, k) => k), stages: [...stages], dependencies: dependencies.map((d) => [...d]), waves }];
  return [
    { ...phaseOf(stages, dependencies, (c) => canary.has(c)), waves: ['100%'] },
    { ...phaseOf(stages, dependencies, (c) => !canary.has(c)), waves: wavesAfterCanary(waves, fleetSize, canary.size) },
  ];
}
