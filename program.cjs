// The Pulumi program as an installed package serves it: a team's project requires this file from
// its own entry (`keyslot init` writes `index.js`: module.exports = require('keyslot/program.cjs')),
// so the language host runs the project's folder and finds the provider plugins in its
// node_modules. The program is TypeScript; tsx compiles it on load, as for the CLI.
'use strict';
require('tsx/cjs');
module.exports = require('./src/program/main.ts');
