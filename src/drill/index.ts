export * from './drill.ts';
export * from './worldFile.ts';
