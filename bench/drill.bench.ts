/**
 * `npm run bench`: the drill on synthetic fleets of 1, 10, 100, 500 and 2,000 clusters with 10
 * consumers each, and a fleet of 100 clusters whose consumers read three credentials, each case in
 * a fresh process. Writes bench/RESULTS.md: makespan against the physical bound (unlimited
 * parallelism across clusters; goal ≤ 1.25) and against the bound at the run's concurrency, the
 * driver's CPU time and peak memory (goal: under 2 s and 300 MB for 500 × 10), `up`s and restarts
 * per consumer. Measured here, never asserted in tests.
 */
import { fork, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listStacks, readStackFile } from '../src/config/load.ts';
import { runDrill, type DrillMeter } from '../src/drill/drill.ts';

const consumers = 10;

/**
 * A fleet of `clusters` clusters with 10 consumers each, reading `credentials` credentials (each
 * its own Secret); `independent`: the consumers' restarts do not wait for each other (`after: []`).
 */
function fleetStack(clusters: number, credentials: number, independent: boolean): Record<string, unknown> {
  return {
    clusters: Array.from({ length: clusters }, (_, i) => ({ name: `c${i}`, ...(i === 0 ? { primary: true } : {}) })),
    credentials: Array.from({ length: credentials }, (_, k) => ({
      name: credentials === 1 ? 'shared' : `shared-${k}`,
      source: { type: 'random', length: 32 },
      deliver: [
        { type: 'kubernetes-secret', namespace: 'apps', name: credentials === 1 ? 'shared' : `shared-${k}`, data: { key: '${value}' } },
      ],
      stages: Array.from({ length: consumers }, (_, i) => ({
        kind: 'restart',
        namespace: 'apps',
        workload: `deployment/consumer-${i}`,
        ...(independent ? { after: [] } : {}),
      })),
      minIntervalHours: 0,
    })),
  };
}

/** A bench case: `<clusters>`, `<clusters>x<credentials>`, and an `i` suffix for independent consumers. */
function parseCase(text: string): { clusters: number; credentials: number; independent: boolean } {
  const independent = text.endsWith('i');
  const [clusters, credentials = '1'] = text.replace(/i$/, '').split('x');
  return { clusters: Number(clusters), credentials: Number(credentials), independent };
}

interface Row {
  readonly clusters: number;
  readonly credentials: number;
  readonly independent: boolean;
  readonly physicalBoundS: number;
  readonly restartsPerConsumer: number;
  readonly makespanS: number;
  readonly boundS: number;
  /** This process: the driver, the simulated world and its traffic. */
  readonly cpuS: number;
  /** The program host child: the Pulumi program under the mock runtime. */
  readonly engineS: number;
  readonly engineHostPeakRssMB: number;
  readonly trafficS: number;
  readonly wallS: number;
  readonly rssBeforeMB: number;
  readonly peakRssMB: number;
  /** Heap still held after the run and a full GC, over the heap before it: what the run keeps, not its garbage. */
  readonly retainedMB: number;
  readonly ups: number;
  readonly failed: number;
  readonly held: boolean;
}

/** One fleet size, in this (fresh) process. */
async function measure(text: string): Promise<Row> {
  const { clusters, credentials, independent } = parseCase(text);
  const stack = fleetStack(clusters, credentials, independent);
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const meter: DrillMeter = { engineMicros: 0, trafficMicros: 0 };
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  const result = await runDrill(`bench-${clusters}`, stack, { seed: 1, meter, replay: false });
  const cpu = process.cpuUsage(cpuBefore);
  const wall = (performance.now() - wallBefore) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  global.gc?.();
  const retained = process.memoryUsage().heapUsed - heapBefore;
  // Keep the result alive across the GC above, as a caller holding it would.
  if (result.events.length < 0) process.stdout.write('');
  return {
    clusters,
    credentials,
    independent,
    makespanS: result.makespanMs / 1000,
    boundS: result.boundMs / 1000,
    physicalBoundS: result.physicalBoundMs / 1000,
    restartsPerConsumer: result.restartsPerConsumer,
    cpuS: (cpu.user + cpu.system) / 1e6,
    engineS: meter.engineMicros / 1e6,
    engineHostPeakRssMB: (meter.engineHostPeakRssBytes ?? 0) / 2 ** 20,
    trafficS: meter.trafficMicros / 1e6,
    wallS: wall,
    rssBeforeMB: rssBefore / 2 ** 20,
    peakRssMB: peak / 2 ** 20,
    retainedMB: retained / 2 ** 20,
    ups: result.ups,
    failed: result.failed,
    held: result.invariants.every((i) => i.held),
  };
}

