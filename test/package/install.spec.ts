import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { namespacedConfig } from '../../src/adapters/engine/namespacedConfig.ts';
import { readStackFile } from '../../src/config/load.ts';
import { bootPolicyPack, startEngine, runProgram, unary } from '../fixtures/pulumiHosts.ts';
import { tempDirs } from '../fixtures/tempDirs.ts';
import { commandLines, readmeBlocks } from '../fixtures/readme.ts';

const root = join(__dirname, '..', '..');
const temp = tempDirs();
after(() => temp.cleanup());

function run(command: string, args: string[], cwd: string, timeout = 120_000): SpawnSyncReturns<string> {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, npm_config_update_notifier: 'false' } });
  if (r.error) throw r.error;
  return r;
}

describe('the package: packed, installed into an empty folder, and used there', function () {
  this.timeout(900_000);
  const work = temp.make('keyslot-package-');
  const team = join(work, 'team');
  let tarball = '';

  it('npm pack ships the CLI, the program, the schema, the templates and the pack precompiled, and no tests', () => {
    const packed = run('npm', ['pack', '--json', '--pack-destination', work], root);
    assert.equal(packed.status, 0, packed.stderr);
    const [info] = JSON.parse(packed.stdout) as [{ filename: string; files: { path: string }[] }];
    tarball = join(work, info.filename);
    const files = info.files.map((f) => f.path);
    for (const f of [
      'bin/keyslot.js',
      'bin/nodeVersion.cjs',
      'program.cjs',
      'policy/boot.cjs',
      'policy/dist/pack.cjs',
      'policy/PulumiPolicy.yaml',
    ])
      assert.ok(files.includes(f), `${f} is packed`);
    for (const f of [
      'schema/keyslot-stack.schema.json',
      'docs/stack-file.md',
      'stacks/Pulumi.alwayson-cosmos.yaml',
      'worlds/alwayson-cosmos.yaml',
    ])
      assert.ok(files.includes(f), `${f} is packed`);
    assert.deepEqual(
      files.filter((f) => /^(test|bench|scripts|examples)\//.test(f)),
      [],
    );
    assert.equal(existsSync(join(root, 'policy', 'dist')), false, 'postpack removed the build from the repository');
  });

  // The README's first-hour block, exactly as written (test/docs/readme.spec.ts leaves it to this file).
  const readmeBlock = commandLines(readmeBlocks().find((b) => b.lang === 'sh' && /keyslot init/.test(b.body))!.body);

  it("installs from the tarball into a folder of its own with its own dependencies, as the README's first line says", () => {
    mkdirSync(team, { recursive: true });
    writeFileSync(join(team, 'package.json'), `${JSON.stringify({ name: 'team-rotation', private: true }, null, 2)}\n`);
    copyFileSync(tarball, join(team, basename(tarball)));
    const [npm, ...args] = readmeBlock[0]!.split(/\s+/);
    assert.equal(npm, 'npm');
    assert.equal(args.at(-1), `./${basename(tarball)}`, 'the README names the file npm pack makes');
    // The registry answers for metadata; tarballs come from npm's cache where it has them.
    const installed = run('npm', [...args, '--prefer-offline', '--no-audit', '--no-fund', '--omit=dev'], team, 600_000);
    assert.equal(installed.status, 0, installed.stderr);
    assert.ok(existsSync(join(team, 'node_modules', '.bin', 'keyslot')));
  });

  it("the README's init, plan and drill run there from the installed package; the folder holds only what init and npm wrote", () => {
    const lines = readmeBlock.slice(1);
    assert.deepEqual(
      lines.map((l) => l.split(' ').slice(0, 4).join(' ')),
      ['npx --no-install keyslot init', 'npx --no-install keyslot plan', 'npx --no-install keyslot drill'],
    );
    const outputs = lines.map((line) => {
      const r = run('npx', line.split(/\s+/).slice(1), team, 300_000);
      assert.equal(r.status, 0, `${line}\n${r.stdout}\n${r.stderr}`);
      return r.stdout;
    });
    const stack = /--stack (\S+)/.exec(lines[1]!)![1]!;
    assert.deepEqual(
      readdirSync(team)
        .filter((f) => !f.endsWith('.tgz'))
        .sort(),
      ['Pulumi.yaml', 'index.js', 'keyslot.schema.json', 'node_modules', 'package-lock.json', 'package.json', 'stacks'],
    );
    assert.deepEqual(readdirSync(join(team, 'stacks')), [`Pulumi.${stack}.yaml`]);
    assert.match(outputs[1]!, /regenerate/);
    assert.match(outputs[2]!, new RegExp(`reference world .*node_modules/keyslot/worlds/${stack}\\.yaml`));
  });

  it("Pulumi's own host entry points run the team's program (index.js → the package) and boot the installed pack from its precompiled build", async () => {
    const again = run(join(team, 'node_modules', '.bin', 'keyslot'), ['init', '--template', 'local', '--dir', join(work, 'second')], work);
    assert.equal(again.status, 0, again.stderr);
    const second = join(work, 'second');
    // The second project uses the first one's installation (a monorepo's hoisted node_modules).
    spawnSync('ln', ['-s', join(team, 'node_modules'), join(second, 'node_modules')]);
    const { raw } = readStackFile('local', join(second, 'stacks'));
    // A provider's answers: each password its result, everything else its inputs.
    const program = await runProgram({
      stack: 'local',
      config: namespacedConfig(raw),
      root: second,
      answers: {
        register: (r) => ({
          ...(r.custom ? { id: `${r.name}-id` } : {}),
          outputs: r.custom
            ? { ...r.inputs, ...(r.type.endsWith(':RandomPassword') ? { result: `pw-${r.name}-0123456789abcdef` } : {}) }
            : {},
        }),
        read: (_type, name) => ({ name, outputs: {}, secretOutputNames: [] }),
        invoke: (token) => {
          throw new Error(`no invoke expected (${token})`);
        },
      },
    });
    assert.equal(program.code, 0, `${program.stderr}\n${program.logs.map((l) => l.message).join('\n')}`);
    assert.ok(
      program.registrations.some((r) => r.type === 'keyslot:index:CredentialState'),
      'the program registered its state',
    );
    assert.ok(
      program.argv.some((a) => a.startsWith(join(team, 'node_modules', '@pulumi', 'pulumi'))),
      'the installed SDK ran it',
    );

    const engine = await startEngine();
    const started = Date.now();
    const pack = await bootPolicyPack(join(team, 'node_modules', 'keyslot', 'policy'), engine.address);
    try {
      const info: any = await unary(pack.client, 'getAnalyzerInfo', new (require('google-protobuf/google/protobuf/empty_pb.js').Empty)());
      const names = info.getPoliciesList().map((p: any) => p.getName());
      assert.ok(names.includes('max-key-age') && names.includes('min-rotation-interval'), names.join(', '));
      console.log(`      the installed pack served in ${Date.now() - started} ms`);
    } finally {
      pack.stop();
      await engine.stop();
    }
  });
});
