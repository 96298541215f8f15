/**
 * What keyslot decides about Gardener Shoots, over a plain view of a Shoot that both the real
 * Kubernetes adapter (from `core.gardener.cloud/v1beta1` objects) and the simulated cluster build.
 */

export interface ShootView {
  readonly name: string;
  /** `spec.secretBindingName` (or `spec.credentialsBindingName`). */
  readonly binding?: string;
  /** Set when `metadata.deletionTimestamp` is set or the deletion is confirmed by annotation. */
  readonly beingDeleted: boolean;
  readonly lastOperation?: { readonly type: string; readonly state: string; readonly lastUpdateTime?: string };
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
};

export function rotationKindOf(operation: string): string | undefined {
  return rotationKinds[operation];
}

/** `start`/`complete` for the two phases of a two-phase rotation; `single` otherwise. */
export function rotationPhaseOf(operation: string): 'start' | 'complete' | 'single' {
  return operation.endsWith('-start') ? 'start' : operation.endsWith('-complete') ? 'complete' : 'single';
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
  const kind = rotationKindOf(operation);
  if (!kind || rotationPhaseOf(operation) !== 'complete') return undefined;
  const phase = shoot.rotation[kind]?.phase;
  if (phase === 'Prepared' || phase === 'Completing') return undefined;
  return `${operation} needs .status.credentials.rotation.${kind}.phase Prepared, found ${phase ?? 'none'}; run the matching -start operation first`;
}

/** Whether the Shoot reconciled successfully after its credential changed at `since`. */
export function reconciledSince(shoot: ShootView, since: Date): boolean {
  return shoot.lastOperation?.state === 'Succeeded' && after(shoot.lastOperation.lastUpdateTime, since);
}

export function reconcileFailed(shoot: ShootView, since: Date): boolean {
  return shoot.lastOperation?.state === 'Failed' && after(shoot.lastOperation.lastUpdateTime, since);
}
