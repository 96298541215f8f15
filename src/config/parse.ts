/**
 * Turns the raw `keyslot:*` values of a stack into a typed, cross-checked `StackConfig`, or one
 * `ConfigError` naming the config path, what was found and the fix. The only way in.
 */
import type { z } from 'zod';
import { redact } from '../model/redact.ts';
import { ConfigError } from '../errors.ts';
import {
  commonVars,
  sourceSchemes,
  sourceVars,
  stackConfig,
  type Cluster,
  type ClusterSelector,
  type CredentialInput,
  type RotationRecord,
  type Scheme,
  type StackConfigParsed,
} from './schema.ts';
import { defaultActiveSlot, defaultGenerations, isSlotOf, schemeSlots, type Generations, type SlotName } from '../model/slots.ts';

export interface Credential extends Readonly<Omit<CredentialInput, 'scheme'>> {
  readonly scheme: Scheme;
  /** The slot consumers are given now (`keyslot:slots.<name>`). */
  readonly active: SlotName;
  readonly generations: Generations;
  readonly lastRotatedAt?: string;
  readonly previousRotatedAt?: string;
  /** The rotation in flight, if any. */
  readonly rotation?: RotationRecord;
}

export interface StackConfig {
  /** Stack name, e.g. `alwayson-cosmos`. */
  readonly stack: string;
  readonly clusters: readonly Cluster[];
  readonly credentials: readonly Credential[];
}

/** The config keys keyslot owns; other `keyslot:` keys may only be kubeconfig secrets. */
export const configKeys = ['clusters', 'credentials', 'slots', 'generations', 'rotations'] as const;

type Path = readonly (string | number)[];

interface Problem {
  path: Path;
  found: string;
  fix: string;
}

/** `["credentials", 0, "stages", 1]` → `keyslot:credentials[0].stages[1]` */
export function configPath(path: Path): string {
  let out = 'keyslot:';
  path.forEach((part, i) => {
    if (typeof part === 'number') out += `[${part}]`;
    else if (/^[A-Za-z_][\w-]*$/.test(part)) out += i === 0 ? part : `.${part}`;
    else out += `["${part}"]`;
  });
  return out;
}

/** What kind of value this is, without the value: for places where any value may be a secret. */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (typeof value === 'object') return `an object with keys ${Object.keys(value as object).join(', ') || '(none)'}`;
  if (typeof value === 'string') return `a string of ${value.length} characters`;
  return `a ${typeof value}`;
}

/**
 * Renders what was found without ever echoing a secret config value: a `secure:` value, and any
 * string that looks like key material, are described by their kind only.
 */
export function renderFound(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value && typeof value === 'object' && 'secure' in value) return 'a secret value';
  const text = JSON.stringify(value);
  if (redact(text) !== text) return kindOf(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** The value at a config path (undefined where the path leads nowhere). */
export function valueAt(root: unknown, path: Path): unknown {
  let node: unknown = root;
  for (const part of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, unknown>)[part];
  }
  return node;
}

