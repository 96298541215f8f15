/**
 * One stage on one cluster (or once): its executor by kind, the outcome reported to every rotation
 * that owns the stage.
 */
import { ConsumerNotReadyError, KeyslotError } from '../../errors.ts';
import { type StageStep } from '../../model/index.ts';
import type { StepOutcome } from '../events.ts';
import { type DriverContext, type Run, type StageNode, type Unconfirmed } from '../context.ts';
import { resolveWorkload, stageLabel } from './common.ts';
import { waitSecretSync } from './csi.ts';

/** What an optional stage says on a cluster where its workload does not exist: never silence. */
function absentOptional(
  step: { namespace: string; workload?: string; firstExisting?: readonly string[] },
  cluster: string,
): { outcome: 'skipped'; detail: string } {
  const candidates = step.workload ? [step.workload] : [...(step.firstExisting ?? [])];
  return { outcome: 'skipped', detail: `${step.namespace}/${candidates.join(' or ')} does not exist on ${cluster} (optional)` };
}

function substitute(text: string, cluster: string | undefined): string {
  return cluster === undefined ? text : text.replaceAll('${cluster}', cluster);
}

/** The value at a dotted path of a JSON text; undefined when the text is not JSON or the path is absent. */
function jsonField(body: string, path: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/**
 * One stage on one cluster (or once), run with the first owner's rotation: each owner gets the
 * outcome as its event; returns what went wrong for each, if anything did.
 */
export async function stageCluster(
  ctx: DriverContext,
  owners: StageNode['owners'],
  step: StageStep,
  cluster: string | undefined,
): Promise<{ run: Run; unconfirmed: Unconfirmed }[]> {
  const started = ctx.ports.clock.now().getTime();
  const where = cluster ?? 'once';
  // A merged restart reports to, and fails for, the rotations whose own stage names this cluster.
  const mine = owners.filter((o) => cluster === undefined || !o.clusters || o.clusters.has(cluster));
  const tell = (outcome: StepOutcome, detail: string) => {
    for (const { run, index } of mine)
      ctx.emit({
        type: 'cluster-finished',
        at: ctx.now(),
        credential: run.plan.name,
        rotationId: run.record.id,
        step: index,
        kind: step.kind,
        cluster: where,
        outcome,
        durationMs: ctx.ports.clock.now().getTime() - started,
        detail,
      });
  };
  try {
    const result = await stageOn(ctx, (mine[0] ?? owners[0]!).run, step, cluster);
    const { outcome, detail }: { outcome: StepOutcome; detail: string } =
      typeof result === 'string' ? { outcome: 'done', detail: result } : result;
    tell(outcome, detail);
    return [];
  } catch (error) {
    if (!(error instanceof KeyslotError)) throw error;
    tell('failed', error.message);
    return mine.map(({ run, index }) => ({
      run,
      unconfirmed: { step: index, label: `${step.kind} ${stageLabel(step)} on ${where}`, error },
    }));
  }
}

export async function stageOn(
  ctx: DriverContext,
  run: Run,
  step: StageStep,
  cluster: string | undefined,
): Promise<string | { outcome: 'skipped'; detail: string }> {
  const since = new Date(run.record.startedAt);
  const need = (c: string | undefined): string => {
    if (c === undefined) throw new ConsumerNotReadyError(`${step.kind} needs a cluster`);
    return c;
  };
  switch (step.kind) {
    case 'restart': {
      const c = need(cluster);
      const id = await resolveWorkload(ctx, c, step);
      if (!id) return absentOptional(step, c);
      const { outcome } = await ctx.ports.clusters.restart(c, id, run.record.id);
      await ctx.ports.clusters.waitRollout(c, id, step.timeoutSeconds);
      return outcome === 'already'
        ? `${id.workload} already restarted for ${run.record.id}; rolled out`
        : `${id.workload} restarted and rolled out`;
    }
    case 'verify-logs': {
      const c = need(cluster);
      const id = await resolveWorkload(ctx, c, step);
      if (!id) return absentOptional(step, c);
      const { matches, read } = await ctx.ports.clusters.checkLogs(c, {
        ...id,
        ...(step.container ? { container: step.container } : {}),
        patterns: step.patterns,
        since,
        windowSeconds: step.windowSeconds,
      });
      const containers = [...new Set(read.map((r) => r.slice(r.lastIndexOf('/') + 1)))].join(', ');
      const pods = new Set(read.map((r) => r.slice(0, r.lastIndexOf('/')))).size;
      if (matches.length)
        throw new ConsumerNotReadyError(
          `${matches.length} auth error line(s) in ${id.namespace}/${id.workload} logs on ${c} (${[...new Set(matches)].join('; ')})`,
        );
      return `${id.workload} logs clean (${pods} pod(s), container(s) ${containers})`;
    }
    case 'verify-http': {
      const url = substitute(step.url, cluster);
      const deadline = ctx.ports.clock.now().getTime() + step.timeoutSeconds * 1000;
      const expected = `${step.expectStatus}${step.expectJson ? ` with ${step.expectJson.path} = ${JSON.stringify(step.expectJson.equals)}` : ''}`;
      let last = 'no answer';
      for (;;) {
        try {
          const { status, body } = await ctx.ports.http.get(url, Math.min(10, step.timeoutSeconds));
          const field = step.expectJson ? jsonField(body, step.expectJson.path) : undefined;
          // The body is never quoted: a diagnostics endpoint may echo configuration.
          if (status !== step.expectStatus) last = `status ${status}`;
          else if (step.expectJson && field !== step.expectJson.equals)
            last = `${step.expectJson.path} ${field === undefined ? 'missing' : 'had another value'}`;
          else return `${url} answered ${expected}`;
        } catch (error) {
          last = error instanceof Error ? error.message : String(error);
        }
        if (ctx.ports.clock.now().getTime() >= deadline)
          throw new ConsumerNotReadyError(`${url} did not answer ${expected} within ${step.timeoutSeconds}s (last: ${last})`);
        await ctx.ports.clock.sleep(2000);
      }
    }
    case 'wait-secret-sync':
      return waitSecretSync(ctx, run, step, need(cluster));
    case 'wait-reconciled':
      await ctx.ports.clusters.waitShootsReconciled(need(cluster), {
        namespace: step.namespace,
        secretBinding: step.secretBinding,
        since,
        timeoutSeconds: step.timeoutSeconds,
      });
      return `shoots of ${step.secretBinding} reconciled`;
    case 'annotate':
      await ctx.ports.clusters.annotateShoots(need(cluster), {
        namespace: step.namespace,
        ...(step.shoots ? { shoots: step.shoots } : {}),
        ...(step.secretBinding ? { secretBinding: step.secretBinding } : {}),
        operation: step.operation,
        since,
        timeoutSeconds: step.timeoutSeconds,
      });
      return `${step.operation} completed`;
    case 'exec': {
      const env: Record<string, string> = {
        KEYSLOT_STACK: run.config.stack,
        KEYSLOT_CREDENTIAL: run.plan.name,
        KEYSLOT_SLOT: run.plan.to,
        KEYSLOT_ROTATION: run.record.id,
        ...(cluster ? { KEYSLOT_CLUSTER: cluster } : {}),
      };
      const command = step.command.map((a) => substitute(a, cluster));
      const exec = (extra: Record<string, string>) =>
        ctx.ports.commands.run(command, { env: { ...env, ...extra }, timeoutSeconds: step.timeoutSeconds });
      await (cluster ? ctx.ports.clusters.withKubeconfig(cluster, (path) => exec({ KUBECONFIG: path })) : exec({}));
      return `${step.command[0]} exited 0`;
    }
  }
}
