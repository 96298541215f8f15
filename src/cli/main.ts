/**
 * `keyslot`: commander wiring and rendering only. Every command resolves to an exit code; errors
 * print as one line on stderr (never a stack trace) and map to the codes in the README.
 */
import { defaultWaves, parseWaves, type WaveSpec } from '../model/waves.ts';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { accessSync, constants, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { onInterrupt } from '../adapters/probes/interrupt.ts';
import { openStack, projectRoot } from '../config/load.ts';
import { ConfigError, DrillFailedError, ExitCode, exitCodeFor, KeyslotError } from '../errors.ts';
import { planRotation, type RotationMode } from '../model/planner.ts';
import { undeliveredStages } from '../model/discovery.ts';
import type { RotationEvent, RotationResult } from '../driver/index.ts';
import type { PortsFactory } from './ports.ts';
import type { StackConfig } from '../config/parse.ts';
import type { ClusterFleet } from '../ports/clusters.ts';
import { knownSecrets } from './secrets.ts';
import { planJson, renderPlan } from './renderPlan.ts';

/**
 * What only some commands need, loaded when one of them runs: `plan` and `--help` never load the
 * cloud SDKs, the Kubernetes client, the Automation API, the drill's world or the task list.
 */
const load = {
  driver: () => require('../driver/index.ts') as typeof import('../driver/index.ts'),
  ports: () => require('./ports.ts') as typeof import('./ports.ts'),
  drill: () => require('../drill/drill.ts') as typeof import('../drill/drill.ts'),
  worldFile: () => require('../drill/worldFile.ts') as typeof import('../drill/worldFile.ts'),
  renderDrill: () => require('./renderDrill.ts') as typeof import('./renderDrill.ts'),
  renderEvents: () => require('./renderEvents.ts') as typeof import('./renderEvents.ts'),
  renderStatus: () => require('./renderStatus.ts') as typeof import('./renderStatus.ts'),
  taskList: () => require('./taskList.ts') as typeof import('./taskList.ts'),
  commit: () => require('./commit.ts') as typeof import('./commit.ts'),
  process: () => require('../adapters/probes/process.ts') as typeof import('../adapters/probes/process.ts'),
};

export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** True when a person is at the terminal (confirmations, live progress). */
  readonly interactive?: boolean;
  /** Asks a yes/no question; only called when interactive. */
  readonly confirm?: (question: string) => Promise<boolean>;
  readonly ports?: PortsFactory;
  /** listr2 renderer for the live task list. @default default */
  readonly taskRenderer?: 'default' | 'silent';
}

const processIo: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  interactive: Boolean(process.stdin.isTTY && process.stdout.isTTY),
  confirm: async (question) => {
    const rl = createInterface({ input: process.stdin, output: process.stdout });
    try {
      return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
    } finally {
      rl.close();
    }
  },
};

interface RunOptions {
  stack: string;
  credential: string[];
  all?: boolean;
  yes?: boolean;
  dryRun?: boolean;
  json?: boolean;
  report?: string;
  concurrency?: number;
  maxRestartingPods?: number;
  kubeQps?: number;
  waves: WaveSpec;
  canary: 'whole-rotation' | 'per-stage';
  force?: boolean;
  emergency?: boolean;
  disruptive?: boolean;
  policy: boolean;
  simulate?: boolean;
  commit?: boolean;
  strict?: boolean;
}

function waveList(value: string): WaveSpec {
  const spec = parseWaves(value);
  if ('error' in spec) throw new InvalidArgumentError(`${spec.error}; use counts and shares such as 1,10%,100%`);
  return spec;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a whole number of at least 1');
  return n;
}

