export * from './engine.ts';
export * from './clusters.ts';
export * from './cloud.ts';
export * from './clock.ts';
export * from './probes.ts';
export * from './journal.ts';
