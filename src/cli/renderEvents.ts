import type { RotationEvent, StepOutcome } from '../driver/events.ts';
import { isStage, type CredentialPlan, type StageStep } from '../model/planner.ts';
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
 * What a stage acts on, as its bar names it. The namespace is set apart (`name in namespace`): it
 * reads better on a bar, and a long `namespace/kind/name` would look like key material to the
 * masking by shape that every report goes through (32 characters of base64's alphabet).
 */
function stageTarget(step: StageStep): string {
  switch (step.kind) {
    case 'restart':
    case 'verify-logs':
      return `${step.workload ?? step.firstExisting?.join(' or ')} in ${step.namespace}`;
    case 'wait-secret-sync':
      return `${step.secretProviderClass} in ${step.namespace}`;
    case 'wait-reconciled':
      return `shoots of ${step.secretBinding} in ${step.namespace}`;
    case 'annotate':
      return `${step.shoots?.join(', ') ?? `shoots of ${step.secretBinding}`} in ${step.namespace}`;
    case 'verify-http':
      return step.url.replace(/^https?:\/\//, '');
    case 'exec':
      return step.command[0]!;
  }
}

/**
 * Above this many clusters a wave's bars collapse into one bar per step: a hundred clusters times
 * every stage is a wall of bars nobody reads, and the table above the chart keeps every cluster.
 */
export const drawnClustersPerWave = 5;

/**
 * A step shorter than this share of the chart is a milestone: a bar under about two pixels of a
 * summary page's chart is a sliver with its label floating beside it.
 */
const instantShare = 0.002;

interface Bar {
  readonly name: string;
  readonly outcome: StepOutcome;
  readonly start: number;
  readonly end: number;
}

type Finished = Extract<RotationEvent, { type: 'cluster-finished' | 'step-finished' }>;
type ClusterFinished = Extract<RotationEvent, { type: 'cluster-finished' }>;

function bar(e: Finished, name: string): Bar {
  const end = Date.parse(e.at);
  return { name: `${name}${e.outcome === 'skipped' ? ' (skipped)' : ''}`, outcome: e.outcome, start: end - e.durationMs, end };
}

/** One bar per step for a wave too large to draw cluster by cluster: from its first start to its last end, with how many clusters. */
function collapsed(finished: readonly ClusterFinished[], title: (e: Finished) => string): Bar[] {
  const bySteps = new Map<number, ClusterFinished[]>();
  for (const e of finished) bySteps.set(e.step, [...(bySteps.get(e.step) ?? []), e]);
  return [...bySteps.values()].map((mine) => {
    const bars = mine.map((e) => bar(e, ''));
    const count = (outcome: StepOutcome) => mine.filter((e) => e.outcome === outcome).length;
    const notes = (['failed', 'skipped'] as const).filter((o) => count(o) > 0).map((o) => `${count(o)} ${o}`);
    return {
      name: `${title(mine[0]!)} on ${new Set(mine.map((e) => e.cluster)).size} clusters${notes.length ? ` (${notes.join(', ')})` : ''}`,
      outcome: count('failed') ? 'failed' : count('done') ? 'done' : 'skipped',
      start: Math.min(...bars.map((b) => b.start)),
      end: Math.max(...bars.map((b) => b.end)),
    };
  });
}

/**
 * The clusters grouped as the run started them. The events name the clusters each step starts on,
 * not the `--waves` split within one start, so a wave here is the clusters first started together:
 * with the whole-rotation canary, the canary and then the rest of the fleet.
 */
function wavesOf(finished: readonly ClusterFinished[], events: readonly RotationEvent[]): string[][] {
  const steps = new Set(finished.map((e) => e.step));
  const waves: string[][] = [];
  const seen = new Set<string>();
  const add = (clusters: readonly string[]) => {
    const fresh = clusters.filter((c) => !seen.has(c));
    for (const c of fresh) seen.add(c);
    if (fresh.length) waves.push(fresh);
  };
  for (const e of events) if (e.type === 'step-started' && steps.has(e.step)) add(e.clusters);
  // A cluster no start named (a rollback's restarts) still has a place.
  add(finished.map((e) => e.cluster));
  return waves;
}

/**
 * A Mermaid `gantt` chart of one rotation: a `fleet` section with the steps that run once (flip,
 * up, regenerate), then a section per wave with each stage on each of its clusters, named by what
 * it acts on (`plan`) and where, from its start to its end; a wave of more than
 * `drawnClustersPerWave` clusters is drawn one bar per step. Times are the events' own
 * (`dateFormat x`, milliseconds since the epoch); a failed stage is `crit`, an instant step a
 * milestone. GitHub and Azure DevOps render the block in a job summary.
 */
export function ganttChart(events: readonly RotationEvent[], plan?: CredentialPlan): string {
  const title = (e: Finished) => {
    const planned = plan?.steps[e.step];
    // A plan that does not match what ran (the stack changed since) names nothing rather than the wrong thing.
    const what = planned?.kind === e.kind && isStage(planned) ? ` ${stageTarget(planned)}` : '';
    return `${stepName(e.step)} ${e.kind}${what}`;
  };
  // A stage run once for the fleet starts on no cluster; its one result belongs with the fleet's steps.
  const once = new Set(events.flatMap((e) => (e.type === 'step-started' && e.clusters.length === 0 ? [e.step] : [])));
  const finished = events.filter((e) => e.type === 'cluster-finished');
  const onClusters = finished.filter((e) => !once.has(e.step));
  const perCluster = new Set(onClusters.map((e) => e.step));
  const fleet = events.flatMap((e) =>
    (e.type === 'step-finished' && !perCluster.has(e.step)) || (e.type === 'cluster-finished' && once.has(e.step))
      ? [bar(e, title(e))]
      : [],
  );
  const sections: [string, Bar[]][] = [['fleet', fleet]];
  for (const [i, wave] of wavesOf(onClusters, events).entries()) {
    const mine = onClusters.filter((e) => wave.includes(e.cluster));
    const bars =
      wave.length > drawnClustersPerWave
        ? collapsed(mine, title)
        : wave.flatMap((c) => mine.filter((e) => e.cluster === c).map((e) => bar(e, `${title(e)} on ${c}`)));
    sections.push([`wave ${i + 1} (${wave.length} cluster${wave.length === 1 ? '' : 's'})`, bars]);
  }
  const all = sections.flatMap(([, bars]) => bars);
  const span = Math.max(...all.map((b) => b.end)) - Math.min(...all.map((b) => b.start));
  const line = (b: Bar) => {
    const tags = [
      ...(b.end - b.start <= span * instantShare ? ['milestone'] : []),
      ...(b.outcome === 'skipped' ? [] : [b.outcome === 'failed' ? 'crit' : 'done']),
    ];
    return `    ${ganttText(b.name)} :${tags.map((t) => `${t}, `).join('')}${b.start}, ${b.end}`;
  };
  const start = events.find((e) => e.type === 'rotation-started');
  const heading = start?.type === 'rotation-started' ? `${start.credential} ${start.from} to ${start.to} (${start.mode})` : 'rotation';
  const lines = ['```mermaid', 'gantt', `    title ${ganttText(heading)}`, '    dateFormat x', '    axisFormat %H:%M:%S'];
  for (const [section, bars] of sections) if (bars.length) lines.push(`    section ${ganttText(section)}`, ...bars.map(line));
  lines.push('```');
  return lines.join('\n');
}

/** A Markdown summary of a run, for a CI step summary (`--report FILE`); `plans` name what each step acts on. */
export function markdownReport(stack: string, events: readonly RotationEvent[], plans: readonly CredentialPlan[] = []): string {
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
    if (mine.some((e) => e.type === 'step-finished'))
      out.push(
        '',
        ganttChart(
          mine,
          plans.find((p) => p.name === cred),
        ),
      );
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
