/**
 * Where the CLI gets its ports: the real adapters, or — with `--simulate` — the simulated world
 * (the real driver and program against simulated clusters and a simulated cloud).
 */
import { parse as parseYaml } from 'yaml';
import { knownSecrets } from './secrets.ts';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { LocalWorkspaceEngine } from '../adapters/engine/localWorkspace.ts';
import { FileJournal } from '../adapters/journal/file.ts';
import { FetchHttp, ProcessCommands } from '../adapters/probes/process.ts';
import { projectRoot } from '../config/load.ts';
import type { StackConfig } from '../config/parse.ts';
import type { DriverPorts } from '../driver/driver.ts';
import { systemClock } from '../ports/clock.ts';
import type { StackEngine, UpOptions } from '../ports/engine.ts';
import { DefaultAzureCredential } from '@azure/identity';
import { AwsIamKeys } from '../adapters/cloud/aws.ts';
import { AzureAccountKeys } from '../adapters/cloud/azure.ts';
import { CloudRouter } from '../adapters/cloud/router.ts';
import { defaultApiBudget, defaultRetryPolicy, KubernetesClusterFleet, kubeConfigsFor } from '../adapters/clusters/kubernetes.ts';
import { buildWorld } from '../sim/world.ts';
import { loadReferenceWorld } from '../drill/worldFile.ts';

export interface PortsRequest {
  readonly stack: string;
  readonly simulate: boolean;
  /** The stack file, read and parsed once by the command. */
  readonly config: StackConfig;
  readonly raw: Readonly<Record<string, unknown>>;
  /** Requests a second to each cluster's API server (`--kube-qps`), bursts of twice that. @default 20 */
  readonly kubeQps?: number;
  /** How long an interrupted preview or up is given to cancel (`--cancel-timeout`). @default 120 */
  readonly cancelTimeoutSeconds?: number;
}

export type PortsFactory = (request: PortsRequest) => Promise<DriverPorts>;

export function lockHolder(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry in some containers
  }
  return `${user}@${hostname()}:${process.pid}`;
}

export { knownSecrets } from './secrets.ts';

/** Every string leaf of a value (a key's material, a kubeconfig's users), remembered as secret. */
function rememberAll(value: unknown): void {
  if (typeof value === 'string') knownSecrets.remember(value);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) rememberAll(v);
}

/**
 * Remembers, as secrets to mask, the key material the stack exports for sources whose values keyslot
 * reads nowhere else (a random password), now and after every up (a regenerated slot has a new
 * one): a command or a consumer that prints it never shows it through keyslot.
 */
export async function maskingKeyMaterial(engine: StackEngine, config: StackConfig): Promise<StackEngine> {
  const sources = new Set(['random', 'aws-iam-access-key']);
  const remember = async () => {
    for (const c of config.credentials) {
      if (!sources.has(c.source.type)) continue;
      for (const slot of Object.keys(c.generations)) rememberAll(await engine.keyMaterial(c.name, slot));
    }
  };
  await remember();
  // Every other call goes to the engine itself; an up is followed by a fresh read.
  return new Proxy(engine, {
    get(target, property, receiver) {
      if (property !== 'up') return Reflect.get(target, property, receiver);
      return async (options: UpOptions) => {
        // A failed up may still have replaced a key: read again, but report the up's own failure.
        const result = await target.up(options).catch(async (error: unknown) => {
          await remember().catch(() => {});
          throw error;
        });
        await remember();
        return result;
      };
    },
  });
}

export const defaultPortsFactory: PortsFactory = async (request) => {
  const ports = await openPorts(request);
  return { ...ports, engine: await maskingKeyMaterial(ports.engine, request.config) };
};

const openPorts: PortsFactory = async ({ stack, simulate, config, raw, kubeQps, cancelTimeoutSeconds }) => {
  if (simulate) {
    // The deployment a shipped stack rotates, when one is described (worlds/); else the stack's own.
    const world = buildWorld(config, undefined, undefined, loadReferenceWorld(stack, config)?.description);
    const ports = world.ports(structuredClone(raw) as Record<string, unknown>);
    // The simulated stack starts deployed, as a real one would be before its first rotation.
    await ports.engine.up({ policyPacks: [] });
    world.boot();
    world.clock.advance(2 * 24 * 3600_000);
    return ports;
  }
  const engine = await LocalWorkspaceEngine.open({
    stack,
    ...(process.env.KEYSLOT_PULUMI_ROOT ? { pulumiRoot: process.env.KEYSLOT_PULUMI_ROOT } : {}),
    ...(cancelTimeoutSeconds ? { cancelTimeoutSeconds } : {}),
  });
  return {
    engine,
    clusters: await realClusterFleet(stack, config, engine, kubeQps),
    cloud: new CloudRouter({
      azure: () => new AzureAccountKeys({ credential: new DefaultAzureCredential() }),
      aws: () =>
        new AwsIamKeys({
          material: async (credential, slot) => {
            const material = await engine.keyMaterial(credential, slot);
            rememberAll(material);
            return material;
          },
          keyId: async (credential, slot) => (await engine.deployed())[credential]?.slots[slot]?.keyId,
        }),
    }),
    clock: systemClock,
    commands: new ProcessCommands(process.env, knownSecrets),
    http: new FetchHttp(),
    journal: new FileJournal(join(projectRoot, '.keyslot', 'journal'), stack),
  };
};

/**
 * The real clusters of a stack. The Pulumi engine is opened only when a cluster's kubeconfig is a
 * stack secret, so `plan --discover` and `discover` need no Pulumi CLI otherwise.
 */
export async function realClusterFleet(
  stack: string,
  config: StackConfig,
  engine?: LocalWorkspaceEngine,
  kubeQps?: number,
): Promise<KubernetesClusterFleet> {
  const needsEngine = config.clusters.some((c) => c.kubeconfigSecret);
  const secrets = needsEngine
    ? await secretKubeconfigs(
        engine ??
          (await LocalWorkspaceEngine.open({
            stack,
            ...(process.env.KEYSLOT_PULUMI_ROOT ? { pulumiRoot: process.env.KEYSLOT_PULUMI_ROOT } : {}),
          })),
        config,
      )
    : new Map<string, string>();
  const budget = kubeQps ? { qps: kubeQps, burst: 2 * kubeQps } : defaultApiBudget;
  return new KubernetesClusterFleet(kubeConfigsFor(config.clusters, secrets), systemClock, 2000, defaultRetryPolicy, budget);
}

/** The kubeconfigs held as stack secrets, decrypted by the engine into memory only. */
async function secretKubeconfigs(engine: LocalWorkspaceEngine, config: StackConfig): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const c of config.clusters) {
    if (!c.kubeconfigSecret) continue;
    const text = await engine.readSecretConfig(c.kubeconfigSecret);
    if (text === undefined) continue;
    found.set(c.kubeconfigSecret, text);
    knownSecrets.remember(text);
    try {
      rememberAll((parseYaml(text) as { users?: unknown }).users);
    } catch {
      // Not YAML: the whole text is remembered above.
    }
  }
  return found;
}
