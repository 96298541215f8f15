/**
 * What must not outlive keyslot when a pipeline cancels it (SIGTERM) or a person presses Ctrl-C
 * (SIGINT): child commands, temporary kubeconfigs holding a cluster token, the stack's lock. Each
 * resource registers its cleanup while it exists; the CLI installs the handlers. A second signal
 * exits at once. (SIGKILL cannot be caught: nothing runs then.)
 */

type Cleanup = () => void | Promise<void>;

const cleanups = new Set<Cleanup>();

/** Registers a cleanup for as long as the resource lives; call the returned function when it is gone. */
export function onInterrupt(cleanup: Cleanup): () => void {
  cleanups.add(cleanup);
  return () => void cleanups.delete(cleanup);
}

/** Exit codes of an interrupted run, by signal (128 + the signal's number, as shells report them). */
export const interruptedExitCode = { SIGINT: 130, SIGTERM: 143 } as const;

/** Runs every registered cleanup, newest first, each given at most `timeoutMs`. */
export async function runCleanups(timeoutMs = 5000): Promise<void> {
  for (const cleanup of [...cleanups].reverse()) {
    cleanups.delete(cleanup);
    try {
      await Promise.race([Promise.resolve().then(cleanup), new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
    } catch {
      // A cleanup that fails must not stop the others.
    }
  }
}

/** Installs the SIGTERM and SIGINT handlers: clean up, say so on stderr, exit with the signal's code. */
export function installInterruptHandlers(
  write: (line: string) => void = (l) => process.stderr.write(l),
  exit: (code: number) => void = (c) => process.exit(c),
): void {
  let interrupted = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (interrupted) return exit(interruptedExitCode[signal]);
      interrupted = true;
      write(
        `keyslot: interrupted (${signal}): stopping commands, removing temporary credentials, releasing the lock; a rotation in flight is finished by keyslot resume\n`,
      );
      void runCleanups().then(() => exit(interruptedExitCode[signal]));
    });
  }
}
