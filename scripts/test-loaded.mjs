// `npm run test:loaded [-- files]`: `npm test` with the machine fully loaded — one busy process per
// core running beside it the whole time (at normal priority, so the tests get no head start) —
// the way a shared CI runner or a developer's busy laptop runs it. The suite must pass here too;
// how long it took is the last line. Not part of `npm test`.
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

const hogs = Array.from({ length: availableParallelism() }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
const started = Date.now();
const test = spawn(process.execPath, [join(import.meta.dirname, 'test.mjs'), ...process.argv.slice(2)], { stdio: 'inherit' });
const stop = () => {
  for (const hog of hogs) hog.kill('SIGKILL');
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
test.on('close', (code) => {
  stop();
  console.log(`npm test beside ${hogs.length} busy process(es): ${((Date.now() - started) / 1000).toFixed(1)} s, exit ${code}`);
  process.exitCode = code ?? 1;
});
