/**
 * Replays of the Pulumi program, for the drill's many seeds. Under the mock runtime the program is
 * a function of its config and of the answers it gets: given the same config, the same answers in
 * the same order, it makes the same requests and ends with the same outputs. So a run recorded as
 * its transcript — every request, every answer, the result — can be played again against a fresh
 * step planner: each recorded request is asked anew, and if every answer equals the recorded one,
 * the program would have done exactly what the transcript says. The first answer that differs ends
 * the replay; the caller then discards that planner (it has no effect on the world until its up
 * applies) and runs the program for real, recording a new transcript.
 */
import { isDeepStrictEqual } from 'node:util';
import type { MockProviders } from './mockRuntime.ts';
import type { ProgramResult } from './programHost.ts';

type Entry =
  | { readonly kind: 'newResource'; readonly args: Parameters<MockProviders['newResource']>; readonly answer: unknown }
  | { readonly kind: 'call'; readonly args: Parameters<MockProviders['call']>; readonly answer: unknown };

interface Transcript {
  readonly entries: readonly Entry[];
  readonly result: ProgramResult;
}

export class ProgramTranscripts {
  private readonly byConfig = new Map<string, Transcript[]>();
  /** Runs answered from a transcript, and runs that had to execute the program. */
  readonly counts = { replayed: 0, executed: 0 };

  /** At most this many transcripts are kept per config (the newest), so a sweep's memory stays bounded. */
  constructor(private readonly perConfig = 8) {}

  private key(stack: string, config: Readonly<Record<string, string>>): string {
    return `${stack}\0${JSON.stringify(Object.entries(config).sort(([a], [b]) => a.localeCompare(b)))}`;
  }

  /**
   * The result of a run, replayed if some transcript of this config answers the same to every
   * request (against a planner made by `providers()` for each attempt), else executed by `run`
   * and recorded. Returns the providers whose answers the result stands on.
   */
  async run(
    stack: string,
    config: Readonly<Record<string, string>>,
    providers: () => MockProviders,
    run: (recording: MockProviders) => Promise<ProgramResult>,
  ): Promise<{ result: ProgramResult; providers: MockProviders }> {
    const key = this.key(stack, config);
    for (const t of this.byConfig.get(key) ?? []) {
      const fresh = providers();
      if (await replays(t, fresh)) {
        this.counts.replayed += 1;
        return { result: { ...t.result, cpuMicros: 0 }, providers: fresh };
      }
    }
    const fresh = providers();
    const entries: Entry[] = [];
    const recording: MockProviders = {
      newResource: async (...args) => {
        const answer = await fresh.newResource(...args);
        entries.push({ kind: 'newResource', args: structuredClone(args), answer: structuredClone(answer) });
        return answer;
      },
      call: async (...args) => {
        const answer = await fresh.call(...args);
        entries.push({ kind: 'call', args: structuredClone(args), answer: structuredClone(answer) });
        return answer;
      },
    };
    const result = await run(recording);
    this.counts.executed += 1;
    this.byConfig.set(key, [{ entries, result: structuredClone(result) }, ...(this.byConfig.get(key) ?? [])].slice(0, this.perConfig));
    return { result, providers: fresh };
  }
}

/** Whether every recorded request gets the recorded answer from these providers. */
async function replays(t: Transcript, providers: MockProviders): Promise<boolean> {
  try {
    for (const e of t.entries) {
      const args = structuredClone(e.args);
      const answer =
        e.kind === 'newResource'
          ? await providers.newResource(...(args as Parameters<MockProviders['newResource']>))
          : await providers.call(...(args as Parameters<MockProviders['call']>));
      if (!isDeepStrictEqual(answer, e.answer)) return false;
    }
    return true;
  } catch {
    // The planner refused a request the recorded run had answered: the program would see an error now.
    return false;
  }
}
