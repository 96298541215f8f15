// `npm run mutation [-- module ...]`: StrykerJS over the safety core, one module at a time, each
// with the tests that judge it; the scores go to bench/MUTATION.md (module, score, killed,
// survived, timeouts, no coverage, the date and commit). Modules are named as in the table below.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
/** The safety core: each module and the test files that judge it (unit suites only: one mocha process). */
export const modules = {
  'src/model/lease.ts': ['test/model/lease.spec.ts'],
  'src/model/lifecycle.ts': ['test/model/lifecycle.spec.ts'],
  'src/model/rollout.ts': ['test/model/rollout.spec.ts'],
  'src/model/redact.ts': ['test/model/redact.spec.ts'],
  'src/model/csi.ts': ['test/model/csi.spec.ts'],
  'src/model/kops.ts': ['test/model/kops.spec.ts'],
  'src/model/ages.ts': ['test/model/ages.spec.ts', 'test/policy/policies.spec.ts'],
  'src/model/waves.ts': ['test/model/waves.spec.ts', 'test/driver/schedule.spec.ts'],
  'src/model/canary.ts': ['test/model/waves.spec.ts', 'test/driver/schedule.spec.ts'],
  // The planner's dependencies between stages (stageDependencies, sameClusters), not the whole planner.
  'src/model/planner.ts:71-91': ['test/model/planner.spec.ts', 'test/driver/schedule.spec.ts'],
  'src/driver/lock.ts': ['test/driver/lock.spec.ts'],
  // The drill's invariants and canary judge (judgeRun, deadKeyHolders, canaryHeld); its wave bound
  // above them is judged by the drill's own tests.
  'src/drill/judges.ts:113-275': ['test/drill/judges.spec.ts'],
  'src/adapters/engine/transcripts.ts': ['test/adapters/engine/transcripts.spec.ts'],
  'policy/policies/*.ts': ['test/policy/policies.spec.ts'],
  // The least-privilege catalogue: what each stack's rotations need, per identity (and the README's table).
  'src/model/permissions.ts': ['test/model/permissions.spec.ts', 'test/cli/permissions.spec.ts'],
};

/**
 * Surviving mutants judged equivalent (no test can tell them apart from the code), by module:
 * where (line:column), the mutator, and why. They count as such in bench/MUTATION.md.
 */
