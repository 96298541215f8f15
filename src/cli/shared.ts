/**
 * What the commands share: the terminal they talk to (Io), the modules only some of them load,
 * option parsers, required options, and the refusal of an output path that cannot be written.
 */
import { parseWaves, type WaveSpec } from '../model/waves.ts';
import { InvalidArgumentError, Option } from 'commander';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { PortsFactory } from './ports.ts';
import type { StackConfig } from '../config/parse.ts';
import type { ClusterFleet } from '../ports/clusters.ts';

/**
 * What only some commands need, loaded when one of them runs: `plan` and `--help` never load the
 * cloud SDKs, the Kubernetes client, the Automation API, the drill's world or the task list.
 */
export const load = {
  driver: () => require('../driver/index.ts') as typeof import('../driver/index.ts'),
  ports: () => require('./ports.ts') as typeof import('./ports.ts'),
  drill: () => require('../drill/drill.ts') as typeof import('../drill/drill.ts'),
  worldFile: () => require('../drill/worldFile.ts') as typeof import('../drill/worldFile.ts'),
  renderDrill: () => require('./renderDrill.ts') as typeof import('./renderDrill.ts'),
  renderEvents: () => require('./renderEvents.ts') as typeof import('./renderEvents.ts'),
  renderStatus: () => require('./renderStatus.ts') as typeof import('./renderStatus.ts'),
  taskList: () => require('./taskList.ts') as typeof import('./taskList.ts'),
  commit: () => require('./commit.ts') as typeof import('./commit.ts'),
  process: () => require('../adapters/probes/process.ts') as typeof import('../adapters/probes/process.ts'),
};

export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** True when a person is at the terminal (confirmations, live progress). */
  readonly interactive?: boolean;
  /** Asks a yes/no question; only called when interactive. */
  readonly confirm?: (question: string) => Promise<boolean>;
  readonly ports?: PortsFactory;
  /** listr2 renderer for the live task list. @default default */
  readonly taskRenderer?: 'default' | 'silent';
}

export function waveList(value: string): WaveSpec {
  const spec = parseWaves(value);
  if ('error' in spec) throw new InvalidArgumentError(`${spec.error}; use counts and shares such as 1,10%,100%`);
  return spec;
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a whole number of at least 1');
  return n;
}

/**
 * Options a command cannot run without. Checked in a preAction hook rather than by commander's
 * own requiredOption, which runs before unknown options are refused: `--stak` must be named as
 * the typo it is, not reported as a missing --stack.
 */
export const mandatory = new WeakSet<Option>();

export function required(flags: string, description: string): Option {
  const option = new Option(flags, `${description}; required`);
  mandatory.add(option);
  return option;
}

export function collect(value: string, previous: string[]): string[] {
  // Rotating one credential twice in a run would flip it back: a repeat is a usage error.
  if (previous.includes(value)) throw new InvalidArgumentError(`--credential ${value} is given twice; name each credential once`);
  return [...previous, value];
}

/** Refuses, as a usage error naming the flag, an output path whose folder is missing or not writable. */
export function writableOrRefuse(flag: string, path: string): void {
  const folder = dirname(resolve(path));
  try {
    if (!statSync(folder).isDirectory()) throw new Error('not a folder');
    accessSync(folder, constants.W_OK);
  } catch {
    throw new InvalidArgumentError(
      `${flag} ${path}: the folder ${folder} does not exist or is not writable; create it or choose another path`,
    );
  }
}

/** Refuses, as a usage error naming the flag, an input file that cannot be read or is not a JSON object. */
export function readableJsonOrRefuse(flag: string, path: string): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new InvalidArgumentError(`${flag} ${path}: no readable file there; give the path of the file`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    doc = undefined;
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc))
    throw new InvalidArgumentError(`${flag} ${path}: not a JSON object; write it as policy names mapped to a level or settings`);
}

/** Discovery needs only the clusters: the real ones (no Pulumi CLI unless a kubeconfig is a stack secret) or the simulated fleet. */
export async function clustersFor(
  io: Io,
  stack: string,
  simulate: boolean | undefined,
  config: StackConfig,
  raw: Record<string, unknown>,
): Promise<ClusterFleet> {
  return simulate || io.ports
    ? (await (io.ports ?? load.ports().defaultPortsFactory)({ stack, simulate: Boolean(simulate), config, raw })).clusters
    : load.ports().realClusterFleet(stack, config);
}
