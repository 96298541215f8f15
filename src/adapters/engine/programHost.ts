/**
 * Where the simulated engine runs the Pulumi program under the mock runtime. `pulumi up` runs a
 * program in a language host of its own, so by default the simulation does too: a child process
 * loads the program and the provider SDKs, and asks this process, which owns the simulated world,
 * for every resource and provider call. (The program's own tests call `runProgramUnderMocks`
 * in their process directly.)
 */
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import type { MockProviders, MockRun } from './mockRuntime.ts';

/** What the simulated engine needs back from a run; the registrations themselves go through `providers`. */
export type ProgramResult = Pick<MockRun, 'credentials' | 'keyMaterial'> & {
  /** CPU time the run took in the host (µs). */
  readonly cpuMicros: number;
  /** The host process's peak RSS so far (bytes). */
  readonly hostPeakRssBytes: number;
};

export interface ProgramHost {
  run(stack: string, config: Record<string, string>, providers: MockProviders): Promise<ProgramResult>;
}

/** Messages between this process and the host child (see programHostChild.ts). */
export type ToHost =
  | { readonly kind: 'run'; readonly id: number; readonly stack: string; readonly config: Record<string, string> }
  | { readonly kind: 'answer'; readonly seq: number; readonly value?: unknown; readonly error?: string };
export type FromHost =
  | { readonly kind: 'newResource'; readonly id: number; readonly seq: number; readonly args: Parameters<MockProviders['newResource']> }
  | { readonly kind: 'call'; readonly id: number; readonly seq: number; readonly args: Parameters<MockProviders['call']> }
  | { readonly kind: 'done'; readonly id: number; readonly result: ProgramResult }
  | { readonly kind: 'failed'; readonly id: number; readonly message: string };

/** Runs the program in one long-lived child process, started on first use; runs queue there. */
export class ChildProcessHost implements ProgramHost {
  private child?: ChildProcess;
  private serial = 0;
  private readonly runs = new Map<number, { providers: MockProviders; resolve: (r: ProgramResult) => void; reject: (e: Error) => void }>();

  private start(): ChildProcess {
    if (this.child?.connected) return this.child;
    const child = fork(join(__dirname, 'programHostChild.ts'), [], {
      execArgv: ['--require', require.resolve('tsx/cjs')],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    child.on('message', (message: FromHost) => void this.receive(child, message));
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      for (const [id, run] of this.runs) {
        this.runs.delete(id);
        run.reject(new Error(`the program host exited (${signal ?? code}) during a run`));
      }
    });
    // An idle host never keeps this process alive.
    child.unref();
    child.channel?.unref();
    this.child = child;
    return child;
  }

  run(stack: string, config: Record<string, string>, providers: MockProviders): Promise<ProgramResult> {
    const child = this.start();
    const id = ++this.serial;
    return new Promise<ProgramResult>((resolve, reject) => {
      this.runs.set(id, { providers, resolve, reject });
      child.channel?.ref();
      child.send({ kind: 'run', id, stack, config } satisfies ToHost);
    }).finally(() => {
      if (this.runs.size === 0) child.channel?.unref();
    });
  }

  private async receive(child: ChildProcess, message: FromHost): Promise<void> {
    const run = this.runs.get(message.id);
    if (!run) return;
    if (message.kind === 'done' || message.kind === 'failed') {
      this.runs.delete(message.id);
      if (message.kind === 'done') run.resolve(message.result);
      else run.reject(new Error(message.message));
      return;
    }
    let answer: ToHost;
    try {
      const value =
        message.kind === 'newResource' ? await run.providers.newResource(...message.args) : await run.providers.call(...message.args);
      answer = { kind: 'answer', seq: message.seq, value };
    } catch (error) {
      answer = { kind: 'answer', seq: message.seq, error: error instanceof Error ? error.message : String(error) };
    }
    if (child.connected) child.send(answer);
  }

  /** Stops the child (tests; the process exiting stops it too). */
  stop(): void {
    this.child?.kill();
    this.child = undefined;
  }
}

let shared: ChildProcessHost | undefined;

/** The host every simulated engine uses unless told otherwise: one child per process. */
export function defaultProgramHost(): ProgramHost {
  shared ??= new ChildProcessHost();
  return shared;
}
