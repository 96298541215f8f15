import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { schemaVersion } from '../../src/cli/json.ts';
import { tempDirs } from '../fixtures/tempDirs.ts';
import { cliWith } from '../fixtures/cli.ts';
import { scenario, type Scenario } from './world.ts';

const temp = tempDirs();
afterEach(() => temp.cleanup());

/** A command line in-process; with a scenario, against its simulated world. */
const cli = (s: Scenario | undefined, argv: string[]) => cliWith(s ? { ports: async () => s.world.ports(s.checkout) } : {}, argv);

const lines = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, any>);

describe('cli: machine output', () => {
  it('every JSON document and line carries schemaVersion, and a step has the same number in the plan (text and JSON), the events (text and JSON) and the report', async () => {
    const plan = await cli(undefined, ['plan', '--stack', 'kubecost-thanos', '--credential', 'thanos-store', '--json']);
    assert.equal(plan.code, 0, plan.err);
    const [planDoc] = lines(plan.out);
    assert.equal(planDoc!.schemaVersion, schemaVersion);
    const planned = planDoc!.credentials[0].steps as Array<{ number: number; kind: string }>;
    assert.deepEqual(
      planned.map((s) => s.number),
      planned.map((_, i) => i + 1),
    );
    const planText = (await cli(undefined, ['plan', '--stack', 'kubecost-thanos', '--credential', 'thanos-store'])).out;
    for (const s of planned) assert.match(planText, new RegExp(`^\\s*${s.number}\\. ${s.kind} `, 'm'), planText);

    const s = await scenario('kubecost-thanos');
    const report = join(temp.make('keyslot-json-'), 'report.md');
    const json = await cli(s, [
      'rotate',
      '--stack',
      'kubecost-thanos',
      '--credential',
      'thanos-store',
      '--yes',
      '--json',
      '--report',
      report,
    ]);
    assert.equal(json.code, 0, json.err);
    const events = lines(json.out);
    assert.ok(events.every((e) => e.schemaVersion === schemaVersion));
    const finished = events.filter((e) => e.type === 'step-finished');
    // Stages pipeline (and a stage may finish once per phase), so steps finish out of order; each is numbered as the plan numbers it.
    assert.deepEqual(
      [...new Set(finished.map((e) => `${e.step} ${e.kind}`))].sort(),
      planned.map((p) => `${p.number} ${p.kind}`).sort(),
      'the events number each step as the plan does',
    );
    const md = readFileSync(report, 'utf8');
    for (const e of finished) assert.match(md, new RegExp(`^\\| ${e.step} \\| ${e.kind} \\|`, 'm'));

    const t = await scenario('kubecost-thanos');
    const text = await cli(t, ['rotate', '--stack', 'kubecost-thanos', '--credential', 'thanos-store', '--yes']);
    for (const e of finished) assert.match(text.out, new RegExp(`step ${e.step} ${e.kind} ${e.outcome}`));

    const status = await cli(t, ['status', '--stack', 'kubecost-thanos', '--json']);
    assert.equal(lines(status.out)[0]!.schemaVersion, schemaVersion);
    const drill = await cli(undefined, ['drill', '--stack', 'local', '--json']);
    const [drilled] = lines(drill.out);
    assert.equal(drilled!.schemaVersion, schemaVersion);
    assert.ok(
      (drilled!.events as Array<Record<string, unknown>>).some((e) => e.step === 1),
      'drill events are numbered from 1 too',
    );
  });
});
