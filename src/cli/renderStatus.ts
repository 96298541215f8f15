import type { CredentialStatus } from '../driver/status.ts';
import { jsonDocument } from './json.ts';

function day(d: Date | undefined): string {
  return d ? d.toISOString().slice(0, 10) : '—';
}

export function renderStatus(stack: string, statuses: readonly CredentialStatus[]): string {
  const lines = [`stack ${stack}`];
  for (const s of statuses) {
    lines.push('', `credential ${s.name} (${s.scheme}): active ${s.activeSlot}, ${s.status}${s.dueAt ? `, due ${day(s.dueAt)}` : ''}`);
    for (const slot of s.slots) {
      const age = slot.age.ageDays === undefined ? 'age unknown' : `${Math.floor(slot.age.ageDays)} days old`;
      lines.push(
        `  ${slot.slot.padEnd(10)} generation ${String(slot.generation).padEnd(4)} ${age}, ${slot.age.status}${slot.age.expiresAt ? `, limit ${day(slot.age.expiresAt)}` : ''}`,
      );
    }
    lines.push(`  last rotation: ${s.lastRotatedAt ?? 'never'}`);
    if (s.inFlight) lines.push(`  in flight: ${s.inFlight} (finish it: keyslot resume --stack ${stack} --credential ${s.name})`);
    for (const d of s.drift)
      lines.push(
        `  drift: ${d.path} is ${d.file} in the stack file, ${d.deployed} deployed${d.stale ? ' (the file is stale: pull it)' : ''}`,
      );
  }
  return `${lines.join('\n')}\n`;
}

export function statusJson(stack: string, statuses: readonly CredentialStatus[]): string {
  return jsonDocument({ stack, credentials: statuses });
}
