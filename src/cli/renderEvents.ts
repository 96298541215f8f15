import type { RotationEvent, StepOutcome } from '../driver/events.ts';
import { stepNumber } from './json.ts';

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** A plan step's number from 1 (as --json and `plan` number it), or `rollback` for the rollback's own steps (numbered -1). */
function stepLabel(step: number): string {
  return String(stepNumber(step) ?? 'rollback');
}

function stepName(step: number): string {
  return step < 0 ? stepLabel(step) : `step ${stepLabel(step)}`;
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

/** Mermaid takes a task's name up to its first `:`, and `#`/`;` end a line: keep names to plain words. */
function ganttText(text: string): string {
  return text.replace(/[:;#]/g, ' ').replace(/\s+/g, ' ').trim();
}

/**
 * A Mermaid `gantt` chart of one rotation: a section per cluster with each stage it ran there, from
 * its start to its end, and a `fleet` section for the steps that run once (flip, up, regenerate).
 * Times are the events' own (`dateFormat x`, milliseconds since the epoch); a failed stage is `crit`.
 * GitHub and Azure DevOps render the block in a job summary.
 */
export function ganttChart(events: readonly RotationEvent[]): string {
  const sections = new Map<string, string[]>();
  const task = (section: string, name: string, outcome: StepOutcome, at: string, durationMs: number) => {
    const end = Date.parse(at);
    const tag = outcome === 'failed' ? 'crit, ' : outcome === 'done' ? 'done, ' : '';
    const line = `    ${ganttText(name)}${outcome === 'skipped' ? ' (skipped)' : ''} :${tag}${end - durationMs}, ${end}`;
    sections.set(section, [...(sections.get(section) ?? []), line]);
  };
  const perCluster = new Set(events.flatMap((e) => (e.type === 'cluster-finished' ? [e.step] : [])));
  sections.set('fleet', []);
  for (const e of events) {
    if (e.type === 'cluster-finished') task(e.cluster, `${stepName(e.step)} ${e.kind}`, e.outcome, e.at, e.durationMs);
    else if (e.type === 'step-finished' && !perCluster.has(e.step))
      task('fleet', `${stepName(e.step)} ${e.kind}`, e.outcome, e.at, e.durationMs);
  }
  const start = events.find((e) => e.type === 'rotation-started');
  const title = start?.type === 'rotation-started' ? `${start.credential} ${start.from} to ${start.to} (${start.mode})` : 'rotation';
  const lines = ['```mermaid', 'gantt', `    title ${ganttText(title)}`, '    dateFormat x', '    axisFormat %H:%M:%S'];
  for (const [section, tasks] of sections) if (tasks.length) lines.push(`    section ${ganttText(section)}`, ...tasks);
  lines.push('```');
  return lines.join('\n');
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
    if (start?.type === 'rotation-started')
      out.push(`Rotation \`${start.rotationId}\` (${start.mode}), ${start.from} → ${start.to}${start.resumed ? ', resumed' : ''}.`, '');
    out.push('| step | kind | clusters | outcome | duration | detail |', '| --- | --- | --- | --- | --- | --- |');
    for (const e of mine) {
      if (e.type !== 'step-finished') continue;
      const clusters = mine
        .filter((c) => c.type === 'cluster-finished' && c.step === e.step)
        .map((c) => (c.type === 'cluster-finished' ? `${c.cluster} ${c.outcome}` : ''));
      out.push(
        `| ${stepLabel(e.step)} | ${e.kind} | ${clusters.join(', ') || '—'} | ${e.outcome} | ${seconds(e.durationMs)} | ${(e.detail ?? '').replaceAll('|', '\\|')} |`,
      );
    }
    if (mine.some((e) => e.type === 'step-finished')) out.push('', ganttChart(mine));
    if (end?.type === 'rotation-finished') {
      if (end.detail) out.push('', `Reason: ${end.detail}`);
      if (end.unconfirmed.length) {
        // Said by what happened: an emergency regenerated the key past them; otherwise the rotation stopped at them.
        const why =
          start?.type === 'rotation-started' && start.mode !== 'rotate' && end.outcome === 'rotated'
            ? `the ${start.mode} rotation went past them`
            : end.outcome === 'rolled-back'
              ? 'the rotation was rolled back because of them'
              : 'the rotation stopped at them';
        out.push('', `**Consumers not confirmed** (${why}):`, '', ...end.unconfirmed.map((u) => `- ${u}`));
      }
    }
    out.push('');
  }
  return out.join('\n');
}
