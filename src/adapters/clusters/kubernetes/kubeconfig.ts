/**
 * Kubeconfigs: per cluster, from a context, a file or a stack secret; a command's KUBECONFIG written
 * for the length of the command.
 */
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { onInterrupt } from '../../probes/interrupt.ts';
import type { Cluster } from '../../../config/schema.ts';
import { ConfigError } from '../../../errors.ts';
import { type KubeApi, serviceAccountFolder } from './api.ts';

export async function withKubeconfig<T>(api: KubeApi, cluster: string, fn: (path: string) => Promise<T>): Promise<T> {
  const { config } = api.on(cluster);
  const dir = await mkdtemp(join(tmpdir(), 'keyslot-kubeconfig-'));
  const path = join(dir, 'config');
  // The file holds a cluster credential: it goes when fn ends, and when keyslot is interrupted.
  const forget = onInterrupt(() => rmSync(dir, { recursive: true, force: true }));
  try {
    await writeFile(path, onlyCurrentContext(config).exportConfig(), { mode: 0o600 });
    return await fn(path);
  } finally {
    forget();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The current context of a kubeconfig with its cluster and user, and nothing else. */
function onlyCurrentContext(config: KubeConfig): KubeConfig {
  const context = config.getContextObject(config.getCurrentContext());
  const cluster = config.getCurrentCluster();
  const user = config.getCurrentUser();
  if (!context || !cluster || !user) return config;
  const single = new KubeConfig();
  single.loadFromOptions({ clusters: [cluster], users: [user], contexts: [context], currentContext: context.name });
  return single;
}

/**
 * The client configuration of each declared cluster: a context of the default kubeconfig
 * (`$KUBECONFIG` or ~/.kube/config, else the pod's service account when keyslot runs in a
 * cluster), a kubeconfig file, or a kubeconfig held as a stack secret (`kubeconfigSecret`,
 * decrypted by the engine into memory only and passed here). `inClusterRoot` prefixes the
 * service-account folder, as client-node's `loadFromCluster` does (tests point it at a temp folder).
 */
export function kubeConfigsFor(
  clusters: readonly Cluster[],
  secretKubeconfigs: ReadonlyMap<string, string> = new Map(),
  inClusterRoot = '',
): Map<string, KubeConfig> {
  const configs = new Map<string, KubeConfig>();
  for (const [i, c] of clusters.entries()) {
    const path = `keyslot:clusters[${i}]`;
    const refuse = (found: string, fix: string): never => {
      throw new ConfigError(`cluster ${c.name}`, path, found, fix);
    };
    const kc = new KubeConfig();
    if (c.kubeconfigSecret) {
      const text = secretKubeconfigs.get(c.kubeconfigSecret);
      if (text === undefined) continue;
      kc.loadFromString(text);
    } else if (c.kubeconfigPath) {
      if (!existsSync(c.kubeconfigPath))
        refuse(
          `kubeconfigPath ${c.kubeconfigPath}, which does not exist`,
          'point kubeconfigPath at a kubeconfig file (relative paths are from the project folder)',
        );
      kc.loadFromFile(c.kubeconfigPath);
    } else {
      // With no kubeconfig at all, client-node falls back to http://localhost and fails later with an
      // unrelated TLS message: say what is missing instead.
      const fromEnv = process.env.KUBECONFIG?.split(delimiter).filter(Boolean) ?? [];
      const home = join(homedir(), '.kube', 'config');
      const token = `${inClusterRoot}${serviceAccountFolder}/token`;
      if (fromEnv.some((f) => existsSync(f)) || existsSync(home)) kc.loadFromDefault();
      // In a pod (a CronJob running keyslot) the service account is the credential, as client-node's own default falls back to.
      else if (existsSync(token)) kc.loadFromCluster(inClusterRoot);
      else {
        refuse(
          `no kubeconfig (${fromEnv.length ? `$KUBECONFIG ${fromEnv.join(delimiter)} does not exist` : '$KUBECONFIG is not set'} and ${home} does not exist) and no service account token at ${token}`,
          'set its context with a kubeconfig in place, set kubeconfigPath or kubeconfigSecret, or run keyslot in a pod with a service account',
        );
      }
    }
    if (c.context) {
      if (!kc.getContexts().some((x) => x.name === c.context))
        refuse(
          `context ${c.context}, which the kubeconfig does not have (it has ${
            kc
              .getContexts()
              .map((x) => x.name)
              .join(', ') || 'none'
          })`,
          'use one of its contexts',
        );
      kc.setCurrentContext(c.context);
    } else if (!kc.getCurrentCluster()) refuse('a kubeconfig with no current context', 'set context to one of its contexts');
    configs.set(c.name, kc);
  }
  return configs;
}

/** A KubeConfig pointing at one API server URL without auth (emulators on 127.0.0.1). */
export function plainKubeConfig(server: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
    currentContext: 'c',
  });
  return kc;
}
