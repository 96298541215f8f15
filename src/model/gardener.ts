/**
 * What keyslot decides about Gardener Shoots, over a plain view of a Shoot that both the real
 * Kubernetes adapter (from `core.gardener.cloud/v1beta1` objects) and the simulated cluster build.
 */

import { ConsumerNotReadyError, ResourceNotFoundError, ShootBeingDeletedError } from '../errors.ts';

export interface ShootView {
  readonly name: string;
  /** `spec.secretBindingName` (or `spec.credentialsBindingName`). */
  readonly binding?: string;
  /** Set when `metadata.deletionTimestamp` is set or the deletion is confirmed by annotation. */
  readonly beingDeleted: boolean;
  readonly lastOperation?: { readonly type: string; readonly state: string; readonly lastUpdateTime?: string };
  /** `metadata.generation` and `status.observedGeneration`. */
  readonly generation?: number;
  readonly observedGeneration?: number;
  /** `spec.hibernation.enabled`. */
  readonly hibernated?: boolean;
  /** `status.gardener.version`: the Gardener that last acted on it, which is the landscape's. */
  readonly gardenerVersion?: string;
  /** The `gardener.cloud/operation` annotation, when one is pending. */
  readonly pendingOperation?: string;
  /** `.status.credentials.rotation`, by kind (`kubeconfig`, `sshKeypair`, ...). */
  readonly rotation: Readonly<Record<string, RotationStatus>>;
}

/**
 * One kind's `.status.credentials.rotation.<kind>` (gardener `core/v1beta1`). Single-phase kinds
 * (kubeconfig, sshKeypair, observability) set only the initiation and completion times; two-phase
 * kinds (CA, service-account key, etcd encryption key) go Preparing → Prepared on `-start`, with
 * `lastInitiationFinishedTime`, and Completing → Completed on `-complete`.
 */
export interface RotationStatus {
  readonly phase?: string;
  readonly lastInitiationTime?: string;
  readonly lastInitiationFinishedTime?: string;
  readonly lastCompletionTriggeredTime?: string;
  readonly lastCompletionTime?: string;
}

export const deletionConfirmationAnnotation = 'confirmation.gardener.cloud/deletion';
export const operationAnnotation = 'gardener.cloud/operation';

/**
 * The `.status.credentials.rotation` field an operation reports progress in. Gardener names
 * the operations and the status fields differently; unknown operations have none, and their
 * completion is read from the Shoot's last operation instead.
 */
const rotationKinds: Readonly<Record<string, string>> = {
  'rotate-kubeconfig-credentials': 'kubeconfig',
  'rotate-ssh-keypair': 'sshKeypair',
  'rotate-observability-credentials': 'observability',
  'rotate-ca-start': 'certificateAuthorities',
  'rotate-ca-complete': 'certificateAuthorities',
  'rotate-serviceaccount-key-start': 'serviceAccountKey',
  'rotate-serviceaccount-key-complete': 'serviceAccountKey',
  'rotate-etcd-encryption-key-start': 'etcdEncryptionKey',
  'rotate-etcd-encryption-key-complete': 'etcdEncryptionKey',
  // Single-phase from Kubernetes 1.34 (gardener/gardener v1.149.3, pkg/api/core/validation/shoot.go).
  'rotate-etcd-encryption-key': 'etcdEncryptionKey',
  // All credentials at once: the CA, service-account key and etcd key rotations move through their
  // phases together; keyslot follows the CA's, the one the others wait for.
  'rotate-credentials-start': 'certificateAuthorities',
  'rotate-credentials-complete': 'certificateAuthorities',
};

/** `-without-workers-rollout` variants report in the same field as the operation they vary. */
const withoutRollout = '-without-workers-rollout';

export function rotationKindOf(operation: string): string | undefined {
  return rotationKinds[operation.replace(withoutRollout, '')];
}

/** `start`/`complete` for the two phases of a two-phase rotation; `single` otherwise. */
export function rotationPhaseOf(operation: string): 'start' | 'complete' | 'single' {
  const base = operation.replace(withoutRollout, '');
  return base.endsWith('-start') ? 'start' : base.endsWith('-complete') ? 'complete' : 'single';
}

