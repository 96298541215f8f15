// `npm test`: type-check, format and lint, then every mocha suite, then one closing line for CI.
// Suites that use Pulumi's mock runtime run in their own mocha process each, because
// pulumi.runtime.setMocks is global to a process; the unit suite, which has no such state, is cut
// into shards. The jobs run side by side, one more at once than the machine has cores
// ($KEYSLOT_TEST_JOBS overrides), longest first; each job's output is printed whole when it ends,
// with how long it took. Extra arguments narrow the run to those files.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, existsSync, globSync } from 'node:fs';
import { availableParallelism, setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';

const mocha = join('node_modules', 'mocha', 'bin', 'mocha.js');
/**
 * Unit files that take long enough to be a shard of their own. `cost` is each job's time alone on
 * the two-core machine CI uses, in seconds (measured; the order jobs start in, longest first).
 */
const heavyUnit = {
  'unit: the engine adapter and interrupts (Pulumi hosts)': {
    files: ['test/adapters/localWorkspace.spec.ts', 'test/adapters/interrupt.spec.ts'],
    cost: 52,
    waitsOnProcesses: true,
  },
  'unit: the package, packed and installed': { files: ['test/package/install.spec.ts'], cost: 31 },
};
/** The least-privilege runs (~200, each a rotation under RBAC emulators), in this many shards. */
const leastPrivilegeShards = 2;
/** The kubectl judges (~65 s for seven versions, much of it waiting on kubectl), in this many shards. */
const kubectlShards = 2;
const mockRuntime = ['test/program/**', 'test/policy/stacks/**', 'test/driver/**', 'test/drill/**'];
const suites = [
  ...Object.entries(heavyUnit).map(([name, { files, cost, waitsOnProcesses }]) => ({ name, globs: files, cost, waitsOnProcesses })),
  ...Array.from({ length: kubectlShards }, (_, k) => ({
    name: `unit: the Kubernetes emulator judged by kubectl (versions ${k + 1} of every ${kubectlShards})`,
    globs: ['test/adapters/kubectl.spec.ts'],
    env: { KEYSLOT_KUBECTL_SHARD: `${k + 1}/${kubectlShards}` },
    cost: 65 / kubectlShards,
    waitsOnProcesses: true,
  })),
  ...Array.from({ length: leastPrivilegeShards }, (_, k) => ({
    name: `unit: least privilege, every stack through the real Kubernetes adapter under RBAC (runs ${k + 1} of every ${leastPrivilegeShards})`,
    globs: ['test/adapters/leastPrivilege.spec.ts'],
    env: { KEYSLOT_LEAST_PRIVILEGE_SHARD: `${k + 1}/${leastPrivilegeShards}` },
    cost: 60 / leastPrivilegeShards,
  })),
  {
    name: 'unit',
    globs: ['test/**/*.spec.ts'],
    ignore: [
      ...mockRuntime,
      ...Object.values(heavyUnit).flatMap((h) => h.files),
      'test/adapters/kubectl.spec.ts',
      'test/adapters/leastPrivilege.spec.ts',
    ],
    cost: 34,
  },
  { name: 'program (Pulumi mock runtime)', globs: ['test/program/**/*.spec.ts'], cost: 7 },
  { name: 'policy pack over every stack (Pulumi mock runtime)', globs: ['test/policy/stacks/**/*.spec.ts'], cost: 1 },
  { name: 'driver against the simulated world (Pulumi mock runtime)', globs: ['test/driver/**/*.spec.ts'], cost: 25 },
  { name: 'drill: every stack under many seeds and faults (Pulumi mock runtime)', globs: ['test/drill/**/*.spec.ts'], cost: 41 },
];
const only = process.argv.slice(2);
const dir = mkdtempSync(join(tmpdir(), 'keyslot-test-'));
const total = { passed: 0, failed: 0, skipped: 0 };
/** Across jobs, the tests that came closest to their timeout. */
const closest = [];
// Node's code cache for every process a test starts (Pulumi's hosts, the fake CLI, kubectl aside):
// each loads @pulumi/pulumi and the SDKs afresh, and the cache spares them compiling it again.
const compileCache = join(dir, 'node-compile-cache');
const started = Date.now();

/**
 * One job: a command, run with its output kept in a file; resolves with how it ended. A job whose
 * tests wait on real processes against a wall clock (Pulumi's hosts, kubectl) runs at the normal
 * priority; every other job a little below it (nice 10), so that the suite's own CPU-bound jobs
 * never stretch those tests' time: the jobs beside them then take the CPU the waiting ones leave.
 */
function run(name, argv, env = {}, waitsOnProcesses = false) {
  const out = join(dir, `${name.replace(/[^a-z0-9]+/gi, '-')}.log`);
  const file = createWriteStream(out);
  const begin = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, argv, { env: { ...process.env, NODE_COMPILE_CACHE: compileCache, ...env } });
    if (!waitsOnProcesses && child.pid !== undefined) {
      try {
        setPriority(child.pid, 10);
      } catch {
        // Not allowed here: the job keeps the normal priority.
      }
    }
    child.stdout.pipe(file, { end: false });
    child.stderr.pipe(file, { end: false });
    child.on('close', (status) => {
      file.end(() => {
        const seconds = ((Date.now() - begin) / 1000).toFixed(1);
        process.stdout.write(`== ${name} (${seconds} s)\n${readFileSync(out, 'utf8')}`);
        resolve(status);
      });
    });
  });
}

