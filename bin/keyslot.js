#!/usr/bin/env node
// The CLI is TypeScript; tsx compiles it on load so that no build step stands between a
// checkout and a working `npx keyslot`.
'use strict';
const { nodeTooOld } = require('./nodeVersion.cjs');
const tooOld = nodeTooOld(process.version, require('../package.json').engines.node);
if (tooOld) {
  process.stderr.write(`${tooOld}\n`);
  process.exit(2);
}
require('tsx/cjs');
const { installInterruptHandlers } = require('../src/adapters/probes/interrupt.ts');
const { runCli } = require('../src/cli/main.ts');
// A pipeline's cancel (SIGTERM) or Ctrl-C: stop children, remove temporary credentials, release the lock.
installInterruptHandlers();
runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
