/**
 * What a rotation writes to the stack: its record, the flip, every `up`, the gate, the regeneration of
 * the freed key and the final record.
 */
import type { RotationRecord } from '../config/schema.ts';
import { EngineError, PolicyViolationError } from '../errors.ts';
import type { UpOptions } from '../ports/engine.ts';
import type { Step } from '../model/index.ts';
import { type DriverContext, type Run, GateClosed, keyRef } from './context.ts';

function stripPrefix(path: string): string {
  return path.replace(/^keyslot:/, '');
}

export async function setRecord(ctx: DriverContext, credential: string, record: RotationRecord) {
  const base = `rotations.${credential}`;
  await ctx.ports.engine.setConfig(`${base}.id`, record.id);
  await ctx.ports.engine.setConfig(`${base}.startedAt`, record.startedAt);
  await ctx.ports.engine.setConfig(`${base}.from`, record.from);
  await ctx.ports.engine.setConfig(`${base}.to`, record.to);
  await ctx.ports.engine.setConfig(`${base}.mode`, record.mode);
  for (const [slot, g] of Object.entries(record.generations)) await ctx.ports.engine.setConfig(`${base}.generations.${slot}`, String(g));
  for (const [slot, id] of Object.entries(record.keyIds ?? {})) await ctx.ports.engine.setConfig(`${base}.keyIds.${slot}`, id);
}

export async function setAll(ctx: DriverContext, values: Readonly<Record<string, string | number>>) {
  for (const [path, value] of Object.entries(values)) await ctx.ports.engine.setConfig(stripPrefix(path), String(value));
}

/** What every preview and up of a run is given: the packs, their config files, and where engine events go. */
export function engineOptions(ctx: DriverContext, credential: string): UpOptions {
  return {
    policyPacks: ctx.options.policyPacks,
    ...(ctx.options.policyPackConfigs?.length ? { policyPackConfigs: ctx.options.policyPackConfigs } : {}),
    onEvent: (e) => ctx.emit({ type: 'engine', at: ctx.now(), credential, message: e.message }),
  };
}

/**
 * Every up keyslot runs (the flip, a regeneration's, the record's, a resume's, a rollback's) is
 * previewed with the packs first. The engine judges resource policies one resource at a time as
 * the up registers them, so a mandatory violation met by the up itself would stop it halfway, the
 * steps before it applied; the preview judges every resource and the stack with nothing changed.
 */
export async function up(ctx: DriverContext, run: Run) {
  const options = engineOptions(ctx, run.plan.name);
  if (ctx.options.policyPacks.length) {
    try {
      await ctx.ports.engine.preview(options);
    } catch (error) {
      if (!(error instanceof PolicyViolationError)) throw error;
      throw new PolicyViolationError(`${error.message}; the up was not run: nothing changed`, { cause: error });
    }
  }
  const result = await ctx.ports.engine.up(options);
  const changed = Object.entries(result.changes)
    .filter(([op]) => op !== 'same')
    .map(([op, n]) => `${n} ${op}`);
  return { outcome: 'done' as const, detail: changed.length ? changed.join(', ') : 'no changes' };
}

export function gate(ctx: DriverContext, run: Run, mode: 'strict' | 'emergency') {
  run.gateAt = ctx.ports.clock.now();
  if (run.unconfirmed.length === 0) return { outcome: 'done' as const, detail: 'every consumer confirmed' };
  const labels = run.unconfirmed.map((u) => `${u.label}: ${u.error.message}`);
  if (mode === 'strict') throw new GateClosed(`gate closed, ${run.unconfirmed.length} consumer(s) not confirmed: ${labels.join('; ')}`);
  return {
    outcome: 'done' as const,
    detail: `emergency: regenerating although ${run.unconfirmed.length} consumer(s) did not confirm: ${labels.join('; ')}`,
  };
}

