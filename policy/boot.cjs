// The module Pulumi's policy host loads: `run-policy-pack` requires the pack folder, which
// resolves to this file through package.json `main`. The host always registers ts-node with
// type-checking for `.ts` files and ignores PulumiPolicy.yaml's runtime options (its nodeargs would
// land after the script, where they are not node options). Installed (under node_modules) the
// pack is precompiled: dist/pack.cjs, built by `npm pack`, so no preview or up compiles it. In a
// checkout it registers tsx and loads its TypeScript, exactly as `npm test` and the CLI do.
'use strict';
const { sep } = require('node:path');

if (__dirname.split(sep).includes('node_modules')) {
  require('./dist/pack.cjs');
} else {
  require('tsx/cjs/api').register();
  require('./index.ts');
}
