#!/usr/bin/env node
// The CLI is TypeScript; tsx compiles it on load so that no build step stands between a
// checkout and a working `npx keyslot`.
'use strict';
require('tsx/cjs');
const { runCli } = require('../src/cli/main.ts');
runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
