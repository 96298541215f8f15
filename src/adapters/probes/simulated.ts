/** Commands and HTTP probes in a simulation: recorded, answered from a table. */
import { CommandFailedError } from '../../errors.ts';
import type { CommandRunner, HttpProbe } from '../../ports/probes.ts';

export class SimulatedCommands implements CommandRunner {
  readonly runs: { command: readonly string[]; env: Readonly<Record<string, string>> }[] = [];
  /** argv[0] values that fail. */
  readonly failing = new Set<string>();
  /** Simulated tools: the first handler that recognises the command runs it (the world's `kops`). */
  readonly handlers: ((command: readonly string[]) => Promise<string> | undefined)[] = [];

  async run(command: readonly string[], options: { env: Readonly<Record<string, string>>; timeoutSeconds: number }) {
    this.runs.push({ command, env: options.env });
    if (this.failing.has(command[0]!)) throw new CommandFailedError(`${command[0]} exited 1`);
    for (const handler of this.handlers) {
      const running = handler(command);
      if (running) return { output: await running };
    }
    return { output: '' };
  }
}

export class SimulatedHttp implements HttpProbe {
  readonly statuses = new Map<string, number>();
  readonly bodies = new Map<string, string>();
  readonly gets: string[] = [];

  /** Simulated servers: the first handler that recognises the URL answers (the world's API servers). */
  readonly handlers: ((url: string) => { status: number; body: string } | undefined)[] = [];

  async get(url: string): Promise<{ status: number; body: string }> {
    this.gets.push(url);
    for (const handler of this.handlers) {
      const answer = handler(url);
      if (answer) return answer;
    }
    return { status: this.statuses.get(url) ?? 200, body: this.bodies.get(url) ?? '{}' };
  }
}
