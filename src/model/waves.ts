/**
 * Waves: how a stage widens over the fleet. Each entry is how many of the stage's clusters are
 * done once that wave is — a count, or a share of the fleet — so the default `1, 10%, 100%` is a
 * canary cluster, then up to a tenth of the fleet, then the rest. A wave starts only when the one
 * before it is confirmed on every cluster, so a failure in the canary stops a rotation before the
 * rest of the fleet is touched. Pure.
 */

export type WaveSpec = readonly (number | `${number}%`)[];

export const defaultWaves: WaveSpec = [1, '10%', '100%'];

/** The clusters of each wave, in declaration order (the first declared cluster is the canary); empty waves are dropped. */
export function splitWaves<T>(targets: readonly T[], spec: WaveSpec): T[][] {
  const out: T[][] = [];
  let done = 0;
  for (const entry of [...spec, '100%' as const]) {
    const upTo = typeof entry === 'number' ? entry : Math.ceil((Number.parseFloat(entry) / 100) * targets.length);
    const end = Math.min(targets.length, Math.max(done, upTo));
    if (end > done) out.push(targets.slice(done, end));
    done = end;
  }
  return out;
}

/**
 * Reads `--waves` (`1,10%,100%`): positive counts or shares of 1–100 %, comma-separated, each
 * covering at least as much of the fleet as the one before when both are of one kind. Returns the
 * spec, or what is wrong with it.
 */
export function parseWaves(text: string): WaveSpec | { readonly error: string } {
  const entries = text.split(',').map((t) => t.trim());
  const spec: (number | `${number}%`)[] = [];
  for (const entry of entries) {
    const share = /^(\d+(?:\.\d+)?)%$/.exec(entry);
    if (share) {
      const n = Number(share[1]);
      if (n <= 0 || n > 100) return { error: `share ${entry} is not between 0% and 100%` };
      spec.push(`${n}%`);
    } else if (/^[1-9]\d*$/.test(entry)) spec.push(Number(entry));
    else return { error: `${JSON.stringify(entry)} is neither a cluster count (1, 2, …) nor a share (10%)` };
  }
  for (let i = 1; i < spec.length; i++) {
    const [a, b] = [spec[i - 1]!, spec[i]!];
    if (typeof a === typeof b && (typeof a === 'number' ? a >= (b as number) : Number.parseFloat(a) >= Number.parseFloat(b as string)))
      return { error: `wave ${i + 1} (${b}) does not widen wave ${i} (${a})` };
  }
  return spec;
}

/**
 * The order clusters fill waves in: the lightest first — fewest pods of the consumers discovery
 * counted there (`replicas`, keyed `cluster namespace/kind/name`), declared order among equals —
 * the same order for every stage, so that a cluster keeps its wave through the whole rotation and
 * the canary is a quick rollout that proves the new key.
 */
export function orderForWaves<T extends string | undefined>(targets: readonly T[], replicas: ReadonlyMap<string, number> | undefined): T[] {
  if (!replicas || replicas.size === 0) return [...targets];
  const weight = new Map<string, number>();
  for (const [key, n] of replicas) {
    const cluster = key.slice(0, key.indexOf(' '));
    weight.set(cluster, (weight.get(cluster) ?? 0) + n);
  }
  return targets
    .map((cluster, i) => ({ cluster, i, w: cluster === undefined ? 0 : (weight.get(cluster) ?? 0) }))
    .sort((a, b) => a.w - b.w || a.i - b.i)
    .map((x) => x.cluster);
}