/** The rotation commands share their options. */
function rotationOptions(cmd: Command, extra: 'rotate' | 'resume'): Command {
  cmd
    .addOption(required('-s, --stack <name>', 'stack name (stacks/Pulumi.<name>.yaml)'))
    .option('-c, --credential <name>', 'credential; repeatable', collect, [])
    .option('-y, --yes', 'do not ask for confirmation (required when not on a TTY)')
    .option('--json', 'print JSON-lines events instead of text')
    .option('--report <file>', 'write a Markdown summary (e.g. $GITHUB_STEP_SUMMARY)')
    .addOption(new Option('--concurrency <n>', 'a cap on clusters worked on at once (default: no cap)').argParser(positiveInt))
    .addOption(
      new Option('--max-restarting-pods <n>', 'a cap on pods restarting at once across the fleet (default: no cap)').argParser(positiveInt),
    )
    .addOption(
      new Option('--kube-qps <n>', "requests a second to each cluster's API server, bursts of twice that (default: 20)").argParser(
        positiveInt,
      ),
    )
    .addOption(
      new Option('--waves <list>', 'how each stage widens over its clusters, each wave after the one before is confirmed')
        .argParser(waveList)
        .default(defaultWaves, '1,10%,100%: a canary, a tenth of the fleet, the rest'),
    )
    .addOption(
      new Option(
        '--canary <mode>',
        'whole-rotation: the canary runs every stage and is confirmed before any other cluster is touched; per-stage: faster, each stage pipelines its canary into later waves, so the fleet may restart onto a key the canary has not yet proven',
      )
        .choices(['whole-rotation', 'per-stage'])
        .default('whole-rotation'),
    )
    .option('--no-policy', 'do not pass policy/ to pulumi up')
    .option('--simulate', 'run against the simulated fleet and cloud instead of the real ones (no cloud needed)')
    .option('--commit', 'git-commit the updated stacks/Pulumi.<stack>.yaml after each credential, so the pipeline can push it');
  if (extra === 'rotate') {
    cmd
      .option('--all', 'rotate every credential (default: those due, past 80% of maxAgeDays)')
      .option('--dry-run', 'print the plan and change nothing')
      .option('--force', 'rotate even if minIntervalHours has not passed')
      .option('--emergency', 'a key was exposed: regenerate it even if not every consumer confirms')
      .option('--disruptive', 'replace every slot at once (causes downtime until consumers restart)')
      .option('--strict', 'refuse to start when a workload reads a delivered Secret but no stage restarts it');
  }
  return cmd;
}

/**
 * Options a command cannot run without. Checked in a preAction hook rather than by commander's
 * own requiredOption, which runs before unknown options are refused: `--stak` must be named as
 * the typo it is, not reported as a missing --stack.
 */
const mandatory = new WeakSet<Option>();

function required(flags: string, description: string): Option {
  const option = new Option(flags, `${description}; required`);
  mandatory.add(option);
  return option;
}

function collect(value: string, previous: string[]): string[] {
  // Rotating one credential twice in a run would flip it back: a repeat is a usage error.
  if (previous.includes(value)) throw new InvalidArgumentError(`--credential ${value} is given twice; name each credential once`);
  return [...previous, value];
}

/**
 * A parser error in keyslot's own one-line form: `keyslot: <what>; see keyslot <command> --help`.
 * Commander writes "error: ..." and puts its suggestion on a second line.
 */
function oneLineError(text: string, command: string): string {
  const what = text
    .replace(/^error: /, '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ')
    .replace(/\(Did you mean (.*)\?\)/, '(did you mean $1?)');
  return `keyslot: ${what}; see keyslot ${command ? `${command} ` : ''}--help\n`;
}

