/**
 * Ports that die at their Nth call and stay dead: a pipeline agent killed mid-rotation. Used by
 * the drill's crash fault and by the driver's crash tests.
 */
export class AgentCrash extends Error {}

export interface CrashCounter {
  calls: number;
  /** The call that kills the agent (1-based); Infinity never does. */
  at: number;
  dead: boolean;
}

export function crashing<T extends object>(target: T, counter: CrashCounter): T {
  return new Proxy(target, {
    get(t, p, r) {
      const value = Reflect.get(t, p, r);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (counter.dead || ++counter.calls === counter.at) {
          counter.dead = true;
          throw new AgentCrash(`the agent died at call ${counter.at}`);
        }
        return value.apply(t, args);
      };
    },
  });
}
