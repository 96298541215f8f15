import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main.ts';
import { ExitCode } from '../../src/errors.ts';
import { scenario, type Scenario } from '../driver/world.ts';
import { tempDirs } from '../fixtures/tempDirs.ts';
import { ganttTasks, mermaidBlocks } from '../fixtures/mermaid.ts';
import { loadStack } from '../../src/config/load.ts';
import { planRotation } from '../../src/model/planner.ts';

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

/** The workload step `step` (numbered from 1, as --json numbers it) acts on, as the stack file declares it and a bar names it. */
function workloadOf(stack: string, credential: string, step: number): string {
  const planned = planRotation(loadStack(stack), [credential]).credentials[0]!.steps[step - 1]!;
  assert.ok('workload' in planned && planned.workload, `step ${step} of ${credential} names a workload`);
  return `${planned.workload} in ${planned.namespace}`;
}

/** The chart's task lines (`name :tags, start, end`) by name, to read what the Gantt database does not keep (milestone). */
function taskLines(chart: string): Map<string, string> {
  return new Map(
    chart
      .split('\n')
      .filter((l) => /^ {4}\S.* :/.test(l) && !/^ {4}(title|dateFormat|axisFormat|section) /.test(l))
      .map((l) => [l.slice(4, l.lastIndexOf(' :')), l]),
  );
}

/** The local stack on a fleet of `size` clusters, its restart required, so every cluster restarts the demo consumer. */
function largeFleet(size: number) {
  return scenario('local', (raw) => {
    raw.clusters = Array.from({ length: size }, (_, i) => ({
      name: `c${String(i).padStart(2, '0')}`,
      ...(i === 0 ? { primary: true } : {}),
    }));
    ((raw.credentials as Record<string, unknown>[])[0]!.stages as Record<string, unknown>[])[0]!.optional = false;
  });
}

describe('report: the Markdown summary draws the rotation as a Mermaid gantt chart', () => {
  it('one chart per credential, that Mermaid parses, with every stage on every cluster named by its workload and cluster, in the section of its wave', async () => {
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
      // The canary (the first cluster any stage started on) is a wave of its own, before the rest of the fleet.
      const canary = mine.find((e) => e.type === 'step-started' && e.kind === 'restart').clusters;
      assert.equal(canary.length, 1);
      for (const e of perCluster) {
        const end = Date.parse(e.at);
        // An optional workload absent from a cluster is drawn as skipped there, untagged.
        const name = `step ${e.step} ${e.kind} ${workloadOf('kubecost-thanos', credential, e.step)} on ${e.cluster}${e.outcome === 'skipped' ? ' (skipped)' : ''}`;
        const found = tasks.find((t) => t.name === name && t.end === end);
        assert.ok(found, `${credential}: no task for ${name} in\n${blocks[i]}`);
        assert.equal(found.section, canary.includes(e.cluster) ? 'wave 1 (1 cluster)' : 'wave 2 (2 clusters)');
        assert.equal(found.start, end - e.durationMs);
        assert.deepEqual(found.tags, e.outcome === 'skipped' ? [] : ['done']);
      }
      // The steps that run once (flip, up, regenerate) are the fleet's; none is drawn twice.
      const fleet = tasks.filter((t) => t.section === 'fleet').map((t) => t.name);
      assert.ok(fleet.some((n) => /flip$/.test(n)) && fleet.some((n) => /up$/.test(n)), fleet.join(', '));
      assert.equal(tasks.length, perCluster.length + fleet.length);
      assert.ok(tasks.every((t) => t.end >= t.start));
      // Instant steps are milestones, not bars of no width with their label floating; a restart is a bar.
      const lines = taskLines(blocks[i]!);
      for (const t of tasks) assert.equal(/ :milestone, /.test(lines.get(t.name)!), t.end === t.start, lines.get(t.name));
      assert.ok(fleet.every((n) => / :milestone, /.test(lines.get(n)!)));
    }
    assert.equal(typeof (globalThis as { window?: unknown }).window, 'undefined', 'the judge leaves no browser globals behind');
  });

  it('a stage that failed is drawn critical, named by its workload and cluster; the rollback in the fleet section', async () => {
    const s = await scenario('kubecost-thanos');
    s.world.fleet.cluster('primary').workload('kubecost', 'deployment', 'kubecost-thanos-store')!.failRollout = true;
    const { code, md } = await rotate(s, 'kubecost-thanos', ['--credential', 'thanos-store']);
    assert.equal(code, ExitCode.rolledBack);
    const tasks = await ganttTasks(mermaidBlocks(md)[0]!);
    const failed = tasks.filter((t) => t.tags.includes('crit'));
    assert.deepEqual(
      failed.map((t) => `${t.section}: ${t.name}`),
      ['wave 2 (2 clusters): step 5 restart deployment/kubecost-thanos-store in kubecost on primary'],
    );
    assert.ok(tasks.some((t) => t.section === 'fleet' && t.name === 'rollback flip'));
  });

  it('a large fleet stays readable: past a few clusters a wave is one bar per step, from its first start to its last end, naming how many clusters', async () => {
    const s = await largeFleet(40);
    const { code, events, md } = await rotate(s, 'local', ['--all']);
    assert.equal(code, ExitCode.ok);
    const chart = mermaidBlocks(md)[0]!;
    const tasks = await ganttTasks(chart);
    const restarts = events.filter((e) => e.type === 'cluster-finished');
    assert.equal(restarts.length, 40);
    const [canary, ...rest] = restarts;
    const workload = workloadOf('local', 'demo', canary.step);
    const waves = tasks.filter((t) => t.section !== 'fleet');
    assert.deepEqual(
      waves.map((t) => `${t.section}: ${t.name}`),
      [
        `wave 1 (1 cluster): step ${canary.step} restart ${workload} on ${canary.cluster}`,
        `wave 2 (39 clusters): step ${canary.step} restart ${workload} on 39 clusters`,
      ],
    );
    const starts = rest.map((e) => Date.parse(e.at) - e.durationMs);
    assert.equal(waves[1]!.start, Math.min(...starts));
    assert.equal(waves[1]!.end, Math.max(...rest.map((e) => Date.parse(e.at))));
    assert.deepEqual(waves[1]!.tags, ['done']);
  });

  it('a collapsed wave that failed somewhere is critical and says how many of its clusters failed', async () => {
    const s = await largeFleet(12);
    s.world.fleet.cluster('c01').workload('default', 'deployment', 'keyslot-demo')!.failRollout = true;
    const { code, md } = await rotate(s, 'local', ['--all']);
    assert.equal(code, ExitCode.rolledBack);
    const tasks = await ganttTasks(mermaidBlocks(md)[0]!);
    const failed = tasks.filter((t) => t.tags.includes('crit'));
    assert.equal(failed.length, 1);
    assert.match(failed[0]!.name, /^step \d+ restart deployment\/keyslot-demo in default on \d+ clusters \(1 failed\)$/);
    assert.equal(failed[0]!.section, 'wave 2 (11 clusters)');
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
    await assert.rejects(ganttTasks(chart.replace(/ :(?:[a-z]+, )*\d+, \d+/, '')), /Parse error/);
  });
});
