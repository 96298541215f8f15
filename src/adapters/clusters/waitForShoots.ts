/**
 * The one wait loop of the Gardener operations, shared by the real and the simulated adapter:
 * reads the Shoots, asks `pending` which are not done yet (it may throw on a failed one), and
 * sleeps on the port's clock until none is left or the deadline passed.
 */
import { ConsumerNotReadyError } from '../../errors.ts';
import { reconcileFailed, reconciledSince, selectShoots, type ShootView } from '../../model/gardener.ts';
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
    if (args.clock.now().getTime() >= deadline) throw new ConsumerNotReadyError(`cluster ${args.cluster}: ${args.what} not completed after ${args.timeoutSeconds}s for shoot(s) ${left.map((s) => s.name).join(', ')}`);
    await args.clock.sleep(args.intervalMs);
  }
}

/** What `wait-reconciled` waits for: every Shoot of the binding reconciled since the change; a failed one fails the wait. */
export function reconcilePending(cluster: string, args: { namespace: string; secretBinding: string; since: Date }): (all: ShootView[]) => ShootView[] {
  return (all) => {
    const shoots = selectShoots(all, { secretBinding: args.secretBinding });
    const failed = shoots.find((s) => reconcileFailed(s, args.since));
    if (failed) throw new ConsumerNotReadyError(`cluster ${cluster}: shoot ${args.namespace}/${failed.name} failed to reconcile after ${args.secretBinding} changed`);
    return shoots.filter((s) => !reconciledSince(s, args.since));
  };
}
