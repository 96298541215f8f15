/**
 * The one wait loop of the Gardener operations, shared by the real and the simulated adapter:
 * reads the Shoots, asks `pending` which are not done yet (it may throw on a failed one), and
 * sleeps on the port's clock until none is left or the deadline passed.
 */
import { ConsumerNotReadyError, ResourceNotFoundError, ShootBeingDeletedError } from '../../errors.ts';
import {
  needsAnnotation,
  reconciledAfter,
  reconcileFailed,
  refusedOperation,
  selectShoots,
  shootsToReconcile,
  type ShootView,
} from '../../model/gardener.ts';
import type { Clock } from '../../ports/clock.ts';

export async function waitForShoots(args: {
  readonly clock: Clock;
  readonly intervalMs: number;
  readonly timeoutSeconds: number;
  readonly cluster: string;
  readonly what: string;
  readonly read: () => Promise<ShootView[]>;
  readonly pending: (shoots: ShootView[]) => ShootView[];
}): Promise<void> {
  const deadline = args.clock.now().getTime() + args.timeoutSeconds * 1000;
  for (;;) {
    const left = args.pending(await args.read());
    if (left.length === 0) return;
    if (args.clock.now().getTime() >= deadline)
      throw new ConsumerNotReadyError(
        `cluster ${args.cluster}: ${args.what} not completed after ${args.timeoutSeconds}s for shoot(s) ${left.map((s) => s.name).join(', ')}`,
      );
    await args.clock.sleep(args.intervalMs);
  }
}

export { shootsToReconcile };

/** What an `annotate` or `wait-reconciled` stage selects, said the way a user wrote it. */
function selector(args: { namespace: string; shoots?: readonly string[]; secretBinding?: string }): string {
  return args.shoots
    ? `shoots ${args.shoots.join(', ')} in ${args.namespace}`
    : `shoots of secretBinding ${args.secretBinding} in ${args.namespace}`;
}

/**
 * The Shoots an `annotate` stage must annotate now, decided before any is touched (a half-annotated
 * set is worse than none): a selector that matches nothing, a named Shoot that is missing, one being
 * deleted, or one Gardener would refuse the operation on fails the whole stage.
 */
export function shootsToAnnotate(
  cluster: string,
  all: readonly ShootView[],
  args: { namespace: string; shoots?: readonly string[]; secretBinding?: string; operation: string; since: Date },
): ShootView[] {
  const selected = selectShoots(all, args);
  if (selected.length === 0)
    throw new ResourceNotFoundError(
      `cluster ${cluster}: no Shoot matches the stage's selector (${selector(args)}); fix the stage's shoots or secretBinding`,
    );
  const missing = (args.shoots ?? []).filter((n) => !selected.some((s) => s.name === n));
  if (missing.length) throw new ResourceNotFoundError(`cluster ${cluster}: shoot(s) ${missing.join(', ')} not found in ${args.namespace}`);
  const deleting = selected.filter((s) => s.beingDeleted);
  if (deleting.length) {
    const names = deleting.map((s) => `${args.namespace}/${s.name}`).join(', ');
    throw new ShootBeingDeletedError(
      `cluster ${cluster}: shoot(s) ${names} are marked for deletion; Gardener refuses ${args.operation} on them — remove them from the stage`,
    );
  }
  for (const s of selected) {
    const why = refusedOperation(s, args.operation);
    if (why) throw new ConsumerNotReadyError(`cluster ${cluster}: shoot ${args.namespace}/${s.name}: ${why}`);
  }
  return selected.filter((s) => needsAnnotation(s, args.operation, args.since));
}

/**
 * What `wait-reconciled` waits for once it annotated: every Shoot finished a reconcile that started
 * at the generation its annotation produced, after the Secret changed at `since`. One that fails
 * meanwhile fails the wait.
 */
export function reconcilePending(
  cluster: string,
  args: { namespace: string; secretBinding: string; since: Date; generations: ReadonlyMap<string, number> },
): (all: ShootView[]) => ShootView[] {
  return (all) => {
    const shoots = selectShoots(all, { secretBinding: args.secretBinding });
    const failed = shoots.find((s) => args.generations.has(s.name) && reconcileFailed(s));
    if (failed)
      throw new ConsumerNotReadyError(
        `cluster ${cluster}: shoot ${args.namespace}/${failed.name} failed to reconcile after ${args.secretBinding} changed; fix the cause, run kubectl annotate shoot ${failed.name} -n ${args.namespace} gardener.cloud/operation=retry, then keyslot resume`,
      );
    return shoots.filter((s) => {
      const generation = args.generations.get(s.name);
      return generation !== undefined && !reconciledAfter(s, generation, args.since);
    });
  };
}
