import type { Clock } from '../ports/clock.ts';

/** Deterministic time: `sleep` advances it instantly. Shared by every simulated part of a run. */
export class SimClock implements Clock {
  private t: number;

  constructor(start: Date | string = '2026-11-24T00:00:00Z') {
    this.t = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.t);
  }

  async sleep(ms: number): Promise<void> {
    this.t += Math.max(0, ms);
    // Let other simulated work interleave, as real timers would.
    await new Promise((resolve) => setImmediate(resolve));
  }

  advance(ms: number): void {
    this.t += ms;
  }
}
