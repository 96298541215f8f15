'use strict';
// Mocha's spec output, plus the closing line CI reads: "N passed, N failed, N skipped".
// With KEYSLOT_TEST_SUMMARY set, the counts are also written there as JSON so that
// scripts/test.mjs can add up several mocha processes into one closing line.
const fs = require('node:fs');
const Mocha = require('mocha');
const { Spec } = Mocha.reporters;
const { EVENT_RUN_END } = Mocha.Runner.constants;

class CountingReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const { passes = 0, failures = 0, pending = 0 } = runner.stats ?? {};
      const summary = { passed: passes, failed: failures, skipped: pending };
      if (process.env.KEYSLOT_TEST_SUMMARY) {
        fs.writeFileSync(process.env.KEYSLOT_TEST_SUMMARY, JSON.stringify(summary));
      } else {
        console.log(`${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`);
      }
    });
  }
}

module.exports = CountingReporter;
