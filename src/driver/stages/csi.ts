/**
 * `wait-secret-sync`: Key Vault secrets mounted through the Secrets Store CSI driver, and the check at
 * the gate when the driver does not rotate.
 */
import type { Delivery } from '../../config/schema.ts';
import { ConsumerNotReadyError, KeyslotError } from '../../errors.ts';
import { selects, type StageStep } from '../../model/index.ts';
import { mountedVersion } from '../../model/csi.ts';
import type { DriverContext, Run } from '../context.ts';
import { stageLabel } from './common.ts';

/** The Key Vault delivery that serves a cluster: the one whose `clusters` include it. */
function vaultServing(run: Run, cluster: string): Extract<Delivery, { type: 'azure-keyvault-secret' }> | undefined {
  return run.before.deliver.find(
    (d): d is Extract<Delivery, { type: 'azure-keyvault-secret' }> =>
      d.type === 'azure-keyvault-secret' && d.clusters !== undefined && selects(run.config.clusters, d.clusters, cluster),
  );
}

/** The mounts of classes whose CSI driver does not rotate: after the restarts, every pod must hold the new version. */
export async function checkMountsAtGate(ctx: DriverContext, run: Run) {
  for (const { step, cluster } of run.mountsAtGate ?? []) {
    const vault = vaultServing(run, cluster)!;
    try {
      // The restarts are done: a pod behind now stays behind, so a short wait for the status to settle.
      await awaitMounts(ctx, step, cluster, vault, 60);
    } catch (error) {
      if (!(error instanceof KeyslotError)) throw error;
      const index = run.plan.steps.findIndex((s) => s.kind === 'wait-secret-sync' && 'stage' in s && s.stage === step.stage);
      run.unconfirmed.push({ step: index, label: `wait-secret-sync ${stageLabel(step)} on ${cluster}`, error });
    }
  }
}

/**
 * Waits until every pod of the SecretProviderClass on the cluster mounts the version of the
 * secret that the vault serving this cluster holds now, as the CSI driver's
 * SecretProviderClassPodStatus objects record it. Versions are ids, never values.
 */
export async function waitSecretSync(
  ctx: DriverContext,
  run: Run,
  step: Extract<StageStep, { kind: 'wait-secret-sync' }>,
  cluster: string,
): Promise<string> {
  const vault = vaultServing(run, cluster);
  if (!vault)
    throw new ConsumerNotReadyError(
      `no azure-keyvault-secret delivery of ${run.plan.name} declares cluster ${cluster} in its clusters, so there is no vault version to wait for; fix: add the cluster to the delivery of the vault its pods read`,
    );
  // With rotation off (the driver's and the AKS add-on's default), a running pod's mount never
  // changes: waiting would time out. A pod that starts mounts the vault's current version
  // (NodePublishVolume, pkg/secrets-store/nodeserver.go v1.5.6), so the restarts after this stage
  // carry the new value by themselves.
  const rotation = await ctx.ports.clusters.csiRotation(cluster);
  // A Secret synced through secretObjects changes only on a rotation pass: with rotation off the
  // driver creates it once and never updates it (secrets-store-csi-driver v1.5.6,
  // controllers/secretproviderclasspodstatus_controller.go; pkg/rotation/reconciler.go), so its
  // readers would keep the old key through any restart. Refused before any restart.
  const synced = await ctx.ports.clusters.providerClassSyncedSecrets(cluster, step.namespace, step.secretProviderClass);
  if (rotation && !rotation.enabled && synced.length)
    throw new ConsumerNotReadyError(
      `SecretProviderClass ${step.namespace}/${step.secretProviderClass} on ${cluster} syncs Secret(s) ${synced.join(', ')} through secretObjects, and the CSI driver's rotation is off there: the driver never updates a synced Secret then, so its readers would keep the old key even after a restart; fix: enable rotation (--enable-secret-rotation), or stop syncing and mount the vault directly`,
    );
  if (rotation && !rotation.enabled) {
    // The same check runs at the gate, after the restarts: a pod of the class that no stage
    // restarted would still mount the old version there, and close the gate.
    run.mountsAtGate ??= [];
    run.mountsAtGate.push({ step, cluster });
    return `CSI secret rotation is off on ${cluster}: running pods keep their mount until they restart, and a restarted pod mounts ${vault.vaultName}/${vault.secretName} as it is now; every pod's mount is checked at the gate`;
  }
  return awaitMounts(ctx, step, cluster, vault, step.timeoutSeconds, rotation);
}

/** Waits until every pod of the class mounts the version the vault holds now; the detail, or a ConsumerNotReadyError. */
export async function awaitMounts(
  ctx: DriverContext,
  step: Extract<StageStep, { kind: 'wait-secret-sync' }>,
  cluster: string,
  vault: Extract<Delivery, { type: 'azure-keyvault-secret' }>,
  timeoutSeconds: number,
  rotation?: { pollSeconds: number },
): Promise<string> {
  const deadline = ctx.ports.clock.now().getTime() + timeoutSeconds * 1000;
  let behind: string[] = [];
  for (;;) {
    const expected = await ctx.ports.cloud.vaultSecretVersion({
      ...(vault.subscriptionId ? { subscriptionId: vault.subscriptionId } : {}),
      resourceGroupName: vault.resourceGroupName,
      vaultName: vault.vaultName,
      secretName: vault.secretName,
    });
    const pods = await ctx.ports.clusters.secretSyncStatus(cluster, step.namespace, step.secretProviderClass);
    behind = pods.filter((p) => mountedVersion(p.objects, vault.secretName) !== expected).map((p) => p.pod);
    // The rotation pass that refreshed the mounts wrote the synced Secrets in the same pass.
    if (pods.length > 0 && behind.length === 0)
      return `${pods.length} pod(s) mount ${vault.vaultName}/${vault.secretName} version …${(expected ?? '').slice(-6)}`;
    if (ctx.ports.clock.now().getTime() >= deadline)
      throw new ConsumerNotReadyError(
        pods.length === 0
          ? `no pod of SecretProviderClass ${step.namespace}/${step.secretProviderClass} on ${cluster} reports a mount (no SecretProviderClassPodStatus) within ${timeoutSeconds}s`
          : `the CSI driver had not synced ${vault.vaultName}/${vault.secretName} into ${behind.length} pod(s) on ${cluster} within ${timeoutSeconds}s (${behind.slice(0, 3).join(', ')}); ${rotation ? `check its rotation poll interval (${rotation.pollSeconds}s)` : 'with rotation off, only a restart remounts: restart their workloads in a stage'}`,
      );
    await ctx.ports.clock.sleep(10_000);
  }
}