/** The status field that says an operation was triggered, and the one that says it finished. */
export function rotationFields(operation: string): { triggered: keyof RotationStatus; finished: keyof RotationStatus } {
  const phase = rotationPhaseOf(operation);
  if (phase === 'start') return { triggered: 'lastInitiationTime', finished: 'lastInitiationFinishedTime' };
  if (phase === 'complete') return { triggered: 'lastCompletionTriggeredTime', finished: 'lastCompletionTime' };
  return { triggered: 'lastInitiationTime', finished: 'lastCompletionTime' };
}

const after = (time: string | undefined, since: Date): boolean => time !== undefined && Date.parse(time) >= since.getTime();

/** The Shoots an `annotate` stage acts on: named ones, or every Shoot using the binding. */
export function selectShoots<T extends ShootView>(
  shoots: readonly T[],
  select: { shoots?: readonly string[]; secretBinding?: string },
): T[] {
  return shoots.filter((s) => (select.shoots ? select.shoots.includes(s.name) : s.binding === select.secretBinding));
}

/** Whether this Shoot still needs the annotation (it was not initiated since `since`). */
export function needsAnnotation(shoot: ShootView, operation: string, since: Date): boolean {
  const kind = rotationKindOf(operation);
  if (kind) return !after(shoot.rotation[kind]?.[rotationFields(operation).triggered], since);
  return !after(shoot.lastOperation?.lastUpdateTime, since);
}

/** Whether the operation completed on this Shoot after `since`. */
export function operationCompleted(shoot: ShootView, operation: string, since: Date): boolean {
  const kind = rotationKindOf(operation);
  if (kind) return after(shoot.rotation[kind]?.[rotationFields(operation).finished], since);
  return shoot.lastOperation?.state === 'Succeeded' && after(shoot.lastOperation.lastUpdateTime, since);
}

/**
 * Why Gardener would refuse the operation on this Shoot, if it would: `-complete` only after the
 * `-start` phase finished (phase Prepared).
 */
export function refusedOperation(shoot: ShootView, operation: string): string | undefined {
  // Removed with static token kubeconfigs in v1.114: the API server answers 422 Unsupported value
  // (gardener/gardener v1.114.0, pkg/apis/core/validation/shoot.go availableShootOperations).
  if (operation === 'rotate-kubeconfig-credentials' && shoot.gardenerVersion && gardenerAtLeast(shoot.gardenerVersion, 1, 114))
    return `Gardener v${shoot.gardenerVersion} has no ${operation} (removed in v1.114 with static token kubeconfigs); rotate with rotate-credentials-start then rotate-credentials-complete, and hand out short-lived kubeconfigs (shoots/adminkubeconfig)`;
  const kind = rotationKindOf(operation);
  // Two-phase rotations and worker rollouts are not permitted while a Shoot is hibernated or waking
  // up (pkg/api/core/validation/shoot.go, IsShootInHibernation).
  if (shoot.hibernated && kind && kind !== 'kubeconfig' && kind !== 'sshKeypair' && kind !== 'observability')
    return `${operation} is not permitted while the shoot is hibernated; wake it (spec.hibernation.enabled: false) or take it out of the stage`;
  if (!kind || rotationPhaseOf(operation) !== 'complete') return undefined;
  const phase = shoot.rotation[kind]?.phase;
  if (phase === 'Prepared' || phase === 'Completing') return undefined;
  return `${operation} needs .status.credentials.rotation.${kind}.phase Prepared, found ${phase ?? 'none'}; run the matching -start operation first`;
}

/** Whether the landscape's Gardener is at least `major.minor`; an unknown version is taken as current. */
export function gardenerAtLeast(version: string | undefined, major: number, minor: number): boolean {
  if (!version) return true;
  const [a, b] = version.replace(/^v/, '').split('.').map(Number) as [number, number];
  return a > major || (a === major && b >= minor);
}

