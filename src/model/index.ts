export * from './slots.ts';
export * from './clusters.ts';
export * from './templates.ts';
export * from './ages.ts';
export * from './planner.ts';
export * from './state.ts';
export * from './annotations.ts';
