/**
 * `keyslot`: commander wiring and rendering only, one module per command in ./commands/. Every command
 * resolves to an exit code; errors print as one line on stderr (never a stack trace) and map to the
 * codes in the README.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { createInterface } from 'node:readline/promises';
import { registerDiscover } from './commands/discover.ts';
import { registerDrill } from './commands/drill.ts';
import { registerPermissions } from './commands/permissions.ts';
import { registerPlan } from './commands/plan.ts';
import { registerRotate } from './commands/rotate.ts';
import { registerStatus } from './commands/status.ts';
import { mandatory, type Io } from './shared.ts';
import { ExitCode, exitCodeFor, KeyslotError } from '../errors.ts';
import { knownSecrets } from './secrets.ts';
import { registerInit } from './commands/init.ts';

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
    .option('--debug', 'print the stack trace of an unexpected failure (or set KEYSLOT_DEBUG=1)')
    .showSuggestionAfterError();
  program.hook('preAction', (_program, action) => {
    const opts = action.opts() as Record<string, unknown>;
    for (const option of action.options) {
      if (mandatory.has(option) && opts[option.attributeName()] === undefined)
        action.error(`required option '${option.flags}' not specified`);
    }
  });

  registerPlan(program, io);
  registerDiscover(program, io);
  registerRotate(program, io);
  registerDrill(program, io);
  registerStatus(program, io);
  registerInit(program, io);
  registerPermissions(program, io);
  return program;
}

/** Runs one command line; resolves to the process exit code. */
export type { Io } from './shared.ts';

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
    // A bug report needs the trace; it is redacted like every other line keyslot prints.
    if (argv.includes('--debug') || process.env.KEYSLOT_DEBUG === '1') {
      const trace = error instanceof Error ? (error.stack ?? message) : String(error);
      io.err(knownSecrets.redact(`${trace}\n`));
    } else io.err('keyslot: run it again with --debug (or KEYSLOT_DEBUG=1) for the stack trace\n');
    return ExitCode.failed;
  }
}

if (require.main === module) {
  void runCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
