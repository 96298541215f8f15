/**
 * `keyslot init`: a keyslot project in a team's own folder, from a runbook template (one of the
 * stacks keyslot ships): Pulumi.yaml, the program's entry (index.js, keyslot's program from the
 * installed package), stacks/Pulumi.<stack>.yaml pointing editors at keyslot.schema.json, and that
 * schema. It never overwrites a file: if any of them exists, nothing is written.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { parseDocument, type YAMLSeq } from 'yaml';
import { packageRoot } from '../../config/projectRoot.ts';
import { parseStackConfig } from '../../config/parse.ts';
import { readStackFileText } from '../../config/load.ts';
import { loadWorldFile } from '../../drill/worldFile.ts';
import { missingRestartStages } from '../../model/discovery.ts';
import { required, type Io } from '../shared.ts';

/** The runbook templates: the stacks keyslot ships. */
export function templates(): string[] {
  return readdirSync(join(packageRoot, 'stacks'))
    .flatMap((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1] ?? [])
    .sort();
}

const schemaFile = 'keyslot.schema.json';

function pulumiYaml(project: string): string {
  return [
    "# A keyslot project: `keyslot rotate` and a hand-run `pulumi up` deploy keyslot's program (index.js)",
    '# with the stack files in stacks/. keyslot passes its policy pack to every preview and up; by hand:',
    '#   pulumi up --stack <stack> --policy-pack node_modules/keyslot/policy',
    `name: ${project}`,
    'description: Credential rotation with keyslot; the active slot of each credential is stack config.',
    'runtime:',
    '  name: nodejs',
    '  options:',
    '    # keyslot compiles its TypeScript itself (tsx): not through ts-node.',
    '    typescript: false',
    'stackConfigDir: stacks',
    '',
  ].join('\n');
}

const programEntry = [
  "// The Pulumi program: keyslot's, from the installed package (written by keyslot init). The",
  "// language host runs this folder, so it finds the provider plugins in this folder's node_modules.",
  "module.exports = require('keyslot/program.cjs');",
  '',
].join('\n');

/**
 * The template's text with a restart stage added, after its last restart stage, for every workload
 * the world file shows reading a delivered Secret that no stage restarts (comments kept); and what
 * was added, said in one line.
 */
function withDiscoveredStages(text: string, name: string, origin: string, worldFile: string): { text: string; added: string } {
  const config = parseStackConfig(name, readStackFileText(text, origin), origin);
  const world = loadWorldFile(worldFile, config);
  const doc = parseDocument(text);
  const found: string[] = [];
  for (const [i, cred] of config.credentials.entries()) {
    const missing = missingRestartStages(config, cred, world);
    if (missing.length === 0) continue;
    const stages = doc.getIn(['config', 'keyslot:credentials', i, 'stages']) as YAMLSeq | undefined;
    const items = stages?.items ?? [];
    const lastRestart = cred.stages.reduce((last, s, k) => (s.kind === 'restart' ? k : last), -1);
    const nodes = missing.map((m) => {
      const node = doc.createNode(m, { flow: true });
      node.commentBefore = ` added by keyslot init from ${basename(worldFile)}: it reads a delivered Secret at start`;
      return node;
    });
    if (stages) items.splice(lastRestart + 1, 0, ...nodes);
    else doc.setIn(['config', 'keyslot:credentials', i, 'stages'], doc.createNode(missing, { flow: false }));
    found.push(...missing.map((m) => `${cred.name}: restart ${m.namespace}/${m.workload} on ${m.clusters.join(', ')}`));
  }
  return {
    text: doc.toString(),
    added: found.length
      ? `added from ${worldFile}: ${found.join('; ')}`
      : `${worldFile}: every workload it shows reading a delivered Secret is already restarted by a stage`,
  };
}

export function registerInit(program: Command, io: Io): void {
  program
    .command('init')
    .description('scaffold a keyslot project in a folder: Pulumi.yaml, a stack from a runbook template, the stack file schema')
    .addOption(required('--template <name>', `the runbook to start from: ${templates().join(', ')}`))
    .option('-s, --stack <name>', 'the stack to create (default: the template name, which keeps its reference world for the drill)')
    .option('--dir <folder>', 'the project folder (default: this folder)', '.')
    .option('--project <name>', "the Pulumi project's name (default: the folder's name)")
    .option(
      '--discovered <world file>',
      'keyslot discover output of the deployment: adds a restart stage for every workload it shows reading a delivered Secret that the template does not restart',
    )
    .action((opts: { template: string; stack?: string; dir: string; project?: string; discovered?: string }) => {
      const known = templates();
      if (!known.includes(opts.template))
        throw new InvalidArgumentError(`--template ${opts.template}: no such runbook template; use one of ${known.join(', ')}`);
      const stack = opts.stack ?? opts.template;
      if (!/^[\w.-]+$/.test(stack))
        throw new InvalidArgumentError(`--stack ${stack}: not a stack name; use letters, digits, "-", "_" and "."`);
      const dir = resolve(opts.dir);
      const project =
        opts.project ??
        (basename(dir)
          .toLowerCase()
          .replace(/[^a-z0-9_.-]+/g, '-')
          .replace(/^[-.]+|[-.]+$/g, '') ||
          'keyslot-project');
      const templateFile = join(packageRoot, 'stacks', `Pulumi.${opts.template}.yaml`);
      let template = readFileSync(templateFile, 'utf8');
      let added: string | undefined;
      if (opts.discovered) ({ text: template, added } = withDiscoveredStages(template, opts.template, templateFile, opts.discovered));
      const files: [string, string][] = [
        ['Pulumi.yaml', pulumiYaml(project)],
        ['index.js', programEntry],
        [join('stacks', `Pulumi.${stack}.yaml`), `# yaml-language-server: $schema=../${schemaFile}\n${template}`],
        [schemaFile, readFileSync(join(packageRoot, 'schema', 'keyslot-stack.schema.json'), 'utf8')],
      ];
      const present = files.map(([f]) => f).filter((f) => existsSync(join(dir, f)));
      if (present.length)
        throw new InvalidArgumentError(
          `${present.map((f) => relative(process.cwd(), join(dir, f)) || f).join(', ')} already exist${present.length === 1 ? 's' : ''}; keyslot init never overwrites a file: move ${present.length === 1 ? 'it' : 'them'} away, or give --dir a new folder`,
        );
      mkdirSync(join(dir, 'stacks'), { recursive: true });
      for (const [file, text] of files) writeFileSync(join(dir, file), text, { flag: 'wx' });
      const shown = relative(process.cwd(), dir) || '.';
      io.out(
        [
          `wrote ${files.map(([f]) => join(shown, f)).join(', ')}`,
          ...(added ? [added] : []),
          `next: replace the placeholder identifiers in ${join(shown, 'stacks', `Pulumi.${stack}.yaml`)} (every key: ${join('node_modules', 'keyslot', 'docs', 'stack-file.md')}),`,
          `      keyslot plan --stack ${stack}; keyslot drill --stack ${stack}; then keyslot rotate --stack ${stack}`,
          '',
        ].join('\n'),
      );
    });
}
