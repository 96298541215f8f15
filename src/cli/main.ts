/**
 * `keyslot`: commander wiring and rendering only. Every command resolves to an exit code; errors
 * print as one line on stderr (never a stack trace) and map to the codes in the README.
 */
import { Command, CommanderError } from 'commander';
import { loadStack } from '../config/load.ts';
import { ExitCode, exitCodeFor, KeyslotError } from '../errors.ts';
import { planRotation } from '../model/planner.ts';
import { planJson, renderPlan } from './renderPlan.ts';

export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const processIo: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function buildCli(io: Io): Command {
  const program = new Command('keyslot')
    .description('Zero-downtime credential rotation: the active slot of each credential is Pulumi stack config.')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showSuggestionAfterError();

  program
    .command('plan')
    .description('print what a rotation will do, step by step (reads stacks/Pulumi.<stack>.yaml; no Pulumi CLI needed)')
    .requiredOption('-s, --stack <name>', 'stack name (stacks/Pulumi.<name>.yaml)')
    .option('-c, --credential <name>', 'credential to plan; repeatable (default: all)', collect, [])
    .option('--stacks-dir <dir>', 'folder of stack files (default: stacks/ of this project)')
    .option('--json', 'print the plan as JSON')
    .action((opts: { stack: string; credential: string[]; stacksDir?: string; json?: boolean }) => {
      const config = loadStack(opts.stack, opts.stacksDir);
      const plan = planRotation(config, opts.credential);
      io.out(opts.json ? planJson(plan) : renderPlan(plan));
    });

  return program;
}

/** Runs one command line; resolves to the process exit code. */
export async function runCli(argv: readonly string[], io: Io = processIo): Promise<number> {
  try {
    await buildCli(io).parseAsync([...argv], { from: 'user' });
    return ExitCode.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are exit 0; every usage error is bad input.
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.badInput;
    }
    if (error instanceof KeyslotError) {
      io.err(`keyslot: ${error.message}\n`);
      return exitCodeFor(error);
    }
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    io.err(`keyslot: unexpected failure: ${message}\n`);
    return ExitCode.failed;
  }
}

if (require.main === module) {
  void runCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
