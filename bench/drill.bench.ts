/**
 * `npm run bench`: the drill on synthetic fleets of 1 to 10,000 clusters with 10 consumers each, a
 * fleet whose consumers restart independently, and one whose consumers read three credentials, each
 * case in a fresh process. Writes bench/RESULTS.md: makespan against the physical bound (an
 * independent oracle, `src/drill/physicalBound.ts`), the canary's share of it, driver CPU and how it
 * grows with the fleet, peak memory, `up`s and restarts per consumer; then the drill's throughput
 * over the shipped stacks (cold and warm transcript cache) and the CLI's cold start. Measured here,
 * never asserted in tests.
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
  /** From the rotation's start until its canary had finished every stage. */
  readonly canaryS: number;
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
    canaryS: result.canaryMs / 1000,
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

interface Sweep {
  /** A fresh process, its transcript cache empty: what one `keyslot drill` run sees. */
  readonly cold: number;
  /** The same seeds again in that process, every program run already recorded. */
  readonly warm: number;
  /** Every program run executed, none replayed. */
  readonly executed: number;
  readonly seeds: number;
  readonly executedSeeds: number;
}

/** Seeds a second over every shipped stack with faults, in this (fresh) process: cold, warm, and executing every run. */
async function sweepThroughput(): Promise<Sweep> {
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
  const executed = await rate(executedSeeds, false);
  const cold = await rate(seeds, true);
  const warm = await rate(seeds, true);
  return { cold, warm, executed, seeds, executedSeeds };
}

interface ApiCount {
  readonly stages: number;
  readonly total: number;
  readonly byKind: Record<string, number>;
}

/**
 * API requests one rotation makes to one cluster: the real Kubernetes adapter against the API
 * emulator (over the same cluster model), for a credential with ten restart stages, at the
 * production poll interval. Counted by the emulator, by what each request is.
 */
async function apiRequests(): Promise<ApiCount> {
  // Loaded here only: the Kubernetes client and the emulator would weigh on every fleet case's memory.
  const { KubernetesClusterFleet, plainKubeConfig } = await import('../src/adapters/clusters/kubernetes.ts');
  const { parseStackConfig } = await import('../src/config/parse.ts');
  const { Driver } = await import('../src/driver/index.ts');
  const { buildWorld } = await import('../src/sim/world.ts');
  const { KubeApiEmulator } = await import('../test/fixtures/kubeApiEmulator.ts');
  const stages = 10;
  const raw = {
    clusters: [{ name: 'c0', primary: true }],
    credentials: [
      {
        name: 'shared',
        source: { type: 'random', length: 32 },
        deliver: [{ type: 'kubernetes-secret', namespace: 'apps', name: 'shared', data: { key: '${value}' } }],
        stages: Array.from({ length: stages }, (_, i) => ({ kind: 'restart', namespace: 'apps', workload: `deployment/consumer-${i}` })),
        minIntervalHours: 0,
      },
    ],
  };
  const config = parseStackConfig('bench-api', raw, 'bench-api');
  const world = buildWorld(config);
  await world.ports(raw).engine.up({ policyPacks: [] });
  world.boot();
  world.clock.advance(3600_000);
  const emulator = new KubeApiEmulator(world.fleet.cluster('c0'), world.clock);
  const server = await emulator.start();
  try {
    const clusters = new KubernetesClusterFleet(new Map([['c0', plainKubeConfig(server)]]), world.clock, 2000, undefined, {
      qps: 1e6,
      burst: 1e6,
    });
    const ports = { ...world.ports(raw), clusters };
    await new Driver(ports, { policyPacks: [], holder: 'bench@api', force: true, discovery: 'warn' }).rotate('shared');
  } finally {
    await emulator.stop();
  }
  const byKind: Record<string, number> = {};
  for (const q of emulator.queries) {
    const [method, path = ''] = q.split(' ');
    const kind = `${method} ${path
      .replace(/\?.*watch=true.*/, ' (watch)')
      .replace(/\?.*/, '')
      .replace(/\/namespaces\/[^/]+/, '/namespaces/*')
      .replace(/\/(deployments|pods|secrets|leases)\/[^/ ]+/, '/$1/*')}`;
    byKind[kind] = (byKind[kind] ?? 0) + 1;
  }
  return { stages, total: emulator.queries.length, byKind };
}

