import type { DrillResult } from '../drill/drill.ts';
import { eventLine } from './renderEvents.ts';

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

export function drillHeld(result: DrillResult): boolean {
  return result.invariants.every((i) => i.held);
}

/** One seed in full: the timeline, traffic, makespan against the critical path, the invariants. */
export function renderDrill(result: DrillResult): string {
  const lines = [
    `drill ${result.stack}, seed ${result.seed}, fault: ${result.fault}${result.faultDetail ? ` (${result.faultDetail})` : ''}`,
    `world: ${result.world}`,
    '',
    ...result.events.filter((e) => e.type !== 'engine').map(eventLine),
    '',
  ];
  for (const [cred, outcome] of Object.entries(result.outcomes)) lines.push(`${cred}: ${outcome}`);
  const ratio = result.boundMs > 0 ? ` (×${(result.makespanMs / result.boundMs).toFixed(2)})` : '';
  lines.push(
    `requests ${Math.round(result.requests)}, failed ${Math.round(result.failed)}, downtime ${duration(result.downtimeMs)}`,
    `makespan ${duration(result.makespanMs)}, critical-path bound ${duration(result.boundMs)}${ratio}, ${result.ups} up(s); physical bound ${duration(result.physicalBoundMs)}${result.physicalBoundMs > 0 ? ` (×${(result.makespanMs / result.physicalBoundMs).toFixed(2)}: the price of waves and the canary)` : ''}`,
    ...result.invariants.map((i) => `${i.held ? 'held    ' : 'VIOLATED'} ${i.name}: ${i.detail}`),
  );
  return `${lines.join('\n')}\n`;
}

/** One line per seed, for runs over many seeds. */
export function drillLine(result: DrillResult): string {
  const broken = result.invariants.filter((i) => !i.held).map((i) => i.name);
  return `seed ${result.seed} ${result.fault.padEnd(16)} ${Object.values(result.outcomes).join(', ').padEnd(34)} requests ${Math.round(result.requests)} failed ${Math.round(result.failed)}${broken.length ? `  VIOLATED: ${broken.join('; ')}` : ''}\n`;
}
