/**
 * Ports that die at their Nth call and stay dead: a pipeline agent killed mid-rotation. Used by
 * the drill's crash fault and by the driver's crash tests.
 */
import type { RotationResult } from '../driver/driver.ts';
import type { CredentialState } from '../model/state.ts';
import type { RotationMode } from '../model/planner.ts';

export class AgentCrash extends Error {}

export interface CrashCounter {
  calls: number;
  /** The call that kills the agent (1-based); Infinity never does. */
  at: number;
  dead: boolean;
  /** A method name: calls before the first call of it are not counted (a crash after the rotation started). */
  armOn?: string;
  armed?: boolean;
}

export function crashing<T extends object>(target: T, counter: CrashCounter): T {
  return new Proxy(target, {
    get(t, p, r) {
      const value = Reflect.get(t, p, r);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (counter.armOn && !counter.armed) {
          if (p !== counter.armOn) return value.apply(t, args);
          counter.armed = true;
        }
        if (counter.dead || ++counter.calls === counter.at) {
          counter.dead = true;
          throw new AgentCrash(`the agent died at call ${counter.at}`);
        }
        return value.apply(t, args);
      };
    },
  });
}

/** The ports named in `members` die together at the counter's call; the others keep working. */
export function dyingPorts<P extends object>(ports: P, counter: CrashCounter, members: readonly (keyof P)[]): P {
  const dying = { ...ports };
  for (const m of members) dying[m] = crashing(ports[m] as object, counter) as P[keyof P];
  return dying;
}

/** Whether a rotation failed because its agent died (a dead port's error, or one the driver wrapped). */
export function isAgentCrash(error: unknown): boolean {
  return error instanceof AgentCrash || (error as { cause?: unknown } | undefined)?.cause instanceof AgentCrash;
}

/** What a new agent does for the credentials a dead one was rotating. */
export interface TakeOverDriver {
  resume(name: string): Promise<RotationResult>;
  rotate(name: string, mode?: RotationMode): Promise<RotationResult>;
}

/**
 * What a new agent does once a dead one's lock expired: resumes each credential the deployed stack
 * shows in flight, starts each that never began, leaves those that finished. "Never began" is judged
 * against what was deployed before the dead agent started (`before`): a credential rotated long ago
 * has a `lastRotatedAt`, and the dead agent may have died before touching it. Each result, by name.
 */
export async function takeOver(
  driver: TakeOverDriver,
  deployed: () => Promise<Readonly<Record<string, CredentialState>>>,
  names: readonly string[],
  mode: RotationMode = 'rotate',
  before: Readonly<Record<string, CredentialState>> = {},
): Promise<Map<string, RotationResult>> {
  const done = new Map<string, RotationResult>();
  for (const name of names) {
    const state = (await deployed())[name];
    if (state?.rotation) done.set(name, await driver.resume(name));
    else if (!state?.lastRotatedAt || state.lastRotatedAt === before[name]?.lastRotatedAt) done.set(name, await driver.rotate(name, mode));
  }
  return done;
}
