/**
 * Gardener, on a garden cluster: Shoots, their SecretBindings, operations by annotation as the API
 * server's strategy and gardenlet take them, reconciles on generation change or the sync period —
 * never on a Secret change (gardener/gardener v1.149.3; see each rule below).
 */
import {
  deletionConfirmationAnnotation,
  gardenerAtLeast,
  operationAnnotation,
  refusedOperation,
  rotationKindOf,
  rotationPhaseOf,
} from '../../model/gardener.ts';
import { CsiDriver } from './csi.ts';
import { gardenerDelayMs, type SimShoot } from '../model.ts';

export abstract class GardenerControllers extends CsiDriver {
  /** A SecretBinding `name` that refers to the Secret `secret` of its namespace. */
  addBinding(namespace: string, name: string, secret: string): void {
    this.secretBindings.set(GardenerControllers.key(namespace, name), secret);
  }

  /** Runs Gardener here: `version` as `major.minor[.patch]`. */
  runGardener(version: string, syncPeriodMs: number): void {
    this.gardener = { version: version.replace(/^v/, ''), syncPeriodMs };
  }

  /** A Shoot; `secret` (older callers) also adds its binding. */
  addShoot(namespace: string, name: string, secretBinding?: string, secret?: string | { hibernated?: boolean }): SimShoot {
    if (secretBinding && typeof secret === 'string') this.addBinding(namespace, secretBinding, secret);
    const shoot: SimShoot = {
      namespace,
      name,
      ...(secretBinding ? { secretBinding } : {}),
      annotations: {},
      rotation: {},
      generation: 1,
      observedGeneration: 1,
      hibernated: typeof secret === 'object' ? Boolean(secret.hibernated) : false,
      lastReconcileAt: this.now(),
    };
    this.shoots.set(GardenerControllers.key(namespace, name), shoot);
    return shoot;
  }

  /** The data of the Secret the Shoot's binding refers to, as its controllers would read it. */
  protected boundCredentials(shoot: SimShoot): string | undefined {
    if (!shoot.secretBinding) return undefined;
    const secret = this.secretBindings.get(GardenerControllers.key(shoot.namespace, shoot.secretBinding));
    const data = secret === undefined ? undefined : this.secrets.get(GardenerControllers.key(shoot.namespace, secret))?.data;
    return data ? JSON.stringify(data) : undefined;
  }

  /** gardenlet starts a reconcile: observedGeneration catches up, lastOperation Processing (reconciler.go). */
  protected startReconcile(shoot: SimShoot, at: number): void {
    shoot.observedGeneration = shoot.generation;
    // The flow reads the provider Secret as it is when it starts.
    shoot.reconciling = this.boundCredentials(shoot);
    shoot.lastOperation = {
      type: 'Reconcile',
      state: 'Processing',
      lastUpdateTime: new Date(at).toISOString(),
      doneAt: at + gardenerDelayMs.reconcile,
    };
  }

  /**
   * Annotates a Shoot with a Gardener operation, as Gardener's admission does: refused (HTTP 403 on
   * the wire) for a Shoot being deleted. A rotation operation reports progress in
   * `.status.credentials.rotation.<kind>`; any other runs as a reconcile.
   */
  annotateShoot(shoot: SimShoot, value: string): 'accepted' | 'being-deleted' | { refused: string } {
    this.sync();
    if (shoot.deletionTimestamp || shoot.annotations[deletionConfirmationAnnotation] === 'true') return 'being-deleted';
    // Several operations separated by ";" from v1.133 (GardenerOperationsSeparator); one before.
    const operations = value.split(';').filter(Boolean);
    if (operations.length > 1 && !gardenerAtLeast(this.gardener?.version, 1, 133))
      return { refused: `Unsupported value: "${value}": this Gardener takes one operation at a time (several from v1.133)` };
    for (const operation of operations) {
      const refused = refusedOperation(
        {
          name: shoot.name,
          beingDeleted: false,
          rotation: shoot.rotation,
          ...(this.gardener ? { gardenerVersion: this.gardener.version } : {}),
        },
        operation,
      );
      if (refused) return { refused };
    }
    for (const operation of operations) this.applyOperation(shoot, operation);
    return 'accepted';
  }

