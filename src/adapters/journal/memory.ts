import type { Journal, JournalEntry } from '../../ports/journal.ts';

/** A journal held in memory: the drill's, and the tests'. */
export class MemoryJournal implements Journal {
  readonly entries: JournalEntry[] = [];

  async append(entry: JournalEntry): Promise<void> {
    this.entries.push(entry);
  }

  async read(rotationId: string): Promise<JournalEntry[]> {
    return this.entries.filter((e) => e.rotationId === rotationId);
  }
}
