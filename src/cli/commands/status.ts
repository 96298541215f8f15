/**
 * `keyslot status`: per credential, scheme, active slot, each slot's generation and age, due date,
 * last rotation, rotation in flight, drift.
 */
import type { Command } from 'commander';
import { openStack } from '../../config/load.ts';

import { load, required, type Io } from '../shared.ts';

export function registerStatus(program: Command, io: Io): void {
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
}
