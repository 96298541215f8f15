export { AgentCrash as Crash, crashing, dyingPorts, isAgentCrash, takeOver, type CrashCounter } from '../../src/drill/crash.ts';
