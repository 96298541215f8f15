/**
 * Preflight: every check that refuses a rotation before anything changes — reachability, rollouts that could not finish, Helm-owned Secrets, Gardener operations, kOps tokens, consumer discovery, the policy pack — and the record written last.
 */
import pLimit from 'p-limit';
import {
  ConfigError,
  KeyslotError,
  PolicyViolationError,
  PreflightRefusedError,
  PulumiCliMissingError,
  WorkloadNotFoundError,
} from '../errors.ts';
import type { StackConfig } from '../config/parse.ts';
import { cliTooOldFor, retargetedImports } from '../model/imports.ts';
import type { CredentialState } from '../model/state.ts';
import { tokenReissueCheck } from '../model/index.ts';
import { helmRelease } from '../model/helm.ts';
import { deliveredSecrets, type DiscoveredConsumer } from '../model/discovery.ts';
import { refusedOperation, rotationKindOf, rotationPhaseOf, selectShoots, shootsToReconcile } from '../model/gardener.ts';
import { describeUncovered, discoverConsumers, uncoveredConsumers, uncoveredError } from './discover.ts';
import { type DriverContext, type Run, keyRef } from './context.ts';
import { kopsTokensReissued } from './kops.ts';
import { engineOptions, setRecord } from './record.ts';
import { resolveWorkload } from './stages/common.ts';

/** The replicas of each discovered consumer, keyed as `Run.replicas` is. */
function replicasBy(discovered: readonly DiscoveredConsumer[]): Map<string, number> {
  return new Map(discovered.map((d) => [`${d.cluster} ${d.namespace}/${d.workload}`, d.replicas]));
}

export async function preflight(ctx: DriverContext, run: Run, clusters: readonly string[], checks: readonly string[]) {
  const limit = pLimit(ctx.concurrency);
  await Promise.all(clusters.map((c) => limit(() => ctx.ports.clusters.ping(c))));
  await checkRollouts(ctx, run);
  if (!run.resumed) {
    if (checks.some((c) => c.startsWith(tokenReissueCheck))) await kopsTokensReissued(ctx, run);
    await checkHelmOwned(ctx, run);
    await checkShootOperations(ctx, run);
    await checkConsumers(ctx, run);
    if (checks.includes('standby key accepted by the cloud')) await ctx.ports.cloud.testKey(keyRef(run), run.plan.to);
    // The record goes into the stack before anything changes, so any later crash is resumable.
    await setRecord(ctx, run.plan.name, run.record);
    await policyGate(ctx, run);
  } else if ((ctx.options.discovery ?? 'warn') !== 'off') {
    // A resumed run fills its waves in the order the first run did (the canary stays the canary).
    run.replicas = replicasBy(await discoverConsumers(run.config, run.before, ctx.ports.clusters));
  }
}

/**
 * Previews with the policy packs before the first change, with the rotation recorded as it will
 * be deployed: a mandatory violation refuses the rotation here, with nothing changed, instead of
 * failing the flip's up after it was applied (and the rollback's up after that).
 */
export async function policyGate(ctx: DriverContext, run: Run) {
  if (ctx.options.policyPacks.length === 0) return;
  try {
    await ctx.ports.engine.preview(engineOptions(ctx, run.plan.name));
  } catch (error) {
    if (!(error instanceof PolicyViolationError)) throw error;
    await ctx.ports.engine.removeConfig(`rotations.${run.plan.name}`);
    throw new PreflightRefusedError(
      `refused before any change: ${error.message.replace(/^pulumi preview failed: /, '')}; or run without the pack (--no-policy)`,
      { cause: error },
    );
  }
}

/**
 * Refuses, before anything changes, to deliver into a Secret a Helm release owns: the release's
 * next `helm upgrade` writes its values back over the new key (src/model/helm.ts).
 */
export async function checkHelmOwned(ctx: DriverContext, run: Run) {
  const limit = pLimit(ctx.concurrency);
  const targets = [...deliveredSecrets(run.config, run.before)].flatMap(([cluster, secrets]) => secrets.map((d) => ({ d, cluster })));
  const owned = await Promise.all(
    targets.map(({ d, cluster }) =>
      limit(async () => {
        const meta = await ctx.ports.clusters.secretMetadata(cluster, d.namespace, d.name);
        const release = meta ? helmRelease(meta) : undefined;
        return release ? `Secret ${d.namespace}/${d.name} on ${cluster} belongs to Helm release ${release}` : undefined;
      }),
    ),
  );
  const found = owned.filter((o): o is string => o !== undefined);
  if (found.length)
    throw new PreflightRefusedError(
      `refused before any change: ${found.join('; ')}, so the next helm upgrade would write the chart's value back over the new key; fix: have the chart read a Secret it does not create (Kubecost: kubecostModel.federatedStorageConfigSecret, kubecostProductConfigs.cloudIntegrationSecret) and let keyslot deliver that one`,
    );
}

/**
 * Refuses, before anything changes, an annotate stage the landscape's Gardener would refuse on a
 * Shoot it selects: an operation this version no longer has (rotate-kubeconfig-credentials from
 * v1.114), a -complete before its phase is Prepared, a rotation on a hibernated Shoot.
 */
