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

/** The stack file is older than what is deployed (a stale checkout would flip onto a regenerated key). */
export class StaleStackError extends ConfigError {}

/** Consumer discovery found workloads reading a delivered Secret that no stage restarts (`--strict`). */
export class UncoveredConsumersError extends ConfigError {}

/** Another rotation of this stack holds the lock. */
export class LockedError extends KeyslotError {
  constructor(
    readonly holder: string,
    readonly expiresAt: Date,
    where: string,
  ) {
    super(
      `stack is locked by ${holder} (${where}); free at ${expiresAt.toISOString()} if its holder does not renew it, timed from when this driver saw it unchanged (as Kubernetes leader election does, never by the holder's clock); to take over a lock its holder left, pass --lock-wait with at least the lock's duration`,
    );
  }
}

/** A rotation of this credential is already in flight; `keyslot resume` finishes it. */
export class RotationInFlightError extends KeyslotError {
  constructor(
    readonly credential: string,
    readonly rotationId: string,
    stack: string,
  ) {
    super(
      `credential ${credential} has rotation ${rotationId} in flight; finish it: keyslot resume --stack ${stack} --credential ${credential}`,
    );
  }
}

/** `resume` or `rollback` found nothing to do. */
export class NothingInFlightError extends KeyslotError {}

/** The last rotation was too recent (`minIntervalHours`). */
export class TooSoonError extends KeyslotError {}

/** The Pulumi CLI is not installed or not on PATH. */
export class PulumiCliMissingError extends KeyslotError {}

/** A Pulumi operation (up, preview, config) failed. */
export class EngineError extends KeyslotError {}

/** A policy pack refused a preview or an up with a mandatory violation. */
export class PolicyViolationError extends EngineError {}

/** A cluster's API did not answer. */
export class ClusterUnreachableError extends KeyslotError {}

/** An API refused the call for lack of permission; the message names the verb and resource to grant. */
export class ForbiddenError extends KeyslotError {}

/** An object the call needs does not exist (a 404 the caller did not expect). */
export class ResourceNotFoundError extends KeyslotError {}

/** A write lost a race with another writer (HTTP 409) and retrying did not help. */
export class ConflictError extends KeyslotError {}

/** An API kept answering 429 or 5xx, or did not answer in time, through every retry. */
export class ApiUnavailableError extends KeyslotError {}

/** 410 Gone: a continue token or a watch's resourceVersion the API server has compacted away; the reader starts over. */
export class ResourceExpiredError extends KeyslotError {}

/** A consumer did not confirm the new key: rollout failed, logs show auth errors, a probe or wait failed. */
export class ConsumerNotReadyError extends KeyslotError {}

/** Logs could not be read, so the check cannot pass. */
export class LogsUnreadableError extends ConsumerNotReadyError {}

/** A rollout did not finish in time or reported failure. */
export class RolloutFailedError extends ConsumerNotReadyError {}

/** A workload named by a stage does not exist and the stage is not optional. */
export class WorkloadNotFoundError extends ConsumerNotReadyError {}

/** An exec stage's command failed or timed out. */
export class CommandFailedError extends ConsumerNotReadyError {}

/** Gardener refuses operations on a Shoot that is being deleted; keyslot refuses first. */
export class ShootBeingDeletedError extends ConsumerNotReadyError {}

/**
 * Preflight found a reason the rotation could not finish (a consumer that would never roll out:
 * a paused Deployment, an `OnDelete` strategy, a StatefulSet partition); nothing was changed.
 */
export class PreflightRefusedError extends KeyslotError {}

/** The cloud rejected a key (preflight's test of the standby key). */
export class KeyRejectedError extends KeyslotError {}

/** A rotation failed before the gate and was rolled back; the old key is active again. */
export class RolledBackError extends KeyslotError {}

/** Rollback was asked for after the freed key had been regenerated. */
export class RollbackImpossibleError extends KeyslotError {}

/** A drill found a failed request or a broken invariant. */
export class DrillFailedError extends KeyslotError {}

/** The person at the terminal answered no to the confirmation; nothing was changed. */
export class DeclinedError extends KeyslotError {}

/** Process exit codes, documented in the README. */
export const ExitCode = {
  ok: 0,
  failed: 1,
  badInput: 2,
  rolledBack: 3,
  locked: 4,
  inFlight: 5,
  pulumiMissing: 6,
  tooSoon: 7,
  refused: 8,
  declined: 9,
} as const;

export function exitCodeFor(error: unknown): number {
  if (error instanceof ConfigError || error instanceof NothingInFlightError) return ExitCode.badInput;
  if (error instanceof RolledBackError) return ExitCode.rolledBack;
  if (error instanceof LockedError) return ExitCode.locked;
  if (error instanceof RotationInFlightError) return ExitCode.inFlight;
  if (error instanceof PulumiCliMissingError) return ExitCode.pulumiMissing;
  if (error instanceof TooSoonError) return ExitCode.tooSoon;
  if (error instanceof PreflightRefusedError) return ExitCode.refused;
  if (error instanceof DeclinedError) return ExitCode.declined;
  return ExitCode.failed;
}