/** Seeds a second over every shipped stack with faults: replaying program runs, and executing every one. */
async function sweepThroughput(): Promise<{ replayed: number; executed: number; seeds: number; executedSeeds: number }> {
  const seeds = 200;
  const executedSeeds = 25;
  const rate = async (n: number, replay: boolean) => {
    const started = performance.now();
    for (const stack of listStacks()) {
      const { raw } = readStackFile(stack);
      for (let seed = 1; seed <= n; seed++) await runDrill(stack, raw, { seed, faults: true, replay });
    }
    return (n * listStacks().length) / ((performance.now() - started) / 1000);
  };
  return { replayed: await rate(seeds, true), executed: await rate(executedSeeds, false), seeds, executedSeeds };
}

function runChild(clusters: string): Promise<Row> {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, [clusters], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (row) => resolve(row as Row));
    child.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`the ${clusters}-cluster run exited ${code}`))));
  });
}

function render(r: Row): string {
  const driver = Math.max(0, r.cpuS - r.trafficS);
  const fleet = `${r.clusters} × ${consumers}${r.credentials > 1 ? `, ${r.credentials} credentials` : ''}${r.independent ? ', independent consumers' : ''}`;
  return `| ${fleet} | ${r.makespanS.toFixed(0)} s | ${r.physicalBoundS.toFixed(0)} s | ${(r.physicalBoundS ? r.makespanS / r.physicalBoundS : 1).toFixed(2)} | ${r.boundS.toFixed(0)} s | ${(r.boundS ? r.makespanS / r.boundS : 1).toFixed(3)} | ${r.restartsPerConsumer.toFixed(1)} | ${driver.toFixed(2)} s | ${r.engineS.toFixed(2)} s | ${r.trafficS.toFixed(2)} s | ${r.wallS.toFixed(2)} s | ${r.peakRssMB.toFixed(0)} MB (${r.rssBeforeMB.toFixed(0)} MB before) | ${r.retainedMB.toFixed(0)} MB | ${r.engineHostPeakRssMB.toFixed(0)} MB | ${r.ups} | ${Math.round(r.failed)} | ${r.held ? 'yes' : 'NO'} |`;
}

/**
 * The CLI's cold start: whole processes (`node bin/keyslot.js ...`), the median of `runs` runs,
 * wall time and peak RSS as GNU time reports them (wall time only where it is not installed).
 */
function coldStart(args: readonly string[], runs = 5): { wallS: number; rssMB?: number } {
  const bin = join(__dirname, '..', 'bin', 'keyslot.js');
  const gnuTime = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
  const samples: { wallS: number; rssMB?: number }[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    if (gnuTime) {
      // GNU time writes "%e %M" (seconds, KB) last on stderr.
      const err = spawnSync(gnuTime, ['-f', '%e %M', process.execPath, bin, ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'ignore', 'pipe'],
      }).stderr;
      const [wall, kb] = err.trim().split('\n').at(-1)!.split(' ').map(Number) as [number, number];
      samples.push({ wallS: wall, rssMB: kb / 1024 });
    } else {
      spawnSync(process.execPath, [bin, ...args], { stdio: 'ignore' });
      samples.push({ wallS: (performance.now() - started) / 1000 });
    }
  }
  const median = <T>(xs: T[], key: (x: T) => number) => [...xs].sort((a, b) => key(a) - key(b))[Math.floor(xs.length / 2)]!;
  const m = median(samples, (x) => x.wallS);
  return { wallS: m.wallS, ...(m.rssMB !== undefined ? { rssMB: median(samples, (x) => x.rssMB ?? 0).rssMB! } : {}) };
}

