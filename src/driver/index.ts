export * from './driver.ts';
export * from './events.ts';
export * from './lock.ts';
export * from './status.ts';
export * from './discover.ts';
