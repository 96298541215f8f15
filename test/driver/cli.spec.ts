import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type Io } from '../../src/cli/main.ts';
import { ExitCode } from '../../src/errors.ts';
import { progressLines } from '../../src/cli/taskList.ts';
import { renderPlan } from '../../src/cli/renderPlan.ts';
import { loadStack } from '../../src/config/load.ts';
import { planRotation } from '../../src/model/planner.ts';
import { scenario, type Scenario } from './world.ts';
import { tempDirs } from '../fixtures/tempDirs.ts';

const temp = tempDirs();
afterEach(() => temp.cleanup());

async function cli(s: Scenario | undefined, argv: string[], io: Partial<Io> = {}) {
  let out = '';
  let err = '';
  const code = await runCli(argv, {
    out: (t) => (out += t),
    err: (t) => (err += t),
    interactive: false,
    ...(s ? { ports: async () => s.world.ports(s.checkout) } : {}),
    ...io,
  });
  return { code, out, err };
}

describe('cli: rotate, resume, rollback, status', () => {
  it('rotate --json prints one JSON event per line and exits 0', async () => {
    const s = await scenario('alwayson-cosmos');
    const { code, out, err } = await cli(s, ['rotate', '--stack', 'alwayson-cosmos', '--credential', 'cosmos', '--yes', '--json']);
    assert.equal(code, ExitCode.ok, err);
    const events = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(events[0].type, 'rotation-started');
    assert.equal(events.at(-1).type, 'rotation-finished');
    assert.equal(events.at(-1).outcome, 'rotated');
    assert.ok(events.some((e) => e.type === 'cluster-finished' && e.cluster === 'stamp-westeurope' && typeof e.durationMs === 'number'));
  });

  it('refuses to rotate without --yes when not on a TTY (exit 2), before anything looks for the Pulumi CLI', async () => {
    const s = await scenario('local');
    const { code, err } = await cli(s, ['rotate', '--stack', 'local', '--all']);
    assert.equal(code, ExitCode.badInput);
    assert.equal(
      err,
      'keyslot: refusing to rotate without --yes when not on a TTY; fix: pass --yes, or run it in a terminal to be asked\n',
    );
    // Without the simulated ports, opening the engine would need a Pulumi CLI; the refusal comes first.
    const real = await cli(undefined, ['rotate', '--stack', 'local', '--all']);
    assert.equal(real.code, ExitCode.badInput, real.err);
    assert.equal(
      real.err,
      'keyslot: refusing to rotate without --yes when not on a TTY; fix: pass --yes, or run it in a terminal to be asked\n',
    );
  });

  it('checks --report before any work (exit 2 naming the flag), and a report that cannot be written is a warning', async () => {
    const s = await scenario('local');
    const missing = join(tmpdir(), 'keyslot-no-such-folder', 'report.md');
    const refused = await cli(s, ['rotate', '--stack', 'local', '--all', '--yes', '--report', missing]);
    assert.equal(refused.code, ExitCode.badInput);
    assert.match(
      refused.err,
      /^keyslot: --report .*report\.md: the folder .*keyslot-no-such-folder does not exist or is not writable; create it or choose another path\n$/,
    );
    assert.equal(s.world.clusters.restarts.length, 0, 'nothing ran');
  });

  it('asks on a TTY after showing the plan, and a no exits with its own code (9) having changed nothing', async () => {
    const s = await scenario('local');
    const said: string[] = [];
    const { code, err } = await cli(s, ['rotate', '--stack', 'local', '--all'], {
      interactive: true,
      out: (t) => said.push(t),
      confirm: async (question) => {
        said.push(`? ${question}`);
        return false;
      },
    });
    assert.equal(code, ExitCode.declined);
    assert.equal(err, 'keyslot: rotate declined at the prompt; nothing was changed\n');
    // What would happen, as `keyslot plan` prints it, then the question about it.
    assert.deepEqual(said, [renderPlan(planRotation(loadStack('local'), ['demo'])), '? rotate demo in stack local?']);
    assert.equal(s.world.clusters.restarts.length, 0);
    assert.equal(s.world.backend.ups.length, 1, 'only the up that deployed the stack before the test');
  });

  it('a yes on a TTY also sees the plan first, then the rotation runs', async () => {
    const s = await scenario('local');
    let out = '';
    const { code, err } = await cli(s, ['rotate', '--stack', 'local', '--all'], {
      interactive: true,
      out: (t) => (out += t),
      confirm: async () => true,
      taskRenderer: 'silent',
    });
    assert.equal(code, ExitCode.ok, err);
    assert.ok(out.startsWith(renderPlan(planRotation(loadStack('local'), ['demo']))), out);
  });

  it('by default rotates only credentials that are due', async () => {
    const s = await scenario('alwayson-cosmos');
    const none = await cli(s, ['rotate', '--stack', 'alwayson-cosmos', '--yes']);
    assert.match(none.out, /no credential is due/);
    // Both keys date from 2026-09-15: past 80 % of the 180-day limit, not past the limit.
    s.world.clock.advance(80 * 86_400_000);
    const due = await cli(s, ['rotate', '--stack', 'alwayson-cosmos', '--yes']);
    assert.equal(due.code, ExitCode.ok, due.err);
    assert.match(due.out, /cosmos rotated r-/);
  });

  it('refuses before any change (exit 8) when the pack would block the rotation: both keys past the limit', async () => {
    // One rotation cannot cure both slots of a dual credential: it moves onto the other expired key.
    const s = await scenario('alwayson-cosmos');
    s.world.clock.advance(150 * 86_400_000);
    const refused = await cli(s, ['rotate', '--stack', 'alwayson-cosmos', '--yes']);
    assert.equal(refused.code, ExitCode.refused);
    assert.match(
      refused.err,
      /^keyslot: refused before any change: policy max-key-age \(mandatory\): credential cosmos: slot secondary .* over the 180-day limit.*--no-policy/,
    );
    assert.equal(refused.err.trim().split('\n').length, 1);
    assert.equal(s.world.clusters.restarts.length, 0);
  });

  it('--policy-pack-config reaches the pack at every preview and up: lowering max-key-age to advisory lets the same rotation through; a bad file is exit 2 naming the flag', async () => {
    const s = await scenario('alwayson-cosmos');
    s.world.clock.advance(150 * 86_400_000);
    const config = join(temp.make('keyslot-pack-'), 'pack.json');
    writeFileSync(config, JSON.stringify({ 'max-key-age': { enforcementLevel: 'advisory', maxAgeDays: 30 } }));
    const passed = await cli(s, ['rotate', '--stack', 'alwayson-cosmos', '--yes', '--policy-pack-config', config]);
    assert.equal(passed.code, ExitCode.ok, passed.err);
    assert.match(passed.out, /policy max-key-age \(advisory\)/);
    assert.ok(s.world.backend.runs.filter((r) => r.kind === 'up').length >= 2);
    for (const [args, why] of [
      [
        ['--policy-pack-config', join(temp.make('keyslot-pack-'), 'missing.json')],
        /--policy-pack-config .*missing\.json: no readable file there/,
      ],
      [['--policy-pack-config', config, '--no-policy'], /--policy-pack-config configures the pack that --no-policy leaves out/],
    ] as const) {
      const refused = await cli(s, ['rotate', '--stack', 'alwayson-cosmos', '--yes', ...args]);
      assert.equal(refused.code, ExitCode.badInput, refused.err);
      assert.match(refused.err, why);
      assert.equal(refused.err.trim().split('\n').length, 1);
    }
  });

  it('exits 3 after a rollback, and writes the Markdown report with the reason', async () => {
    const s = await scenario('kubecost-thanos');
    s.world.fleet.cluster('primary').workload('kubecost', 'deployment', 'kubecost-thanos-store')!.failRollout = true;
    const report = join(temp.make('keyslot-report-'), 'summary.md');
    const { code, err } = await cli(s, ['rotate', '-s', 'kubecost-thanos', '-c', 'thanos-store', '--yes', '--report', report]);
    assert.equal(code, ExitCode.rolledBack);
    assert.match(err, /^keyslot: rotation r-\S+ of thanos-store rolled back: .*ProgressDeadlineExceeded/);
    const md = readFileSync(report, 'utf8');
    assert.match(md, /## thanos-store: rolled-back/);
    assert.match(md, /\| 5 \| restart \| primary failed \|/);
    // Worded by what happened: the rollback's flip is the rollback's, not a "step 0".
    assert.match(md, /\| rollback \| flip \|/);
    assert.doesNotMatch(md, /\| 0 \||emergency rotation went past/);
    if (/Consumers not confirmed/.test(md)) assert.match(md, /the rotation was rolled back because of them/);
  });

  it('exits 7 when too soon, 5 for a rotation in flight, 4 when locked', async () => {
    const s = await scenario('kubecost-thanos');
    const ports = s.world.ports(s.checkout);
    const same = { ports: async () => ports };
    const argv = ['rotate', '-s', 'kubecost-thanos', '--all', '--yes'];
    assert.equal((await cli(undefined, argv, same)).code, ExitCode.ok);
    const soon = await cli(undefined, argv, same);
    assert.equal(soon.code, ExitCode.tooSoon);
    assert.match(soon.err, /--force/);

    await s.world.clusters.acquireLease('primary', {
      name: 'keyslot-rotation-kubecost-thanos',
      holder: 'ci@other',
      ttlSeconds: 600,
      now: s.world.clock.now(),
    });
    const locked = await cli(undefined, [...argv, '--force'], same);
    assert.equal(locked.code, ExitCode.locked);
    assert.match(locked.err, /locked by ci@other/);

    const t = await scenario('kubecost-thanos');
    const inFlight = t.world.ports(t.checkout);
    const record = { id: 'r-20261125t000000z-abcd', startedAt: '2026-11-25T00:00:00Z', from: 'primary', to: 'secondary', mode: 'rotate' };
    for (const [k, v] of Object.entries(record)) await inFlight.engine.setConfig(`rotations.thanos-store.${k}`, v);
    for (const [slot, g] of [
      ['primary', '1'],
      ['secondary', '2'],
    ])
      await inFlight.engine.setConfig(`rotations.thanos-store.generations.${slot}`, g!);
    await inFlight.engine.up({ policyPacks: [] });
    const busy = await cli(undefined, argv, { ports: async () => t.world.ports(t.checkout) });
    assert.equal(busy.code, ExitCode.inFlight);
    assert.match(busy.err, /keyslot resume --stack kubecost-thanos --credential thanos-store/);
    const resumed = await cli(undefined, ['resume', '-s', 'kubecost-thanos', '-c', 'thanos-store', '--yes'], {
      ports: async () => t.world.ports(t.checkout),
    });
    assert.equal(resumed.code, ExitCode.ok, resumed.err);
    assert.match(resumed.out, /resuming rotate r-20261125t000000z-abcd/);
  });

  it('status shows slots, ages, the due date and the last rotation', async () => {
    const s = await scenario('alwayson-cosmos');
    const { code, out } = await cli(s, ['status', '--stack', 'alwayson-cosmos']);
    assert.equal(code, ExitCode.ok);
    assert.match(out, /credential cosmos \(dual\): active primary, fresh, due 2027-02-06/);
    assert.match(out, /primary +generation 1 +71 days old, fresh, limit 2027-03-14/);
  });

  it('rotate with nothing due still catches a checkout up to the deployed stack (a run whose commit never landed)', async () => {
    const s = await scenario('local');
    // Rotated from another checkout (another agent), whose commit never reached this one.
    await s.driver(structuredClone(s.checkout)).driver.rotate('demo');
    const ports = s.world.ports(s.checkout);
    const same = { ports: async () => ports };
    const { code, out } = await cli(undefined, ['rotate', '--stack', 'local', '--yes'], same);
    assert.equal(code, ExitCode.ok);
    assert.match(out, /no credential is due/);
    assert.match(out, /the checkout was behind the deployed stack for demo; adopted it/);
    assert.equal((ports.engine.checkout() as any).slots.demo, 'secondary');
    const again = await cli(undefined, ['rotate', '--stack', 'local', '--yes'], same);
    assert.doesNotMatch(again.out, /adopted/);
  });

  it('says in one line that the Pulumi CLI is missing (exit 6)', async () => {
    const { code, err } = await cli(undefined, ['status', '--stack', 'local'], { ports: undefined });
    assert.equal(code, ExitCode.pulumiMissing, err);
    assert.equal(err.split('\n').filter(Boolean).length, 1);
    assert.match(err, /install the Pulumi CLI/);
  });
});

describe('cli: no secret value reaches any output', () => {
  it('stdout, stderr, JSON events, the report and the journal hold no key value', async () => {
    const outputs: string[] = [];
    for (const [stack, cred, extra] of [
      ['alwayson-cosmos', 'cosmos', []],
      ['kubecost-thanos', 'thanos-store', ['--json']],
      ['kops-service-account', 'service-account', []],
      ['local', 'demo', ['--emergency']],
    ] as const) {
      const s = await scenario(stack);
      const report = join(temp.make('keyslot-report-'), 'r.md');
      const run = await cli(s, ['rotate', '-s', stack, '-c', cred, '--yes', '--report', report, ...extra]);
      assert.equal(run.code, ExitCode.ok, run.err);
      const status = await cli(s, ['status', '-s', stack, '--json']);
      const texts = [run.out, run.err, status.out, readFileSync(report, 'utf8'), JSON.stringify(s.world.journal.entries)];
      // kOps keeps its keys: keyslot sees only keypair ids and, reading the cluster, token headers.
      if (stack !== 'kops-service-account') assert.ok(s.world.cloud.issued.length > 0);
      for (const token of s.world.cloud.issued) for (const text of texts) assert.ok(!text.includes(token), `${stack}: ${token} leaked`);
      for (const text of texts) assert.doesNotMatch(text, /sim:[a-z]/, `${stack}: a key token leaked`);
      for (const text of texts) assert.doesNotMatch(text, /eyJ[A-Za-z0-9_-]{8,}\./, `${stack}: a service-account token leaked`);
      outputs.push(...texts);
    }
    assert.ok(outputs.join('').length > 1000, 'there was output to check');
  });
});

describe('cli: the live task list on a TTY', () => {
  it('rotates through the task list and still writes the report', async () => {
    const s = await scenario('alwayson-cosmos');
    const report = join(temp.make('keyslot-report-'), 'r.md');
    const { code, err } = await cli(s, ['rotate', '-s', 'alwayson-cosmos', '--all', '--report', report], {
      interactive: true,
      confirm: async () => true,
      taskRenderer: 'silent',
    });
    assert.equal(code, ExitCode.ok, err);
    assert.match(readFileSync(report, 'utf8'), /## cosmos: rotated/);
  });

  it("shows each step with its clusters' progress", () => {
    const at = '2026-11-24T00:00:00Z';
    const base = { at, credential: 'c', rotationId: 'r-1' };
    const lines = progressLines([
      { ...base, type: 'step-started', step: 3, kind: 'restart', clusters: ['eu', 'us'] },
      { ...base, type: 'cluster-finished', step: 3, kind: 'restart', cluster: 'eu', outcome: 'done', durationMs: 1 },
    ]);
    assert.deepEqual(lines, ['4. restart eu ✔ us …']);
    const done = progressLines([
      { ...base, type: 'step-started', step: 3, kind: 'restart', clusters: ['eu', 'us'] },
      { ...base, type: 'cluster-finished', step: 3, kind: 'restart', cluster: 'eu', outcome: 'done', durationMs: 1 },
      { ...base, type: 'cluster-finished', step: 3, kind: 'restart', cluster: 'us', outcome: 'failed', durationMs: 1 },
      { ...base, type: 'step-finished', step: 3, kind: 'restart', outcome: 'failed', durationMs: 2, detail: '1 cluster(s) unconfirmed' },
    ]);
    assert.deepEqual(done, ['4. restart eu ✔ us ✖ ✖ 1 cluster(s) unconfirmed']);
  });
});
