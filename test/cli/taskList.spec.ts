import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { progressFrame, runWithTaskList, type Terminal } from '../../src/cli/taskList.ts';
import type { RotationEvent, RotationResult } from '../../src/driver/index.ts';

const ESC = String.fromCharCode(27);

/**
 * A terminal of `rows` × `columns` as the renderer's escape codes move it (cursor up and down,
 * erase line, carriage return, line feed at the bottom scrolling the top row away): what stays on
 * screen and what went to the scrollback, which no redraw can reach.
 */
class Screen {
  readonly scrollback: string[] = [];
  readonly lines: string[];
  private row = 0;
  private col = 0;

  constructor(
    readonly rows: number,
    readonly columns: number,
  ) {
    this.lines = Array.from({ length: rows }, () => '');
  }

  write(text: string): void {
    for (let i = 0; i < text.length; i++) {
      if (text[i] !== ESC) {
        this.char(text[i]!);
        continue;
      }
      const csi = /^\[(\??)(\d*)([A-Za-z])/.exec(text.slice(i + 1));
      assert.ok(csi, `the emulator knows only CSI sequences: ${JSON.stringify(text.slice(i, i + 8))}`);
      i += csi[0].length;
      const [, private_, arg, code] = csi;
      const n = Number(arg || 1);
      if (private_ || code === 'm') continue; // cursor visibility, synchronized output, colours
      if (code === 'A') this.row = Math.max(0, this.row - n);
      else if (code === 'B') this.row = Math.min(this.rows - 1, this.row + n);
      else if (code === 'G') this.col = n - 1;
      else if (code === 'K') this.lines[this.row] = arg === '2' ? '' : this.lines[this.row]!.slice(0, this.col);
      else assert.fail(`the emulator does not know ${JSON.stringify(csi[0])}`);
    }
  }

  /** Everything a person can scroll through, oldest first, without the empty rows below the cursor. */
  get transcript(): string[] {
    const all = [...this.scrollback, ...this.lines.map((l) => l.trimEnd())];
    while (all.at(-1) === '') all.pop();
    return all;
  }

  private char(c: string): void {
    if (c === '\r') this.col = 0;
    else if (c === '\n') this.lineFeed();
    else {
      if (this.col >= this.columns) this.lineFeed();
      this.lines[this.row] = this.lines[this.row]!.padEnd(this.col).slice(0, this.col) + c + this.lines[this.row]!.slice(this.col + 1);
      this.col++;
    }
  }

  /** A TTY turns `\n` into CR LF; at the bottom row the top row scrolls away. */
  private lineFeed(): void {
    this.col = 0;
    if (this.row < this.rows - 1) this.row++;
    else {
      this.scrollback.push(this.lines.shift()!.trimEnd());
      this.lines.push('');
    }
  }
}

/** A TTY of the given size that draws into a Screen; `writes` keeps each write as the renderer made it. */
function terminal(rows: number, columns: number) {
  const screen = new Screen(rows, columns);
  const writes: string[] = [];
  const stream = () =>
    Object.assign(
      new Writable({
        write(chunk, _encoding, done) {
          writes.push(String(chunk));
          screen.write(String(chunk));
          done();
        },
      }),
      { isTTY: true, rows, columns },
    ) as unknown as NodeJS.WriteStream;
  const tty: Terminal = { stdout: stream(), stderr: stream() };
  return { tty, screen, writes };
}

const base = { at: '2026-11-26T00:00:00.000Z', credential: 'thanos-store', rotationId: 'r-1' };
const clusters = ['primary', 'secondary-eu', 'secondary-us'];

/** A rotation of 13 steps as the driver reports it: once-steps, then restarts on the canary and the rest of the fleet. */
function rotationEvents(failAt?: number): RotationEvent[] {
  const events: RotationEvent[] = [];
  const once = (step: number, kind: 'preflight' | 'flip' | 'up' | 'gate' | 'regenerate' | 'record') =>
    events.push(
      { ...base, type: 'step-started', step, kind, clusters: [] },
      { ...base, type: 'step-finished', step, kind, outcome: 'done', durationMs: 0 },
    );
  once(0, 'preflight');
  once(1, 'flip');
  once(2, 'up');
  for (const wave of [clusters.slice(1, 2), [clusters[0]!, clusters[2]!]])
    for (let step = 3; step < 10; step++) {
      events.push({ ...base, type: 'step-started', step, kind: 'restart', clusters: wave });
      const failed = step === failAt && wave.includes('primary');
      for (const cluster of wave)
        events.push({
          ...base,
          type: 'cluster-finished',
          step,
          kind: 'restart',
          cluster,
          outcome: failed && cluster === 'primary' ? 'failed' : 'done',
          durationMs: 12000,
        });
      events.push({
        ...base,
        type: 'step-finished',
        step,
        kind: 'restart',
        outcome: failed ? 'failed' : 'done',
        durationMs: 12000,
        ...(failed ? { detail: '1 cluster(s) unconfirmed' } : {}),
      });
      if (failed) return [...events, { ...base, type: 'step-started', step: -1, kind: 'flip', clusters: [] }];
    }
  once(10, 'gate');
  once(11, 'regenerate');
  once(12, 'record');
  return events;
}

/** Runs the task list on a terminal, feeding `events` to it a tick apart, as a rotation would. */
async function runOn(t: ReturnType<typeof terminal>, events: readonly RotationEvent[], outcome: RotationResult | Error) {
  return runWithTaskList(
    [base.credential],
    async (_name, onEvent) => {
      for (const e of events) {
        onEvent(e);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      if (outcome instanceof Error) throw outcome;
      return outcome;
    },
    'default',
    t.tty,
  );
}

const rotated: RotationResult = { credential: base.credential, rotationId: 'r-1', outcome: 'rotated', unconfirmed: [] };

describe('task list: on a terminal it stays within the screen and says the outcome last', () => {
  it('a frame never has more lines than the height: past it finished steps collapse into one line, failed steps stay', () => {
    const events = rotationEvents(7);
    for (let height = 1; height <= 16; height++)
      for (let n = 0; n <= events.length; n++) {
        const frame = progressFrame(events.slice(0, n), height);
        assert.ok(frame.length <= height, `${frame.length} lines for a height of ${height}:\n${frame.join('\n')}`);
      }
    const frame = progressFrame(events, 4);
    assert.equal(frame[0], '✔ 9 steps finished');
    assert.ok(
      frame.includes('8. restart secondary-eu ✔ primary ✖ secondary-us ✔ ✖ 1 cluster(s) unconfirmed'),
      `the failed step stays listed:\n${frame.join('\n')}`,
    );
    assert.ok(frame.includes('rollback flip …'), frame.join('\n'));
    // While everything fits, every step is listed, each with its clusters across both waves.
    assert.deepEqual(progressFrame(events.slice(0, 13), 10), [
      '1. preflight ✔',
      '2. flip ✔',
      '3. up ✔',
      '4. restart secondary-eu ✔ ✔',
      '5. restart secondary-eu ✔ ✔',
      '6. restart secondary-eu …',
    ]);
  });

  it('a step on many clusters counts them, naming only the failed ones, so that its line fits a row', () => {
    const fleet = Array.from({ length: 40 }, (_, i) => `c${i}`);
    const finished = (cluster: string, outcome: 'done' | 'failed' | 'skipped'): RotationEvent => ({
      ...base,
      type: 'cluster-finished',
      step: 4,
      kind: 'restart',
      cluster,
      outcome,
      durationMs: 1,
    });
    const lines = progressFrame(
      [
        { ...base, type: 'step-started', step: 4, kind: 'restart', clusters: fleet },
        ...fleet.slice(0, 30).map((c) => finished(c, 'done')),
        finished('c30', 'skipped'),
        finished('c31', 'failed'),
      ],
      5,
    );
    assert.deepEqual(lines, ['5. restart 40 clusters: 30 ✔ 1 ↷ 1 ✖ (c31) 8 …']);
  });

  it('draws in place: no copy of the list reaches the scrollback, and the outcome line is the last thing on screen', async () => {
    const rows = 10;
    const t = terminal(rows, 72);
    const results = await runOn(t, rotationEvents(), rotated);
    assert.deepEqual(results, [rotated]);
    // Each frame fits the screen: no write has as many lines as the terminal has rows.
    for (const w of t.writes) assert.ok(w.split('\n').length - 1 < rows, `a write of ${w.split('\n').length - 1} lines:\n${w}`);
    assert.ok(
      t.writes.some((w) => w.includes('steps finished')),
      'finished steps collapsed once the list outgrew the screen',
    );
    const transcript = t.screen.transcript;
    assert.deepEqual(t.screen.scrollback, [], transcript.join('\n'));
    assert.equal(transcript.filter((l) => l.includes(base.credential)).length, 2, transcript.join('\n'));
    assert.equal(transcript.at(-1), 'thanos-store: rotated r-1');
    assert.match(transcript.at(-2)!, /^ {2}\S ✔ 13 steps finished$/);
  });

  it('a failure stays on screen after the list stops, and the error propagates for the CLI to say last', async () => {
    const t = terminal(9, 100);
    const error = new Error('rotation r-1 of thanos-store rolled back');
    await assert.rejects(runOn(t, rotationEvents(7), error), (e) => e === error);
    const transcript = t.screen.transcript;
    assert.deepEqual(t.screen.scrollback, [], transcript.join('\n'));
    assert.ok(
      transcript.some((l) => l.endsWith('8. restart secondary-eu ✔ primary ✖ secondary-us ✔ ✖ 1 cluster(s) unconfirmed')),
      transcript.join('\n'),
    );
    assert.match(transcript[0]!, /thanos-store: step rollback flip$/);
  });
});
