export { AgentCrash as Crash, crashing, type CrashCounter } from '../../src/sim/crash.ts';
