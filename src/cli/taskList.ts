/**
 * The live task list a person at a terminal sees (listr2): one task per credential, its title the
 * current step, its output one line per step with each cluster's progress. CI gets plain lines.
 */
import { Listr } from 'listr2';
import type { RotationEvent, RotationResult } from '../driver/index.ts';

const marks = { done: '✔', skipped: '↷', failed: '✖' } as const;

/** One line per step so far, each with its clusters' outcomes; pure, so it is tested alone. */
export function progressLines(events: readonly RotationEvent[]): string[] {
  const lines = new Map<number, string>();
  for (const e of events) {
    if (e.type === 'step-started') {
      lines.set(e.step, `${e.step + 1}. ${e.kind}${e.clusters.length ? ` ${e.clusters.map((c) => `${c} …`).join(' ')}` : ' …'}`);
    } else if (e.type === 'cluster-finished') {
      const line = lines.get(e.step) ?? `${e.step + 1}. ${e.kind}`;
      lines.set(e.step, line.replace(`${e.cluster} …`, `${e.cluster} ${marks[e.outcome]}`));
    } else if (e.type === 'step-finished') {
      const line = (lines.get(e.step) ?? `${e.step + 1}. ${e.kind}`).replace(/ …$/, '');
      lines.set(e.step, `${line.replace(/ …/g, '')} ${marks[e.outcome]}${e.detail ? ` ${e.detail}` : ''}`);
    }
  }
  return [...lines.entries()].sort(([a], [b]) => a - b).map(([, l]) => l);
}

export async function runWithTaskList(
  names: readonly string[],
  rotate: (name: string, onEvent: (e: RotationEvent) => void) => Promise<RotationResult>,
  renderer: 'default' | 'silent' = 'default',
): Promise<RotationResult[]> {
  const results: RotationResult[] = [];
  const list = new Listr(
    names.map((name) => ({
      title: name,
      task: async (_ctx: unknown, task: { title: string; output: string }) => {
        const events: RotationEvent[] = [];
        const result = await rotate(name, (e) => {
          events.push(e);
          if (e.type === 'step-started') task.title = `${name}: step ${e.step + 1} ${e.kind}`;
          task.output = progressLines(events).join('\n');
        });
        task.title = `${name}: ${result.outcome} ${result.rotationId}${result.unconfirmed.length ? ` (not confirmed: ${result.unconfirmed.join(', ')})` : ''}`;
        results.push(result);
      },
      rendererOptions: { persistentOutput: true, outputBar: Infinity },
    })),
    { concurrent: false, exitOnError: true, renderer },
  );
  await list.run();
  return results;
}