async function main() {
  const cases = (process.env.KEYSLOT_BENCH_SIZES ?? '1,10,100,500,2000,500i,100x3').split(',');
  const rows: string[] = [];
  for (const c of cases) {
    rows.push(render(await runChild(c)));
    process.stdout.write(`${rows.at(-1)}\n`);
  }
  const sweep = await sweepThroughput();
  process.stdout.write(
    `drill sweep: ${sweep.replayed.toFixed(0)} seeds/s (program runs replayed), ${sweep.executed.toFixed(0)} seeds/s (every run executed)\n`,
  );
  const commands: string[][] = [['plan', '--stack', 'kubecost-thanos'], ['--help'], ['status', '--stack', 'local', '--simulate']];
  const starts = commands.map((args) => ({ args, ...coldStart(args) }));
  for (const c of starts) process.stdout.write(`keyslot ${c.args.join(' ')}: ${c.wallS.toFixed(2)} s, ${c.rssMB?.toFixed(0) ?? '?'} MB\n`);
  const out = [
    '# keyslot drill benchmark',
    '',
    `Measured ${new Date().toISOString()} on Node ${process.version}, ${process.platform}/${process.arch}, by \`npm run bench\`.`,
    'One dual rotation of a random-source credential delivered to every cluster, with 10 consumers per cluster (1–4 replicas,',
    '2–20 s pod start, seed 1), default settings (waves 1, 10 %, 100 %; no cap on clusters at once); each case in a fresh',
    'process. `independent consumers`: the ten restarts declare `after: []`, so they roll together. The last case has three',
    'credentials whose consumers are the same 10 workloads (`rotate --all`). Makespan and bounds are simulated time.',
    '',
    "The *physical bound* is the stack's stages with unlimited parallelism across clusters (one unlimited wave): the longest",
    'path through them with the simulated durations, computed from the stack as written by `src/drill/physicalBound.ts`,',
    'which shares no code with the planner or the scheduler, so a scheduling regression cannot move it. The *wave bound* is',
    "the driver's chosen safety policy (the canary runs every stage first, then 10 %, then the rest) on the same durations;",
    'makespan over the physical bound is the price of that policy, the canary included.',
    '',
    'The Pulumi program runs under the mock runtime in a child process, as `pulumi up` runs a program in a language host of its',
    'own; the drill process holds the driver, the planner and the simulated world. *Driver CPU* is that process minus the',
    'simulated traffic (so it includes the simulated cluster API the driver calls); *program CPU* is the child, every `up` and',
    'preview including the initial deployment. *Driver peak RSS* is the drill process (in brackets: once loaded, before the run);',
    "*retained* is the heap it still holds after a full GC; *program host* is the child's peak RSS, which holds the provider",
    'SDKs and the short-lived allocations of each `up` (a Kubernetes provider costs about 340 KB under the mock runtime).',
    '',
    '| fleet | makespan | physical bound | ratio (goal ≤ 1.25) | wave bound | ratio | restarts per consumer | driver CPU (goal < 2 s at 500) | program CPU | traffic CPU | wall | driver peak RSS (goal < 300 MB at 500) | retained heap | program host peak RSS | ups (goal 2 per credential) | failed requests | invariants held |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    '## Drill throughput',
    '',
    `Every shipped stack, seeds with faults, in this process: **${sweep.replayed.toFixed(0)} seeds/s** as \`keyslot drill\` and the tests run it`,
    `(${sweep.seeds} seeds a stack; a program run whose every answer matches a recorded one is replayed, see`,
    `\`src/adapters/engine/transcripts.ts\`), **${sweep.executed.toFixed(0)} seeds/s** executing every run (${sweep.executedSeeds} seeds a stack). Goal ≥ 100.`,
    '',
    '## CLI cold start',
    '',
    'Whole processes (`node bin/keyslot.js ...`, tsx compiling on load), the median of five runs each; goal < 0.4 s and < 120 MB',
    'for `plan`, `--help` and `status` on a stack file. `status --simulate` builds and deploys the simulated world first, so it',
    "loads the drill's modules and the program host; it is listed for comparison.",
    '',
    '| command | wall | peak RSS |',
    '| --- | --- | --- |',
    ...starts.map(
      (c) =>
        `| \`keyslot ${c.args.join(' ')}\` | ${c.wallS.toFixed(2)} s | ${c.rssMB !== undefined ? `${c.rssMB.toFixed(0)} MB` : 'n/a'} |`,
    ),
    '',
  ].join('\n');
  writeFileSync(join(__dirname, 'RESULTS.md'), out);
}

const size = process.argv[2];
if (size && process.send) {
  void measure(size).then((row) => {
    process.send!(row);
    process.disconnect();
  });
} else {
  void main();
}
