/**
 * kOps keysets: the keypairs in the state store, the flip that promotes next, token reissue and rolling updates, the rollback.
 */
import pLimit from 'p-limit';
import type { Credential, StackConfig } from '../config/parse.ts';
import { EngineError, KeyslotError, PreflightRefusedError, TooSoonError } from '../errors.ts';
import {
  tooSoon,
  hoursBetween,
  compareIds,
  assertStagedNext,
  kopsAdvance,
  kopsAfter,
  kopsCommands,
  kopsSlots,
  kopsHome,
  kopsReplaceAll,
  parseKeypairs,
  type KopsKeypair,
  type KopsSlots,
  type KopsTarget,
  type RotationMode,
} from '../model/index.ts';
import type { StepOutcome } from './events.ts';
import type { DriverContext, Run, Unconfirmed } from './context.ts';
import { waitRolledOut } from './stages/common.ts';

/** The keyset's kops flags, and the keyslot cluster whose API servers use it (the source's `cluster`, else the primary). */
export function kopsTarget(config: StackConfig, cred: Credential): KopsTarget & { cluster: string } {
  const source = cred.source;
  if (source.type !== 'kops-keyset') throw new TypeError(`credential ${cred.name} is not a kOps keyset`);
  return {
    clusterName: source.clusterName,
    stateStore: source.stateStore,
    keyset: source.keyset,
    cluster: kopsHome(config.clusters, source.cluster),
  };
}

export async function kopsRun(ctx: DriverContext, argv: readonly string[]): Promise<string> {
  return (await ctx.ports.commands.run(argv, { env: {}, timeoutSeconds: 300 })).output;
}

export async function kopsKeypairs(ctx: DriverContext, target: KopsTarget): Promise<KopsKeypair[]> {
  const printed = await kopsRun(ctx, kopsCommands.getKeypairs(target));
  try {
    return parseKeypairs(printed, target.keyset);
  } catch (error) {
    throw new EngineError((error as Error).message, { cause: error });
  }
}

/**
 * Before a kOps rotation: the keyset's slots as kOps holds them (the record keeps them, so a
 * resumed flip knows what it was moving), and the token gate no flag skips: every projected
 * token is reissued within `tokenRefreshHours` of the rolling update that ended the last rotation.
 */
export async function kopsBefore(
  ctx: DriverContext,
  config: StackConfig,
  cred: Credential,
  mode: RotationMode,
): Promise<Record<string, string>> {
  const source = cred.source;
  if (source.type !== 'kops-keyset') throw new TypeError(`credential ${cred.name} is not a kOps keyset`);
  const target = kopsTarget(config, cred);
  const keypairs = await kopsKeypairs(ctx, target);
  let slots: KopsSlots;
  try {
    slots = kopsSlots(keypairs, target);
    // A disruptive run replaces everything; any other needs a staged next.
    if (mode !== 'disruptive') assertStagedNext(slots, target);
  } catch (error) {
    throw new PreflightRefusedError(`credential ${cred.name}: ${(error as Error).message}`);
  }
  // Promoting next is safe only if every API server already trusts it: kOps writes every
  // keypair not distrusted to service-account.pub (kubernetes/kops v1.36.2, nodeup
  // pkg/nodemodel/nodeupconfigbuilder.go, upup/pkg/fi/ca.go ToPublicKeys), which a server reads
  // at its start and lists in the issuer's JWKS. Fewer keys there than trusted keypairs: the
  // staged next came after the last rolling update, and tokens it signs would be refused.
  if (mode !== 'disruptive') {
    const trusted = keypairs.filter((k) => !k.distrusted).length;
    const served = (await ctx.ports.clusters.verificationKeyIds(target.cluster)).length;
    if (served < trusted)
      throw new PreflightRefusedError(
        `credential ${cred.name}: the API servers of cluster ${target.cluster} verify tokens with ${served} key(s) but the ${target.keyset} keyset has ${trusted} trusted keypairs, so the staged next (${slots.next ?? 'none'}) came after their last rolling update and promoting it would sign tokens they refuse; fix: kops update cluster --yes and kops rolling-update cluster --instance-group-roles=control-plane,apiserver --yes, then rotate again`,
      );
  }
  const recorded = cred.generations.primary?.keyId;
  if (recorded && recorded !== slots.primary)
    ctx.emit({
      type: 'warning',
      at: ctx.now(),
      credential: cred.name,
      message: `kOps keyset ${target.keyset}: the primary is keypair ${slots.primary}, the stack recorded ${recorded}; it was changed outside keyslot, and kOps is taken as the truth`,
    });
  if (mode === 'rotate' && tooSoon(cred.lastRotatedAt, source.tokenRefreshHours, ctx.ports.clock.now()))
    throw new TooSoonError(
      `credential ${cred.name}: the last rotation finished at ${cred.lastRotatedAt}, ${hoursBetween(cred.lastRotatedAt, ctx.ports.clock.now())!.toFixed(1)}h ago; projected service-account tokens are reissued with the new primary within tokenRefreshHours (${source.tokenRefreshHours}h), and this rotation distrusts the key that signed the older ones; wait (--force does not skip this; for an exposed key: --emergency)`,
    );
  return { primary: slots.primary, ...(slots.next ? { next: slots.next } : {}), ...(slots.previous ? { previous: slots.previous } : {}) };
}

/**
 * No legacy token Secret may still be signed by a key other than the primary: this rotation
 * distrusts the previous key, and the token controller never reissues a token it already made.
 */
