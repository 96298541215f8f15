// `npm pack` (prepack): compiles the policy pack into one CommonJS file, policy/dist/pack.cjs, so
// that Pulumi's policy host starts the installed pack without compiling TypeScript on every
// preview and up. Its dependencies stay outside (the host must share @pulumi/policy and
// @pulumi/pulumi with it); only keyslot's own modules are bundled. `--clean` (postpack) removes the
// file again: in this repository the pack runs from its TypeScript (policy/boot.cjs). `--out FILE`
// writes the build there instead (the tests' project copies boot the pack precompiled, as installed).
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const root = join(import.meta.dirname, '..');
const out = join(root, 'policy', 'dist');
const outAt = process.argv.indexOf('--out');
if (process.argv.includes('--clean')) {
  rmSync(out, { recursive: true, force: true });
} else {
  await build({
    entryPoints: [join(root, 'policy', 'index.ts')],
    outfile: outAt > 0 ? process.argv[outAt + 1] : join(out, 'pack.cjs'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node22',
    packages: 'external',
    logLevel: 'warning',
  });
}
