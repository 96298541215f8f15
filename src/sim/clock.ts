import type { Clock } from '../ports/clock.ts';

/**
 * Deterministic time for simulations. `sleep` does not wait: once every concurrent task of the
 * simulation is asleep (checked after pending promise callbacks have run), time jumps to the
 * earliest wake-up. Parallel sleeps therefore overlap as they would on a real clock.
 */
export class SimClock implements Clock {
  private t: number;
  private readonly listeners: ((fromMs: number, toMs: number) => void)[] = [];
  private sleepers: { at: number; resolve: () => void }[] = [];
  private scheduled = false;

  constructor(start: Date | string = '2026-11-24T00:00:00Z') {
    this.t = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.t);
  }

  /** `now()` without the Date: the simulation reads the clock far more often than anything prints it. */
  nowMs(): number {
    return this.t;
  }

  /** Called after every step of time, with the interval it covered. */
  onAdvance(listener: (fromMs: number, toMs: number) => void): void {
    this.listeners.push(listener);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      // Woken early: no longer a sleeper, so it never moves the clock.
      const stop = () => {
        this.sleepers = this.sleepers.filter((s) => s !== sleeper);
        resolve();
      };
      const sleeper = {
        at: this.t + Math.max(0, ms),
        resolve: () => {
          signal?.removeEventListener('abort', stop);
          resolve();
        },
      };
      this.sleepers.push(sleeper);
      signal?.addEventListener('abort', stop, { once: true });
      this.schedule();
    });
  }

  /** Moves time forward by hand (between phases of a simulation). */
  advance(ms: number): void {
    this.advanceTo(this.t + Math.max(0, ms));
  }

  private advanceTo(at: number): void {
    const from = this.t;
    if (at <= from) return;
    this.t = at;
    for (const listener of this.listeners) listener(from, at);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.sleepers.length === 0) return;
      const at = Math.min(...this.sleepers.map((s) => s.at));
      this.advanceTo(at);
      const due = this.sleepers.filter((s) => s.at <= this.t);
      this.sleepers = this.sleepers.filter((s) => s.at > this.t);
      for (const s of due) s.resolve();
      if (this.sleepers.length) this.schedule();
    });
  }
}
