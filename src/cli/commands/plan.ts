/**
 * `keyslot plan`: what a rotation will do, step by step, from the stack file alone; with `--discover`,
 * the consumers on the clusters that no stage restarts.
 */
import type { Command } from 'commander';
import { openStack } from '../../config/load.ts';
import { ConfigError } from '../../errors.ts';
import { planRotation } from '../../model/planner.ts';
import { undeliveredStages } from '../../model/discovery.ts';
import { planJson, renderPlan } from '../renderPlan.ts';

import { clustersFor, collect, load, required, type Io } from '../shared.ts';
import { jsonDocument } from '../json.ts';

export function registerPlan(program: Command, io: Io): void {
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
        const clusters = await clustersFor(io, opts.stack, opts.simulate, config, raw);
        for (const credential of planned) {
          const found = await load.driver().discoverConsumers(config, credential, clusters);
          const uncovered = load.driver().uncoveredConsumers(config, credential, found);
          if (opts.json) io.out(jsonDocument({ credential: credential.name, consumers: found, uncovered }));
          else {
            io.out(`\ndiscovery, ${credential.name}: ${found.length} consumer(s) found, ${uncovered.length} not covered by a stage\n`);
            for (const c of uncovered) io.out(`  ! ${load.driver().describeUncovered(c)}\n`);
          }
          if (opts.strict && uncovered.length) throw load.driver().uncoveredError(config, credential, uncovered);
        }
      },
    );
}
