export * from './slots.ts';
export * from './clusters.ts';
export * from './templates.ts';
export * from './ages.ts';
export * from './planner.ts';
