import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { interruptedExitCode } from '../../src/adapters/probes/interrupt.ts';

/** Children of a process running `command`, by pid (Linux `ps`). */
function childrenOf(pid: number, command: string): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(pid)], { encoding: 'utf8' }).trim();
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([, comm]) => comm === command)
    .map(([p]) => Number(p));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('an interrupted keyslot (a pipeline cancel, Ctrl-C) leaves nothing behind', function () {
  this.timeout(60_000);

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} mid-exec: the command is stopped, the temporary kubeconfig removed, the lock released, exit ${interruptedExitCode[signal]}`, async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '..', 'fixtures', 'interruptible.ts')], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
      const path = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`not ready: ${out} ${err}`)), 30_000);
        child.stdout.on('data', () => {
          const m = /^ready (\S+)$/m.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
      });
      assert.ok(existsSync(path), 'the kubeconfig exists while the command runs');
      const sleepers = childrenOf(child.pid!, 'sleep');
      assert.equal(sleepers.length, 1, 'the exec command runs as a child');
      child.kill(signal);
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      assert.equal(code, interruptedExitCode[signal], err);
      assert.equal(existsSync(path), false, 'no file holding a cluster credential is left');
      assert.equal(alive(sleepers[0]!), false, 'the command does not outlive keyslot');
      assert.match(out, /lock released/);
      assert.match(err, new RegExp(`^keyslot: interrupted \\(${signal}\\): .*keyslot resume\\n$`));
    });
  }
});