export const equivalents = {
  'src/model/kops.ts': [
    {
      at: '71:50',
      mutator: 'ConditionalExpression',
      why: 'a JSON item that is not an object (a number, a string) has no `name` equal to the keyset either, so it is dropped all the same',
    },
    {
      at: '167:11',
      mutator: 'BlockStatement',
      why: 'an empty catch falls through to the end of the function, which returns undefined: what the catch returns',
    },
  ],
  'src/model/permissions.ts': [
    {
      at: '269:55',
      mutator: 'ArrayDeclaration',
      why: 'a restart or verify-logs stage names a workload or firstExisting (the stack schema), so the fallback list is never read',
    },
    {
      at: '294:23',
      mutator: 'ConditionalExpression',
      why: 'a cluster-wide grant then carries namespace: undefined instead of no namespace; every reader asks g.namespace, undefined either way',
    },
    {
      at: '304:46',
      mutator: 'ArrayDeclaration',
      why: 'every plan starts with a preflight step, so the fallback for a plan without one is never read',
    },
    {
      at: '310:11',
      mutator: 'ConditionalExpression',
      why: 'the rotate plan is always among the plans judged and asks for the JWKS; a disruptive plan adding it again merges into that grant',
    },
    {
      at: '311:11',
      mutator: 'ConditionalExpression',
      why: 'the rotate plan is always among the plans judged and carries the token check; a disruptive plan adding its grants again merges into them',
    },
    {
      at: '341:49',
      mutator: 'ConditionalExpression',
      why: 'a vault delivery without clusters selects none (model/clusters.ts selects), so skipping it early or not yields no grant',
    },
    { at: '421:23', mutator: 'ArrayDeclaration', why: 'a rule without nonResourceURLs always names resources: the fallback is never read' },
    {
      at: '425:94',
      mutator: 'ArrayDeclaration',
      why: "covers calls within only with the narrower rule's lists defined: URL rules are judged before, and a resource rule always has groups, resources and verbs",
    },
    {
      at: '425:117',
      mutator: 'ArrayDeclaration',
      why: 'the broader rule lacks groups or resources only when it is a URL rule, which covers judges before it asks within about them',
    },
    {
      at: '471:7',
      mutator: 'ConditionalExpression',
      why: "`exec` and `verify-http` share the case's empty body: dropping one label falls to the other, which adds nothing either",
    },
    {
      at: '500:109',
      mutator: 'ArrayDeclaration',
      why: 'two grants merge only when both name objects or neither does (the check above), so a merged named rule never meets an unnamed one',
    },
    {
      at: '566:25',
      mutator: 'MethodExpression',
      why: 'a step that is not a stage is never of kind wait-secret-sync, which the next line asks, so the filter removes nothing it keeps',
    },
  ],
  'policy/policies/*.ts': [
    {
      at: 'common.ts:53:33',
      mutator: 'StringLiteral',
      why: 'the fallback for a URN without a type part, which Pulumi never makes; any text there names no keyslot Credential either',
    },
    {
      at: 'keyRotationDue.ts:32:91',
      mutator: 'ArithmeticOperator',
      why: "the fallback when duePercent is unset never runs: Pulumi fills a policy's config from its schema default (80) before the pack sees it",
    },
    {
      at: 'trustBundleComplete.ts:17:25',
      mutator: 'MethodExpression',
      why: 'without the filter an empty entry reads as generation 0, and generations start at 1 (the stack schema), so it matches none',
    },
    {
      at: 'secretsStaySecret.ts:33:21',
      mutator: 'ConditionalExpression',
      why: 'the only other truthy values in props are numbers and booleans, and Object.entries of those is empty',
    },
    {
      at: 'secretsStaySecret.ts:54:123',
      mutator: 'ArrayDeclaration',
      why: "a value without key-like tokens then contributes Stryker's own marker text, which only a test planting that text could find",
    },
    {
      at: 'secretsStaySecret.ts:54:129',
      mutator: 'ArrayDeclaration',
      why: 'the same, for a value that is not a string',
    },
    {
      at: 'secretsStaySecret.ts:66:65',
      mutator: 'ArrayDeclaration',
      why: 'the set of marked outputs is only asked about data, stringData, properties and secretString, never the added entry',
    },
  ],
  'src/drill/judges.ts:113-275': [
    {
      at: '123:7',
      mutator: 'ConditionalExpression',
      why: "a first wave of 100% holds every cluster, so the general rule confirms nothing and breaks nothing: the early return's answer",
    },
    {
      at: '222:85',
      mutator: 'StringLiteral',
      why: 'consumers are counted as distinct keys once the batch is cut off; replacing it with any constant text counts the same',
    },
  ],
  'src/model/waves.ts': [
    {
      at: '66:34',
      mutator: 'ArithmeticOperator',
      why: '`a.i + b.i` as the tie-break: Array.prototype.sort is stable (ECMAScript 2019), so clusters of equal weight keep their declared order whatever the tie-break says',
    },
    {
      at: '58:20',
      mutator: 'ConditionalExpression',
      why: 'an empty replicas map weighs every cluster 0, and a stable sort of equal weights is the declared order the early return gives',
    },
    {
      at: '43:19',
      mutator: 'EqualityOperator',
      why: '`i <= spec.length` reads one entry past the end: undefined is never of the same kind as the wave before it, so no error is made of it',
    },
  ],
  'src/model/canary.ts': [
    {
      at: '59:5',
      mutator: 'CallExpression',
      why: "without the memo each stage's kept dependencies are worked out again on every visit; the graph is acyclic, so the answer is the same (only slower)",
    },
  ],
  'src/model/rollout.ts': [
    {
      at: '38:36',
      mutator: 'StringLiteral',
      why: "the fallback for an object without metadata.name: the API server never returns one (ObjectMeta's name is required), so no message ever carries it",
    },
    {
      at: '96:46',
      mutator: 'StringLiteral',
      why: 'the same fallback, in the blocker message',
    },
  ],
  'src/model/redact.ts': [
    {
      at: '24:49',
      mutator: 'StringLiteral',
      why: "the hex shape's mask: every run of 32 hex digits is also a run of 32 base64 characters, masked by the shape before it",
    },
  ],
  'src/model/lease.ts': [
    {
      at: '67:27',
      mutator: 'OptionalChaining',
      why: '`current?.acquireTime` after `taken ||`: with no current record `taken` is true, so the right side is never read',
    },
  ],
};

