/**
 * What every part of the driver shares: its ports and options, a rotation run's state, and the events
 * it emits (each also written to the journal).
 */
import type { Credential, StackConfig } from '../config/parse.ts';
import type { RotationRecord } from '../config/schema.ts';
import { KeyslotError } from '../errors.ts';
import { defaultWaves, type CredentialPlan, type StageStep, type WaveSpec } from '../model/index.ts';
import type { DriverPorts, KeyRef } from '../ports/index.ts';
import type { EventSink, RotationEvent } from './events.ts';

export type { DriverPorts } from '../ports/index.ts';

export interface DriverOptions {
  /** Policy pack folders passed to every `up`; empty with `--no-policy`. */
  readonly policyPacks: readonly string[];
  /** Their config files (`--policy-pack-config`), one per pack, passed to every preview and up. */
  readonly policyPackConfigs?: readonly string[];
  /**
   * Registers a cleanup to run if the process is interrupted (SIGTERM, SIGINT) while a lock is
   * held; returns its remover. The CLI passes the process's registry.
   */
  readonly onInterrupt?: (cleanup: () => Promise<void>) => () => void;
  /** Clusters the stages work on at once, over the whole schedule: a cap. @default no cap */
  readonly concurrency?: number;
  /** How each stage widens over its clusters (rotate mode). @default 1, 10%, 100% */
  readonly waves?: WaveSpec;
  /**
   * `whole-rotation`: the canary wave runs every stage (restarts, log checks, waits) and is
   * confirmed before any other cluster is touched. `per-stage`: each stage's canary is its own, and
   * later waves of a stage start once its canary is done, while the canary's later stages may still
   * be running — faster, at the risk of restarting the fleet onto a key the canary has not yet
   * proven. @default whole-rotation
   */
  readonly canary?: 'whole-rotation' | 'per-stage';
  /**
   * A cap on pods restarting at once across the fleet: a restart takes as many as the workload
   * has replicas (as preflight discovery counted them; 1 when unknown) until it rolled out. @default no cap
   */
  readonly maxRestartingPods?: number;
  /** Rotate even if `minIntervalHours` has not passed. @default false */
  readonly force?: boolean;
  /** Who holds the lock, e.g. `ci@runner-7:4121`. */
  readonly holder: string;
  /** @default 3600 */
  readonly lockTtlSeconds?: number;
  /**
   * How long to wait for a lock another driver holds before giving up (exit 4). A lock left by a
   * killed agent is free only once this driver has seen it unchanged for its duration, so taking
   * one over needs a wait of at least `lockTtlSeconds`. @default 0
   */
  readonly lockWaitSeconds?: number;
  readonly onEvent?: EventSink;
  /**
   * Consumer discovery in preflight: `warn` reports workloads that read a delivered Secret but no
   * stage restarts; `strict` refuses to start (exit 2); `off` skips the listing. @default warn
   */
  readonly discovery?: 'off' | 'warn' | 'strict';
  /**
   * Rewrites the plan before it runs. Only drills set it, to prove that a wrong plan (regenerating
   * before the restarts, say) is caught; production never does.
   */
  readonly planHook?: (plan: CredentialPlan) => CredentialPlan;
}

export interface RotationResult {
  readonly credential: string;
  readonly rotationId: string;
  readonly outcome: 'rotated' | 'rolled-back';
  readonly unconfirmed: readonly string[];
}

/** A stage that did not confirm on a cluster. */
export interface Unconfirmed {
  readonly step: number;
  readonly label: string;
  readonly error: KeyslotError;
}

export interface Run {
  readonly config: StackConfig;
  /** The credential as it was before the rotation started. */
  readonly before: Credential;
  readonly plan: CredentialPlan;
  readonly record: RotationRecord;
  readonly resumed: boolean;
  readonly unconfirmed: Unconfirmed[];
  /** Slot → creation time of keys a cloud hook regenerated in this run. */
  readonly regenerated: Map<string, Date>;
  /** Slot → the key id deployed before a `pulumi-up` regeneration asked for a new key (fresh runs only). */
  keyIdsBefore?: Map<string, string>;
  /** When the gate opened in this run: every declared consumer holds the new key from then on. */
  gateAt?: Date;
  /** `wait-secret-sync` stages passed with CSI rotation off: their mounts are checked at the gate. */
  mountsAtGate?: { step: Extract<StageStep, { kind: 'wait-secret-sync' }>; cluster: string }[];
  /** Replicas of each consumer preflight discovery saw, as `cluster namespace/kind/name`: the longest rollouts go first. */
  replicas?: ReadonlyMap<string, number>;
}

