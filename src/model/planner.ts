/**
 * The rotation planner: the single source of truth for what a rotation does, in order. `keyslot
 * plan` prints it and the driver executes it step by step. Pure.
 *
 *   dual     preflight → flip → up → stages → gate → regenerate(freed slot) → record
 *   triple   preflight → advance(flip) → up → stages → gate → record
 *   managed  preflight → stages → gate → record        (the key's owner rotates it, e.g. Gardener)
 */
import type { Credential, StackConfig } from '../config/parse.ts';
import type { Delivery, SourceType, Stage } from '../config/schema.ts';
import { UnknownCredentialError } from '../errors.ts';
import { selectClusters } from './clusters.ts';
import { defaultLogPatterns } from './logPatterns.ts';
import { kopsCommands, kopsHome, type KopsTarget } from './kops.ts';
import { advance, nextGeneration, standbySlot, type SlotGeneration } from './slots.ts';

type Resolved<T> = T extends { kind: 'verify-logs' } ? Omit<T, 'patterns'> & { readonly patterns: readonly string[] } : T;
type Distribute<T> = T extends unknown ? Omit<Resolved<T>, 'clusters'> & { readonly clusters: readonly string[] } : never;
/** A stage with its cluster selector and defaults resolved; an empty cluster list means "once, not per cluster". */
export type StageStep = Distribute<Stage> & { readonly stage: number };

/** How a freed slot gets a new key. */
export type RegenerateVia = 'pulumi-up' | 'azure-cosmosdb' | 'azure-storage';

export type Step =
  | { readonly kind: 'preflight'; readonly clusters: readonly string[]; readonly checks: readonly string[] }
  | {
      readonly kind: 'flip';
      readonly mode: 'flip' | 'advance';
      readonly from: string;
      readonly to: string;
      /** The config value(s) written, e.g. `keyslot:slots.cosmos` = `secondary`. */
      readonly set: Readonly<Record<string, string | number>>;
      /**
       * A kOps keyset: once the following `up` has deployed the rotation's record, `kops` moves the
       * keyset in its state store (distrust previous, promote next, create a new next) and runs
       * `kops update cluster --yes`; the keypair ids are recorded with the generations.
       */
      readonly kops?: KopsTarget;
      /** kOps, disruptive: every keypair replaced at once (three new ones; all the old distrusted). */
      readonly replaceAll?: boolean;
    }
  | {
      /**
       * After a disruptive kOps replacement: every legacy service-account token Secret reissued and
       * every workload restarted, so that nothing holds a token of a distrusted key.
       */
      readonly kind: 'reissue';
      readonly clusters: readonly string[];
    }
  | { readonly kind: 'up'; readonly clusters: readonly string[]; readonly targets: readonly string[] }
  | StageStep
  | {
      readonly kind: 'gate';
      readonly requires: readonly string[];
      /** `strict`: no regeneration unless every consumer confirmed. `emergency`: regenerate anyway, report who did not confirm. */
      readonly mode: 'strict' | 'emergency';
    }
  | {
      readonly kind: 'regenerate';
      readonly slot: string;
      readonly generation: number;
      readonly via: RegenerateVia;
      readonly soakMinutes: number;
      readonly set: Readonly<Record<string, string | number>>;
    }
  | { readonly kind: 'record'; readonly set: readonly string[] };

export type StepKind = Step['kind'];

/**
 * What each stage of a run of consecutive stage steps waits for, as positions in that run: the
 * stage before it by default, the stages its `after` names, nothing for `after: []`. A stage that
 * acts on the same clusters as one it waits for waits there cluster by cluster; otherwise for all
 * of it (`sameClusters`). The driver schedules by this, and the drill's bounds are computed from it.
 */
export function stageDependencies(stages: readonly StageStep[]): number[][] {
  return stages.map((s, k) =>
    s.after === undefined
      ? k > 0
        ? [k - 1]
        : []
      : s.after.map((id) => stages.findIndex((t) => t.id === id)).filter((i) => i >= 0 && i < k),
  );
}

/** Whether two stages act on the same clusters (then one waits for the other per cluster). */
export function sameClusters(a: StageStep, b: StageStep): boolean {
  return a.clusters.length > 0 && a.clusters.length === b.clusters.length && a.clusters.every((c, i) => b.clusters[i] === c);
}

/** Whether a step is one of the credential's stages (restarts, checks, waits, commands) rather than the rotation's own steps. */
export function isStage(step: Step): step is StageStep {
  return 'stage' in step;
}

/**
 * `rotate`: the zero-downtime path. `emergency`: a key was exposed; same steps, but the exposed
 * slot is regenerated even if not every consumer confirmed. `disruptive`: every slot is replaced
 * at once (kOps "rotate everything"); consumers fail until restarted.
 */
export type RotationMode = 'rotate' | 'emergency' | 'disruptive';

export interface CredentialPlan {
  readonly name: string;
  readonly mode: RotationMode;
  readonly scheme: Credential['scheme'];
  /** The active slot before and after; equal for managed credentials. */
  readonly from: string;
  readonly to: string;
  /** Slot generations once the rotation has finished. */
  readonly generations: Readonly<Record<string, SlotGeneration>>;
  readonly steps: readonly Step[];
}

