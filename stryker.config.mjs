// Mutation testing of keyslot's safety core (`npm run mutation`; not part of `npm test`). One run
// per module (scripts/mutation.mjs picks the module and the tests that judge it), so a run fits
// this two-core machine: the TypeScript checker drops mutants that do not compile, and incremental
// results kept in reports/ let a second run redo only what changed. Tests run through Stryker's
// command runner (mocha with tsx, the module's spec files): @stryker-mutator/mocha-runner 10.1.1
// cannot load Mocha 12, whose CLI internals became .cjs files (stryker-mutator/stryker-js#6205, open).
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'command',
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  coverageAnalysis: 'off',
  concurrency: 2,
  timeoutMS: 20000,
  reporters: ['clear-text', 'json', 'progress-append-only'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