function fixFor(issue: z.core.$ZodIssue, found: unknown): string {
  switch (issue.code) {
    case 'invalid_type':
      return `${found === undefined ? 'set it to' : 'use'} ${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}`;
    case 'invalid_value':
      return `use one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'unrecognized_keys':
      return `remove ${issue.keys.join(', ')} (misspelt?)`;
    case 'invalid_union': {
      const last = issue.path.at(-1);
      if (last === 'clusters') return 'use "all", "primary" or a list of cluster names';
      if (last === 'generation') return 'use a whole number from 1, such as 3 (keyslot rotate maintains these)';
      if (last === 'equals') return 'use a string, a number or true/false';
      if (last === 'url') return 'use an http:// or https:// URL (it may contain ${cluster})';
      return 'use one of the documented forms (see README)';
    }
    case 'too_small': {
      // positive() is "greater than 0", not "at least 0".
      if (issue.inclusive === false) return `use a number greater than ${String(issue.minimum)}`;
      return `use at least ${String(issue.minimum)}${issue.origin === 'array' ? ' entries' : issue.origin === 'string' ? ' characters' : ''}`;
    }
    case 'too_big':
      return `use at most ${String(issue.maximum)}`;
    case 'invalid_format':
      return `use ${issue.message.replace(/^Invalid (string: )?/, '')}`;
    default:
      return `use ${issue.message}`;
  }
}

const discriminated: Record<string, readonly string[]> = {
  source: Object.keys(sourceSchemes),
  deliver: ['kubernetes-secret', 'azure-keyvault-secret', 'aws-secretsmanager-secret'],
  stages: ['restart', 'verify-logs', 'verify-http', 'wait-reconciled', 'wait-secret-sync', 'annotate', 'exec'],
};

/** For a bad `type`/`kind`: the list of known ones, found from where in the config it sits. */
function discriminatorFix(path: Path): string | undefined {
  const owner = path.findLast((p): p is string => typeof p === 'string' && p in discriminated);
  return owner ? `use one of ${discriminated[owner]!.join(', ')}` : undefined;
}

/** The first schema issue, as a problem; discriminator issues point at the discriminator key. */
function schemaProblem(raw: unknown, error: z.ZodError): Problem {
  const issue = error.issues[0]!;
  const path: (string | number)[] = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
  if (issue.code === 'unrecognized_keys') path.push(issue.keys[0]!);
  const found = valueAt(raw, path);
  const fix = (issue.code === 'invalid_union' && issue.discriminator !== undefined && discriminatorFix(path)) || fixFor(issue, found);
  // A key keyslot does not know may hold anything, a plain-text secret included: say only its kind.
  return { path, found: issue.code === 'unrecognized_keys' ? kindOf(found) : renderFound(found), fix };
}

function* templateVars(template: string): Generator<string> {
  for (const match of template.matchAll(/\$\{([^}]*)\}/g)) yield match[1]!;
}

/** Every rule the schema alone cannot say; yields problems in config order. */
function* crossCheck(config: StackConfigParsed, keys: ReadonlySet<string>): Generator<Problem> {
  const clusterNames = new Set<string>();
  let primary: string | undefined;
  for (const [i, c] of config.clusters.entries()) {
    if (clusterNames.has(c.name))
      yield { path: ['clusters', i, 'name'], found: `"${c.name}" a second time`, fix: 'give every cluster a unique name' };
    clusterNames.add(c.name);
    if (c.primary) {
      if (primary)
        yield {
          path: ['clusters', i, 'primary'],
          found: `true, but "${primary}" is already primary`,
          fix: 'mark at most one cluster primary',
        };
      primary = c.name;
    }
    if (c.kubeconfigPath && c.kubeconfigSecret)
      yield { path: ['clusters', i, 'kubeconfigSecret'], found: 'both kubeconfigPath and kubeconfigSecret', fix: 'keep one of them' };
    if (c.kubeconfigSecret && !keys.has(c.kubeconfigSecret)) {
      yield {
        path: ['clusters', i, 'kubeconfigSecret'],
        found: `"${c.kubeconfigSecret}", which is not set`,
        fix: `run: pulumi config set --secret keyslot:${c.kubeconfigSecret} "$(cat kubeconfig)"`,
      };
    }
  }

  function* selector(sel: ClusterSelector | undefined, path: Path): Generator<Problem> {
    if (sel === undefined) return;
    if (sel === 'primary' && !primary)
      yield { path, found: '"primary", but no cluster is marked primary', fix: 'set primary: true on one of keyslot:clusters' };
    if (sel === 'all' && clusterNames.size === 0)
      yield { path, found: '"all", but keyslot:clusters is empty', fix: 'declare the clusters in keyslot:clusters' };
    if (Array.isArray(sel)) {
      for (const [k, n] of sel.entries()) {
        if (!clusterNames.has(n))
          yield {
            path: [...path, k],
            found: `"${n}", which is not a declared cluster`,
            fix: `use one of ${[...clusterNames].join(', ') || '(none declared)'} or declare it in keyslot:clusters`,
          };
      }
    }
  }

  const credentialNames = new Set<string>();
  for (const [i, cred] of config.credentials.entries()) {
    const at = (...rest: Path): Path => ['credentials', i, ...rest];
    if (credentialNames.has(cred.name))
      yield { path: at('name'), found: `"${cred.name}" a second time`, fix: 'give every credential a unique name' };
    credentialNames.add(cred.name);
    const scheme = sourceSchemes[cred.source.type];
    if (cred.scheme && cred.scheme !== scheme)
      yield { path: at('scheme'), found: `"${cred.scheme}" for source ${cred.source.type}`, fix: `use "${scheme}" or remove scheme` };
    if (scheme === 'managed' && cred.deliver.length)
      yield {
        path: at('deliver'),
        found: `${cred.deliver.length} deliveries for a key that ${cred.source.type} manages`,
        fix: 'remove deliver; the key is delivered by its owner',
      };

    const provided = new Set<string>([...sourceVars[cred.source.type], ...commonVars]);
    const targets = new Set<string>();
    for (const [j, d] of cred.deliver.entries()) {
      const templates: [Path, string][] =
        d.type === 'kubernetes-secret'
          ? Object.entries(d.data).map(([k, v]) => [at('deliver', j, 'data', k), v])
          : [[at('deliver', j, 'value'), d.value]];
      for (const [path, t] of templates) {
        for (const v of templateVars(t)) {
          if (!provided.has(v))
            yield {
              path,
              found: `\${${v}}, which source ${cred.source.type} does not provide`,
              fix: `use one of ${[...provided].map((p) => `\${${p}}`).join(', ')}`,
            };
        }
      }
      if (d.type === 'kubernetes-secret') yield* selector(d.clusters, at('deliver', j, 'clusters'));
      if (d.type === 'azure-keyvault-secret' && d.adopt && !d.subscriptionId) {
        yield {
          path: at('deliver', j, 'subscriptionId'),
          found: 'nothing, with adopt: true',
          fix: "set subscriptionId to the vault's subscription (the import needs the secret's full ARM id)",
        };
      }
      const target =
        d.type === 'kubernetes-secret'
          ? `${d.namespace}/${d.name}`
          : d.type === 'azure-keyvault-secret'
            ? `${d.vaultName}/${d.secretName}`
            : d.secretId;
      if (targets.has(`${d.type}:${target}`))
        yield { path: at('deliver', j), found: `${target} a second time`, fix: 'merge the two deliveries into one' };
      targets.add(`${d.type}:${target}`);
    }

    for (const [j, s] of cred.stages.entries()) {
      yield* selector(s.clusters, at('stages', j, 'clusters'));
      if ((s.kind === 'restart' || s.kind === 'verify-logs') && !s.workload === !s.firstExisting) {
        yield {
          path: at('stages', j, s.workload ? 'firstExisting' : 'workload'),
          found: s.workload ? 'both workload and firstExisting' : 'neither workload nor firstExisting',
          fix: 'set exactly one of them',
        };
      }
      if (s.kind === 'annotate' && !s.shoots === !s.secretBinding) {
        yield {
          path: at('stages', j, s.shoots ? 'secretBinding' : 'shoots'),
          found: s.shoots ? 'both shoots and secretBinding' : 'neither shoots nor secretBinding',
          fix: 'set exactly one of them',
        };
      }
      if (s.id !== undefined && cred.stages.slice(0, j).some((t) => t.id === s.id))
        yield { path: at('stages', j, 'id'), found: `"${s.id}" a second time`, fix: 'give every stage of the credential a unique id' };
      for (const [k, dep] of (s.after ?? []).entries()) {
        if (cred.stages.slice(0, j).some((t) => t.id === dep)) continue;
        const later = cred.stages.slice(j).some((t) => t.id === dep);
        yield {
          path: at('stages', j, 'after', k),
          found: later ? `"${dep}", a stage at or after this one` : `"${dep}", which no stage of ${cred.name} has as its id`,
          fix: later
            ? 'a stage waits only for stages before it: move it, or drop the dependency'
            : 'name a stage before this one by its id',
        };
      }
      if (s.kind === 'verify-logs') {
        for (const [k, p] of (s.patterns ?? []).entries()) {
          try {
            new RegExp(p, 'i');
          } catch {
            yield { path: at('stages', j, 'patterns', k), found: renderFound(p), fix: 'use a JavaScript regular expression' };
          }
        }
      }
    }
  }

  const schemeOf = new Map(config.credentials.map((c) => [c.name, c.scheme ?? sourceSchemes[c.source.type]]));
  for (const [cred, slot] of Object.entries(config.slots)) {
    const scheme = schemeOf.get(cred);
    if (!scheme) {
      yield {
        path: ['slots', cred],
        found: `a slot for "${cred}", which is not a credential`,
        fix: `use one of ${[...schemeOf.keys()].join(', ')}`,
      };
      continue;
    }
    if (!isSlotOf(scheme, slot)) {
      yield {
        path: ['slots', cred],
        found: `"${slot}", a slot the ${scheme} scheme does not have`,
        fix: `use one of ${schemeSlots[scheme].join(', ')}`,
      };
    } else if (slot !== defaultActiveSlot(scheme) && scheme !== 'dual') {
      yield {
        path: ['slots', cred],
        found: `"${slot}"; a ${scheme} keyset always signs with "${defaultActiveSlot(scheme)}"`,
        fix: `use "${defaultActiveSlot(scheme)}" and rotate with: keyslot rotate --credential ${cred}`,
      };
    }
  }
  for (const [cred, r] of Object.entries(config.rotations)) {
    const scheme = schemeOf.get(cred);
    if (!scheme) {
      yield {
        path: ['rotations', cred],
        found: `a rotation of "${cred}", which is not a credential`,
        fix: `remove it, or restore the credential and run: keyslot resume --credential ${cred}`,
      };
      continue;
    }
    for (const key of ['from', 'to'] as const) {
      if (!isSlotOf(scheme, r[key]))
        yield {
          path: ['rotations', cred, key],
          found: `"${r[key]}", a slot the ${scheme} scheme does not have`,
          fix: `use one of ${schemeSlots[scheme].join(', ')}`,
        };
    }
  }
  for (const [cred, gens] of Object.entries(config.generations)) {
    const scheme = schemeOf.get(cred);
    if (!scheme) {
      yield {
        path: ['generations', cred],
        found: `generations for "${cred}", which is not a credential`,
        fix: `use one of ${[...schemeOf.keys()].join(', ')}`,
      };
      continue;
    }
    // The slots a stack leaves out take their defaults: a given generation may collide with one.
    const given = new Set(Object.keys(gens));
    const seen = new Map<number, string>(
      Object.entries(defaultGenerations(scheme))
        .filter(([slot]) => !given.has(slot))
        .map(([slot, g]) => [g.generation, `${slot} (by default)`]),
    );
    for (const [slot, g] of Object.entries(gens)) {
      if (slot === 'lastRotatedAt' || slot === 'previousRotatedAt') continue;
      if (!isSlotOf(scheme, slot)) {
        yield {
          path: ['generations', cred, slot],
          found: `a slot the ${scheme} scheme does not have`,
          fix: `use one of ${schemeSlots[scheme].join(', ')}`,
        };
        continue;
      }
      const n = (g as { generation: number }).generation;
      if (seen.has(n))
        yield {
          path: ['generations', cred, slot, 'generation'],
          found: `${n}, also the generation of ${seen.get(n)}`,
          fix: "give each slot its own generation, or set every slot's (keyslot rotate maintains these)",
        };
      seen.set(n, slot);
    }
  }
}

function normalize(stack: string, parsed: StackConfigParsed): StackConfig {
  const credentials = parsed.credentials.map((c): Credential => {
    const scheme = sourceSchemes[c.source.type];
    const { lastRotatedAt, previousRotatedAt, ...recorded } = parsed.generations[c.name] ?? {};
    const generations = { ...defaultGenerations(scheme), ...(recorded as Generations) };
    const active = (parsed.slots[c.name] ?? defaultActiveSlot(scheme)) as SlotName;
    return {
      ...c,
      scheme,
      active,
      generations,
      ...(typeof lastRotatedAt === 'string' ? { lastRotatedAt } : {}),
      ...(typeof previousRotatedAt === 'string' ? { previousRotatedAt } : {}),
      ...(parsed.rotations[c.name] ? { rotation: parsed.rotations[c.name] } : {}),
    };
  });
  return { stack, clusters: parsed.clusters, credentials };
}

/**
 * Parses the `keyslot:` values of one stack. `raw` maps un-namespaced keys (`clusters`, ...) to
 * their values; `origin` names where they came from for the error message. With `now`, recorded
 * times later than it are refused too (the CLI and the driver pass their clock; the program, which
 * runs wherever Pulumi runs it, does not).
 * @throws ConfigError on the first problem, in config order.
 */
export function parseStackConfig(stack: string, raw: Readonly<Record<string, unknown>>, origin: string, now?: Date): StackConfig {
  for (const key of Object.keys(raw)) {
    const isKubeconfigSecret =
      Array.isArray(raw.clusters) && raw.clusters.some((c) => c && typeof c === 'object' && (c as Cluster).kubeconfigSecret === key);
    if (!(configKeys as readonly string[]).includes(key) && !isKubeconfigSecret) {
      throw new ConfigError(
        origin,
        configPath([key]),
        kindOf(raw[key]),
        `remove it; keyslot reads ${configKeys.map((k) => `keyslot:${k}`).join(', ')} and kubeconfig secrets`,
      );
    }
    const value = raw[key];
    if (isKubeconfigSecret && !(value && typeof value === 'object' && 'secure' in value)) {
      throw new ConfigError(
        origin,
        configPath([key]),
        `${kindOf(value)} in plain text, where a kubeconfig (a cluster credential) must be encrypted`,
        `store it as a secret: pulumi config set --secret keyslot:${key} "$(cat kubeconfig)"`,
      );
    }
  }
  const input = Object.fromEntries(configKeys.filter((k) => raw[k] !== undefined).map((k) => [k, raw[k]]));
  const result = stackConfig.safeParse(input);
  if (!result.success) {
    const p = schemaProblem(input, result.error);
    throw new ConfigError(origin, configPath(p.path), p.found, p.fix);
  }
  for (const p of crossCheck(result.data, new Set(Object.keys(raw)))) {
    throw new ConfigError(origin, configPath(p.path), p.found, p.fix);
  }
  if (now) for (const p of notInFuture(result.data, now)) throw new ConfigError(origin, configPath(p.path), p.found, p.fix);
  return normalize(stack, result.data);
}

/** Clocks drift; a recorded time this far ahead is still taken as now. */
const clockSkewMs = 5 * 60_000;

/**
 * Recorded times that are in the future by the caller's clock: ages would be negative and a
 * rotation refused until that date. Checked where keyslot knows what "now" is (the CLI, the
 * driver, on the clock it runs on); the program inside `pulumi up` does not judge times.
 */
function* notInFuture(config: StackConfigParsed, now: Date): Generator<Problem> {
  const ahead = (t: string | undefined) => t !== undefined && Date.parse(t) > now.getTime() + clockSkewMs;
  const fix = 'use the time it really happened (a clock set ahead?); keyslot records these itself';
  for (const [cred, gens] of Object.entries(config.generations)) {
    for (const [key, g] of Object.entries(gens)) {
      if (key === 'lastRotatedAt' || key === 'previousRotatedAt') {
        if (ahead(g as string)) yield { path: ['generations', cred, key], found: `${g as string}, after now (${now.toISOString()})`, fix };
      } else if (ahead((g as { createdAt?: string }).createdAt)) {
        yield {
          path: ['generations', cred, key, 'createdAt'],
          found: `${(g as { createdAt: string }).createdAt}, after now (${now.toISOString()})`,
          fix,
        };
      }
    }
  }
}
