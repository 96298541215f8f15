/**
 * `npm run bench`: the drill on synthetic fleets of 1, 10, 100 and 500 clusters with 10 consumers
 * each. Writes bench/RESULTS.md: makespan against the critical-path bound (goal ≤ 1.05), the CPU
 * time and peak memory of the run (goal: under 2 s and 300 MB for 500 × 10), and the number of
 * `up`s per rotation (goal: 2 for a dual rotation). Measured here, never asserted in tests.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runDrill } from '../src/drill/drill.ts';

const sizes = (process.env.KEYSLOT_BENCH_SIZES ?? '1,10,100,500').split(',').map(Number);
const consumers = 10;

function fleetStack(clusters: number): Record<string, unknown> {
  return {
    clusters: Array.from({ length: clusters }, (_, i) => ({ name: `c${i}`, ...(i === 0 ? { primary: true } : {}) })),
    credentials: [
      {
        name: 'shared',
        source: { type: 'random', length: 32 },
        deliver: [{ type: 'kubernetes-secret', namespace: 'apps', name: 'shared', data: { key: '${value}' } }],
        stages: Array.from({ length: consumers }, (_, i) => ({ kind: 'restart', namespace: 'apps', workload: `deployment/consumer-${i}` })),
        minIntervalHours: 0,
      },
    ],
  };
}

async function main() {
  const rows: string[] = [];
  for (const clusters of sizes) {
    global.gc?.();
    const cpuBefore = process.cpuUsage();
    const wallBefore = performance.now();
    let peak = process.memoryUsage().rss;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const result = await runDrill(`bench-${clusters}`, fleetStack(clusters), { seed: 1, concurrency: 8 });
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
    const cpu = process.cpuUsage(cpuBefore);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const wall = (performance.now() - wallBefore) / 1000;
    const ratio = result.boundMs ? result.makespanMs / result.boundMs : 1;
    const held = result.invariants.every((i) => i.held);
    rows.push(`| ${clusters} × ${consumers} | ${(result.makespanMs / 1000).toFixed(0)} s | ${(result.boundMs / 1000).toFixed(0)} s | ${ratio.toFixed(3)} | ${cpuSeconds.toFixed(2)} s | ${wall.toFixed(2)} s | ${(peak / 2 ** 20).toFixed(0)} MB | ${result.ups} | ${Math.round(result.failed)} | ${held ? 'yes' : 'NO'} |`);
    process.stdout.write(`${rows.at(-1)}\n`);
  }
  const out = [
    '# keyslot drill benchmark',
    '',
    `Measured ${new Date().toISOString()} on Node ${process.version}, ${process.platform}/${process.arch}, by \`npm run bench\`.`,
    'One dual rotation of a random-source credential delivered to every cluster, with 10 consumers per cluster (1–4 replicas,',
    '2–20 s pod start, seed 1), `--concurrency 8`. Makespan and bound are simulated time; CPU and memory are this process,',
    'which runs the real driver and the real Pulumi program under the mock runtime as well as the simulated fleet.',
    '',
    '| fleet | makespan | critical-path bound | ratio (goal ≤ 1.05) | CPU (goal < 2 s at 500) | wall | peak RSS (goal < 300 MB at 500) | ups (goal 2) | failed requests | invariants held |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
  writeFileSync(join(__dirname, 'RESULTS.md'), out);
}

void main();