export async function checkShootOperations(ctx: DriverContext, run: Run) {
  const problems: string[] = [];
  // A -complete after this plan's own -start is judged when it runs, once the start is Prepared.
  const started = new Set<string>();
  for (const step of run.plan.steps) {
    // wait-reconciled: a Shoot gardenlet will not reconcile (Failed, being deleted, an operation
    // an older Gardener cannot share the annotation with) is found before the flip, not after it.
    if (step.kind === 'wait-reconciled') {
      for (const cluster of step.clusters) {
        try {
          shootsToReconcile(cluster, await ctx.ports.clusters.listShoots(cluster, step.namespace), step);
        } catch (error) {
          if (!(error instanceof KeyslotError)) throw error;
          problems.push(error.message);
        }
        // The binding is read, not assumed to share the Secret's name: its secretRef must be a
        // Secret this credential delivers there, or the Shoots reconcile onto the old key.
        const delivered = (deliveredSecrets(run.config, run.before).get(cluster) ?? [])
          .filter((d) => d.namespace === step.namespace)
          .map((d) => d.name);
        const binding = (await ctx.ports.clusters.listSecretBindings(cluster, step.namespace)).find((b) => b.name === step.secretBinding);
        if (!binding)
          problems.push(
            `cluster ${cluster}: no SecretBinding ${step.namespace}/${step.secretBinding}; fix the stage's secretBinding (kubectl get secretbindings -n ${step.namespace})`,
          );
        else if (!delivered.includes(binding.secret))
          problems.push(
            `cluster ${cluster}: SecretBinding ${step.namespace}/${step.secretBinding} refers to Secret ${binding.secret}, which ${run.plan.name} does not deliver (it delivers ${delivered.join(', ') || 'none there'}); fix the delivery's name, or the stage's secretBinding`,
          );
      }
      continue;
    }
    if (step.kind !== 'annotate') continue;
    const kind = rotationKindOf(step.operation);
    const phase = rotationPhaseOf(step.operation);
    if (!(phase === 'complete' && kind && started.has(kind)))
      for (const cluster of step.clusters) {
        const shoots = selectShoots(await ctx.ports.clusters.listShoots(cluster, step.namespace), step);
        for (const shoot of shoots) {
          const why = refusedOperation(shoot, step.operation);
          if (why) problems.push(`shoot ${step.namespace}/${shoot.name} on ${cluster}: ${why}`);
        }
      }
    if (kind && phase === 'start') started.add(kind);
  }
  if (problems.length) throw new PreflightRefusedError(`refused before any change: ${problems.join('; ')}`);
}

/** Refuses, before anything changes, a rotation whose restarts could never roll out. */
export async function checkRollouts(ctx: DriverContext, run: Run) {
  const limit = pLimit(ctx.concurrency);
  const checks = run.plan.steps.flatMap((step) => (step.kind === 'restart' ? step.clusters.map((cluster) => ({ step, cluster })) : []));
  const found = await Promise.all(
    checks.map(({ step, cluster }) =>
      limit(async () => {
        // A missing workload is the restart stage's to report (or skip, when optional). A stage that
        // names one workload asks for its blocker directly (no blocker for an absent one): one read.
        const id = step.workload
          ? { namespace: step.namespace, workload: step.workload }
          : await resolveWorkload(ctx, cluster, step).catch((error: unknown) => {
              if (error instanceof WorkloadNotFoundError) return undefined;
              throw error;
            });
        const why = id ? await ctx.ports.clusters.rolloutBlocker(cluster, id) : undefined;
        return why ? `${id!.namespace}/${why} (cluster ${cluster})` : undefined;
      }),
    ),
  );
  const blocked = found.filter((b): b is string => b !== undefined);
  if (blocked.length) throw new PreflightRefusedError(`refused before any change: ${blocked.join('; ')}`);
}

export async function checkConsumers(ctx: DriverContext, run: Run) {
  const mode = ctx.options.discovery ?? 'warn';
  if (mode === 'off') return;
  const discovered = await discoverConsumers(run.config, run.before, ctx.ports.clusters);
  run.replicas = replicasBy(discovered);
  const uncovered = uncoveredConsumers(run.config, run.before, discovered);
  if (uncovered.length === 0) return;
  if (mode === 'strict') throw uncoveredError(run.config, run.before, uncovered);
  for (const c of uncovered)
    ctx.emit({
      type: 'warning',
      at: ctx.now(),
      credential: run.plan.name,
      message: `${describeUncovered(c)}; it keeps the old key until that key is regenerated`,
    });
}

/**
 * Refuses, before anything changes, a stack whose adopted deliveries the CLI or the change would
 * break: a CLI older than 3.252 with any `adopt: true` delivery, or an adopted delivery pointed at
 * another object than the one deployed (an import replacement: `up` refuses it after earlier steps
 * ran). Every credential counts: each up deploys the whole stack. (model/imports.ts)
 */
export function refuseUnsafeImports(ctx: DriverContext, config: StackConfig, deployedAll: Record<string, CredentialState>): void {
  const installed = ctx.ports.engine.cliVersion;
  const tooOld = installed ? cliTooOldFor(config, installed) : undefined;
  if (tooOld) throw new PulumiCliMissingError(tooOld);
  for (const cred of config.credentials) {
    const moved = retargetedImports(config, cred, deployedAll[cred.name])[0];
    if (moved)
      throw new ConfigError(
        `stack ${config.stack}`,
        moved.path,
        `an adopted Key Vault secret moved from ${moved.deployed} (deployed) to ${moved.file}`,
        'Pulumi would import-replace it, deleting the adopted secret; point the delivery back, or add the new secret as a delivery of its own and remove this one in a separate pulumi up',
      );
  }
}
