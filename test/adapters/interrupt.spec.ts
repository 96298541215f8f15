import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyProject } from '../fixtures/projectCopy.ts';
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

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} inside a pulumi up: the up is cancelled through the Automation API and finishes cancelling, then the lock is released; no backend lock, no pulumi left running`, async function () {
      this.timeout(120_000);
      const dir = mkdtempSync(join(tmpdir(), 'keyslot-cancel-'));
      try {
        copyProject(dir);
        const log = join(dir, 'invocations.jsonl');
        const state = join(dir, 'state.json');
        writeFileSync(log, '');
        const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '..', 'fixtures', 'interruptibleUp.ts'), dir], {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, FAKE_PULUMI_LOG: log, FAKE_PULUMI_STATE: state, FAKE_PULUMI_UP_DELAY_MS: '60000' },
        });
        let out = '';
        let err = '';
        child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
        child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
        const started = `${state}.up-started`;
        const deadline = Date.now() + 90_000;
        while (!existsSync(started)) {
          if (Date.now() > deadline || child.exitCode !== null) assert.fail(`the up never started: ${out} ${err}`);
          await new Promise((r) => setTimeout(r, 200));
        }
        const pids = JSON.parse(readFileSync(started, 'utf8')) as { engine: number; cli: number };
        assert.ok(existsSync(`${state}.lock`), 'the backend is locked while the up runs');
        child.kill(signal);
        const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
        assert.equal(code, interruptedExitCode[signal], err);
        assert.ok(readFileSync(log, 'utf8').includes('{"cancelled":"up"}'), 'pulumi was told to cancel and cancelled (no steps applied)');
        assert.equal(alive(pids.engine) || alive(pids.cli), false, 'no pulumi process outlives keyslot');
        assert.equal(existsSync(`${state}.lock`), false, "the backend's lock was released by pulumi itself");
        assert.match(out, /^lock free$/m, "keyslot's own lock was released after pulumi finished");
        assert.doesNotMatch(out, /rotation finished/);
        // The driver meets the cancelled up and would roll back: nothing more reaches the stack.
        const after = readFileSync(log, 'utf8').split('{"cancelled":"up"}')[1]!;
        assert.doesNotMatch(after, /"(up|preview|set|rm)"/, `nothing more was started after the interruption: ${after}`);
        assert.match(err, /keyslot: pulumi up of stack local cancelled/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
