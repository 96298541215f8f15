/**
 * World files: the deployment a drill runs against, as YAML in the one format of
 * `src/model/worldDescription.ts`. A shipped stack has a reference world in `worlds/<stack>.yaml`, written
 * from upstream charts and sources; `drill --world FILE` takes another (one `keyslot discover --out`
 * wrote, or a hand-written one); either replaces the world the stack's own stages would assume.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { packageRoot, projectRoot } from '../config/projectRoot.ts';
import { renderFound, valueAt, type StackConfig } from '../config/parse.ts';
import { ConfigError } from '../errors.ts';
import { defaultStrategy } from '../sim/cluster.ts';
import { worldDescription, type WorldDescription } from '../model/worldDescription.ts';

/** Where reference worlds live: the project's own `worlds/` first, then the ones keyslot ships. */
export const referenceWorldsDirs = [...new Set([join(projectRoot, 'worlds'), join(packageRoot, 'worlds')])];

/** Reads and validates a world file; with `config`, checks it against the stack's clusters. @throws ConfigError (exit 2) */
export function loadWorldFile(path: string, config?: StackConfig): WorldDescription {
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
  const parsed = worldDescription.safeParse(raw ?? {});
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
  const world = parsed.data;
  for (const [i, w] of world.workloads.entries()) {
    const defaults = defaultStrategy(w.kind, w.replicas);
    if ((w.maxSurge ?? defaults.maxSurge) === 0 && (w.maxUnavailable ?? defaults.maxUnavailable) === 0)
      throw new ConfigError(
        path,
        `world:workloads[${i}].maxUnavailable`,
        '0 with maxSurge 0, which Kubernetes rejects (the rollout could never move)',
        'allow one pod of surge or of unavailability',
      );
    if (w.takesNewValueBy === 'reload' && w.reads.some((r) => r.startsWith('store:')) && !w.secretProviderClass)
      throw new ConfigError(
        path,
        `world:workloads[${i}].takesNewValueBy`,
        'reload for a store read that no SecretProviderClass mounts',
        'set secretProviderClass (a file the CSI driver refreshes), or restart',
      );
  }
  if (config) {
    const clusters = new Set(config.clusters.map((c) => c.name));
    const lists = ['workloads', 'csiDrivers', 'otherSecrets', 'gardener', 'bindings', 'shoots', 'legacyTokens', 'apiServers'] as const;
    for (const list of lists)
      for (const [i, entry] of (world[list] as readonly { cluster: string }[]).entries())
        if (!clusters.has(entry.cluster))
          throw new ConfigError(
            path,
            `world:${list}[${i}].cluster`,
            `"${entry.cluster}", which stack ${config.stack} does not declare`,
            `use one of ${[...clusters].join(', ')}, or a world file of this stack's deployment`,
          );
  }
  return world;
}

/**
 * The reference world shipped for a stack of this name, when there is one: the deployment that
 * stack's runbook rotates. Chosen by name, so a copy of a shipped stack (`--stacks-dir`) is judged
 * against the same deployment. @throws ConfigError when it names a cluster the stack does not declare
 */
export function loadReferenceWorld(stack: string, config?: StackConfig): { description: WorldDescription; source: string } | undefined {
  const path = referenceWorldsDirs.map((dir) => join(dir, `${stack}.yaml`)).find((p) => existsSync(p));
  if (!path) return undefined;
  const shown = relative(process.cwd(), path);
  return { description: loadWorldFile(path, config), source: `reference world ${shown.startsWith('..') ? path : shown}` };
}

/** A world description as a world file, with a header saying where it came from and what to check. */
export function worldFileText(world: WorldDescription): string {
  // Defaults and empty lists add nothing to read.
  const compact = Object.fromEntries(
    Object.entries(world).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0)),
  ) as Partial<WorldDescription>;
  const workloads = (world.workloads ?? []).map(({ podStartSeconds, takesNewValueBy, reloadSeconds, ...w }) => ({
    ...w,
    ...(podStartSeconds !== 5 ? { podStartSeconds } : {}),
    ...(takesNewValueBy !== 'restart' ? { takesNewValueBy, reloadSeconds } : {}),
  }));
  return [
    '# Written by keyslot discover: the deployment as its clusters show it, for keyslot drill --world.',
    '# Not discoverable, so set them per workload: podStartSeconds for slow starters, and',
    '# takesNewValueBy: reload (with reloadSeconds) for a consumer that re-reads its mounted file.',
    stringifyYaml({ ...compact, ...(workloads.length ? { workloads } : {}) }),
  ].join('\n');
}
