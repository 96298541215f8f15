'use strict';
// Mocha's spec output, plus the closing line CI reads: "N passed, N failed, N skipped".
// With KEYSLOT_TEST_SUMMARY set, the counts are also written there as JSON so that
// scripts/test.mjs can add up several mocha processes into one closing line, together with the
// tests that came closest to their timeout (a test past a third of it is one a loaded machine can
// fail: scripts/test.mjs names them).
const fs = require('node:fs');
const Mocha = require('mocha');
const { Spec } = Mocha.reporters;
const { EVENT_RUN_END, EVENT_TEST_PASS } = Mocha.Runner.constants;

class CountingReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    const closest = [];
    runner.on(EVENT_TEST_PASS, (test) => {
      const timeout = test.timeout();
      if (timeout > 0 && test.duration !== undefined)
        closest.push({ title: test.fullTitle(), durationMs: test.duration, timeoutMs: timeout });
    });
    runner.once(EVENT_RUN_END, () => {
      const { passes = 0, failures = 0, pending = 0 } = runner.stats ?? {};
      const summary = { passed: passes, failed: failures, skipped: pending };
      if (process.env.KEYSLOT_TEST_SUMMARY) {
        closest.sort((a, b) => b.durationMs / b.timeoutMs - a.durationMs / a.timeoutMs);
        fs.writeFileSync(process.env.KEYSLOT_TEST_SUMMARY, JSON.stringify({ ...summary, closest: closest.slice(0, 5) }));
      } else {
        console.log(`${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`);
      }
    });
  }
}

module.exports = CountingReporter;