  /**
   * One operation as Gardener's API server strategy and gardenlet take it (gardener/gardener v1.149.3,
   * pkg/apiserver/registry/core/shoot/strategy.go): `reconcile` bumps the generation and is removed at
   * once, but not on a Shoot whose last operation Failed — only `retry` bumps that one
   * (pkg/utils/gardener/shoot.go IsShootFailedAndUpToDate; gardenlet skips it until then).
   */
  protected applyOperation(shoot: SimShoot, operation: string): void {
    const now = this.now();
    const failed = shoot.lastOperation?.state === 'Failed';
    if (operation === 'reconcile' || operation === 'retry') {
      if (failed !== (operation === 'retry')) return;
      shoot.generation += 1;
      this.startReconcile(shoot, now);
      return;
    }
    shoot.generation += 1;
    shoot.annotations[operationAnnotation] = operation;
    const kind = rotationKindOf(operation);
    const iso = new Date(now).toISOString();
    const doneAt = now + gardenerDelayMs.rotation;
    const phase = rotationPhaseOf(operation);
    if (kind && phase === 'start') shoot.rotation[kind] = { ...shoot.rotation[kind], phase: 'Preparing', lastInitiationTime: iso, doneAt };
    else if (kind && phase === 'complete')
      shoot.rotation[kind] = { ...shoot.rotation[kind], phase: 'Completing', lastCompletionTriggeredTime: iso, doneAt };
    else if (kind) shoot.rotation[kind] = { ...shoot.rotation[kind], lastInitiationTime: iso, doneAt };
    else {
      delete shoot.annotations[operationAnnotation];
      this.startReconcile(shoot, now);
    }
  }

  /** gardenlet at `now`: periodic reconciles started, finished operations and rotation phases recorded. */
  protected syncShoots(now: number): void {
    for (const shoot of this.shoots.values()) {
      // The periodic reconcile, a sync period after the last (gardenlet's shoot/helper/infos.go);
      // never for a Shoot whose last operation Failed.
      const period = this.gardener?.syncPeriodMs;
      const state = shoot.lastOperation?.state;
      if (period !== undefined && state !== 'Processing' && state !== 'Failed' && now >= shoot.lastReconcileAt + period)
        this.startReconcile(shoot, shoot.lastReconcileAt + period);
      if (shoot.lastOperation?.state === 'Processing' && shoot.lastOperation.doneAt <= now) {
        shoot.lastOperation = {
          ...shoot.lastOperation,
          state: 'Succeeded',
          lastUpdateTime: new Date(shoot.lastOperation.doneAt).toISOString(),
        };
        if (shoot.lastOperation.type === 'Reconcile') {
          if (shoot.reconciling !== undefined) shoot.credentials = shoot.reconciling;
          delete shoot.reconciling;
          shoot.lastReconcileAt = shoot.lastOperation.doneAt;
          this.version += 1;
        }
      }
      for (const [kind, r] of Object.entries(shoot.rotation)) {
        if (r.doneAt !== undefined && r.doneAt <= now) {
          const at = new Date(r.doneAt).toISOString();
          shoot.rotation[kind] =
            r.phase === 'Preparing'
              ? { ...r, phase: 'Prepared', lastInitiationFinishedTime: at }
              : r.phase === 'Completing'
                ? { ...r, phase: 'Completed', lastCompletionTime: at }
                : { ...r, lastCompletionTime: at };
          delete shoot.rotation[kind]!.doneAt;
          delete shoot.annotations[operationAnnotation];
        }
      }
    }
  }
}
