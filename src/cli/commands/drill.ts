/**
 * `keyslot drill`: the real driver and program against a simulated fleet with traffic; exit 0 only if
 * no request failed and every invariant held.
 */
import { type Command, Option } from 'commander';
import { openStack } from '../../config/load.ts';
import { DrillFailedError } from '../../errors.ts';
import type { RotationMode } from '../../model/planner.ts';

import { load, positiveInt, required, type Io } from '../shared.ts';
import { eventJson, jsonDocument } from '../json.ts';

export function registerDrill(program: Command, io: Io): void {
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
          if (opts.json) io.out(jsonDocument({ ...result, events: seeds.length > 1 ? undefined : result.events.map(eventJson) }));
          else io.out(seeds.length > 1 ? load.renderDrill().drillLine(result) : load.renderDrill().renderDrill(result));
        }
        if (seeds.length > 1 && !opts.json) {
          const world = world0 ?? 'the world assumed from the stack';
          io.out(`${seeds.length} seeds against ${world}: ${held ? 'every invariant held' : 'invariants VIOLATED'}\n`);
        }
        if (!held) throw new DrillFailedError(`drill of ${opts.stack} found a rotation that would fail requests or break an invariant`);
      },
    );
}
