// `npm test`: type-check, then every mocha suite, then one closing line for CI.
// Suites that use Pulumi's mock runtime run in their own mocha process each, because
// pulumi.runtime.setMocks is global to a process. Extra arguments narrow the run to those files.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, existsSync, globSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const mocha = join('node_modules', 'mocha', 'bin', 'mocha.js');
const suites = [
  { name: 'unit', globs: ['test/**/*.spec.ts'], ignore: ['test/program/**', 'test/policy/stacks/**', 'test/driver/**', 'test/drill/**'] },
  { name: 'program (Pulumi mock runtime)', globs: ['test/program/**/*.spec.ts'] },
  { name: 'policy pack over every stack (Pulumi mock runtime)', globs: ['test/policy/stacks/**/*.spec.ts'] },
  { name: 'driver against the simulated world (Pulumi mock runtime)', globs: ['test/driver/**/*.spec.ts'] },
  { name: 'drill: every stack under many seeds and faults (Pulumi mock runtime)', globs: ['test/drill/**/*.spec.ts'] },
];
const only = process.argv.slice(2);
const dir = mkdtempSync(join(tmpdir(), 'keyslot-test-'));
const total = { passed: 0, failed: 0, skipped: 0 };

if (only.length === 0) {
  console.log('== type-check');
  const tsc = spawnSync(process.execPath, [join('node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', 'tsconfig.json'], {
    stdio: 'inherit',
  });
  if (tsc.status === 0) total.passed += 1;
  else total.failed += 1;
  // Formatting and lint rules (biome.jsonc): a misformatted file or a lint finding fails the run.
  console.log('== format and lint (Biome)');
  const biome = spawnSync(process.execPath, [join('node_modules', '@biomejs', 'biome', 'bin', 'biome'), 'ci', '--error-on-warnings', '.'], {
    stdio: 'inherit',
  });
  if (biome.status === 0) total.passed += 1;
  else total.failed += 1;
}

suites.forEach((suite, i) => {
  const globs = only.length
    ? only.filter((g) =>
        suite.globs.some((s) => g.startsWith(s.split('**')[0]) && !(suite.ignore ?? []).some((x) => g.startsWith(x.split('**')[0]))),
      )
    : suite.globs;
  if (globs.length === 0 || globs.every((g) => globSync(g, { exclude: suite.ignore ?? [] }).length === 0)) return;
  const summary = join(dir, `suite-${i}.json`);
  const args = [mocha, '--require', 'tsx/cjs', '--reporter', 'test/reporter.cjs', '--timeout', '60000', ...globs];
  for (const pattern of suite.ignore ?? []) args.push('--ignore', pattern);
  console.log(`== ${suite.name}`);
  // Each suite gets a temp folder of its own: whatever a test leaves there is a failure.
  const temp = join(dir, `tmp-${i}`);
  mkdirSync(temp);
  const run = spawnSync(process.execPath, args, { stdio: 'inherit', env: { ...process.env, KEYSLOT_TEST_SUMMARY: summary, TMPDIR: temp } });
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
  }
  if (run.status !== 0 && !existsSync(summary)) total.failed += 1;
});

rmSync(dir, { recursive: true, force: true });
console.log(`${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exitCode = total.failed === 0 ? 0 : 1;
