/**
 * Rolling a rotation back: the flip undone, every consumer restarted onto the old key, the record removed; refused once the freed key was regenerated.
 */
import pLimit from 'p-limit';
import { KeyslotError, RollbackImpossibleError } from '../errors.ts';
import { type DriverContext, type Run, keyRef } from './context.ts';
import { credential, loadConfig } from './adoption.ts';
import { kopsRollBack } from './kops.ts';
import { up } from './record.ts';
import { stepFinished, stepStarted } from './steps.ts';
import { waitRolledOut } from './stages/common.ts';

export async function assertRollbackPossible(ctx: DriverContext, run: Run) {
  const current = credential(await loadConfig(ctx), run.plan.name);
  for (const step of run.plan.steps) {
    if (step.kind !== 'regenerate') continue;
    const now = current.generations[step.slot]?.generation;
    const made = step.via === 'pulumi-up' ? undefined : await ctx.ports.cloud.keyCreatedAt(keyRef(run), step.slot);
    if (now === step.generation || (made && made > new Date(run.record.startedAt))) {
      throw new RollbackImpossibleError(
        `rotation ${run.record.id}: the freed ${step.slot} key was already regenerated, so the old key no longer exists; finish instead: keyslot resume --stack ${run.config.stack} --credential ${run.plan.name}`,
      );
    }
  }
}

export async function rollBack(ctx: DriverContext, run: Run, reason: string): Promise<string> {
  const { plan, record } = run;
  const cred = plan.name;
  // The rollback's own step, numbered -1 (the report words it as the rollback's).
  const self = [{ run, index: -1 }];
  const started = stepStarted(ctx, self, 'flip', []);
  if (run.before.scheme === 'dual') {
    // A soak may have switched the old key off; it takes traffic again from here.
    await ctx.ports.cloud.setActive(keyRef(run), plan.from, true);
    await ctx.ports.engine.setConfig(`slots.${cred}`, plan.from);
  }
  if (run.before.scheme === 'triple') {
    // Signers go back to the old primary; every key made since stays trusted, and no generation
    // number is reused: previous = the would-be primary, next = the new next.
    const back = {
      previous: plan.generations.primary!.generation,
      primary: record.generations.primary!,
      next: plan.generations.next!.generation,
    };
    for (const [slot, g] of Object.entries(back)) await ctx.ports.engine.setConfig(`generations.${cred}.${slot}.generation`, String(g));
  }
  const kopsFlip = plan.steps.find((s) => s.kind === 'flip' && s.kops);
  if (kopsFlip?.kind === 'flip' && kopsFlip.kops) await kopsRollBack(ctx, run, kopsFlip.kops);
  await up(ctx, run);
  // Everything restarted onto the new key is restarted again onto the old one. A workload that
  // does not roll out does not stop the others; it is reported.
  const limit = pLimit(ctx.concurrency);
  const stuck: string[] = [];
  for (const step of plan.steps) {
    if (step.kind !== 'restart') continue;
    await Promise.all(
      step.clusters.map((cluster) =>
        limit(async () => {
          for (const workload of step.workload ? [step.workload] : (step.firstExisting ?? [])) {
            const id = { namespace: step.namespace, workload };
            try {
              if ((await ctx.ports.clusters.restartStamp(cluster, id)) !== record.id) continue;
              await ctx.ports.clusters.restart(cluster, id, `${record.id}-rollback`);
              await waitRolledOut(ctx, cred, cluster, id, step.timeoutSeconds);
            } catch (error) {
              if (!(error instanceof KeyslotError)) throw error;
              stuck.push(`${cluster} ${step.namespace}/${workload}: ${error.message}`);
            }
          }
        }),
      ),
    );
  }
  if (stuck.length) reason = `${reason}; after the flip back, not rolled out: ${stuck.join('; ')}`;
  await ctx.ports.engine.removeConfig(`rotations.${cred}`);
  await up(ctx, run);
  stepFinished(ctx, self, 'flip', started, 'done', `rolled back to ${plan.from}`);
  ctx.emit({
    type: 'rotation-finished',
    at: ctx.now(),
    credential: cred,
    rotationId: record.id,
    outcome: 'rolled-back',
    unconfirmed: run.unconfirmed.map((u) => u.label),
    detail: reason,
  });
  return reason;
}
