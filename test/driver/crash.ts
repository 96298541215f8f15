export { AgentCrash as Crash, crashing, dyingPorts, isAgentCrash, takeOver, type CrashCounter } from '../../src/sim/crash.ts';
