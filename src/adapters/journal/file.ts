/**
 * The journal as JSON lines in `.keyslot/journal/<stack>.jsonl`: an audit copy for whoever ran the
 * rotation. Nothing reads it to decide anything; resume works from the stack and the fleet.
 */
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Journal, JournalEntry } from '../../ports/journal.ts';

export class FileJournal implements Journal {
  readonly path: string;

  constructor(dir: string, stack: string) {
    this.path = join(dir, `${stack}.jsonl`);
  }

  async append(entry: JournalEntry): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    await appendFile(this.path, `${JSON.stringify(entry)}\n`);
  }

  async read(rotationId: string): Promise<JournalEntry[]> {
    const text = await readFile(this.path, 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as JournalEntry)
      .filter((e) => e.rotationId === rotationId);
  }
}