export function buildCli(io: Io): Command {
  const program = new Command('keyslot')
    .description('Zero-downtime credential rotation: the active slot of each credential is Pulumi stack config.')
    .version((require('../../package.json') as { version: string }).version, '--version', "print keyslot's version")
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err, outputError: (text, write) => write(oneLineError(text, '')) })
    .showSuggestionAfterError();
  program.hook('preAction', (_program, action) => {
    const opts = action.opts() as Record<string, unknown>;
    for (const option of action.options) {
      if (mandatory.has(option) && opts[option.attributeName()] === undefined)
        action.error(`required option '${option.flags}' not specified`);
    }
  });

  program
    .command('plan')
    .description('print what a rotation will do, step by step (reads stacks/Pulumi.<stack>.yaml; no Pulumi CLI needed)')
    .addOption(required('-s, --stack <name>', 'stack name (stacks/Pulumi.<name>.yaml)'))
    .option('-c, --credential <name>', 'credential to plan; repeatable (default: all)', collect, [])
    .option('--stacks-dir <dir>', 'folder of stack files (default: stacks/ of this project)')
    .option('--json', 'print the plan as JSON')
    .option('--discover', 'list the workloads on the clusters that read each delivered Secret and report those no stage restarts')
    .option(
      '--strict',
      'fail (exit 2), before printing the plan, if a stage acts where no delivery reaches; with --discover also if a consumer is not covered',
    )
    .option('--simulate', 'with --discover: look at the simulated fleet instead of the real clusters')
    .action(
      async (opts: {
        stack: string;
        credential: string[];
        stacksDir?: string;
        json?: boolean;
        discover?: boolean;
        strict?: boolean;
        simulate?: boolean;
      }) => {
        const { config, raw } = openStack(opts.stack, opts.stacksDir);
        const plan = planRotation(config, opts.credential);
        const planned = config.credentials.filter((c) => plan.credentials.some((p) => p.name === c.name));
        for (const credential of planned) {
          const i = config.credentials.indexOf(credential);
          for (const u of undeliveredStages(config, credential)) {
            const path = `keyslot:credentials[${i}].stages[${u.stage}]`;
            const found = `${u.workload} on cluster ${u.cluster}, where no delivery of ${credential.name} reaches`;
            const fix = 'add the cluster to a delivery, or take it out of the stage';
            // --strict refuses before anything is printed; otherwise it is a warning next to the plan.
            if (opts.strict) throw new ConfigError(`stacks/Pulumi.${opts.stack}.yaml`, path, found, fix);
            io.err(`keyslot: warning: ${path}: ${found}; it would never get the new value: ${fix}\n`);
          }
        }
        io.out(opts.json ? planJson(plan) : renderPlan(plan));
        if (!opts.discover) return;
        const clusters = await clustersFor(opts.stack, opts.simulate, config, raw);
        for (const credential of planned) {
          const found = await load.driver().discoverConsumers(config, credential, clusters);
          const uncovered = load.driver().uncoveredConsumers(config, credential, found);
          if (opts.json) io.out(`${JSON.stringify({ credential: credential.name, consumers: found, uncovered })}\n`);
          else {
            io.out(`\ndiscovery, ${credential.name}: ${found.length} consumer(s) found, ${uncovered.length} not covered by a stage\n`);
            for (const c of uncovered) io.out(`  ! ${load.driver().describeUncovered(c)}\n`);
          }
          if (opts.strict && uncovered.length) throw load.driver().uncoveredError(config, credential, uncovered);
        }
      },
    );

  program
    .command('discover')
    .description('write a world file of the deployment the stack rotates (consumers, Shoots, CSI drivers), for keyslot drill --world')
    .addOption(required('-s, --stack <name>', 'stack name'))
    .addOption(required('-o, --out <file>', 'where to write the world file (YAML)'))
    .option('--simulate', 'look at the simulated fleet instead of the real clusters')
    .option('--stacks-dir <dir>', 'folder of stack files (default: stacks/ of this project)')
    .action(async (opts: { stack: string; out: string; simulate?: boolean; stacksDir?: string }) => {
      const { config, raw } = openStack(opts.stack, opts.stacksDir);
      writableOrRefuse('--out', opts.out);
      const clusters = await clustersFor(opts.stack, opts.simulate, config, raw);
      const world = await load.driver().discoverWorld(config, clusters);
      writeFileSync(opts.out, load.worldFile().worldFileText(world));
      const shoots = world.shoots.length ? `, ${world.shoots.length} Shoot(s)` : '';
      io.out(
        `wrote ${opts.out}: ${world.workloads.length} workload(s) on ${new Set(world.workloads.map((w) => w.cluster)).size} cluster(s)${shoots}\n`,
      );
    });

  /** Discovery needs only the clusters: the real ones (no Pulumi CLI unless a kubeconfig is a stack secret) or the simulated fleet. */
  const clustersFor = async (
    stack: string,
    simulate: boolean | undefined,
    config: StackConfig,
    raw: Record<string, unknown>,
  ): Promise<ClusterFleet> =>
    simulate || io.ports
      ? (await (io.ports ?? load.ports().defaultPortsFactory)({ stack, simulate: Boolean(simulate), config, raw })).clusters
      : load.ports().realClusterFleet(stack, config);

  const run = async (opts: RunOptions, action: 'rotate' | 'resume' | 'rollback') => {
    const { config, raw } = openStack(opts.stack);
    if (opts.emergency && opts.disruptive) throw new InvalidArgumentError('--emergency and --disruptive exclude each other');
    const mode: RotationMode = opts.disruptive ? 'disruptive' : opts.emergency ? 'emergency' : 'rotate';
    // Usage is settled before anything looks for the Pulumi CLI or a cluster.
    if (!opts.yes && !opts.dryRun && (!io.interactive || !io.confirm))
      throw new InvalidArgumentError(
        `refusing to ${action} without --yes when not on a TTY; fix: pass --yes, or run it in a terminal to be asked`,
      );
    if (action !== 'rotate' && opts.credential.length === 0)
      throw new InvalidArgumentError(
        `${action} needs --credential; fix: name the credential in flight (keyslot status --stack ${opts.stack} shows it)`,
      );
    if (opts.report) writableOrRefuse('--report', opts.report);
    const ports = await (io.ports ?? load.ports().defaultPortsFactory)({
      stack: opts.stack,
      simulate: Boolean(opts.simulate),
      config,
      raw,
      ...(opts.kubeQps ? { kubeQps: opts.kubeQps } : {}),
    });
    /** With --commit (and a real stack), commits the stack file; the file committed. */
    const commitStack = async (message: string): Promise<string | undefined> =>
      opts.commit && !opts.simulate
        ? load.commit().commitStackFile(projectRoot, opts.stack, message, new (load.process().ProcessCommands)())
        : undefined;
    let names = opts.credential;
    if (action === 'rotate' && names.length === 0) {
      names = opts.all
        ? config.credentials.map((c) => c.name)
        : load.driver().dueCredentials(load.driver().credentialStatuses(config, await ports.engine.deployed(), ports.clock.now()));
      if (names.length === 0) {
        io.out(`stack ${opts.stack}: no credential is due for rotation (use --credential or --all)\n`);
        // A run that died after its last up but before its commit left this checkout behind: catch it up.
        const adopted = await new (load.driver().Driver)(ports, { policyPacks: [], holder: load.ports().lockHolder() }).adopt();
        if (adopted.length) {
          io.out(`stack ${opts.stack}: the checkout was behind the deployed stack for ${adopted.join(', ')}; adopted it\n`);
          const file = await commitStack(`keyslot: adopt the deployed state of ${adopted.join(', ')}`);
          if (file) io.out(`committed ${file}\n`);
        }
        return;
      }
    }
    if (opts.dryRun) {
      const preview = await ports.engine.preview({ policyPacks: opts.policy ? ['policy'] : [] });
      io.out(renderPlan(planRotation(config, names, mode)));
      io.out(
        `preview: ${
          Object.entries(preview.changes)
            .map(([op, n]) => `${n} ${op}`)
            .join(', ') || 'no changes'
        }\n`,
      );
      return;
    }
    // Without --yes, usage was settled above: a person is at a terminal to confirm.
    if (!opts.yes && io.confirm) {
      if (mode === 'disruptive')
        io.err('--disruptive replaces every slot at once: consumers fail until they restart. This causes downtime.\n');
      if (!(await io.confirm(`${action} ${names.join(', ')} in stack ${opts.stack}${opts.simulate ? ' (simulated)' : ''}?`))) {
        io.err('cancelled\n');
        return;
      }
    }
    const events: RotationEvent[] = [];
    let show = (e: RotationEvent) =>
      io.out(knownSecrets.redact(opts.json ? `${JSON.stringify(e)}\n` : `${load.renderEvents().eventLine(e)}\n`));
    const driver = new (load.driver().Driver)(ports, {
      onInterrupt,
      policyPacks: opts.policy ? ['policy'] : [],
      ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
      ...(opts.maxRestartingPods ? { maxRestartingPods: opts.maxRestartingPods } : {}),
      waves: opts.waves,
      canary: opts.canary,
      force: Boolean(opts.force),
      discovery: opts.strict ? 'strict' : 'warn',
      holder: load.ports().lockHolder(),
      onEvent: (e) => {
        events.push(e);
        show(e);
      },
    });
    // Committed after each credential: a run that dies on the second one leaves the first one's
    // changes in the repository, and resume adopts the rest from the deployed stack.
    const committed = async (r: RotationResult): Promise<RotationResult> => {
      const file = await commitStack(`keyslot: ${action} ${r.credential} (${r.rotationId})`);
      if (file) io.out(`committed ${file} (${r.credential})\n`);
      return r;
    };
    const act = (name: string) =>
      (action === 'rotate' ? driver.rotate(name, mode) : action === 'resume' ? driver.resume(name) : driver.rollback(name)).then(committed);
    const results: RotationResult[] = [];
    try {
      if (io.interactive && !opts.json) {
        // A person at a terminal gets a live task list; CI gets one line per event.
        const done = await load.taskList().runWithTaskList(
          names,
          (name, onEvent) => {
            show = onEvent;
            return act(name);
          },
          io.taskRenderer ?? 'default',
        );
        results.push(...done);
      } else if (action === 'rotate' && mode === 'rotate' && names.length > 1) {
        // Several credentials: one up for their flips, one restart per shared consumer, one up for their records.
        for (const r of await driver.rotateTogether(names)) results.push(await committed(r));
      } else {
        for (const name of names) results.push(await act(name));
      }
    } finally {
      // The report is a record of the run, not part of it: failing to write it never fails a rotation.
      if (opts.report) {
        try {
          writeFileSync(opts.report, knownSecrets.redact(load.renderEvents().markdownReport(opts.stack, events)));
        } catch (error) {
          io.err(
            `keyslot: warning: --report ${opts.report} could not be written (${(error as NodeJS.ErrnoException).code ?? 'error'}); the rotation's outcome is above\n`,
          );
        }
      }
    }
    const unconfirmed = results.flatMap((r) => r.unconfirmed);
    if (unconfirmed.length && !opts.json) io.err(`not confirmed by: ${unconfirmed.join('; ')}\n`);
  };

  rotationOptions(
    program.command('rotate').description('rotate credentials: flip, up, restart and verify every consumer, then regenerate the freed key'),
    'rotate',
  ).action((opts: RunOptions) => run(opts, 'rotate'));
  rotationOptions(
    program.command('resume').description('finish the rotation in flight, from what the stack and the fleet show as done'),
    'resume',
  ).action((opts: RunOptions) => run(opts, 'resume'));
  rotationOptions(
    program.command('rollback').description('flip back the rotation in flight (impossible once the freed key was regenerated)'),
    'resume',
  ).action((opts: RunOptions) => run(opts, 'rollback'));

  program
    .command('drill')
    .description('rotate against a simulated fleet with simulated traffic; exit 0 only if no request failed and every invariant held')
    .addOption(required('-s, --stack <name>', 'stack name'))
    .addOption(new Option('--seed <n>', 'seed of the run').argParser(positiveInt).default(1))
    .addOption(new Option('--seeds <n>', 'run seeds 1..n').argParser(positiveInt))
    .option('--world <file>', "the deployment to drill against (YAML; default: the stack's reference world in worlds/, if shipped)")
    .option('--faults', 'inject one fault per seed: stuck or slow rollouts, API errors, failed log checks, a driver crash and resume')
    .option('--emergency', 'drill an emergency rotation (failures are counted, not refused)')
    .option('--disruptive', 'drill a disruptive rotation')
    .option('--json', 'print results as JSON lines')
    .option('--stacks-dir <dir>', 'folder of stack files (default: stacks/ of this project)')
    .action(
      async (opts: {
        stack: string;
        seed: number;
        seeds?: number;
        world?: string;
        faults?: boolean;
        emergency?: boolean;
        disruptive?: boolean;
        json?: boolean;
        stacksDir?: string;
      }) => {
        const { config, raw } = openStack(opts.stack, opts.stacksDir);
        const world = opts.world
          ? { description: load.worldFile().loadWorldFile(opts.world, config), source: `world file ${opts.world}` }
          : undefined;
        const mode: RotationMode = opts.disruptive ? 'disruptive' : opts.emergency ? 'emergency' : 'rotate';
        const seeds = opts.seeds ? Array.from({ length: opts.seeds }, (_, i) => i + 1) : [opts.seed];
        let held = true;
        let world0: string | undefined;
        for (const seed of seeds) {
          const result = await load.drill().runDrill(opts.stack, raw, {
            seed,
            faults: Boolean(opts.faults),
            mode,
            ...(world ? { world } : {}),
          });
          held &&= load.renderDrill().drillHeld(result);
          world0 ??= result.world;
          if (io.interactive && seeds.length > 1 && !opts.json)
            io.err(`\rseed ${seed}/${seeds.length}${seed === seeds.length ? '\n' : ''}`);
          if (opts.json) io.out(`${JSON.stringify({ ...result, events: seeds.length > 1 ? undefined : result.events })}\n`);
          else io.out(seeds.length > 1 ? load.renderDrill().drillLine(result) : load.renderDrill().renderDrill(result));
        }
        if (seeds.length > 1 && !opts.json) {
          const world = world0 ?? 'the world assumed from the stack';
          io.out(`${seeds.length} seeds against ${world}: ${held ? 'every invariant held' : 'invariants VIOLATED'}\n`);
        }
        if (!held) throw new DrillFailedError(`drill of ${opts.stack} found a rotation that would fail requests or break an invariant`);
      },
    );

  program
    .command('status')
    .description("per credential: scheme, active slot, each slot's generation and age, due date, last rotation, rotation in flight, drift")
    .addOption(required('-s, --stack <name>', 'stack name'))
    .option('--json', 'print JSON')
    .option('--simulate', 'read the simulated stack instead of the Pulumi backend')
    .action(async (opts: { stack: string; json?: boolean; simulate?: boolean }) => {
      const { config, raw } = openStack(opts.stack);
      const ports = await (io.ports ?? load.ports().defaultPortsFactory)({
        stack: opts.stack,
        simulate: Boolean(opts.simulate),
        config,
        raw,
      });
      const statuses = load.driver().credentialStatuses(config, await ports.engine.deployed(), ports.clock.now());
      io.out(opts.json ? load.renderStatus().statusJson(opts.stack, statuses) : load.renderStatus().renderStatus(opts.stack, statuses));
    });

  return program;
}