export interface Plan {
  readonly stack: string;
  readonly credentials: readonly CredentialPlan[];
}

const regenerateVia: Record<SourceType, RegenerateVia | undefined> = {
  random: 'pulumi-up',
  'aws-iam-access-key': 'pulumi-up',
  'azure-cosmosdb-keys': 'azure-cosmosdb',
  'azure-storage-keys': 'azure-storage',
  'tls-signing-key': undefined,
  'kops-keyset': undefined,
  'gardener-kubeconfig': undefined,
};

/** The preflight check (its text starts so) that refuses a kOps rotation while a token signed by the key it drops may be in use. */
export const tokenReissueCheck = 'every service-account token reissued since the last rotation';

/** Sources whose standby key preflight can test against the cloud before anything changes. */
const testableStandby = new Set<SourceType>(['aws-iam-access-key', 'azure-cosmosdb-keys', 'azure-storage-keys']);

/** A delivery target as shown to humans and exported by the program: never a value. */
export function deliveryTargets(config: StackConfig, d: Delivery): string[] {
  switch (d.type) {
    case 'kubernetes-secret':
      return selectClusters(config.clusters, d.clusters).map((c) => `${c}:secret/${d.namespace}/${d.name}`);
    case 'azure-keyvault-secret':
      return [`keyvault:${d.vaultName}/${d.secretName}`];
    case 'aws-secretsmanager-secret':
      return [`secretsmanager:${d.secretId}`];
  }
}

function describeStage(s: StageStep): string {
  const where = s.clusters.length ? ` on ${s.clusters.join(', ')}` : '';
  switch (s.kind) {
    case 'restart':
      return `${s.namespace}/${s.workload ?? s.firstExisting?.join('|')} rolled out${where}`;
    case 'verify-logs':
      return `${s.namespace}/${s.workload ?? s.firstExisting?.join('|')} logs clean${where}`;
    case 'verify-http':
      return `${s.url} answered ${s.expectStatus}${where}`;
    case 'wait-reconciled':
      return `shoots of ${s.namespace}/${s.secretBinding} reconciled${where}`;
    case 'wait-secret-sync':
      return `${s.namespace}/${s.secretProviderClass} synced from the vault${where}`;
    case 'annotate':
      return `${s.operation} finished for ${s.shoots?.join(', ') ?? `shoots of ${s.secretBinding}`}${where}`;
    case 'exec':
      return `${s.command.join(' ')} exited 0${where}`;
  }
}

/** The union of clusters a credential touches, in declaration order. */
function touchedClusters(config: StackConfig, cred: Credential, stages: readonly StageStep[]): string[] {
  const used = new Set<string>(stages.flatMap((s) => s.clusters));
  for (const d of cred.deliver)
    if (d.type === 'kubernetes-secret') for (const c of selectClusters(config.clusters, d.clusters)) used.add(c);
  return config.clusters.map((c) => c.name).filter((c) => used.has(c));
}