const jobs = [];
if (only.length === 0) {
  jobs.push({
    cost: 11,
    start: async () => {
      const status = await run('type-check', [join('node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', 'tsconfig.json']);
      if (status === 0) total.passed += 1;
      else total.failed += 1;
    },
  });
  // Formatting and lint rules (biome.jsonc): a misformatted file or a lint finding fails the run.
  jobs.push({
    cost: 1,
    start: async () => {
      const status = await run('format and lint (Biome)', [
        join('node_modules', '@biomejs', 'biome', 'bin', 'biome'),
        'ci',
        '--error-on-warnings',
        '.',
      ]);
      if (status === 0) total.passed += 1;
      else total.failed += 1;
    },
  });
}

suites.forEach((suite, i) => {
  // Narrowed: an argument inside one of the suite's globs runs as given; one that holds a whole
  // glob (a folder around a shard's file, say) runs that glob.
  const globs = only.length
    ? [
        ...new Set(
          only.flatMap((g) => {
            if ((suite.ignore ?? []).some((x) => g.startsWith(x.split('**')[0]))) return [];
            return suite.globs.flatMap((s) => {
              const base = s.split('**')[0];
              return g.startsWith(base) ? [g] : base.startsWith(g.split('**')[0]) ? [s] : [];
            });
          }),
        ),
      ]
    : suite.globs;
  if (globs.length === 0 || globs.every((g) => globSync(g, { exclude: suite.ignore ?? [] }).length === 0)) return;
  jobs.push({
    cost: suite.cost,
    start: async () => {
      const summary = join(dir, `suite-${i}.json`);
      const args = [mocha, '--require', 'tsx/cjs', '--reporter', 'test/reporter.cjs', '--timeout', '60000', ...globs];
      for (const pattern of suite.ignore ?? []) args.push('--ignore', pattern);
      // Each suite gets a temp folder of its own: whatever a test leaves there is a failure.
      const temp = join(dir, `tmp-${i}`);
      mkdirSync(temp);
      const status = await run(suite.name, args, { ...suite.env, KEYSLOT_TEST_SUMMARY: summary, TMPDIR: temp }, suite.waitsOnProcesses);
      // Compile caches (tsx's; ts-node's, which Pulumi's policy host registers; Node's own, which npm
      // turns on for the npm and npx the package test runs) are not a test's leftovers.
      const left = readdirSync(temp).filter((name) => !/^(tsx-|ts-node-|node-compile-cache$)/.test(name));
      if (left.length) {
        console.log(`left in the temp folder by ${suite.name}: ${left.join(', ')}`);
        total.failed += 1;
      } else total.passed += 1;
      rmSync(temp, { recursive: true, force: true });
      if (existsSync(summary)) {
        const counts = JSON.parse(readFileSync(summary, 'utf8'));
        total.passed += counts.passed;
        total.failed += counts.failed;
        total.skipped += counts.skipped;
        closest.push(...(counts.closest ?? []));
      }
      if (status !== 0 && !existsSync(summary)) total.failed += 1;
    },
  });
});

// The longest jobs first, so the short ones fill in beside them.
const queue = jobs.sort((a, b) => b.cost - a.cost);
// One more job than cores: a job spends about a third of its time waiting on the processes it
// starts (kubectl, Pulumi's hosts, npm), and the extra one fills that. Measured on two cores, idle:
// 2 at a time 181 s, 3 at a time 147 s.
const width = Math.max(1, Number(process.env.KEYSLOT_TEST_JOBS) || availableParallelism() + 1);
await Promise.all(
  Array.from({ length: Math.min(width, queue.length) }, async () => {
    for (let job = queue.shift(); job; job = queue.shift()) await job.start();
  }),
);

rmSync(dir, { recursive: true, force: true });
// A test past a third of its timeout here would fail on a machine three times busier: name them.
closest.sort((a, b) => b.durationMs / b.timeoutMs - a.durationMs / a.timeoutMs);
for (const t of closest.slice(0, 3))
  console.log(
    `closest to its timeout: ${(t.durationMs / 1000).toFixed(1)} s of ${t.timeoutMs / 1000} s${t.durationMs * 3 > t.timeoutMs ? ' (past a third)' : ''}: ${t.title}`,
  );
console.log(`all jobs took ${((Date.now() - started) / 1000).toFixed(1)} s, ${width} at a time`);
console.log(`${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exitCode = total.failed === 0 ? 0 : 1;
