import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main.ts';
import { ExitCode } from '../../src/errors.ts';
import { scenario, type Scenario } from '../driver/world.ts';
import { tempDirs } from '../fixtures/tempDirs.ts';
import { ganttTasks, mermaidBlocks } from '../fixtures/mermaid.ts';

const temp = tempDirs();
afterEach(() => temp.cleanup());

/** Rotates with `--json --report`, returning the exit code, the events printed and the report written. */
async function rotate(s: Scenario, stack: string, extra: string[]) {
  let out = '';
  const report = join(temp.make('keyslot-report-'), 'summary.md');
  const code = await runCli(['rotate', '--stack', stack, '--yes', '--json', '--report', report, ...extra], {
    out: (t) => (out += t),
    err: () => {},
    interactive: false,
    ports: async () => s.world.ports(s.checkout),
  });
  const events = out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  return { code, events, md: readFileSync(report, 'utf8') };
}

describe('report: the Markdown summary draws the rotation as a Mermaid gantt chart', () => {
  it('one chart per credential, that Mermaid parses, with every stage on every cluster at the time it ran', async () => {
    const s = await scenario('kubecost-thanos');
    const { code, events, md } = await rotate(s, 'kubecost-thanos', ['--all']);
    assert.equal(code, ExitCode.ok);
    const credentials = [...new Set(events.map((e) => e.credential))];
    const blocks = mermaidBlocks(md);
    assert.equal(blocks.length, credentials.length);
    for (const [i, credential] of credentials.entries()) {
      const tasks = await ganttTasks(blocks[i]!);
      const mine = events.filter((e) => e.credential === credential);
      const perCluster = mine.filter((e) => e.type === 'cluster-finished');
      assert.ok(perCluster.length > 0);
      for (const e of perCluster) {
        const end = Date.parse(e.at);
        // An optional workload absent from a cluster is drawn as skipped there, untagged.
        const name = `step ${e.step} ${e.kind}${e.outcome === 'skipped' ? ' (skipped)' : ''}`;
        const found = tasks.find((t) => t.section === e.cluster && t.name === name && t.end === end);
        assert.ok(found, `${credential}: no task for ${name} on ${e.cluster} in\n${blocks[i]}`);
        assert.equal(found.start, end - e.durationMs);
        assert.deepEqual(found.tags, e.outcome === 'skipped' ? [] : ['done']);
      }
      // The steps that run once (flip, up, regenerate) are the fleet's; none is drawn twice.
      const fleet = tasks.filter((t) => t.section === 'fleet').map((t) => t.name);
      assert.ok(fleet.some((n) => /flip$/.test(n)) && fleet.some((n) => /up$/.test(n)), fleet.join(', '));
      assert.equal(tasks.length, perCluster.length + fleet.length);
      assert.ok(tasks.every((t) => t.end >= t.start));
    }
    assert.equal(typeof (globalThis as { window?: unknown }).window, 'undefined', 'the judge leaves no browser globals behind');
  });

  it('a stage that failed is drawn critical, the rollback in the fleet section', async () => {
    const s = await scenario('kubecost-thanos');
    s.world.fleet.cluster('primary').workload('kubecost', 'deployment', 'kubecost-thanos-store')!.failRollout = true;
    const { code, md } = await rotate(s, 'kubecost-thanos', ['--credential', 'thanos-store']);
    assert.equal(code, ExitCode.rolledBack);
    const tasks = await ganttTasks(mermaidBlocks(md)[0]!);
    const failed = tasks.filter((t) => t.tags.includes('crit'));
    assert.deepEqual(
      failed.map((t) => `${t.section} ${t.name}`),
      ['primary step 5 restart'],
    );
    assert.ok(tasks.some((t) => t.section === 'fleet' && t.name === 'rollback flip'));
  });

  it('the rendered report in the README is a chart Mermaid accepts', async () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    const blocks = mermaidBlocks(readme);
    assert.ok(blocks.length >= 1);
    for (const block of blocks) assert.ok((await ganttTasks(block)).length > 0);
  });

  it('the judge can fail: Mermaid refuses a chart whose task line lost its data', async () => {
    const s = await scenario('local');
    const { md } = await rotate(s, 'local', ['--all']);
    const chart = mermaidBlocks(md)[0]!;
    await ganttTasks(chart);
    await assert.rejects(ganttTasks(chart.replace(/ :done, \d+, \d+/, '')), /Parse error/);
  });
});