// `--report`: only rewrite bench/MUTATION.md from the scores kept in reports/.
const reportOnly = process.argv.includes('--report');
/** What a module's row needs said beside its numbers (a report older than the module's tests, say). */
export const rowNotes = {
  'src/model/planner.ts:71-91': "the planner's dependencies between stages only (stageDependencies, sameClusters)",
  'src/drill/judges.ts:113-275': "the drill's invariants and canary judge (its wave bound above them is the drill tests' to judge)",
};

const asked = process.argv.slice(2).filter((a) => a !== '--report');

/** A module's counts from its last Stryker JSON report, or undefined when it has none. */
function scoreOf(module, commit) {
  const report = join(root, 'reports', 'mutation', `${module.replace(/[^a-z0-9]+/gi, '-')}.json`);
  if (!existsSync(report)) return undefined;
  const files = JSON.parse(readFileSync(report, 'utf8')).files;
  const count = { Killed: 0, Survived: 0, Timeout: 0, NoCoverage: 0, CompileError: 0, RuntimeError: 0, Ignored: 0 };
  // Where each survivor is: `line:column`, or `file:line:column` for a module of several files
  // (how `equivalents` names them), so that a row counts only the equivalents that did survive.
  const survivors = [];
  const several = Object.keys(files).length > 1;
  for (const [file, f] of Object.entries(files))
    for (const m of f.mutants) {
      count[m.status] = (count[m.status] ?? 0) + 1;
      if (m.status === 'Survived' || m.status === 'NoCoverage')
        survivors.push(
          `${several ? `${file.split('/').at(-1)}:` : ''}${m.location.start.line}:${m.location.start.column} ${m.mutatorName}`,
        );
    }
  const detected = count.Killed + count.Timeout;
  const valid = detected + count.Survived + count.NoCoverage;
  return { score: valid ? (100 * detected) / valid : 100, ...count, survivors, date: new Date().toISOString().slice(0, 10), commit };
}
const chosen = reportOnly ? [] : asked.length ? asked : Object.keys(modules);
const unknown = chosen.filter((m) => !(m in modules));
if (unknown.length) {
  console.error(`mutation: no such module ${unknown.join(', ')}; use one of ${Object.keys(modules).join(', ')}`);
  process.exit(2);
}
mkdirSync(join(root, 'reports'), { recursive: true });
// The scores are committed beside bench/MUTATION.md, so a run of some modules keeps the others' rows.
const scoresFile = join(root, 'bench', 'mutation-scores.json');
const scores = existsSync(scoresFile) ? JSON.parse(readFileSync(scoresFile, 'utf8')) : {};
const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim();
let failed = false;
for (const module of chosen) {
  const name = module.replace(/[^a-z0-9]+/gi, '-');
  // The module, its tests (loaded through tsx as npm test loads them) and its own incremental file.
  const config = join(root, 'reports', `stryker-${name}.config.mjs`);
  // The TypeScript checker type-checks the module and what it imports, not the whole project: a
  // check is then about a second instead of eleven (the provider SDKs' typings dominate a full
  // one). A mutant that breaks only an importer's types is left to the tests. The file sits at the
  // root so that Stryker's sandbox copy has it; it is git-ignored.
  const file = module.replace(/:\d+-\d+$/, '');
  writeFileSync(
    join(root, 'tsconfig.mutation.json'),
    `${JSON.stringify({ extends: './tsconfig.json', compilerOptions: { types: ['node'] }, files: [], include: [file] }, null, 2)}\n`,
  );
  writeFileSync(
    config,
    [
      "import base from '../stryker.config.mjs';",
      `export default { ...base, tsconfigFile: 'tsconfig.mutation.json', mutate: [${JSON.stringify(module)}], commandRunner: { command: ${JSON.stringify(`node node_modules/mocha/bin/mocha.js --require tsx/cjs --reporter dot --timeout 15000 ${modules[module].join(' ')}`)} },`,
      `  incrementalFile: 'reports/stryker-incremental-${name}.json', jsonReporter: { fileName: 'reports/mutation/${name}.json' } };`,
      '',
    ].join('\n'),
  );
  const stryker = join(root, 'node_modules', '@stryker-mutator', 'core', 'bin', 'stryker.js');
  const run = spawnSync(process.execPath, [stryker, 'run', config], { cwd: root, stdio: 'inherit' });
  if (run.status !== 0) failed = true;
  const score = scoreOf(module, commit);
  if (score) scores[module] = score;
}
// With --report, a module's last Stryker report (kept in reports/mutation/) is read again too.
if (reportOnly)
  for (const module of Object.keys(modules)) {
    const score = scoreOf(module, scores[module]?.commit ?? commit);
    if (score) scores[module] = { ...score, date: scores[module]?.date ?? score.date };
  }
