/**
 * `keyslot drill --world FILE`: the fleet as it really is, beyond what the stack's stages name —
 * extra consumers of a delivered secret, replica counts, start-up times. One YAML file, validated
 * like stack config, applied on top of the world derived from the stack.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { renderFound, valueAt, type StackConfig } from '../config/parse.ts';
import { k8sName, k8sNamespace } from '../config/schema.ts';
import type { DiscoveredConsumer } from '../model/discovery.ts';
import { defaultStrategy } from '../sim/cluster.ts';
import type { World } from '../sim/world.ts';

const workload = z.strictObject({
  cluster: z.string().min(1),
  namespace: k8sNamespace,
  kind: z.enum(['deployment', 'statefulset', 'daemonset']),
  name: k8sName,
  /** @default 2 */
  replicas: z.number().int().min(1).max(100).default(2),
  /** @default 5 */
  podStartSeconds: z.number().positive().default(5),
  /** Secret names in its namespace, or `store:<vault>/<secret>` for a Key Vault secret. */
  reads: z.array(z.string().min(1)).min(1),
  /**
   * How the pods take a new value: `restart` (read once, at start: env vars, subPath mounts) or
   * `reload` (they watch a mounted Secret file, which the kubelet updates up to a minute or two
   * after the Secret changes). @default restart
   */
  takesNewValueBy: z.enum(['restart', 'reload']).default('restart'),
  /** With `reload`: the kubelet's sync delay. @default 90 */
  reloadSeconds: z.number().positive().default(90),
  /** The rolling update's limits, as pod counts. @default Kubernetes' defaults for the kind */
  maxSurge: z.number().int().nonnegative().optional(),
  maxUnavailable: z.number().int().nonnegative().optional(),
});

export const worldFile = z.strictObject({ workloads: z.array(workload).default([]) });
export type WorldFile = z.infer<typeof worldFile>;

/** The workload's rolling-update limits: what the file says, else Kubernetes' defaults for its kind. */
function strategyOf(w: WorldFile['workloads'][number]): { maxSurge: number; maxUnavailable: number } {
  const defaults = defaultStrategy(w.kind, w.replicas);
  return { maxSurge: w.maxSurge ?? defaults.maxSurge, maxUnavailable: w.maxUnavailable ?? defaults.maxUnavailable };
}

/** Reads and validates a world file. @throws ConfigError (exit 2) */
export function loadWorldFile(path: string, config: StackConfig): WorldFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ConfigError(
      path,
      'world',
      'no file that can be read there',
      'pass the path of a world file (keyslot discover --out writes one)',
      { cause },
    );
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (cause) {
    throw new ConfigError(path, 'world', 'a file that cannot be read as YAML', 'pass a YAML file with a workloads: list', { cause });
  }
  const parsed = worldFile.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const at = issue.path
      .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
      .join('')
      .replace(/^\./, '');
    const found = renderFound(valueAt(raw, issue.path as (string | number)[]));
    // Zod words a regex refusal as the expected form; say it as the fix.
    throw new ConfigError(
      path,
      `world:${at}`,
      found,
      issue.code === 'invalid_format' || issue.code === 'custom'
        ? `use ${issue.message}`
        : `${issue.message} (see the README for the world file format)`,
    );
  }
  const clusters = new Set(config.clusters.map((c) => c.name));
  for (const [i, w] of parsed.data.workloads.entries()) {
    const strategy = strategyOf(w);
    if (strategy.maxSurge === 0 && strategy.maxUnavailable === 0)
      throw new ConfigError(
        path,
        `world:workloads[${i}].maxUnavailable`,
        '0 with maxSurge 0, which Kubernetes rejects (the rollout could never move)',
        'allow one pod of surge or of unavailability',
      );
    if (!clusters.has(w.cluster))
      throw new ConfigError(
        path,
        `world:workloads[${i}].cluster`,
        `"${w.cluster}", which the stack does not declare`,
        `use one of ${[...clusters].join(', ')}`,
      );
  }
  return parsed.data;
}

/** The world file of discovered consumers: the fleet as it runs, for `drill --world`. */
export function worldFileOf(consumers: readonly DiscoveredConsumer[]): string {
  const workloads = consumers.map((c) => {
    const [kind, name] = c.workload.split('/') as [WorldFile['workloads'][number]['kind'], string];
    return {
      cluster: c.cluster,
      namespace: c.namespace,
      kind,
      name,
      replicas: Math.max(1, Math.min(100, c.replicas)),
      reads: [...c.secrets],
    };
  });
  return [
    '# Written by keyslot discover: every workload that reads a delivered Secret.',
    '# Not discoverable, so set them per workload: podStartSeconds for slow starters, and',
    '# takesNewValueBy: reload (with reloadSeconds) for a consumer that watches its mounted file.',
    stringifyYaml({ workloads }),
  ].join('\n');
}

/** Adds the file's workloads to the world, replacing any the stack-derived world already had. */
export function applyWorldFile(world: World, file: WorldFile): void {
  for (const w of file.workloads) {
    const cluster = world.fleet.cluster(w.cluster);
    cluster.workloads.delete(`${w.namespace}/${w.kind}/${w.name}`);
    cluster.addWorkload({
      kind: w.kind,
      namespace: w.namespace,
      name: w.name,
      replicas: w.replicas,
      podStartMs: w.podStartSeconds * 1000,
      secrets: w.reads,
      ...(w.takesNewValueBy === 'reload' ? { reloadAfterMs: w.reloadSeconds * 1000 } : {}),
      strategy: strategyOf(w),
    });
  }
}
