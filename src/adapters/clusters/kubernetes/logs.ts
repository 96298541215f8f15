/**
 * Log checks: each running pod's containers read since the rotation started, for the stage's auth-
 * error patterns.
 */
import { LogsUnreadableError } from '../../../errors.ts';
import type { LogCheck, LogCheckResult } from '../../../ports/clusters.ts';
import type { KubeApi } from './api.ts';
import { podsOf } from './rollouts.ts';

export async function checkLogs(api: KubeApi, cluster: string, check: LogCheck): Promise<LogCheckResult> {
  const w = await api.read(cluster, check);
  if (!w) throw new LogsUnreadableError(`${check.namespace}/${check.workload} not found on ${cluster}; its logs cannot be read`);
  await api.clock.sleep(check.windowSeconds * 1000);
  // Pods that are going away are not what the check is about, and a container that never
  // started has no log to read (the server answers 400 for it).
  const pods = (await podsOf(api, cluster, check, w)).filter((p) => !p.metadata?.deletionTimestamp);
  if (pods.length === 0)
    throw new LogsUnreadableError(`${check.namespace}/${check.workload} on ${cluster} has no running pods to read logs from`);
  // client-node's log call takes sinceSeconds only; a second more never misses a line.
  const sinceSeconds = Math.max(1, Math.ceil((api.clock.now().getTime() - check.since.getTime()) / 1000));
  const patterns = check.patterns.map((p) => new RegExp(p, 'i'));
  const matches: string[] = [];
  const read: string[] = [];
  for (const pod of pods) {
    const name = pod.metadata!.name!;
    const containers = (pod.spec?.containers ?? []).map((c) => c.name);
    if (check.container && !containers.includes(check.container)) {
      throw new LogsUnreadableError(
        `${check.namespace}/${check.workload} on ${cluster}: pod ${name} has no container ${check.container} (it has ${containers.join(', ')}); fix the stage's container`,
      );
    }
    const statuses = pod.status?.containerStatuses ?? [];
    for (const container of check.container ? [check.container] : containers) {
      const status = statuses.find((c) => c.name === container);
      const neverStarted = status?.state?.waiting && !status.restartCount;
      if (neverStarted) continue;
      let text: string;
      try {
        text = await api.call(
          cluster,
          `reading logs of ${check.namespace}/${name} [${container}]`,
          { needs: `get pods/log in namespace ${check.namespace}` },
          ({ core }) => core.readNamespacedPodLog({ name, namespace: check.namespace, container, sinceSeconds }),
        );
      } catch (cause) {
        throw new LogsUnreadableError(`${(cause as Error).message}; a log check that cannot read logs fails`, { cause });
      }
      read.push(`${name}/${container}`);
      // Only the fact of a match leaves this adapter, never the line: it may quote a credential.
      for (const line of text.split('\n')) if (patterns.some((p) => p.test(line))) matches.push(`${name} [${container}]: auth error`);
    }
  }
  if (read.length === 0)
    throw new LogsUnreadableError(
      `${check.namespace}/${check.workload} on ${cluster}: no container of its pods has started, so no log could be read`,
    );
  return { matches, read };
}

// ---- Gardener ------------------------------------------------------------------------------
