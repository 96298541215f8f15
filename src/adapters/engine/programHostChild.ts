/**
 * The program host child (see programHost.ts): runs the program under the mock runtime and asks
 * the parent, over IPC, for each resource and provider call. Exits when the parent goes.
 */
import { runProgramUnderMocks, type MockProviders } from './mockRuntime.ts';
import type { FromHost, ToHost } from './programHost.ts';

const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
let seq = 0;

function send(message: FromHost): void {
  process.send?.(message);
}

function ask<T>(id: number, kind: 'newResource' | 'call', args: unknown[]): Promise<T> {
  const n = ++seq;
  return new Promise<T>((resolve, reject) => {
    waiting.set(n, { resolve: resolve as (v: unknown) => void, reject });
    send({ kind, id, seq: n, args } as FromHost);
  });
}

async function run(id: number, stack: string, config: Record<string, string>): Promise<void> {
  const providers: MockProviders = {
    newResource: (...args) => ask(id, 'newResource', args),
    call: (...args) => ask(id, 'call', args),
  };
  const before = process.cpuUsage();
  try {
    const { credentials, keyMaterial } = await runProgramUnderMocks(stack, config, providers);
    const used = process.cpuUsage(before);
    send({
      kind: 'done',
      id,
      result: { credentials, keyMaterial, cpuMicros: used.user + used.system, hostPeakRssBytes: process.resourceUsage().maxRSS * 1024 },
    });
  } catch (error) {
    send({ kind: 'failed', id, message: error instanceof Error ? error.message : String(error) });
  }
}

process.on('message', (message: ToHost) => {
  if (message.kind === 'run') void run(message.id, message.stack, message.config);
  else {
    const w = waiting.get(message.seq);
    waiting.delete(message.seq);
    if (message.error !== undefined) w?.reject(new Error(message.error));
    else w?.resolve(message.value);
  }
});
process.on('disconnect', () => process.exit(0));
// A program that failed leaves rejected outputs nobody awaits; its run has already been reported
// as failed, and the host must live on for the next one.
process.on('unhandledRejection', () => undefined);
