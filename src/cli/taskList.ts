/**
 * The live task list a person at a terminal sees (listr2): one task per credential, its title the
 * current step, its output one line per step with each cluster's progress, never taller than the
 * terminal. CI gets plain lines.
 *
 * listr2 redraws the list in place (log-update), which holds only while the list fits the screen:
 * what scrolls off the top cannot be erased, and listr2 prints the whole list once more when it
 * stops. So the list is cut to the terminal's height here (finished steps collapse, failures stay),
 * each task keeps only its latest output, and each credential's outcome is printed after the list
 * has stopped, as the last thing on screen.
 */
import { Listr, ListrLogger, ProcessOutput } from 'listr2';
import type { RotationEvent, RotationResult } from '../driver/index.ts';
import type { StepOutcome } from '../driver/events.ts';
import type { StepKind } from '../model/planner.ts';
import { stepNumber } from './json.ts';

const marks = { done: '✔', skipped: '↷', failed: '✖' } as const;

/** Past this many clusters a step's line counts them instead of naming each: a line is one row of the terminal. */
const namedClusters = 8;

interface StepState {
  readonly kind: StepKind;
  /** Each cluster the step started on, with its outcome once it has one. */
  readonly clusters: Map<string, StepOutcome | undefined>;
  /** Set when the step finished; a later wave starting the same step clears it. */
  outcome?: StepOutcome;
  detail?: string;
}

/** Each step so far, in plan order, as its events left it (a step starts again for each later wave). */
function stepStates(events: readonly RotationEvent[]): [number, StepState][] {
  const steps = new Map<string, [number, StepState]>();
  const of = (step: number, kind: StepKind): StepState => {
    // A rollback's own steps share one number (-1): told apart by kind.
    const key = step < 0 ? `${step} ${kind}` : String(step);
    const known = steps.get(key) ?? [step, { kind, clusters: new Map() }];
    steps.set(key, known);
    return known[1];
  };
  for (const e of events) {
    if (e.type === 'step-started') {
      const s = of(e.step, e.kind);
      s.outcome = undefined;
      s.detail = undefined;
      for (const c of e.clusters) if (!s.clusters.has(c)) s.clusters.set(c, undefined);
    } else if (e.type === 'cluster-finished') of(e.step, e.kind).clusters.set(e.cluster, e.outcome);
    else if (e.type === 'step-finished') Object.assign(of(e.step, e.kind), { outcome: e.outcome, detail: e.detail });
  }
  // A rollback's steps come after the steps it undoes.
  const order = (step: number) => (step < 0 ? Number.MAX_SAFE_INTEGER : step);
  return [...steps.values()].sort(([a], [b]) => order(a) - order(b));
}

/** A step's clusters: each named with its mark (`…` while it runs there), or, past `namedClusters`, counted by outcome. */
function clusterProgress(clusters: [string, StepOutcome | undefined][], running: boolean): string {
  if (clusters.length <= namedClusters) return clusters.map(([name, o]) => ` ${name}${o ? ` ${marks[o]}` : running ? ' …' : ''}`).join('');
  const named = (o: StepOutcome | undefined) => clusters.filter(([, c]) => c === o).map(([name]) => name);
  const failed = named('failed');
  return [
    ` ${clusters.length} clusters:`,
    ...(['done', 'skipped'] as const).map((o) => (named(o).length ? ` ${named(o).length} ${marks[o]}` : '')),
    failed.length ? ` ${failed.length} ${marks.failed} (${failed.join(', ')})` : '',
    running && named(undefined).length ? ` ${named(undefined).length} …` : '',
  ].join('');
}

function stepLine([step, s]: [number, StepState]): string {
  const n = stepNumber(step);
  const running = s.outcome === undefined;
  const end = s.outcome ? ` ${marks[s.outcome]}${s.detail ? ` ${s.detail}` : ''}` : s.clusters.size ? '' : ' …';
  return `${n === undefined ? `rollback ${s.kind}` : `${n}. ${s.kind}`}${clusterProgress([...s.clusters], running)}${end}`;
}

/** One line per step so far, each with its clusters' outcomes; pure, so it is tested alone. */
export function progressLines(events: readonly RotationEvent[]): string[] {
  return stepStates(events).map(stepLine);
}

/**
 * The progress that fits in `height` lines: every step while they fit; past that the finished steps
 * collapse into one line, the failed ones stay listed (they explain the outcome), and the running
 * ones fill what is left, the rest counted.
 */
