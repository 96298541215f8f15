/**
 * Where the CLI gets its ports: the real adapters, or — with `--simulate` — the simulated world
 * (the real driver and program against simulated clusters and a simulated cloud).
 */
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { LocalWorkspaceEngine } from '../adapters/engine/localWorkspace.ts';
import { FileJournal } from '../adapters/journal/file.ts';
import { FetchHttp, ProcessCommands } from '../adapters/probes/process.ts';
import { projectRoot } from '../config/load.ts';
import type { StackConfig } from '../config/parse.ts';
import type { DriverPorts } from '../driver/driver.ts';
import { KeyslotError } from '../errors.ts';
import { systemClock } from '../ports/clock.ts';
import type { CloudKeys } from '../ports/index.ts';
import { KubernetesClusterFleet, kubeConfigsFor } from '../adapters/clusters/kubernetes.ts';
import { buildWorld } from '../sim/world.ts';

export interface PortsRequest {
  readonly stack: string;
  readonly simulate: boolean;
  /** The stack file, read and parsed once by the command. */
  readonly config: StackConfig;
  readonly raw: Readonly<Record<string, unknown>>;
}

export type PortsFactory = (request: PortsRequest) => Promise<DriverPorts>;

/** An adapter this build does not have yet; fails on first use with the reason. */
export class AdapterUnavailableError extends KeyslotError {}

function unavailable<T extends object>(what: string): T {
  return new Proxy({} as T, {
    get: (_t, method) => () => Promise.reject(new AdapterUnavailableError(`${what} (${String(method)}) is not available in this build yet; run with --simulate, or see the README's status of adapters`)),
  });
}

export function lockHolder(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry in some containers
  }
  return `${user}@${hostname()}:${process.pid}`;
}

export const defaultPortsFactory: PortsFactory = async ({ stack, simulate, config, raw }) => {
  if (simulate) {
    const world = buildWorld(config);
    const ports = world.ports(structuredClone(raw) as Record<string, unknown>);
    // The simulated stack starts deployed, as a real one would be before its first rotation.
    await ports.engine.up({ policyPacks: [] });
    world.boot();
    world.clock.advance(2 * 24 * 3600_000);
    return ports;
  }
  const engine = await LocalWorkspaceEngine.open({ stack, ...(process.env.KEYSLOT_PULUMI_ROOT ? { pulumiRoot: process.env.KEYSLOT_PULUMI_ROOT } : {}) });
  return {
    engine,
    clusters: new KubernetesClusterFleet(kubeConfigsFor(config.clusters), systemClock),
    cloud: unavailable<CloudKeys>('the Azure/AWS key adapter'),
    clock: systemClock,
    commands: new ProcessCommands(),
    http: new FetchHttp(),
    journal: new FileJournal(join(projectRoot, '.keyslot', 'journal'), stack),
  };
};
