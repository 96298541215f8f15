/**
 * The README cannot drift: every code block in it is run, checked against what it describes, or
 * generated, by this file (the package block by test/package/install.spec.ts, the set-up block by
 * .ci/run itself).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { parse } from 'yaml';
import { buildCli, runCli } from '../../src/cli/main.ts';
import { openStack } from '../../src/config/load.ts';
import { worldDescription } from '../../src/model/worldDescription.ts';
import { commandLines, readmeBlocks } from '../fixtures/readme.ts';

const root = join(__dirname, '..', '..');

/** keyslot's part of a line (`npx --no-install keyslot …`, `npx keyslot …`, `keyslot …`), as words. */
function keyslotWords(line: string): string[] | undefined {
  const m = /^(?:npx (?:--no-install )?)?keyslot (.*)$/.exec(line);
  return m ? m[1]!.trim().split(/\s+/) : undefined;
}

function command(cli: Command, name: string): Command {
  const found = cli.commands.find((c) => c.name() === name);
  assert.ok(found, `keyslot has no command ${name}`);
  return found!;
}

async function run(argv: string[]) {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t), interactive: false });
  return { code, out, err };
}

/** Shown output against real output: every shown line in order, `...` standing for any lines. */
function shownIn(shown: string, actual: string): string | undefined {
  const lines = actual.split('\n');
  let at = 0;
  let gap = false;
  for (const want of shown.trimEnd().split('\n')) {
    if (want.trim() === '...') {
      gap = true;
      continue;
    }
    const found = gap ? lines.indexOf(want, at) : lines[at] === want ? at : -1;
    if (found < 0) return `not found${gap ? '' : ' next'}: ${want}\n(after line ${at} of)\n${actual}`;
    at = found + 1;
    gap = false;
  }
  return undefined;
}