/** Runs one command line; resolves to the process exit code. */
/** Refuses, as a usage error naming the flag, an output path whose folder is missing or not writable. */
function writableOrRefuse(flag: string, path: string): void {
  const folder = dirname(resolve(path));
  try {
    if (!statSync(folder).isDirectory()) throw new Error('not a folder');
    accessSync(folder, constants.W_OK);
  } catch {
    throw new InvalidArgumentError(
      `${flag} ${path}: the folder ${folder} does not exist or is not writable; create it or choose another path`,
    );
  }
}

export async function runCli(argv: readonly string[], io: Io = processIo): Promise<number> {
  try {
    await buildCli(io).parseAsync([...argv], { from: 'user' });
    return ExitCode.ok;
  } catch (error) {
    if (error instanceof InvalidArgumentError && !(error instanceof CommanderError && error.exitCode !== 1)) {
      io.err(knownSecrets.redact(`keyslot: ${error.message}\n`));
      return ExitCode.badInput;
    }
    if (error instanceof CommanderError) {
      // Help and version are exit 0; every usage error is bad input.
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.badInput;
    }
    if (error instanceof KeyslotError) {
      io.err(knownSecrets.redact(`keyslot: ${error.message}\n`));
      return exitCodeFor(error);
    }
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    io.err(knownSecrets.redact(`keyslot: unexpected failure: ${message}\n`));
    return ExitCode.failed;
  }
}

if (require.main === module) {
  void runCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