writeFileSync(scoresFile, `${JSON.stringify(scores, null, 2)}\n`);

// bench/MUTATION.md: the scores of every module run so far, equivalent survivors discounted.
/** A module's survivors recorded as equivalent, and the ones not (yet) killed nor recorded. */
const judged = (module, s) => {
  const recorded = new Set((equivalents[module] ?? []).map((e) => `${e.at} ${e.mutator}`));
  const all = s.survivors ?? [];
  return { equivalent: all.filter((x) => recorded.has(x)).length, open: all.filter((x) => !recorded.has(x)) };
};
const rows = Object.entries(scores).map(([module, s]) => {
  const { equivalent } = judged(module, s);
  const detected = s.Killed + s.Timeout;
  const valid = detected + s.Survived + s.NoCoverage - equivalent;
  const score = valid ? (100 * detected) / valid : 100;
  return `| \`${module}\` | ${score.toFixed(1)} % | ${s.score.toFixed(1)} % | ${s.Killed} | ${s.Timeout} | ${s.Survived} | ${equivalent} | ${s.NoCoverage} | ${s.CompileError} | ${s.date} | ${s.commit} |`;
});
const openList = Object.entries(scores).flatMap(([module, s]) => judged(module, s).open.map((x) => `- \`${module}\` ${x}`));
const equivalentList = Object.entries(equivalents).flatMap(([module, list]) =>
  list.map((e) => `- \`${module}:${e.at}\` ${e.mutator}: ${e.why}`),
);
writeFileSync(
  join(root, 'bench', 'MUTATION.md'),
  [
    '# Mutation scores of the safety core',
    '',
    'Written by `npm run mutation` (StrykerJS 10 with the TypeScript checker; each module against the tests that judge it,',
    'listed in scripts/mutation.mjs). Score: killed and timed-out mutants over all that compile, survivors recorded as',
    'equivalent (below) left out; the raw score counts them. Compile errors are mutants the TypeScript checker rejected.',
    '',
    '| module | score | raw score | killed | timeout | survived | of which equivalent | no coverage | compile errors | date | commit |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    '## Notes',
    '',
    ...Object.entries(rowNotes).map(([module, note]) => `- \`${module}\`: ${note}.`),
    '',
    '## Survivors judged equivalent',
    '',
    ...equivalentList,
    '',
    '## Survivors neither killed nor judged equivalent',
    '',
    ...(openList.length ? openList : ['None.']),
    '',
  ].join('\n'),
);
process.exitCode = failed ? 1 : 0;
