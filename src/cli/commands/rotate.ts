/**
 * `keyslot rotate`, `resume` and `rollback`: the driver against the real (or `--simulate`d) stack and
 * fleet, with a live task list at a terminal and one line per event in CI.
 */
import { defaultWaves, type WaveSpec } from '../../model/waves.ts';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { writeFileSync } from 'node:fs';
import { onInterrupt } from '../../adapters/probes/interrupt.ts';
import { openStack, projectRoot } from '../../config/load.ts';
import { planCredential, planRotation, type RotationMode } from '../../model/planner.ts';
import type { RotationEvent, RotationResult } from '../../driver/index.ts';
import { knownSecrets } from '../secrets.ts';
import { renderPlan } from '../renderPlan.ts';
import { DeclinedError } from '../../errors.ts';

import { collect, load, positiveInt, readableJsonOrRefuse, required, waveList, writableOrRefuse, type Io } from '../shared.ts';
import { eventJson, jsonDocument } from '../json.ts';

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
  lockWait?: number;
  cancelTimeout?: number;
  waves: WaveSpec;
  canary: 'whole-rotation' | 'per-stage';
  force?: boolean;
  emergency?: boolean;
  disruptive?: boolean;
  policy: boolean;
  policyPackConfig?: string;
  simulate?: boolean;
  commit?: boolean;
  strict?: boolean;
}

/** The rotation commands share their options. */
function rotationOptions(cmd: Command, extra: 'rotate' | 'resume'): Command {
  cmd
    .addOption(required('-s, --stack <name>', 'stack name (stacks/Pulumi.<name>.yaml)'))
    .option(
      '-c, --credential <name>',
      extra === 'rotate' ? 'credential; repeatable (default: those due)' : 'the credential whose rotation is in flight; required',
      collect,
      [],
    )
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
    .addOption(
      new Option(
        '--lock-wait <seconds>',
        "wait up to this long for a lock another driver holds (to take over one a killed agent left: at least the lock's duration, 3600 s)",
      ).argParser(positiveInt),
    )
    .addOption(
      new Option(
        '--cancel-timeout <seconds>',
        'interrupted during a pulumi preview or up, how long to wait for pulumi to cancel it cleanly before releasing the lock (default: 120)',
      ).argParser(positiveInt),
    )
    .option('--no-policy', 'do not pass policy/ to pulumi up')
    .option('--policy-pack-config <file>', "the pack's config file (levels and settings by policy), passed to every preview and up")
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

export function registerRotate(program: Command, io: Io): void {
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
    if (opts.policyPackConfig) readableJsonOrRefuse('--policy-pack-config', opts.policyPackConfig);
    if (opts.policyPackConfig && !opts.policy)
      throw new InvalidArgumentError('--policy-pack-config configures the pack that --no-policy leaves out; fix: drop one of them');
    const packs = opts.policy
      ? { policyPacks: ['policy'], ...(opts.policyPackConfig ? { policyPackConfigs: [opts.policyPackConfig] } : {}) }
      : { policyPacks: [] };
    const ports = await (io.ports ?? load.ports().defaultPortsFactory)({
      stack: opts.stack,
      simulate: Boolean(opts.simulate),
      config,
      raw,
      ...(opts.kubeQps ? { kubeQps: opts.kubeQps } : {}),
      ...(opts.cancelTimeout ? { cancelTimeoutSeconds: opts.cancelTimeout } : {}),
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
      const preview = await ports.engine.preview(packs);
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
      // The question comes after what it is about: the plan, as `keyslot plan` and --dry-run print it.
      // Resume and rollback follow the rotation in flight, not a new plan: their question names it.
      if (action === 'rotate') io.out(renderPlan(planRotation(config, names, mode)));
      if (mode === 'disruptive')
        io.err('--disruptive replaces every slot at once: consumers fail until they restart. This causes downtime.\n');
      if (!(await io.confirm(`${action} ${names.join(', ')} in stack ${opts.stack}${opts.simulate ? ' (simulated)' : ''}?`)))
        throw new DeclinedError(`${action} declined at the prompt; nothing was changed`);
    }
    const events: RotationEvent[] = [];
    let show = (e: RotationEvent) =>
      io.out(knownSecrets.redact(opts.json ? jsonDocument(eventJson(e)) : `${load.renderEvents().eventLine(e)}\n`));
    const driver = new (load.driver().Driver)(ports, {
      onInterrupt,
      ...packs,
      ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
      ...(opts.maxRestartingPods ? { maxRestartingPods: opts.maxRestartingPods } : {}),
      ...(opts.lockWait ? { lockWaitSeconds: opts.lockWait } : {}),
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
          // What each step acts on, from the stack as this run parsed it (the events carry a step's number and kind).
          const plans = events.flatMap((e) => {
            const cred = e.type === 'rotation-started' ? config.credentials.find((c) => c.name === e.credential) : undefined;
            return cred && e.type === 'rotation-started' ? [planCredential(config, cred, e.mode)] : [];
          });
          writeFileSync(opts.report, knownSecrets.redact(load.renderEvents().markdownReport(opts.stack, events, plans)));
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

  const examples = (lines: string[]) => `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}\n`;
  rotationOptions(
    program.command('rotate').description('rotate credentials: flip, up, restart and verify every consumer, then regenerate the freed key'),
    'rotate',
  )
    .addHelpText(
      'after',
      examples([
        'keyslot rotate --stack kubecost-thanos --simulate --yes --all      # the whole rotation against the simulated fleet',
        'keyslot rotate --stack prod --dry-run                               # the plan and a preview, nothing changed',
        'keyslot rotate --stack prod --yes --report "$GITHUB_STEP_SUMMARY"   # what is due, in a pipeline',
        'keyslot rotate --stack prod --credential cosmos --emergency --yes   # a key was exposed',
      ]),
    )
    .action((opts: RunOptions) => run(opts, 'rotate'));
  rotationOptions(
    program.command('resume').description('finish the rotation in flight, from what the stack and the fleet show as done'),
    'resume',
  )
    .addHelpText(
      'after',
      examples([
        'keyslot status --stack prod                                # which credential is in flight',
        'keyslot resume --stack prod --credential cosmos --yes',
      ]),
    )
    .action((opts: RunOptions) => run(opts, 'resume'));
  rotationOptions(
    program.command('rollback').description('flip back the rotation in flight (impossible once the freed key was regenerated)'),
    'resume',
  )
    .addHelpText('after', examples(['keyslot rollback --stack prod --credential cosmos --yes']))
    .action((opts: RunOptions) => run(opts, 'rollback'));
}