/**
 * The `gardener.cloud/operation` value that asks for a reconcile now without dropping an operation
 * already pending: several operations share the annotation separated by ";" from Gardener v1.133
 * (gardener/gardener v1.149.3, pkg/apis/core/v1beta1/constants/types_constants.go
 * GardenerOperationsSeparator); an older Gardener takes one, so keyslot waits for the other instead.
 */
export function reconcileAnnotation(shoot: ShootView): { value: string } | { busy: string } {
  const pending = shoot.pendingOperation;
  if (!pending) return { value: 'reconcile' };
  if (pending.split(';').includes('reconcile')) return { value: pending };
  if (gardenerAtLeast(shoot.gardenerVersion, 1, 133)) return { value: `${pending};reconcile` };
  return { busy: `operation ${pending} is pending and Gardener v${shoot.gardenerVersion} takes one at a time (several from v1.133)` };
}

/**
 * Whether the Shoot finished a reconcile that started at or after `generation` (the one the
 * `reconcile` annotation produced): gardenlet sets observedGeneration when it starts an operation
 * and lastOperation Succeeded when it ends (pkg/gardenlet/controller/shoot/shoot/reconciler.go), so
 * this reconcile read the Secret as it is since `since`.
 */
export function reconciledAfter(shoot: ShootView, generation: number, since: Date): boolean {
  return (
    (shoot.observedGeneration ?? 0) >= generation &&
    shoot.lastOperation?.state === 'Succeeded' &&
    after(shoot.lastOperation.lastUpdateTime, since)
  );
}

/** A Shoot gardenlet will not reconcile until someone annotates it `retry` (IsShootFailedAndUpToDate). */
export function reconcileFailed(shoot: ShootView): boolean {
  return shoot.lastOperation?.state === 'Failed';
}

/**
 * The Shoots a `wait-reconciled` stage must have reconciled, decided before any is annotated: every
 * Shoot of the binding, each with the annotation value that asks for a reconcile now. Gardener does
 * not reconcile a Shoot because its provider Secret changed, so keyslot asks (as the runbook says).
 * Refused, naming the fix: a Shoot whose last operation Failed (gardenlet leaves it alone until
 * `retry`), one being deleted (its deletion still uses the credential), one whose pending operation
 * an older Gardener cannot share the annotation with. A hibernated Shoot is reconciled like any other
 * (gardenlet reconciles hibernated Shoots; the flow is what keeps them hibernated).
 */
export function shootsToReconcile(
  cluster: string,
  all: readonly ShootView[],
  args: { namespace: string; secretBinding: string },
): { shoot: ShootView; value: string }[] {
  const shoots = selectShoots(all, { secretBinding: args.secretBinding });
  if (shoots.length === 0)
    throw new ResourceNotFoundError(
      `cluster ${cluster}: no Shoot matches the stage's selector (${`shoots of secretBinding ${args.secretBinding} in ${args.namespace}`}); fix the stage's secretBinding`,
    );
  const out: { shoot: ShootView; value: string }[] = [];
  for (const s of shoots) {
    const name = `${args.namespace}/${s.name}`;
    if (s.beingDeleted)
      throw new ShootBeingDeletedError(
        `cluster ${cluster}: shoot ${name} is being deleted and its deletion still uses the ${args.secretBinding} credential; wait until it is gone, then run keyslot resume`,
      );
    if (reconcileFailed(s))
      throw new ConsumerNotReadyError(
        `cluster ${cluster}: shoot ${name}: last operation Failed, and Gardener does not reconcile it again until told to retry; run kubectl annotate shoot ${s.name} -n ${args.namespace} gardener.cloud/operation=retry, then keyslot resume`,
      );
    const annotation = reconcileAnnotation(s);
    if ('busy' in annotation)
      throw new ConsumerNotReadyError(
        `cluster ${cluster}: shoot ${name}: ${annotation.busy}; wait until it started, then run keyslot resume`,
      );
    out.push({ shoot: s, value: annotation.value });
  }
  return out;
}