function runChild<T = Row>(clusters: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, [clusters], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (row) => resolve(row as T));
    child.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`the ${clusters}-cluster run exited ${code}`))));
  });
}

function render(r: Row): string {
  const driver = Math.max(0, r.cpuS - r.trafficS);
  const fleet = `${r.clusters} × ${consumers}${r.credentials > 1 ? `, ${r.credentials} credentials` : ''}${r.independent ? ', independent consumers' : ''}`;
  const afterCanary = r.makespanS - r.canaryS;
  return `| ${fleet} | ${r.makespanS.toFixed(0)} s | ${r.physicalBoundS.toFixed(0)} s | ${(r.physicalBoundS ? r.makespanS / r.physicalBoundS : 1).toFixed(2)} | ${r.canaryS.toFixed(0)} s | ${(r.physicalBoundS ? afterCanary / r.physicalBoundS : 1).toFixed(2)} | ${r.boundS.toFixed(0)} s | ${(r.boundS ? r.makespanS / r.boundS : 1).toFixed(3)} | ${r.restartsPerConsumer.toFixed(1)} | ${driver.toFixed(2)} s | ${r.engineS.toFixed(2)} s | ${r.trafficS.toFixed(2)} s | ${r.wallS.toFixed(2)} s | ${r.peakRssMB.toFixed(0)} MB (${r.rssBeforeMB.toFixed(0)} MB before) | ${r.retainedMB.toFixed(0)} MB | ${r.engineHostPeakRssMB.toFixed(0)} MB | ${r.ups} | ${Math.round(r.failed)} | ${r.held ? 'yes' : 'NO'} |`;
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
  const cases = (process.env.KEYSLOT_BENCH_SIZES ?? '1,10,100,500,2000,4000,10000,500i,100x3').split(',');
  const measured: Row[] = [];
  for (const c of cases) {
    measured.push(await runChild(c));
    process.stdout.write(`${render(measured.at(-1)!)}\n`);
  }
  // How driver CPU grows with the fleet: the exponent of a power law through the smallest and the
  // largest single-credential case of at least 500 clusters (1.0 is linear).
  const plain = measured.filter((r) => r.credentials === 1 && !r.independent && r.clusters >= 500);
  const driverCpu = (r: Row) => Math.max(0, r.cpuS - r.trafficS);
  const [low, high] = [plain[0], plain.at(-1)];
  const exponent =
    low && high && high.clusters > low.clusters
      ? Math.log(driverCpu(high) / driverCpu(low)) / Math.log(high.clusters / low.clusters)
      : undefined;
  const scaling =
    exponent === undefined
      ? 'not measured (needs two fleet sizes of at least 500)'
      : `**${exponent.toFixed(2)}** from ${low!.clusters} to ${high!.clusters} clusters`;
  process.stdout.write(`driver CPU exponent: ${scaling}\n`);
  const api = await runChild<ApiCount>('api');
  process.stdout.write(`API requests, one rotation of a ${api.stages}-stage credential on one cluster: ${api.total}\n`);
  const sweep = await runChild<Sweep>('sweep');
  process.stdout.write(
    `drill sweep: ${sweep.cold.toFixed(0)} seeds/s cold, ${sweep.warm.toFixed(0)} warm, ${sweep.executed.toFixed(0)} executing every run\n`,
  );
  const commands: string[][] = [['plan', '--stack', 'kubecost-thanos'], ['--help'], ['status', '--stack', 'local', '--simulate']];
  const starts = commands.map((args) => ({ args, ...coldStart(args) }));
  for (const c of starts) process.stdout.write(`keyslot ${c.args.join(' ')}: ${c.wallS.toFixed(2)} s, ${c.rssMB?.toFixed(0) ?? '?'} MB\n`);
  const out = [
    '# keyslot drill benchmark',
    '',
    `Measured ${new Date().toISOString()} on Node ${process.version}, ${process.platform}/${process.arch}, by \`npm run bench\`.`,
    'One dual rotation of a random-source credential delivered to every cluster, with 10 consumers per cluster (1–4 replicas,',
    '2–20 s pod start, seed 1), default settings (waves 1, 10 %, 100 %, the canary running the whole rotation first; no cap on',
    'clusters at once); each case in a fresh process. `independent consumers`: the ten restarts declare `after: []`, so they',
    'roll together. The last case has three credentials whose consumers are the same 10 workloads (`rotate --all`). Makespan',
    'and bounds are simulated time.',
    '',
    "The *physical bound* is the stack's stages with unlimited parallelism across clusters (one unlimited wave): the longest",
    'path through them with the simulated durations, computed from the stack as written by `src/drill/physicalBound.ts`,',
    'which shares no code with the planner or the scheduler, so a scheduling regression cannot move it. *Canary* is the',
    "price of the safety policy's first step, judged from the events: from the rotation's start until the canary cluster had",
    'finished every stage (no other cluster is touched meanwhile); *after the canary* is the rest of the makespan over the',
    "physical bound. The *wave bound* is the driver's chosen policy (canary, then 10 %, then the rest) on the same durations,",
    "computed with the model's wave and canary rules, so it shows how much the scheduler loses against its own policy.",
    '',
    'The Pulumi program runs under the mock runtime in a child process, as `pulumi up` runs a program in a language host of its',
    'own; the drill process holds the driver, the planner and the simulated world. *Driver CPU* is that process minus the',
    "simulated traffic (so it includes the simulated cluster API the driver calls and the drill's own judging); *program CPU*",
    'is the child, every `up` and preview including the initial deployment. *Driver peak RSS* is the drill process (in',
    'brackets: once loaded, before the run); *retained* is the heap it still holds after a full GC; *program host* is the',
    "child's peak RSS, which holds the provider SDKs and the short-lived allocations of each `up` (a Kubernetes provider costs",
    'about 340 KB under the mock runtime).',
    '',
    `Driver CPU grows with the fleet with an exponent of ${scaling} (goal ≤ 1.05).`,
    '',
    '| fleet | makespan | physical bound | ratio | canary | after the canary / physical | wave bound | ratio | restarts per consumer | driver CPU (goal < 2 s at 500) | program CPU | traffic CPU | wall | driver peak RSS (goal < 800 MB at 4,000) | retained heap | program host peak RSS | ups (goal 2 per credential) | failed requests | invariants held |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...measured.map(render),
    '',
    '## API requests per cluster per rotation',
    '',
    `One rotation of a credential with ${api.stages} restart stages on one cluster, through the real Kubernetes adapter against the`,
    `API emulator (the drill's cluster model behind it), at the production poll interval: **${api.total} requests**, about`,
    `${(api.total / api.stages).toFixed(1)} per stage (goal: a watch and a handful of reads per stage). By what they are:`,
    '',
    '| request | count |',
    '| --- | --- |',
    ...Object.entries(api.byKind)
      .sort(([, a], [, b]) => b - a)
      .map(([k, n]) => `| \`${k}\` | ${n} |`),
    '',
    '## Drill throughput',
    '',
    `Every shipped stack, seeds with faults, in a fresh process: **${sweep.cold.toFixed(0)} seeds/s cold** — the transcript cache`,
    `empty at the start, as one \`keyslot drill\` run or one test file finds it (${sweep.seeds} seeds a stack; a program run whose`,
    'every answer matches a recorded one is replayed, see `src/adapters/engine/transcripts.ts`) —, ',
    `**${sweep.warm.toFixed(0)} seeds/s warm** (the same seeds again, every run already recorded), and`,
    `**${sweep.executed.toFixed(0)} seeds/s** executing every run (${sweep.executedSeeds} seeds a stack). Goal ≥ 100.`,
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
  void (size === 'sweep' ? sweepThroughput() : size === 'api' ? apiRequests() : measure(size)).then((row) => {
    process.send!(row);
    process.disconnect();
  });
} else {
  void main();
}