/** Thrown inside a run when the gate stays closed; turned into a rollback. */
export class GateClosed extends KeyslotError {}

/** A rotation that has a step, and where in its plan. */
export interface StepOwner {
  readonly run: Run;
  readonly index: number;
  /** The clusters this rotation's own stage names, when the shared node covers more (a merged restart). */
  readonly clusters?: ReadonlySet<string>;
}

/** A stage step as the scheduler runs it: once, for every rotation that has it (`owners`). */
export interface StageNode {
  readonly step: StageStep;
  readonly owners: readonly StepOwner[];
}

/** The driver's ports and options, and how it reports: what every module of the driver is given. */
export interface DriverContext {
  readonly ports: DriverPorts;
  readonly options: DriverOptions;
  /** Clusters at once, over the whole schedule (no cap: Infinity). */
  readonly concurrency: number;
  readonly waves: WaveSpec;
  /** Emits an event to the caller's sink and appends it to the journal. */
  emit(event: RotationEvent): void;
  /** The clock's now, as an ISO time. */
  now(): string;
  /**
   * While a rotation holds the stack's lock: renews it. The driver's clock (`ports.clock`) calls it
   * between the pieces of any wait longer than a third of the lock's duration (a soak of hours),
   * so the lock never lapses in the middle of one step.
   */
  renewLock?: () => Promise<void>;
}

export function driverContext(ports: DriverPorts, options: DriverOptions): DriverContext {
  const base = ports.clock;
  const chunkMs = ((options.lockTtlSeconds ?? 3600) * 1000) / 3;
  // A long wait is slept in pieces, the lock renewed between them (see renewLock).
  const chunked = async (ms: number, signal?: AbortSignal) => {
    let left = ms;
    while (left > chunkMs && ctx.renewLock && !signal?.aborted) {
      await base.sleep(chunkMs, signal);
      left -= chunkMs;
      await ctx.renewLock();
    }
    await base.sleep(left, signal);
  };
  // A short wait is the clock's own sleep, untouched (the same promise: no extra turn of the event loop).
  const clock = {
    now: () => base.now(),
    sleep: (ms: number, signal?: AbortSignal) => (ms > chunkMs && ctx.renewLock ? chunked(ms, signal) : base.sleep(ms, signal)),
  };
  const ctx: DriverContext = {
    ports: { ...ports, clock },
    options,
    concurrency: options.concurrency ?? Number.POSITIVE_INFINITY,
    waves: options.waves ?? defaultWaves,
    emit: (event) => emit(ctx, event),
    now: () => ports.clock.now().toISOString(),
  };
  return ctx;
}

/** The caller's sink first, then the journal: an audit copy of every event but the engine's output. */
function emit(ctx: DriverContext, event: RotationEvent) {
  ctx.options.onEvent?.(event);
  if (event.type === 'engine') return;
  const entry = {
    at: event.at,
    rotationId: 'rotationId' in event ? event.rotationId : '',
    credential: event.credential,
    step: 'step' in event ? event.step : -1,
    kind: 'kind' in event ? event.kind : event.type,
    ...('cluster' in event ? { cluster: event.cluster } : {}),
    outcome:
      event.type === 'warning'
        ? ('warning' as const)
        : event.type === 'step-started' || event.type === 'rotation-started'
          ? ('started' as const)
          : event.type === 'rotation-finished'
            ? event.outcome === 'rolled-back'
              ? ('rolled-back' as const)
              : event.outcome === 'halted'
                ? ('failed' as const)
                : ('done' as const)
            : event.outcome,
    attempt: 1,
    ...('detail' in event && event.detail ? { detail: event.detail } : event.type === 'warning' ? { detail: event.message } : {}),
  };
  void ctx.ports.journal.append(entry).catch(() => {
    // The journal is an audit copy; a rotation never fails because it could not be written.
  });
}

export function keyRef(run: Run): KeyRef {
  return { credential: run.plan.name, source: run.before.source };
}
