import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as YAML from 'yaml';
const { parse } = YAML;
import { LocalWorkspaceEngine, stripColorTags } from '../../src/adapters/engine/localWorkspace.ts';
import { loadStack } from '../../src/config/load.ts';
import { Driver } from '../../src/driver/index.ts';
import { buildWorld } from '../../src/sim/world.ts';
import { copyProject } from '../fixtures/projectCopy.ts';
import { EngineError, exitCodeFor, PolicyViolationError, PulumiCliMissingError } from '../../src/errors.ts';

const fakeRoot = join(__dirname, '..', 'fixtures', 'fake-pulumi');

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A copy of the project (test/fixtures/projectCopy.ts) and a fresh invocation log. */
function workspace() {
  const dir = mkdtempSync(join(tmpdir(), 'keyslot-lw-'));
  made.push(dir);
  copyProject(dir);
  const log = join(dir, 'invocations.jsonl');
  writeFileSync(log, '');
  process.env.FAKE_PULUMI_LOG = log;
  process.env.FAKE_PULUMI_STATE = join(dir, 'state.json');
  delete process.env.FAKE_PULUMI_FAIL;
  const invocations = () =>
    readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { argv: string[] }).argv);
  return { dir, invocations };
}

describe('engine adapter: LocalWorkspace against a fake pulumi CLI', () => {
  it('selects the stack in the project folder, sets --path config, runs up with the policy pack, reads outputs', async () => {
    const { dir, invocations } = workspace();
    const engine = await LocalWorkspaceEngine.open({ stack: 'local', workDir: dir, pulumiRoot: fakeRoot });
    // The first up creates the stack: the real program, answered by the simulated providers, judged by the real pack.
    const first = await engine.up({ policyPacks: ['policy'] });
    assert.equal(first.changes.create, 9, JSON.stringify(first.changes));
    await engine.setConfig('slots.demo', 'secondary');
    const events: string[] = [];
    const result = await engine.up({ policyPacks: ['policy'], onEvent: (e) => events.push(e.message) });
    const deployed = await engine.deployed();

    const calls = invocations().filter((a) => a[0] !== 'version' && !(a[0] === 'stack' && a[1] === 'history'));
    const select = calls.findIndex((a) => a[0] === 'stack' && a[1] === 'select');
    const set = calls.findIndex((a) => a[0] === 'config' && a[1] === 'set');
    const up = calls.findLastIndex((a) => a[0] === 'up');
    const output = calls.findIndex((a, i) => i > up && a[0] === 'stack' && a[1] === 'output');
    assert.ok(select >= 0 && select < set && set < up && up < output, JSON.stringify(calls));
    assert.deepEqual(
      calls[set]!.filter((a) => !a.startsWith('--non-interactive')),
      ['config', 'set', '--path', 'keyslot:slots.demo', '--stack', 'local', '--plaintext', '--', 'secondary'],
    );
    const upArgs = calls[up]!;
    assert.equal(upArgs[upArgs.indexOf('--stack') + 1], 'local');
    assert.equal(upArgs[upArgs.indexOf('--policy-pack') + 1], join(dir, 'policy'));
    assert.ok(upArgs.includes('--yes') && upArgs.includes('--skip-preview'));

    assert.equal(
      parse(readFileSync(join(dir, 'stacks', 'Pulumi.local.yaml'), 'utf8')).config['keyslot:slots'].demo,
      'secondary',
      'the stack file holds the flip',
    );
    assert.equal(((await engine.readConfig()) as { slots: Record<string, string> }).slots.demo, 'secondary');
    assert.equal(deployed.demo?.activeSlot, 'secondary');
    // Only what carries the active slot changes: the delivery and the recorded state; no key is touched.
    assert.deepEqual(result.changes, { same: 7, update: 2 });
    assert.ok(events.includes('update kubernetes:core/v1:Secret demo-d0-local'), events.join('\n'));
    assert.ok(!events.some((e) => /RandomPassword/.test(e)), events.join('\n'));
  });

  it('decrypts a kubeconfig held as a stack secret into memory, by key with pulumi config get (never the whole stack)', async () => {
    const { dir, invocations } = workspace();
    const file = join(dir, 'stacks', 'Pulumi.local.yaml');
    const doc = YAML.parseDocument(readFileSync(file, 'utf8'));
    doc.setIn(['config', 'keyslot:kubeconfig-eu'], { secure: `fake:${Buffer.from('apiVersion: v1\nkind: Config\n').toString('base64')}` });
    writeFileSync(file, doc.toString());
    const engine = await LocalWorkspaceEngine.open({ stack: 'local', workDir: dir, pulumiRoot: fakeRoot });
    assert.equal(await engine.readSecretConfig('kubeconfig-eu'), 'apiVersion: v1\nkind: Config\n');
    assert.equal(await engine.readSecretConfig('kubeconfig-us'), undefined);
    assert.ok(invocations().some((a) => a[0] === 'config' && a[1] === 'get' && a.includes('keyslot:kubeconfig-eu')));
    assert.ok(
      !invocations().some((a) => a[0] === 'config' && a[1] !== 'get' && a.includes('--show-secrets')),
      'no read of every secret of the stack',
    );
    assert.match(readFileSync(file, 'utf8'), /secure: fake:/, 'the stack file keeps the ciphertext');
  });

  it('removes config by path and reads, sets and removes tags', async () => {
    const { dir, invocations } = workspace();
    const engine = await LocalWorkspaceEngine.open({ stack: 'local', workDir: dir, pulumiRoot: fakeRoot });
    await engine.setConfig('rotations.demo.id', 'r-1');
    await engine.removeConfig('rotations.demo');
    assert.equal(await engine.getConfig('rotations.demo.id'), undefined);
    assert.equal(await engine.getTag('keyslot:lock'), undefined);
    await engine.setTag('keyslot:lock', 'me|2026-11-24T01:00:00Z');
    assert.equal(await engine.getTag('keyslot:lock'), 'me|2026-11-24T01:00:00Z');
    await engine.removeTag('keyslot:lock');
    // A tag read that fails for another reason is a failure, never "not locked".
    process.env.FAKE_PULUMI_FAIL = 'tag';
    await assert.rejects(
      engine.getTag('keyslot:lock'),
      (e: unknown) => e instanceof EngineError && /does not support stack tags/.test(e.message),
    );
    delete process.env.FAKE_PULUMI_FAIL;
    assert.ok(
      invocations().some((a) => a[0] === 'config' && a[1] === 'rm' && a.includes('--path') && a.includes('keyslot:rotations.demo')),
    );
  });

  it('classifies an up or preview the pack refused as a PolicyViolationError naming the policy', async () => {
    const { dir } = workspace();
    const engine = await LocalWorkspaceEngine.open({ stack: 'alwayson-cosmos', workDir: dir, pulumiRoot: fakeRoot });
    // A real violation, judged by the real pack: the standby key recorded as made 200 days ago.
    await engine.setConfig('generations.cosmos.secondary.createdAt', new Date(Date.now() - 200 * 86_400_000).toISOString());
    await assert.rejects(
      engine.preview({ policyPacks: ['policy'] }),
      (e: unknown) =>
        e instanceof PolicyViolationError &&
        /^pulumi preview failed: policy max-key-age \(mandatory\): credential cosmos: slot secondary \(generation 2\) is 200 days old, over the 180-day limit/.test(
          e.message,
        ),
    );
    await assert.rejects(engine.up({ policyPacks: ['policy'] }), PolicyViolationError);
    process.env.FAKE_PULUMI_FAIL = 'up-backend';
    await assert.rejects(
      engine.up({ policyPacks: ['policy'] }),
      (e: unknown) =>
        e instanceof EngineError &&
        !(e instanceof PolicyViolationError) &&
        /pulumi up failed for stack alwayson-cosmos: error: failed to load checkpoint/.test(e.message),
    );
  });

  it('refuses a CLI older than keyslot needs, naming both versions (exit 6)', async () => {
    const { dir } = workspace();
    process.env.FAKE_PULUMI_VERSION = '3.200.0';
    try {
      await assert.rejects(
        LocalWorkspaceEngine.open({ stack: 'local', workDir: dir, pulumiRoot: fakeRoot }),
        (e: unknown) =>
          e instanceof PulumiCliMissingError &&
          exitCodeFor(e) === 6 &&
          /is v3\.200\.0; keyslot needs v3\.226\.0 or newer/.test(e.message) &&
          !e.message.includes('\n'),
      );
    } finally {
      delete process.env.FAKE_PULUMI_VERSION;
    }
  });

  it('initialises a stack the CLI does not know (stack select fails), which writes the encryption salt into the stack file', async () => {
    const { dir, invocations } = workspace();
    await LocalWorkspaceEngine.open({ stack: 'local', workDir: dir, pulumiRoot: fakeRoot });
    const stackCalls = invocations()
      .filter((a) => a[0] === 'stack')
      .map((a) => a[1]);
    assert.deepEqual(stackCalls.slice(0, 2), ['select', 'init']);
    assert.match(readFileSync(join(dir, 'stacks', 'Pulumi.local.yaml'), 'utf8'), /^encryptionsalt: /m);
    // Opened again, the stack is selected, not created twice.
    await LocalWorkspaceEngine.open({ stack: 'local', workDir: dir, pulumiRoot: fakeRoot });
    assert.equal(invocations().filter((a) => a[0] === 'stack' && a[1] === 'init').length, 1);
  });

  it('reads a secret output (the standby key material) with --show-secrets, after a masked read tells it is secret', async () => {
    const { dir, invocations } = workspace();
    const engine = await LocalWorkspaceEngine.open({ stack: 'kubecost-thanos', workDir: dir, pulumiRoot: fakeRoot });
    await engine.up({ policyPacks: ['policy'] });
    const material = await engine.keyMaterial('thanos-store', 'secondary');
    assert.ok(
      material && Object.values(material).every((v) => typeof v === 'string' && v.length > 0),
      JSON.stringify(Object.keys(material ?? {})),
    );
    const reads = invocations().filter((a) => a[0] === 'stack' && a[1] === 'output');
    assert.ok(reads.some((a) => !a.includes('--show-secrets')) && reads.some((a) => a.includes('--show-secrets')));
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { secretOutputs: string[] };
    assert.deepEqual(state.secretOutputs, ['keyMaterial'], 'the program marks the key material secret');
  });

  it('config set --path converts as the CLI does (64-bit integers, true/false), and a long kOps keypair id survives to the program', async () => {
    const { dir } = workspace();
    const engine = await LocalWorkspaceEngine.open({ stack: 'kops-service-account', workDir: dir, pulumiRoot: fakeRoot });
    // Past 2^53 but within int64: the CLI writes it as a YAML integer, which a JavaScript number cannot hold.
    const id = '7384918236759836491';
    await engine.setConfig('generations.service-account.next.keyId', id);
    await engine.setConfig('rotations.probe.flag', 'true');
    await engine.setConfig('rotations.probe.padded', '0123');
    const text = readFileSync(join(dir, 'stacks', 'Pulumi.kops-service-account.yaml'), 'utf8');
    assert.match(text, new RegExp(`keyId: ${id}\\n`), 'an unquoted integer, as the CLI writes it');
    assert.match(text, /flag: true\n/);
    assert.match(text, /padded: "0123"\n/, 'a leading zero keeps it a string');
    await engine.removeConfig('rotations.probe');
    const raw = (await engine.readConfig()) as { generations: Record<string, Record<string, { keyId?: unknown }>> };
    assert.equal(raw.generations['service-account']!.next!.keyId, id, 'the stack file reads back digit for digit');
    await engine.up({ policyPacks: [] });
    assert.equal((await engine.deployed())['service-account']?.slots.next?.keyId, id, 'the program got the same id');
  });

  it('judges resource policies per resource as registered, on inputs: a mandatory violation stops an up there with earlier steps applied; --policy-pack-config reaches the pack', async () => {
    const { dir } = workspace();
    const engine = await LocalWorkspaceEngine.open({ stack: 'kubecost-thanos', workDir: dir, pulumiRoot: fakeRoot });
    await engine.up({ policyPacks: [] });
    const state = () =>
      JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { resources: [string, { id: string }][]; outputs: unknown };
    const primaryKey = (st: ReturnType<typeof state>) =>
      st.resources.find(([k]) => k.startsWith('aws:iam/accessKey:AccessKey::') && k.includes('primary'))![1].id;
    const before = state();
    // A rotation recorded an hour after the last one (min-rotation-interval) and a bump that
    // replaces the primary key, which registers before the recorded state.
    const now = Date.now();
    const at = (h: number) => new Date(now + h * 3600_000).toISOString();
    await engine.setConfig('generations.thanos-store.lastRotatedAt', at(-1));
    for (const [k, v] of Object.entries({ id: 'r-probe-thanos-store', startedAt: at(0), from: 'primary', to: 'primary', mode: 'rotate' }))
      await engine.setConfig(`rotations.thanos-store.${k}`, v);
    await engine.setConfig('rotations.thanos-store.generations.primary', '1');
    await engine.setConfig('rotations.thanos-store.generations.secondary', '2');
    await engine.setConfig('generations.thanos-store.primary.generation', '3');
    // The preview judges that state although the replacement key's id and creation time are unknown
    // until the up: the state's inputs are registered leaf by leaf, and the resource policies read
    // only the known part (a state registered as one value was all unknown: "can't run during preview").
    const previewEvents: string[] = [];
    await assert.rejects(
      engine.preview({ policyPacks: ['policy'], onEvent: (e) => previewEvents.push(e.message) }),
      (e: unknown) => e instanceof PolicyViolationError && /min-rotation-interval \(mandatory\)/.test(e.message),
    );
    assert.ok(!previewEvents.some((m) => /min-rotation-interval.*can't run/.test(m)), previewEvents.join('\n'));
    assert.deepEqual(state().resources, before.resources, 'a preview changes nothing');
    // Met by the up itself (as when a preview was skipped), the violation stops it halfway:
    await assert.rejects(
      engine.up({ policyPacks: ['policy'] }),
      (e: unknown) => e instanceof PolicyViolationError && /min-rotation-interval \(mandatory\)/.test(e.message) && !/<\{%/.test(e.message),
    );
    const after = state();
    assert.notEqual(primaryKey(after), primaryKey(before), 'the key registered before the violation was replaced');
    assert.deepEqual(after.outputs, before.outputs, "the outputs are the last finished up's");
    // The pack's config file reaches the pack: with the policy disabled the same up finishes.
    const config = join(dir, 'pack-config.json');
    writeFileSync(config, JSON.stringify({ 'min-rotation-interval': 'disabled' }));
    await engine.up({ policyPacks: ['policy'], policyPackConfigs: [config] });
    assert.notDeepEqual(state().outputs, before.outputs);
  });

  it("never shows the engine's colour tags: a policy message built with them reads as plain text", () => {
    // pkg/engine/events.go policyViolationEvent: SpecNote + message + Reset; colors.go: `<{%` … `%}>`.
    assert.equal(
      stripColorTags('<{%reset%}>credential demo: slot primary is 120 days old<{%reset%}>\n<{%fg 1%}>mandatory: <{%reset%}>'),
      'credential demo: slot primary is 120 days old\nmandatory: ',
    );
    assert.equal(stripColorTags('a <{ b %}> c'), 'a <{ b %}> c', 'only whole tags');
  });

  it('says in one line what to install when there is no CLI', async () => {
    await assert.rejects(
      LocalWorkspaceEngine.open({ stack: 'local', pulumiRoot: join(tmpdir(), 'no-pulumi-here') }),
      (e: unknown) => e instanceof PulumiCliMissingError && !e.message.includes('\n') && /install the Pulumi CLI/.test(e.message),
    );
  });
});

describe('a rotation through LocalWorkspace', () => {
  it('runs the exact CLI sequence: select, record, preview with the pack, flip, preview and up with the pack, outputs, regenerate, record, preview and up', async () => {
    const { dir, invocations } = workspace();
    const engine = await LocalWorkspaceEngine.open({ stack: 'local', workDir: dir, pulumiRoot: fakeRoot });
    const world = buildWorld(loadStack('local'));
    // The fake CLI delivers into a fleet of its own; the consumers here read a Secret that exists.
    world.fleet.cluster('local').applySecret('default', 'keyslot-demo', { password: 'placeholder' });
    world.boot();
    const driver = new Driver({ ...world.ports({}), engine }, { policyPacks: ['policy'], holder: 'ci@agent' });
    await driver.rotate('demo');

    const calls = invocations()
      .filter((a) => !['version', 'whoami'].includes(a[0]!) && !(a[0] === 'stack' && a[1] === 'history'))
      .map((a) =>
        a.filter(
          (x) =>
            !x.startsWith('--non-interactive') &&
            x !== '--exec-kind' &&
            x !== 'auto.local' &&
            !x.startsWith('--event-log') &&
            !x.includes('pulumi-event'),
        ),
      );
    const shape = calls
      .map((a) => {
        if (a[0] === 'config') return `config ${a[1]} ${a.find((x) => x.startsWith('keyslot:'))}${a[1] === 'set' ? `=${a.at(-1)}` : ''}`;
        if (a[0] === 'up' || a[0] === 'preview')
          return `${a[0]} --policy-pack ${a[a.indexOf('--policy-pack') + 1] === join(dir, 'policy') ? 'policy' : 'missing'}`;
        if (a[0] === 'stack' && a[1] === 'tag') return `stack tag ${a[2]} ${a[3]}`;
        return a.slice(0, 2).join(' ');
      })
      .filter((line, i, all) => !(line === 'stack output' && all[i - 1] === 'stack output')); // outputs() asks twice: masked and not
    const regenerated = shape.indexOf('config set keyslot:generations.demo.primary.generation=3');
    const expected = [
      'stack select',
      'stack init',
      'stack output',
      'config set keyslot:rotations.demo.id',
      'config set keyslot:rotations.demo.startedAt',
      'config set keyslot:rotations.demo.from=primary',
      'config set keyslot:rotations.demo.to=secondary',
      'config set keyslot:rotations.demo.mode=rotate',
      'config set keyslot:rotations.demo.generations.primary=1',
      'config set keyslot:rotations.demo.generations.secondary=2',
      'preview --policy-pack policy',
      'config set keyslot:slots.demo=secondary',
      'preview --policy-pack policy',
      'up --policy-pack policy',
      'stack output',
    ];
    assert.deepEqual(
      shape.slice(0, expected.length).map((s) => (s.includes('.id=') || s.includes('startedAt=') ? s.split('=')[0] : s)),
      expected,
    );
    assert.equal(regenerated, expected.length, shape.join('\n'));
    assert.deepEqual(
      shape.slice(regenerated + 1).map((s) => s.split('=')[0]),
      [
        'config set keyslot:generations.demo.lastRotatedAt',
        'config rm keyslot:rotations.demo',
        'preview --policy-pack policy',
        'up --policy-pack policy',
        'stack output',
      ],
    );
  });
});
