import assert from 'node:assert/strict';
import type { MockProviders } from '../../../src/adapters/engine/mockRuntime.ts';
import type { ProgramResult } from '../../../src/adapters/engine/programHost.ts';
import { ProgramTranscripts } from '../../../src/adapters/engine/transcripts.ts';

describe('engine: program transcripts replay only a run whose every answer is the same', () => {
  /** Providers that answer one resource with this id and state. */
  const providers = (state: Record<string, unknown>): MockProviders =>
    ({
      newResource: async () => ({ id: 'key-1', state }),
      call: async () => ({}),
    }) as unknown as MockProviders;
  /** The program: registers one resource and reports what it got back. */
  const program = async (p: MockProviders): Promise<ProgramResult> => {
    const answer = (await p.newResource({} as never, {} as never, {})) as { state: Record<string, unknown> };
    return { credentials: { got: answer.state } as never, keyMaterial: [] as never, cpuMicros: 1, hostPeakRssBytes: 0 };
  };

  it('replays the same answers, and runs the program again when an answer differs in its state though not its id', async () => {
    const transcripts = new ProgramTranscripts();
    const first = await transcripts.run('s', { 'keyslot:x': '1' }, () => providers({ generation: 1 }), program);
    assert.deepEqual(transcripts.counts, { replayed: 0, executed: 1 });
    const same = await transcripts.run('s', { 'keyslot:x': '1' }, () => providers({ generation: 1 }), program);
    assert.deepEqual(transcripts.counts, { replayed: 1, executed: 1 });
    assert.deepEqual(same.result.credentials, first.result.credentials);
    // The same resource id with another state (a key regenerated in place): a replay would report the old state.
    const moved = await transcripts.run('s', { 'keyslot:x': '1' }, () => providers({ generation: 2 }), program);
    assert.deepEqual(transcripts.counts, { replayed: 1, executed: 2 });
    assert.deepEqual(moved.result.credentials, { got: { generation: 2 } });
  });

  /** A program that registers one resource and invokes one function, and reports both answers with its config. */
  const both =
    (config: string) =>
    async (p: MockProviders): Promise<ProgramResult> => {
      const registered = (await p.newResource({} as never, {} as never, {})) as { state: Record<string, unknown> };
      const invoked = await p.call({} as never);
      return {
        credentials: { config, registered: registered.state, invoked } as never,
        keyMaterial: [] as never,
        cpuMicros: 1,
        hostPeakRssBytes: 0,
      };
    };
  const answering = (state: Record<string, unknown>, invoked: Record<string, unknown>): MockProviders =>
    ({ newResource: async () => ({ id: 'key-1', state }), call: async () => invoked }) as unknown as MockProviders;

  it('replays a run that also invokes functions, each request asked as it was made', async () => {
    const transcripts = new ProgramTranscripts();
    await transcripts.run('s', { 'keyslot:x': '1' }, () => answering({ g: 1 }, { keys: 2 }), both('1'));
    const again = await transcripts.run('s', { 'keyslot:x': '1' }, () => answering({ g: 1 }, { keys: 2 }), both('1'));
    assert.deepEqual(transcripts.counts, { replayed: 1, executed: 1 });
    assert.deepEqual(again.result.credentials, { config: '1', registered: { g: 1 }, invoked: { keys: 2 } });
  });

  it("keeps each stack's and config's runs apart, whatever order the config's keys come in", async () => {
    const transcripts = new ProgramTranscripts();
    await transcripts.run('s', { 'keyslot:a': '1', 'keyslot:b': '2' }, () => answering({ g: 1 }, {}), both('first'));
    // The same config, keys listed the other way round: the same run.
    await transcripts.run('s', { 'keyslot:b': '2', 'keyslot:a': '1' }, () => answering({ g: 1 }, {}), both('first'));
    assert.deepEqual(transcripts.counts, { replayed: 1, executed: 1 });
    // Another config or another stack, answered alike, is a run of its own: the program reads its config.
    const other = await transcripts.run('s', { 'keyslot:a': '9' }, () => answering({ g: 1 }, {}), both('other'));
    assert.equal((other.result.credentials as unknown as { config: string }).config, 'other');
    await transcripts.run('t', { 'keyslot:a': '1', 'keyslot:b': '2' }, () => answering({ g: 1 }, {}), both('stack t'));
    assert.deepEqual(transcripts.counts, { replayed: 1, executed: 3 });
  });

  it('keeps only the newest runs of a config, and never replays one whose requests the planner now refuses', async () => {
    const transcripts = new ProgramTranscripts(2);
    for (const g of [1, 2, 3]) await transcripts.run('s', {}, () => answering({ g }, {}), both('c'));
    // Generation 1's run was the oldest of three: no longer kept.
    await transcripts.run('s', {}, () => answering({ g: 1 }, {}), both('c'));
    await transcripts.run('s', {}, () => answering({ g: 3 }, {}), both('c'));
    assert.deepEqual(transcripts.counts, { replayed: 1, executed: 4 });
    const refusing = (): MockProviders =>
      ({
        newResource: async () => {
          throw new Error('refused');
        },
        call: async () => ({}),
      }) as unknown as MockProviders;
    await assert.rejects(transcripts.run('s', {}, refusing, both('c')), /refused/);
    assert.deepEqual(transcripts.counts, { replayed: 1, executed: 4 });
  });
});
