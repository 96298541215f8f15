import type { RotationEvent } from '../driver/events.ts';

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** A plan step's number from 1, or `rollback` for the rollback's own steps (numbered -1). */
function stepNumber(step: number): string {
  return step < 0 ? 'rollback' : String(step + 1);
}

function stepName(step: number): string {
  return step < 0 ? stepNumber(step) : `step ${stepNumber(step)}`;
}

/** One plain, timestamped line per event: what CI logs show. */
export function eventLine(e: RotationEvent): string {
  const head = `${e.at} ${e.credential}`;
  switch (e.type) {
    case 'rotation-started':
      return `${head} ${e.resumed ? 'resuming' : 'starting'} ${e.mode} ${e.rotationId}: ${e.from} → ${e.to}`;
    case 'step-started':
      return `${head} ${stepName(e.step)} ${e.kind}${e.clusters.length ? ` on ${e.clusters.join(', ')}` : ''}`;
    case 'cluster-finished':
      return `${head}   ${e.kind} ${e.cluster}: ${e.outcome} (${seconds(e.durationMs)})${e.detail ? ` ${e.detail}` : ''}`;
    case 'step-finished':
      return `${head} ${stepName(e.step)} ${e.kind} ${e.outcome} (${seconds(e.durationMs)})${e.detail ? `: ${e.detail}` : ''}`;
    case 'engine':
      return `${head}   pulumi: ${e.message}`;
    case 'warning':
      return `${head} WARNING ${e.message}`;
    case 'rotation-finished':
      return `${head} ${e.outcome} ${e.rotationId}${e.detail ? `: ${e.detail}` : ''}${e.unconfirmed.length ? `; not confirmed: ${e.unconfirmed.join(', ')}` : ''}`;
  }
}

/** A Markdown summary of a run, for a CI step summary (`--report FILE`). */
export function markdownReport(stack: string, events: readonly RotationEvent[]): string {
  const out = [`# keyslot rotation report: ${stack}`, ''];
  const credentials = [...new Set(events.map((e) => e.credential))];
  for (const cred of credentials) {
    const mine = events.filter((e) => e.credential === cred);
    const start = mine.find((e) => e.type === 'rotation-started');
    const end = mine.findLast((e) => e.type === 'rotation-finished');
    out.push(`## ${cred}: ${end && end.type === 'rotation-finished' ? end.outcome : 'unfinished'}`, '');
    if (start?.type === 'rotation-started') out.push(`Rotation \`${start.rotationId}\` (${start.mode}), ${start.from} → ${start.to}${start.resumed ? ', resumed' : ''}.`, '');
    out.push('| step | kind | clusters | outcome | duration | detail |', '| --- | --- | --- | --- | --- | --- |');
    for (const e of mine) {
      if (e.type !== 'step-finished') continue;
      const clusters = mine.filter((c) => c.type === 'cluster-finished' && c.step === e.step).map((c) => (c.type === 'cluster-finished' ? `${c.cluster} ${c.outcome}` : ''));
      out.push(`| ${stepNumber(e.step)} | ${e.kind} | ${clusters.join(', ') || '—'} | ${e.outcome} | ${seconds(e.durationMs)} | ${(e.detail ?? '').replaceAll('|', '\\|')} |`);
    }
    if (end?.type === 'rotation-finished') {
      if (end.detail) out.push('', `Reason: ${end.detail}`);
      if (end.unconfirmed.length) {
        // Said by what happened: an emergency regenerated the key past them; otherwise the rotation stopped at them.
        const why = start?.type === 'rotation-started' && start.mode !== 'rotate' && end.outcome === 'rotated' ? `the ${start.mode} rotation went past them` : end.outcome === 'rolled-back' ? 'the rotation was rolled back because of them' : 'the rotation stopped at them';
        out.push('', `**Consumers not confirmed** (${why}):`, '', ...end.unconfirmed.map((u) => `- ${u}`));
      }
    }
    out.push('');
  }
  return out.join('\n');
}