export function planCredential(config: StackConfig, cred: Credential, mode: RotationMode = 'rotate'): CredentialPlan {
  const stages = cred.stages.map(
    (s, i) =>
      ({
        ...s,
        ...(s.kind === 'verify-logs' ? { patterns: s.patterns ?? defaultLogPatterns(cred.source.type) } : {}),
        stage: i,
        clusters: selectClusters(config.clusters, s.clusters),
      }) as StageStep,
  );
  const clusters = touchedClusters(config, cred, stages);
  const checks = ['stack config valid', 'every target cluster reachable', 'no rotation in flight'];
  if (mode === 'rotate') checks.push(`at least ${cred.minIntervalHours}h since the last rotation`);
  const kops: KopsTarget | undefined =
    cred.source.type === 'kops-keyset'
      ? { clusterName: cred.source.clusterName, stateStore: cred.source.stateStore, keyset: cred.source.keyset }
      : undefined;
  if (kops && cred.source.type === 'kops-keyset') {
    checks.push(`kOps keyset ${kops.keyset} of ${kops.clusterName}: one primary, a staged next, at most one previous`);
    if (mode === 'rotate')
      checks.push(
        `${tokenReissueCheck}: ${cred.source.tokenRefreshHours}h passed, and no legacy token Secret signed by a key other than the primary (--force does not skip this)`,
      );
  }
  if (cred.scheme === 'dual' && testableStandby.has(cred.source.type) && mode !== 'disruptive')
    checks.push('standby key accepted by the cloud');
  const steps: Step[] = [{ kind: 'preflight', clusters, checks }];
  const key = `keyslot:slots.${cred.name}`;
  const gens = `keyslot:generations.${cred.name}`;
  const via = regenerateVia[cred.source.type];
  const deliveredTo = new Set(
    cred.deliver.flatMap((d) => (d.type === 'kubernetes-secret' ? selectClusters(config.clusters, d.clusters) : [])),
  );
  const up: Step = {
    kind: 'up',
    clusters: clusters.filter((c) => deliveredTo.has(c)),
    targets: cred.deliver.flatMap((d) => deliveryTargets(config, d)),
  };
  const gate: Step = { kind: 'gate', requires: stages.map(describeStage), mode: mode === 'rotate' ? 'strict' : 'emergency' };
  const record = [`${gens}.previousRotatedAt`, `${gens}.lastRotatedAt`];
  let to: string = cred.active;
  let generations: Record<string, SlotGeneration> = { ...cred.generations };

  if (mode === 'disruptive' && kops && cred.source.type === 'kops-keyset') {
    // The keyset part of kOps' "rotate all secrets" (runbooks/003), for an exposed signing key:
    // every keypair replaced at once, the cluster updated and rolled, every token reissued and every
    // pod restarted, then `kops validate cluster`. Tokens fail until their pods restart: that is
    // what --disruptive says. (kOps 1.22+ no longer deletes keypairs; it distrusts them.)
    const g = nextGeneration(generations);
    generations = { previous: { generation: g }, primary: { generation: g + 1 }, next: { generation: g + 2 } };
    steps.push(
      {
        kind: 'flip',
        mode: 'advance',
        from: `primary@g${cred.generations.primary!.generation}`,
        to: `primary@g${g + 1}`,
        set: Object.fromEntries(Object.entries(generations).map(([slot, s]) => [`${gens}.${slot}.generation`, s.generation])),
        kops,
        replaceAll: true,
      },
      up,
      ...stages,
      { kind: 'reissue', clusters: [kopsHome(config.clusters, cred.source.cluster)] },
      { kind: 'exec', clusters: [], command: kopsCommands.validate(kops), timeoutSeconds: 900, stage: stages.length } as StageStep,
      { ...gate, requires: [...gate.requires, 'every token reissued and every workload restarted', 'kops validate cluster passed'] },
      { kind: 'record', set: record },
    );
    return { name: cred.name, mode, scheme: cred.scheme, from: cred.active, to, generations, steps };
  }
  if (mode === 'disruptive' && (via || cred.scheme === 'triple')) {
    // Every slot replaced before any consumer restarts: the downtime is the point of this path.
    for (const slot of Object.keys(cred.generations)) {
      const generation = nextGeneration(generations);
      generations = { ...generations, [slot]: { generation } };
      steps.push({
        kind: 'regenerate',
        slot,
        generation,
        via: via ?? 'pulumi-up',
        soakMinutes: 0,
        set: { [`${gens}.${slot}.generation`]: generation },
      });
      if (via && via !== 'pulumi-up') record.push(`${gens}.${slot}.createdAt`);
    }
    steps.push(up, ...stages, gate, { kind: 'record', set: record });
    return { name: cred.name, mode, scheme: cred.scheme, from: cred.active, to, generations, steps };
  }

  if (cred.scheme === 'dual') {
    to = standbySlot(cred.active as 'primary' | 'secondary');
    steps.push({ kind: 'flip', mode: 'flip', from: cred.active, to, set: { [key]: to } });
  } else if (cred.scheme === 'triple') {
    generations = advance(cred.generations);
    steps.push({
      kind: 'flip',
      mode: 'advance',
      from: `primary@g${cred.generations.primary!.generation}`,
      to: `primary@g${generations.primary!.generation}`,
      set: Object.fromEntries(Object.entries(generations).map(([slot, g]) => [`${gens}.${slot}.generation`, g.generation])),
      ...(kops ? { kops } : {}),
    });
  }
  if (cred.scheme !== 'managed') steps.push(up);
  steps.push(...stages, gate);

  if (cred.scheme === 'dual' && via) {
    const freed = cred.active;
    const generation = nextGeneration(cred.generations);
    generations = { ...generations, [freed]: { generation } };
    steps.push({
      kind: 'regenerate',
      slot: freed,
      generation,
      via,
      soakMinutes: mode === 'rotate' ? cred.soakMinutes : 0,
      set: { [`${gens}.${freed}.generation`]: generation },
    });
    if (via !== 'pulumi-up') record.push(`${gens}.${freed}.createdAt`);
  }
  steps.push({ kind: 'record', set: record });
  return { name: cred.name, mode, scheme: cred.scheme, from: cred.active, to, generations, steps };
}

/**
 * Plans the rotation of the named credentials, or of all of them.
 * @throws UnknownCredentialError for a name the stack does not declare.
 */
export function planRotation(config: StackConfig, names?: readonly string[], mode: RotationMode = 'rotate'): Plan {
  const byName = new Map(config.credentials.map((c) => [c.name, c]));
  const chosen = (names?.length ? names : [...byName.keys()]).map((n) => {
    const cred = byName.get(n);
    if (!cred)
      throw new UnknownCredentialError(
        `stack ${config.stack}`,
        '--credential',
        JSON.stringify(n),
        `use one of ${[...byName.keys()].join(', ')}`,
      );
    return cred;
  });
  return { stack: config.stack, credentials: chosen.map((c) => planCredential(config, c, mode)) };
}
