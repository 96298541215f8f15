/**
 * The rotation driver: executes the planner's steps through ports, never a copy of the plan.
 *
 * Truth lives with the stack and the fleet, not with this process. Before the flip the driver
 * records the rotation in stack config (deployed with the stack); every restart stamps the pod
 * template with the rotation id; cloud keys carry their creation time. `resume` re-plans from the
 * recorded pre-rotation state and skips whatever the world shows as done, so a crash at any step
 * — on a fresh checkout — finishes with each consumer restarted once and each slot regenerated once.
 *
 * This class is the driver's public face: each command's entry point, preparing a rotation and
 * holding the lock around it. The lifecycle is src/model/lifecycle.ts, executed by ./execute.ts;
 * the scheduler is ./schedule.ts, each stage kind ./stages/; batches, adoption, preflight, kOps,
 * records and rollback have modules of their own (README, "Architecture").
 */
import { parseStackConfig, type StackConfig } from '../config/parse.ts';
import type { RotationRecord } from '../config/schema.ts';
import { RotationInFlightError, TooSoonError } from '../errors.ts';
import { planCredential, tooSoon, type CredentialPlan, type RotationMode } from '../model/index.ts';
import { stackLock, type StackLock } from './lock.ts';
import { driverContext, type DriverContext, type DriverOptions, type DriverPorts, type RotationResult, type Run } from './context.ts';
import { adoptBehind, adoptDeployed, beforeRotation, credential, inFlight, refuseStale } from './adoption.ts';
import { executeTogether, mergeStages } from './batch.ts';
import { execute } from './execute.ts';
import { kopsBefore } from './kops.ts';
import { refuseUnsafeImports } from './preflight.ts';
import { assertRollbackPossible, rollBack } from './rollback.ts';

export type { DriverOptions, DriverPorts, RotationResult } from './context.ts';

export class Driver {
  private readonly ctx: DriverContext;

  constructor(ports: DriverPorts, options: DriverOptions) {
    this.ctx = driverContext(ports, options);
  }

  private lockOf(config: StackConfig) {
    const { holder, lockTtlSeconds, lockWaitSeconds } = this.ctx.options;
    return stackLock(config, this.ctx.ports, holder, lockTtlSeconds ?? 3600, lockWaitSeconds ?? 0);
  }

  /** The stack config as the program will read it, through the one parser. */
  async loadConfig(): Promise<StackConfig> {
    const stack = this.ctx.ports.engine.stack;
    return parseStackConfig(stack, await this.ctx.ports.engine.readConfig(), `stack ${stack}`, this.ctx.ports.clock.now());
  }

  /** Starts and finishes a rotation. @throws RotationInFlightError, TooSoonError, LockedError, RolledBackError, ... */
  async rotate(credentialName: string, mode: RotationMode = 'rotate'): Promise<RotationResult> {
    const run = await this.prepare(credentialName, mode);
    const lock = this.lockOf(run.config);
    return this.locked(lock, () => execute(this.ctx, run, lock));
  }

  /**
   * Rotates several dual credentials as one: each is prepared and preflighted as if alone, then
   * every flip, one `up`, the union of their stages — a stage two of them share (same kind,
   * namespace, workload, clusters…) runs once, for both — each gate and regeneration, and one
   * record `up`: 2 ups and one restart per consumer, however many credentials. Every credential
   * keeps its own record, so `resume` finishes any of them alone after a crash (a shared consumer
   * is then restarted again for it, never skipped). Rotates one after another instead when a
   * credential is not a plain dual rotation or their stage orders cross.
   */
  async rotateTogether(names: readonly string[]): Promise<RotationResult[]> {
    const runs: Run[] = [];
    for (const name of names) runs.push(await this.prepare(name, 'rotate'));
    const merged = names.length > 1 ? mergeStages(runs) : undefined;
    if (!merged) {
      const results: RotationResult[] = [];
      for (const name of names) results.push(await this.rotate(name));
      return results;
    }
    const lock = this.lockOf(runs.at(-1)!.config);
    return this.locked(lock, () => executeTogether(this.ctx, runs, merged, lock));
  }

