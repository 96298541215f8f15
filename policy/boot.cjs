// The module Pulumi's policy host loads: `run-policy-pack` requires the pack folder, which
// resolves to this file through package.json `main`. The host always registers ts-node with
// type-checking for `.ts` files and ignores PulumiPolicy.yaml's runtime options (its nodeargs would
// land after the script, where they are not node options), so the pack registers tsx itself and
// loads its TypeScript through it, exactly as `npm test` and the CLI load it.
'use strict';
require('tsx/cjs/api').register();
require('./index.ts');
