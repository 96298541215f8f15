export * from './engine.ts';
export * from './clusters.ts';
export * from './cloud.ts';
export * from './clock.ts';
export * from './probes.ts';
export * from './journal.ts';

import type { StackEngine } from './engine.ts';
import type { ClusterFleet } from './clusters.ts';
import type { CloudKeys } from './cloud.ts';
import type { Clock } from './clock.ts';
import type { CommandRunner, HttpProbe } from './probes.ts';
import type { Journal } from './journal.ts';

/** Every port the driver works through: what a real deployment and the simulated world each provide. */
export interface DriverPorts {
  readonly engine: StackEngine;
  readonly clusters: ClusterFleet;
  readonly cloud: CloudKeys;
  readonly clock: Clock;
  readonly commands: CommandRunner;
  readonly http: HttpProbe;
  readonly journal: Journal;
}
