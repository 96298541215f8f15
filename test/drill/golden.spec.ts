/**
 * Golden drills: the event streams of every shipped stack × rotate/emergency/disruptive × a fixed
 * set of seeds with faults, recorded in `test/drill/golden/`, compared byte for byte. They hold the
 * driver's behaviour still while its code moves (issue: the driver as modules): a refactoring keeps
 * them identical; an intended change of behaviour re-records them in a commit of its own that says
 * why, with
 *
 *     KEYSLOT_RECORD_GOLDENS=1 npm test -- test/drill/golden.spec.ts
 *
 * A recorded stream is what the drill saw, not what the driver computed about itself: the
 * simulated clock's times, each step's outcome and detail, and the drill's verdict per credential.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listStacks, readStackFile } from '../../src/config/load.ts';
import { runDrill, type DrillOptions } from '../../src/drill/drill.ts';

const dir = join(__dirname, 'golden');
const modes = ['rotate', 'emergency', 'disruptive'] as const satisfies readonly NonNullable<DrillOptions['mode']>[];
/** Seeds with faults; together they draw most fault kinds for every stack (the test below says which). */
const seeds = [1, 2, 3, 4, 5, 6];
const record = process.env.KEYSLOT_RECORD_GOLDENS === '1';

/** One drill as text: its events one per line, then its outcomes and invariants. */
async function streamOf(stack: string, mode: (typeof modes)[number], seed: number): Promise<{ text: string; fault: string }> {
  const { raw } = readStackFile(stack);
  const r = await runDrill(stack, raw, { seed, faults: true, mode });
  const lines = [
    `# ${stack} ${mode} seed ${seed}: fault ${r.fault}${r.faultDetail ? ` (${r.faultDetail})` : ''}`,
    ...r.events.map((e) => JSON.stringify(e)),
    `outcomes ${JSON.stringify(r.outcomes)}`,
    ...r.invariants.map((i) => `invariant ${i.held ? 'held' : 'BROKEN'} ${i.name}: ${i.detail}`),
  ];
  return { text: `${lines.join('\n')}\n`, fault: r.fault };
}

describe('golden drills: the driver behaves as recorded', function () {
  this.timeout(10 * 60_000);
  if (record) mkdirSync(dir, { recursive: true });
  for (const stack of listStacks()) {
    for (const mode of modes) {
      it(`${stack} ${mode}: seeds ${seeds.join(', ')} give the recorded event streams, byte for byte`, async () => {
        const file = join(dir, `${stack}.${mode}.txt`);
        const parts: string[] = [];
        for (const seed of seeds) parts.push((await streamOf(stack, mode, seed)).text);
        const now = parts.join('\n');
        if (record) writeFileSync(file, now);
        assert.ok(existsSync(file), `no golden recorded for ${stack} ${mode}: record with KEYSLOT_RECORD_GOLDENS=1`);
        const golden = readFileSync(file, 'utf8');
        if (now === golden) return;
        // Name the first line that differs, not two megabytes of text.
        const [a, b] = [now.split('\n'), golden.split('\n')];
        const at = a.findIndex((line, i) => line !== b[i]);
        assert.fail(
          `${stack} ${mode} differs from ${file} at line ${at + 1}:\n  now:    ${a[at] ?? '(end)'}\n  golden: ${b[at] ?? '(end)'}`,
        );
      });
    }
  }

  it('the goldens are deterministic: the same drill twice gives the same stream', async () => {
    const stack = listStacks()[0]!;
    const [x, y] = [await streamOf(stack, 'rotate', 3), await streamOf(stack, 'rotate', 3)];
    assert.equal(x.text, y.text);
  });

  it('the seeds draw faults: every stack meets at least three fault kinds across them', async () => {
    for (const stack of listStacks()) {
      const kinds = new Set<string>();
      for (const seed of seeds) kinds.add((await streamOf(stack, 'rotate', seed)).fault);
      assert.ok(kinds.size >= 3, `${stack}: ${[...kinds].join(', ')}`);
    }
  });
});
