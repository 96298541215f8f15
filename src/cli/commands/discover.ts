/**
 * `keyslot discover`: a world file of the deployment the stack rotates, for `keyslot drill --world`.
 */
import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { openStack } from '../../config/load.ts';

import { clustersFor, load, required, writableOrRefuse, type Io } from '../shared.ts';

export function registerDiscover(program: Command, io: Io): void {
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
      const clusters = await clustersFor(io, opts.stack, opts.simulate, config, raw);
      const world = await load.driver().discoverWorld(config, clusters);
      writeFileSync(opts.out, load.worldFile().worldFileText(world));
      const shoots = world.shoots.length ? `, ${world.shoots.length} Shoot(s)` : '';
      io.out(
        `wrote ${opts.out}: ${world.workloads.length} workload(s) on ${new Set(world.workloads.map((w) => w.cluster)).size} cluster(s)${shoots}\n`,
      );
    });
}
