/** Real `exec` and `verify-http` adapters: a child process (no shell) and fetch. */
import { execFile } from 'node:child_process';
import { onInterrupt } from './interrupt.ts';
import { CommandFailedError } from '../../errors.ts';
import { redact } from '../../model/redact.ts';
import type { CommandRunner, HttpProbe } from '../../ports/probes.ts';

/** Output is kept short and never echoed whole: a command may print what it was given. */
function tail(text: string, mask: (text: string) => string): string {
  const lines = text.trim().split('\n');
  return mask(lines.slice(-3).join(' | ')).slice(0, 300);
}

export class ProcessCommands implements CommandRunner {
  constructor(
    private readonly baseEnv: NodeJS.ProcessEnv = process.env,
    /** Masks secrets in what a command prints: by value where the CLI knows them, else by shape. */
    private readonly redactor: { redact(text: string): string } = { redact },
  ) {}

  run(command: readonly string[], options: { env: Readonly<Record<string, string>>; timeoutSeconds: number }): Promise<{ output: string }> {
    const [file, ...args] = command;
    return new Promise((resolve, reject) => {
      // An interrupted keyslot stops the command rather than leave it running against a cluster.
      let forget = () => {};
      const child = execFile(
        file!,
        args,
        { env: { ...this.baseEnv, ...options.env }, timeout: options.timeoutSeconds * 1000, maxBuffer: 16 * 1024 * 1024 },
        (error, stdout, stderr) => {
          forget();
          if (!error) return resolve({ output: this.redactor.redact(stdout) });
          const why = error.killed
            ? `timed out after ${options.timeoutSeconds}s`
            : typeof error.code === 'number'
              ? `exited ${error.code}`
              : `could not start (${error.code ?? error.message})`;
          reject(
            new CommandFailedError(`${file} ${why}${stderr.trim() ? `: ${tail(stderr, (t) => this.redactor.redact(t))}` : ''}`, {
              cause: error,
            }),
          );
        },
      );
      forget = onInterrupt(
        () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            const hard = setTimeout(() => child.kill('SIGKILL'), 2000);
            child.once('exit', () => {
              clearTimeout(hard);
              done();
            });
            child.kill('SIGTERM');
          }),
      );
    });
  }
}

export class FetchHttp implements HttpProbe {
  async get(url: string, timeoutSeconds: number): Promise<{ status: number; body: string }> {
    const response = await fetch(url, {
      signal: AbortSignal.timeout(timeoutSeconds * 1000),
      redirect: 'manual',
      headers: { accept: 'application/json, */*' },
    });
    const body = (await response.text()).slice(0, 1 << 20);
    return { status: response.status, body };
  }
}