export function progressFrame(events: readonly RotationEvent[], height: number): string[] {
  return fitted(stepStates(events), height);
}

/** A finished credential's progress: its steps collapsed into one line, the failed ones still listed. */
function finishedFrame(events: readonly RotationEvent[]): string[] {
  const steps = stepStates(events);
  return fitted(steps, 1 + steps.filter(([, s]) => s.outcome === 'failed').length);
}

function fitted(steps: [number, StepState][], height: number): string[] {
  if (steps.length <= height) return steps.map(stepLine);
  if (height < 1) return [];
  const failed = steps.filter(([, s]) => s.outcome === 'failed');
  const running = steps.filter(([, s]) => s.outcome === undefined);
  const finished = steps.length - failed.length - running.length;
  const summary = `${marks.done} ${finished} step${finished === 1 ? '' : 's'} finished`;
  const room = height - 1;
  if (failed.length + running.length <= room)
    return [summary, ...steps.filter(([, s]) => s.outcome === undefined || s.outcome === 'failed').map(stepLine)];
  // Not even those fit: failures first, then running steps, in plan order; a last line counts the rest.
  const shown = [...failed, ...running].slice(0, Math.max(0, room - 1));
  const hidden = failed.length + running.length - shown.length;
  const more = `… ${hidden} more step${hidden === 1 ? '' : 's'}`;
  return [summary, ...steps.filter((s) => shown.includes(s)).map(stepLine), more].slice(0, height);
}

/** Where the list is drawn: a terminal's streams; its `rows` bound the list. */
export interface Terminal {
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
}

/** What a credential's run came to, said once the list has stopped. */
function outcomeLine(r: RotationResult): string {
  return `${r.credential}: ${r.outcome} ${r.rotationId}${r.unconfirmed.length ? ` (not confirmed: ${r.unconfirmed.join(', ')})` : ''}\n`;
}

export async function runWithTaskList(
  names: readonly string[],
  rotate: (name: string, onEvent: (e: RotationEvent) => void) => Promise<RotationResult>,
  renderer: 'default' | 'silent' = 'default',
  terminal: Terminal = process,
): Promise<RotationResult[]> {
  const results: RotationResult[] = [];
  /** Rows the other credentials take: a title each, and a finished one's output below it. */
  let othersRows = names.length - 1;
  // What is left below this credential's title; log-update keeps its cursor on a row of its own below the list.
  const budget = () => (terminal.stdout.rows ?? 24) - othersRows - 1 - 1;
  const listOptions = {
    // One row per line, so that counting lines counts rows; the error is said once, by the CLI.
    formatOutput: 'truncate',
    showErrorMessage: false,
    logger: new ListrLogger({ processOutput: new ProcessOutput(terminal.stdout, terminal.stderr) }),
  } as const;
  // The latest output only: each output is the whole progress, and listr2 would stack every one.
  const taskOptions = { persistentOutput: true, outputBar: 1 } as const;
  const list = new Listr(
    names.map((name) => ({
      title: name,
      task: async (_ctx: unknown, task: { title: string; output: string }) => {
        const events: RotationEvent[] = [];
        const result = await rotate(name, (e) => {
          events.push(e);
          if (e.type === 'step-started') task.title = `${name}: step ${stepNumber(e.step) ?? 'rollback'} ${e.kind}`;
          task.output = progressFrame(events, budget()).join('\n');
        });
        // Done: the steps collapse to a line (with any that failed); the outcome is said after the list.
        const kept = finishedFrame(events);
        task.title = name;
        task.output = kept.join('\n');
        othersRows += kept.length;
        results.push(result);
      },
      rendererOptions: taskOptions,
      fallbackRendererOptions: taskOptions,
    })),
    {
      concurrent: false,
      exitOnError: true,
      // keyslot's own SIGINT/SIGTERM handlers cancel pulumi, release the lock and exit 130/143;
      // listr2's would end the process first with 127 (listr2 dist/index.mjs signalHandler).
      registerSignalListeners: false,
      renderer,
      rendererOptions: listOptions,
      // The caller decided a person is at a terminal; listr2 would test process.stdout, not the
      // stream it draws on, and fall back to a renderer that prints a line per update.
      fallbackRenderer: renderer,
      fallbackRendererOptions: listOptions,
    },
  );
  try {
    await list.run();
  } finally {
    if (renderer !== 'silent') for (const r of results) terminal.stdout.write(outcomeLine(r));
  }
  return results;
}
