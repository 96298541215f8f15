/**
 * The stage scheduler alone (src/driver/schedule.ts), with a recorded stage runner in place of the
 * stage executors: which cluster runs which stage when, on a simulated clock.
 */
import assert from 'node:assert/strict';
import { driverContext, type Run, type StageNode } from '../../src/driver/context.ts';
import type { StackLock } from '../../src/driver/lock.ts';
import { schedule, type StageRunner } from '../../src/driver/schedule.ts';
import { ConsumerNotReadyError } from '../../src/errors.ts';
import type { StageStep, WaveSpec } from '../../src/model/index.ts';
import type { DriverPorts } from '../../src/ports/index.ts';
import { SimClock } from '../../src/sim/clock.ts';

const clusters = ['c0', 'c1', 'c2', 'c3', 'c4'];
const lock: StackLock = { acquire: async () => {}, release: async () => {}, where: 'test' };

/** Two restart stages (b after a), on every cluster, owned by one rotation. */
function twoStages(): { nodes: StageNode[]; dependencies: number[][] } {
  const step = (stage: number, workload: string): StageStep =>
    ({ kind: 'restart', stage, namespace: 'apps', workload, clusters, timeoutSeconds: 600, optional: false }) as unknown as StageStep;
  const steps = [step(0, 'deployment/a'), step(1, 'deployment/b')];
  const run = { plan: { name: 'cred', mode: 'rotate', steps }, record: { id: 'r-1' }, unconfirmed: [] } as unknown as Run;
  return { nodes: steps.map((s, k) => ({ step: s, owners: [{ run, index: k }] })), dependencies: [[], [0]] };
}

/** Runs the schedule; each stage takes `ms(step, cluster)` of the clock; `fails` names a stage on a cluster that fails. */
async function play(options: {
  waves: WaveSpec;
  canary?: 'whole-rotation' | 'per-stage';
  fails?: string;
  ms?: (workload: string, cluster: string) => number;
}) {
  const clock = new SimClock('2026-11-24T00:00:00Z');
  const ports = { clock, journal: { append: async () => {} } } as unknown as DriverPorts;
  const ctx = driverContext(ports, {
    policyPacks: [],
    holder: 't',
    waves: options.waves,
    ...(options.canary ? { canary: options.canary } : {}),
  });
  const log: { what: string; start: number; end: number }[] = [];
  const runner: StageRunner = async (_ctx, owners, step, cluster) => {
    const what = `${(step as { workload: string }).workload.split('/')[1]}@${cluster}`;
    const start = clock.now().getTime();
    await clock.sleep(options.ms?.(what.split('@')[0]!, cluster!) ?? 1000);
    log.push({ what, start, end: clock.now().getTime() });
    if (what === options.fails)
      return owners.map(({ run, index }) => ({
        run,
        unconfirmed: { step: index, label: `restart ${what} on ${cluster}`, error: new ConsumerNotReadyError('crashes on the new key') },
      }));
    return [];
  };
  const { nodes, dependencies } = twoStages();
  const error = await schedule(ctx, nodes, dependencies, lock, true, runner).then(
    () => undefined,
    (e: unknown) => e,
  );
  return { log, error };
}

describe('driver: the stage scheduler', () => {
  it('runs the whole rotation on the canary before any other cluster is touched, then the rest in waves', async () => {
    const { log, error } = await play({ waves: [1, '40%', '100%'] });
    assert.equal(error, undefined);
    const canaryDone = Math.max(...log.filter((e) => e.what.endsWith('@c0')).map((e) => e.end));
    assert.deepEqual(
      log.filter((e) => !e.what.endsWith('@c0') && e.start < canaryDone),
      [],
      'nothing else started before the canary had run both stages',
    );
    // After the canary, 40 % of the fleet (c1) is the next wave: the rest start a stage only when it is done there.
    const a1 = log.find((e) => e.what === 'a@c1')!;
    for (const c of ['c2', 'c3', 'c4']) assert.ok(log.find((e) => e.what === `a@${c}`)!.start >= a1.end, c);
  });

  it('pipelines along each cluster: a stage starts on a cluster when the one before it is done there, not everywhere', async () => {
    // One wave; c3 is slow on the first stage.
    const { log } = await play({ waves: ['100%'], ms: (w, c) => (w === 'a' && c === 'c3' ? 9000 : 1000) });
    const b0 = log.find((e) => e.what === 'b@c0')!;
    const a3 = log.find((e) => e.what === 'a@c3')!;
    assert.ok(b0.start < a3.end, 'c0 went on while c3 was still restarting a');
    assert.ok(log.find((e) => e.what === 'b@c3')!.start >= a3.end);
  });

  it('a canary that fails stops the rotation with the rest of the fleet untouched', async () => {
    const { log, error } = await play({ waves: [1, '100%'], fails: 'b@c0' });
    assert.ok(error instanceof Error && /failed on c0/.test(error.message), String(error));
    assert.deepEqual(
      log.map((e) => e.what),
      ['a@c0', 'b@c0'],
    );
  });

  it("with --canary per-stage, each stage's later waves start while the canary's later stages are still running", async () => {
    const { log } = await play({ waves: [1, '100%'], canary: 'per-stage', ms: (w, c) => (w === 'b' && c === 'c0' ? 20_000 : 1000) });
    const b0 = log.find((e) => e.what === 'b@c0')!;
    assert.ok(
      log.some((e) => e.what.startsWith('a@') && !e.what.endsWith('@c0') && e.start < b0.end),
      'the fleet restarted a before the canary had finished b',
    );
  });
});
