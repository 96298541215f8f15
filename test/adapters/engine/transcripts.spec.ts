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
});