export async function regenerate(ctx: DriverContext, run: Run, step: Extract<Step, { kind: 'regenerate' }>) {
  const path = `generations.${run.plan.name}.${step.slot}.generation`;
  // Every consumer was restarted before the gate; a use of the freed key after it means one was missed.
  const used = run.gateAt ? await ctx.ports.cloud.keyLastUsedAt(keyRef(run), step.slot) : undefined;
  if (used && run.gateAt && used > run.gateAt) {
    ctx.emit({
      type: 'warning',
      at: ctx.now(),
      credential: run.plan.name,
      message: `the freed ${step.slot} key was used at ${used.toISOString()}, after every declared consumer was restarted: a consumer is missing from the stages (run keyslot plan --discover)`,
    });
  }
  if (step.via === 'pulumi-up') {
    // AWS's own procedure: switch the freed key off first, so that a missed consumer fails while
    // turning it back on still helps, and replace it only after the soak.
    let soaked = '';
    if (step.soakMinutes > 0 && !run.resumed) {
      const off = await ctx.ports.cloud.setActive(keyRef(run), step.slot, false);
      await ctx.ports.clock.sleep(step.soakMinutes * 60_000);
      soaked = `, after ${off ? 'deactivating it for ' : ''}a ${step.soakMinutes} min soak`;
    }
    // Replaced by the next `up` (record's); setting the generation twice is the same config.
    if (!run.resumed) {
      const id = (await ctx.ports.engine.deployed())[run.plan.name]?.slots[step.slot]?.keyId;
      if (id) {
        run.keyIdsBefore ??= new Map();
        run.keyIdsBefore.set(step.slot, id);
      }
    }
    await ctx.ports.engine.setConfig(path, String(step.generation));
    return { outcome: 'done' as const, detail: `${step.slot} → generation ${step.generation} (replaced at the next up${soaked})` };
  }
  const startedAt = new Date(run.record.startedAt);
  const made = await ctx.ports.cloud.keyCreatedAt(keyRef(run), step.slot);
  if (made && made > startedAt) {
    run.regenerated.set(step.slot, made);
    await ctx.ports.engine.setConfig(path, String(step.generation));
    return { outcome: 'skipped' as const, detail: `${step.slot} was already regenerated at ${made.toISOString()}` };
  }
  if (step.soakMinutes > 0 && !run.resumed) await ctx.ports.clock.sleep(step.soakMinutes * 60_000);
  const createdAt = await ctx.ports.cloud.regenerate(keyRef(run), step.slot);
  run.regenerated.set(step.slot, createdAt);
  await ctx.ports.engine.setConfig(path, String(step.generation));
  return { outcome: 'done' as const, detail: `${step.slot} regenerated (${step.via}), generation ${step.generation}` };
}

export async function recordFinish(ctx: DriverContext, run: Run) {
  const now = await recordConfig(ctx, run);
  await up(ctx, run);
  await checkReplaced(ctx, run);
  return { outcome: 'done' as const, detail: `lastRotatedAt ${now}` };
}

/** The record step's config: creation times of regenerated keys, the rotation times, the in-flight record removed. */
export async function recordConfig(ctx: DriverContext, run: Run): Promise<string> {
  const gens = `generations.${run.plan.name}`;
  const now = ctx.now();
  for (const [slot, createdAt] of run.regenerated) await ctx.ports.engine.setConfig(`${gens}.${slot}.createdAt`, createdAt.toISOString());
  if (run.before.lastRotatedAt) await ctx.ports.engine.setConfig(`${gens}.previousRotatedAt`, run.before.lastRotatedAt);
  await ctx.ports.engine.setConfig(`${gens}.lastRotatedAt`, now);
  await ctx.ports.engine.removeConfig(`rotations.${run.plan.name}`);
  return now;
}

/**
 * A key regenerated by a generation bump must have a new id after the up: a CLI that ignores
 * `replacementTrigger` (before 3.226) keeps the old key while the recorded createdAt moves on.
 */
export async function checkReplaced(ctx: DriverContext, run: Run) {
  if (!run.keyIdsBefore?.size) return;
  const deployed = (await ctx.ports.engine.deployed())[run.plan.name];
  for (const [slot, before] of run.keyIdsBefore) {
    if (deployed?.slots[slot]?.keyId !== before) continue;
    throw new EngineError(
      `credential ${run.plan.name}: slot ${slot} still has key …${before.slice(-4)} after the up that should have replaced it, so the old key was not regenerated; the Pulumi CLI ignored replacementTrigger (check pulumi version: keyslot needs 3.226 or newer), then run keyslot resume --stack ${run.config.stack} --credential ${run.plan.name}`,
    );
  }
}