describe('README: every code block is run, checked or generated', function () {
  this.timeout(300_000);
  const blocks = readmeBlocks();
  const cli = buildCli({ out: () => {}, err: () => {}, interactive: false });

  it('every shell block is one the checks below know: keyslot, npm or pulumi lines', () => {
    for (const b of blocks.filter((x) => x.lang === 'sh'))
      for (const line of commandLines(b.body))
        assert.match(line, /^(npx (--no-install )?keyslot|keyslot|npm|pulumi) /, `README line ${b.line}: ${line}`);
  });

  it('each usage synopsis names only flags its command has, and every flag the command has', () => {
    const synopses = blocks
      .filter((b) => b.lang === 'sh')
      .flatMap((b) => commandLines(b.body))
      .map(keyslotWords)
      .filter((w): w is string[] => Boolean(w) && w!.some((x) => x.startsWith('[')));
    assert.ok(synopses.length >= 6, JSON.stringify(synopses));
    const byCommand = new Map<string, Set<string>>();
    for (const [name, ...rest] of synopses) {
      const flags = byCommand.get(name!) ?? new Set<string>();
      for (const f of rest.join(' ').match(/--[a-z-]+/g) ?? []) flags.add(f);
      byCommand.set(name!, flags);
    }
    for (const [name, flags] of byCommand) {
      const cmd = command(cli, name);
      const known = new Set(cmd.options.flatMap((o) => [o.long!, ...(o.negate ? [o.long!] : [])]));
      for (const f of flags) assert.ok(known.has(f), `README: keyslot ${name} has no ${f}`);
      for (const o of cmd.options) assert.ok(flags.has(o.long!), `README's synopsis of keyslot ${name} leaves out ${o.long}`);
    }
  });

  it('the drill shown in Set up is what that command prints, line for line where it shows lines', async () => {
    const at = blocks.findIndex((b) => b.lang === 'sh' && /^npx keyslot drill --stack \S+$/m.test(b.body));
    assert.ok(at >= 0);
    const argv = keyslotWords(commandLines(blocks[at]!.body)[0]!)!;
    const shown = blocks[at + 1]!;
    assert.equal(shown.lang, 'text', 'the drill block is followed by its output');
    const { code, out, err } = await run(argv);
    assert.equal(code, 0, err);
    const miss = shownIn(shown.body, out);
    assert.equal(miss, undefined, `README line ${shown.line}: the shown drill output is stale\n${miss}`);
  });

  it("the one-line error shown for a bad stack is the parser's, word for word", () => {
    const shown = blocks.find((b) => b.lang === 'text' && /^keyslot: stacks\/Pulumi\.demo\.yaml: /.test(b.body))!;
    assert.ok(shown);
    const dir = mkdtempSync(join(tmpdir(), 'keyslot-readme-'));
    try {
      mkdirSync(join(dir, 'stacks'));
      const file = join(dir, 'stacks', 'Pulumi.demo.yaml');
      writeFileSync(
        file,
        [
          'config:',
          '  keyslot:clusters: [{name: eu}, {name: us}]',
          '  keyslot:credentials:',
          '    - name: demo',
          '      source: {type: random}',
          '      stages:',
          '        - {kind: restart, namespace: default, workload: deployment/a}',
          '        - {kind: restart, namespace: default, workload: deployment/b, clusters: [asia]}',
          '',
        ].join('\n'),
      );
      assert.throws(
        () => openStack('demo', join(dir, 'stacks')),
        (e: Error) => `keyslot: ${e.message.replace(file, 'stacks/Pulumi.demo.yaml')}` === shown.body.trim(),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the policy config shown is the shipped example file, and names only the pack's policies", () => {
    const shown = blocks.find((b) => b.lang === 'json' && /max-key-age/.test(b.body))!;
    const file = JSON.parse(readFileSync(join(root, 'policy', 'config.example.json'), 'utf8'));
    assert.deepEqual(JSON.parse(shown.body), file, `README line ${shown.line} differs from policy/config.example.json`);
  });

  it('pulumi lines name a stack, a slot, a pack and a config file that exist', () => {
    const lines = blocks
      .filter((b) => b.lang === 'sh')
      .flatMap((b) => commandLines(b.body))
      .filter((l) => l.startsWith('pulumi '));
    assert.ok(lines.length >= 4);
    for (const line of lines) {
      const stack = /pulumi stack (?:select|init) (\S+)/.exec(line)?.[1];
      if (stack) openStack(stack);
      const set = /config set --path '?keyslot:slots\.([\w-]+)'? (\S+)/.exec(line);
      if (set) {
        const { config } = openStack('local');
        const cred = config.credentials.find((c) => c.name === set[1]);
        assert.ok(cred && Object.keys(cred.generations).includes(set[2]!), line);
      }
      for (const [, flag, path] of line.matchAll(/(--policy-pack(?:-config)?) (\S+)/g))
        readFileSync(join(root, path!, flag === '--policy-pack' ? 'PulumiPolicy.yaml' : ''));
    }
  });

  it('the npm lines are the set-up .ci/run runs, and the package file named is the one npm pack makes', () => {
    const ci = readFileSync(join(root, '.ci', 'run'), 'utf8');
    const npm = blocks
      .filter((b) => b.lang === 'sh')
      .flatMap((b) => commandLines(b.body))
      .filter((l) => l.startsWith('npm '));
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    for (const line of npm) {
      if (line === 'npm ci') assert.match(ci, /^npm ci\b/m);
      else if (line === 'npm test') assert.match(ci, /^npm test\b/m);
      else assert.match(line, new RegExp(`^npm install --save-exact \\./keyslot-${version.replaceAll('.', '\\.')}\\.tgz`), line);
    }
  });

  it('the YAML blocks parse, and the world file format shown is one keyslot accepts', () => {
    for (const b of blocks.filter((x) => x.lang === 'yaml')) parse(b.body);
    const world = blocks.find((b) => b.lang === 'yaml' && /^description: /m.test(b.body) && /csiDrivers:/.test(b.body))!;
    assert.ok(world);
    const parsed = worldDescription.safeParse(parse(world.body));
    assert.ok(parsed.success, JSON.stringify(parsed.error?.issues));
  });

  it('every keyslot command line in any block names a command and flags keyslot has', () => {
    for (const b of blocks) {
      for (const line of b.body.split('\n')) {
        const m = /(?:npx (?:--no-install )?)?\bkeyslot (plan|rotate|resume|rollback|status|drill|discover|init)\b([^\n`|#;]*)/.exec(line);
        if (!m) continue;
        const cmd = command(cli, m[1]!);
        const known = new Set(cmd.options.map((o) => o.long!));
        for (const f of m[2]!.match(/--[a-z-]+/g) ?? []) assert.ok(known.has(f), `README line ${b.line}: keyslot ${m[1]} has no ${f}`);
      }
    }
  });
});