  /** Everything a new rotation checks and decides before it takes the lock: nothing is changed but adopted state. */
  private async prepare(credentialName: string, mode: RotationMode): Promise<Run> {
    let config = await this.loadConfig();
    credential(config, credentialName);
    const deployedAll = await this.ctx.ports.engine.deployed();
    // The other credentials are brought up to what is deployed (an earlier run's commit may not have
    // landed); the one being rotated must not be behind: that is refused below, naming the fix.
    const others = { ...config, credentials: config.credentials.filter((c) => c.name !== credentialName) };
    if (await adoptDeployed(this.ctx, others, deployedAll)) config = await this.loadConfig();
    const cred = credential(config, credentialName);
    refuseUnsafeImports(this.ctx, config, deployedAll);
    const deployed = deployedAll[cred.name];
    const inFlight = cred.rotation ?? deployed?.rotation;
    if (inFlight) throw new RotationInFlightError(cred.name, inFlight.id, config.stack);
    refuseStale(config, cred, deployed);
    if (mode === 'rotate' && !this.ctx.options.force && tooSoon(cred.lastRotatedAt, cred.minIntervalHours, this.ctx.ports.clock.now())) {
      throw new TooSoonError(
        `credential ${cred.name} was rotated at ${cred.lastRotatedAt}, less than minIntervalHours (${cred.minIntervalHours}h) ago; wait, or pass --force (for an exposed key: --emergency)`,
      );
    }
    const plan = (this.ctx.options.planHook ?? ((p: CredentialPlan) => p))(planCredential(config, cred, mode));
    const now = this.ctx.ports.clock.now();
    const keyIds = cred.source.type === 'kops-keyset' ? await kopsBefore(this.ctx, config, cred, mode) : undefined;
    const record: RotationRecord = {
      // Time and credential name it uniquely: the lock allows one rotation of a stack at a time.
      id: `r-${now.toISOString().replace(/[-:.]/g, '').toLowerCase()}-${cred.name}`,
      startedAt: now.toISOString(),
      from: plan.from,
      to: plan.to,
      mode,
      generations: Object.fromEntries(Object.entries(cred.generations).map(([slot, g]) => [slot, g.generation])),
      ...(keyIds ? { keyIds } : {}),
    };
    return { config, before: cred, plan, record, resumed: false, unconfirmed: [], regenerated: new Map() };
  }

  /** Finishes the rotation in flight, from whatever the stack and the fleet show as done. */
  async resume(credentialName: string): Promise<RotationResult> {
    const { config, cred, record } = await inFlight(this.ctx, credentialName);
    refuseUnsafeImports(this.ctx, config, await this.ctx.ports.engine.deployed());
    const before = beforeRotation(cred, record);
    const plan = planCredential(config, before, record.mode);
    const lock = this.lockOf(config);
    return this.locked(lock, () =>
      execute(this.ctx, { config, before, plan, record, resumed: true, unconfirmed: [], regenerated: new Map() }, lock),
    );
  }

  /** Flips back the rotation in flight. Impossible once the freed key was regenerated. */
  async rollback(credentialName: string): Promise<RotationResult> {
    const { config, cred, record } = await inFlight(this.ctx, credentialName);
    refuseUnsafeImports(this.ctx, config, await this.ctx.ports.engine.deployed());
    const before = beforeRotation(cred, record);
    const plan = planCredential(config, before, record.mode);
    const lock = this.lockOf(config);
    return this.locked(lock, async () => {
      await assertRollbackPossible(this.ctx, { config, before, plan, record, resumed: true, unconfirmed: [], regenerated: new Map() });
      await rollBack(this.ctx, { config, before, plan, record, resumed: true, unconfirmed: [], regenerated: new Map() }, 'asked for');
      return { credential: cred.name, rotationId: record.id, outcome: 'rolled-back', unconfirmed: [] };
    });
  }

  /**
   * Brings this checkout up to the deployed stack for every credential it is behind on (a rotation
   * whose commit never landed), without rotating anything; the credentials it changed. What
   * `rotate` does first, and all it does when nothing is due.
   */
  async adopt(): Promise<string[]> {
    return adoptBehind(this.ctx, await this.loadConfig(), await this.ctx.ports.engine.deployed());
  }

  private async locked<T>(lock: StackLock, body: () => Promise<T>): Promise<T> {
    await lock.acquire();
    // Interrupted, the process releases the lock too: the rotation stays resumable by anyone.
    const forget = this.ctx.options.onInterrupt?.(() => lock.release()) ?? (() => {});
    this.ctx.renewLock = () => lock.acquire();
    try {
      // Holding the lock, no other agent is mid-rotation: what is deployed is settled, and every
      // credential this checkout is behind on — in flight or finished — is brought up to it
      // before anything here deploys.
      await adoptBehind(this.ctx, await this.loadConfig(), await this.ctx.ports.engine.deployed(), true);
      return await body();
    } finally {
      this.ctx.renewLock = undefined;
      forget();
      await lock.release();
    }
  }
}