export async function kopsTokensReissued(ctx: DriverContext, run: Run) {
  const target = kopsTarget(run.config, run.before);
  const signing = await ctx.ports.clusters.signingKeyId(target.cluster);
  const stale = (await ctx.ports.clusters.serviceAccountTokenSecrets(target.cluster)).filter((s) => s.keyId !== signing);
  if (stale.length === 0) return;
  const shown = stale.slice(0, 5).map((s) => `${s.namespace}/${s.name}`);
  throw new PreflightRefusedError(
    `credential ${run.plan.name}: ${stale.length} legacy service-account token Secret(s) on cluster ${target.cluster} are signed by a key other than the primary (${shown.join(', ')}${stale.length > shown.length ? ', …' : ''}), and this rotation distrusts the previous key; fix: reissue each (remove its data.token and the token controller signs a new one) or delete the ones nothing uses, then rotate again (--force does not skip this)`,
  );
}

/**
 * The flip of a kOps keyset: distrust previous, promote next, create a new next (each only if
 * the state store does not show it done), `kops update cluster --yes`, then record the keypair ids.
 */
export async function kopsFlip(ctx: DriverContext, run: Run, target: KopsTarget, replaceAll: boolean): Promise<string> {
  const before = run.record.keyIds as KopsSlots | undefined;
  if (!before?.primary) throw new EngineError(`rotation ${run.record.id}: the record has no kOps keypair ids to move from`);
  let commands: string[][] = [];
  let now = await kopsKeypairs(ctx, target);
  if (replaceAll) {
    // New ids exist only once kops made them: a batch at a time, each decided on the state store.
    for (let batch = kopsReplaceAll(before, now, target); batch.length; batch = kopsReplaceAll(before, now, target)) {
      if (commands.length > 16) throw new EngineError(`kOps keyset ${target.keyset}: the replacement does not converge`);
      for (const argv of batch) await kopsRun(ctx, argv);
      commands.push(...batch);
      now = await kopsKeypairs(ctx, target);
    }
  } else {
    commands = kopsAdvance(before, now, target);
    for (const argv of commands) await kopsRun(ctx, argv);
    now = await kopsKeypairs(ctx, target);
  }
  let after: Required<KopsSlots>;
  try {
    after = kopsAfter(before, now, target, replaceAll);
  } catch (error) {
    throw new EngineError((error as Error).message);
  }
  await kopsRun(ctx, kopsCommands.update(target));
  const gens = `generations.${run.plan.name}`;
  for (const [slot, id] of Object.entries(after)) {
    await ctx.ports.engine.setConfig(`${gens}.${slot}.keyId`, id);
    // kOps' own date for each keypair (its certificate's notBefore) is the slot's age.
    const issued = now.find((k) => k.id === id)?.issued ?? (slot === 'next' ? ctx.now() : undefined);
    if (issued) await ctx.ports.engine.setConfig(`${gens}.${slot}.createdAt`, issued);
  }
  return `kops: previous ${after.previous}, primary ${after.primary}, next ${after.next} (${commands.length} change(s), then update cluster)`;
}

/**
 * After a disruptive replacement: every legacy token Secret reissued (the token controller signs
 * anew), then every workload restarted and rolled out, so no pod keeps a token of a distrusted
 * key. A workload that does not roll out is reported as unconfirmed, as a disruptive run reports
 * every consumer it went past, and the run goes on.
 */
export async function reissueEverything(
  ctx: DriverContext,
  run: Run,
  index: number,
  clusters: readonly string[],
): Promise<{ outcome: StepOutcome; detail: string }> {
  const limit = pLimit(Math.min(ctx.concurrency, 16));
  let tokens = 0;
  let restarted = 0;
  const stuck: Unconfirmed[] = [];
  for (const cluster of clusters) {
    tokens += await ctx.ports.clusters.reissueServiceAccountTokens(cluster);
    const workloads = await ctx.ports.clusters.listWorkloads(cluster);
    await Promise.all(
      workloads.map((id) =>
        limit(async () => {
          try {
            await ctx.ports.clusters.restart(cluster, id, run.record.id);
            await waitRolledOut(ctx, run.plan.name, cluster, id, 600);
            restarted += 1;
          } catch (error) {
            if (!(error instanceof KeyslotError)) throw error;
            stuck.push({ step: index, label: `restart ${id.namespace}/${id.workload} on ${cluster}`, error });
          }
        }),
      ),
    );
  }
  run.unconfirmed.push(...stuck);
  const detail = `${tokens} legacy token Secret(s) reissued, ${restarted} workload(s) restarted`;
  return stuck.length
    ? { outcome: 'failed', detail: `${detail}; not rolled out: ${stuck.map((s) => s.label.slice('restart '.length)).join(', ')}` }
    : { outcome: 'done', detail };
}

/** Rolling back a kOps flip: the old primary signs again, the key made by the flip is distrusted (it never signed). */
export async function kopsRollBack(ctx: DriverContext, run: Run, target: KopsTarget) {
  const before = run.record.keyIds as KopsSlots | undefined;
  if (!before?.primary || !before.next) return;
  const keypairs = await kopsKeypairs(ctx, target);
  if (!keypairs.some((k) => k.id === before.primary && k.primary)) await kopsRun(ctx, kopsCommands.promote(target, before.primary));
  for (const k of keypairs)
    if (!k.distrusted && !k.primary && compareIds(k.id, before.next) > 0) await kopsRun(ctx, kopsCommands.distrust(target, k.id));
  await kopsRun(ctx, kopsCommands.update(target));
  const gens = `generations.${run.plan.name}`;
  for (const [slot, id] of Object.entries(before)) await ctx.ports.engine.setConfig(`${gens}.${slot}.keyId`, id);
  // The API servers sign with the old primary again only once they restart.
  for (const step of run.plan.steps)
    if (step.kind === 'exec' && step.command[0] === 'kops' && step.command[1] === 'rolling-update')
      await ctx.ports.commands.run(step.command, { env: {}, timeoutSeconds: step.timeoutSeconds });
}
