/**
 * `exec`: a command of the runbook, once or per cluster (with that cluster's kubeconfig), given the
 * rotation's names in its environment and never a secret value.
 */
import { substitute, type StageExecutor } from './common.ts';

export const execStage: StageExecutor<'exec'> = async (ctx, run, step, cluster) => {
  const env: Record<string, string> = {
    KEYSLOT_STACK: run.config.stack,
    KEYSLOT_CREDENTIAL: run.plan.name,
    KEYSLOT_SLOT: run.plan.to,
    KEYSLOT_ROTATION: run.record.id,
    ...(cluster ? { KEYSLOT_CLUSTER: cluster } : {}),
  };
  const command = step.command.map((a) => substitute(a, cluster));
  const exec = (extra: Record<string, string>) =>
    ctx.ports.commands.run(command, { env: { ...env, ...extra }, timeoutSeconds: step.timeoutSeconds });
  await (cluster ? ctx.ports.clusters.withKubeconfig(cluster, (path) => exec({ KUBECONFIG: path })) : exec({}));
  return `${step.command[0]} exited 0`;
};
