import assert from 'node:assert/strict';
import { readStackFile } from '../../../src/config/load.ts';
import { ChildProcessHost } from '../../../src/adapters/engine/programHost.ts';
import { namespacedConfig } from '../../../src/adapters/engine/namespacedConfig.ts';

describe('program host: the program in a child process, asking this one for every resource', function () {
  // The child loads tsx, the Pulumi SDK and every provider package once.
  this.timeout(60_000);
  const config = namespacedConfig(readStackFile('local').raw);
  let host: ChildProcessHost;
  beforeEach(() => (host = new ChildProcessHost()));
  afterEach(() => host.stop());

  it('runs the real program: every registration comes here, with its options and plain inputs', async () => {
    const seen: { type: string; deleteBeforeReplace: boolean; plain: Record<string, unknown> }[] = [];
    const result = await host.run('local', config, {
      newResource: (args, view, plain) => {
        if (args.type === 'pulumi:pulumi:StackReference')
          return { id: String(args.inputs.name), state: { ...args.inputs, outputs: { credentials: {} }, secretOutputNames: [] } };
        seen.push({ type: args.type, deleteBeforeReplace: view.deleteBeforeReplace, plain });
        return {
          id: `${args.name}-id`,
          state: {
            ...args.inputs,
            ...(args.type.endsWith(':RandomPassword') ? { result: 'not-a-secret' } : {}),
            ...(args.type.endsWith(':Static') ? { rfc3339: '2026-11-24T00:00:00Z' } : {}),
          },
        };
      },
      call: () => ({}),
    });
    assert.ok(
      seen.some((s) => s.type === 'kubernetes:core/v1:Secret'),
      seen.map((s) => s.type).join(', '),
    );
    const secret = seen.find((s) => s.type === 'kubernetes:core/v1:Secret')!;
    assert.equal(typeof (secret.plain.metadata as { name?: unknown }).name, 'string', 'inputs arrive without secret wrappers');
    assert.ok(Object.keys(result.credentials).length > 0, 'the program exported its credential state');
    assert.ok((result.cpuMicros ?? 0) > 0);
  });

  it('a provider failure here fails the run there, with its message', async () => {
    await assert.rejects(
      host.run('local', config, {
        newResource: () => {
          throw new Error('the simulated provider refused');
        },
        call: () => ({}),
      }),
      /the simulated provider refused/,
    );
  });

  it('a host that dies mid-run rejects the run instead of hanging', async () => {
    const run = host.run('local', config, {
      newResource: () => new Promise(() => host.stop()),
      call: () => ({}),
    });
    await assert.rejects(run, /the program host exited/);
  });
});
