/**
 * Every failure a caller can act on has its own class. Raw SDK failures are classified once, in
 * the adapter that saw them; everything else branches with `instanceof`, never on message text.
 * The CLI maps each class to an exit code (see `exitCodeFor` and the README's table).
 */
export class KeyslotError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * The stack configuration is invalid. The message is one line: the file, the config path, what
 * was found and how to fix it.
 */
export class ConfigError extends KeyslotError {
  constructor(
    /** Where the config came from: a stack file path, or "stack <name>" inside Pulumi. */
    readonly origin: string,
    /** A Pulumi config path such as `keyslot:credentials[0].stages[1].clusters`. */
    readonly path: string,
    /** What was there, already rendered (never a secret value). */
    readonly found: string,
    /** What to do about it. */
    readonly fix: string,
    options?: { cause?: unknown },
  ) {
    super(`${origin}: ${path}: found ${found}; fix: ${fix}`, options);
  }
}

/** A stack named on the command line has no `stacks/Pulumi.<stack>.yaml`. */
export class StackNotFoundError extends ConfigError {}

/** A request names a credential that the stack does not declare. */
export class UnknownCredentialError extends ConfigError {}

/** Process exit codes, documented in the README. */
export const ExitCode = {
  ok: 0,
  failed: 1,
  badInput: 2,
} as const;

export function exitCodeFor(error: unknown): number {
  if (error instanceof ConfigError) return ExitCode.badInput;
  return ExitCode.failed;
}
