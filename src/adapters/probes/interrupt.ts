/**
 * What must not outlive keyslot when a pipeline cancels it (SIGTERM) or a person presses Ctrl-C
 * (SIGINT): child commands, temporary kubeconfigs holding a cluster token, the stack's lock. Each
 * resource registers its cleanup while it exists; the CLI installs the handlers. A second signal
 * exits at once. (SIGKILL cannot be caught: nothing runs then.)
 */

/** A cleanup; what it returns, if anything, is said on stderr (a line without a newline). */
type Cleanup = () => undefined | string | Promise<undefined | string> | void | Promise<void>;

const cleanups = new Map<Cleanup, number>();
let interruptedBy: string | undefined;

/**
 * Registers a cleanup for as long as the resource lives, given at most `timeoutMs` when it runs;
 * call the returned function when the resource is gone.
 */
export function onInterrupt(cleanup: Cleanup, timeoutMs = 5000): () => void {
  cleanups.set(cleanup, timeoutMs);
  return () => void cleanups.delete(cleanup);
}

/** The signal that interrupted this process, once one did: from then on nothing new is started. */
export function interrupted(): string | undefined {
  return interruptedBy;
}

/** Exit codes of an interrupted run, by signal (128 + the signal's number, as shells report them). */
export const interruptedExitCode = { SIGINT: 130, SIGTERM: 143 } as const;

/** Runs every registered cleanup, newest first, each given at most its own time; what they say. */
export async function runCleanups(): Promise<string[]> {
  const said: string[] = [];
  for (const [cleanup, timeoutMs] of [...cleanups].reverse()) {
    cleanups.delete(cleanup);
    try {
      const note = await Promise.race([
        Promise.resolve().then(cleanup),
        new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref()),
      ]);
      if (typeof note === 'string' && note) said.push(note);
    } catch {
      // A cleanup that fails must not stop the others.
    }
  }
  return said;
}

/** Installs the SIGTERM and SIGINT handlers: clean up, say so on stderr, exit with the signal's code. */
export function installInterruptHandlers(
  write: (line: string) => void = (l) => process.stderr.write(l),
  exit: (code: number) => void = (c) => process.exit(c),
): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      // The same signal twice (Ctrl-C pressed again) exits at once. Another one does not: a CI
      // runner cancelling a job sends SIGINT, then SIGTERM seconds later (GitHub Actions: 7.5 s),
      // while keyslot is still waiting for `pulumi` to cancel.
      if (interruptedBy) return interruptedBy === signal ? exit(interruptedExitCode[signal]) : undefined;
      interruptedBy = signal;
      write(
        `keyslot: interrupted (${signal}): cancelling the running pulumi operation, stopping commands, removing temporary credentials, releasing the lock; a rotation in flight is finished by keyslot resume\n`,
      );
      void runCleanups().then((said) => {
        for (const line of said) write(`keyslot: ${line}\n`);
        exit(interruptedExitCode[signal]);
      });
    });
  }
}
