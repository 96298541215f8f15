/** The audit record of a rotation: what happened, per step and cluster. Never a value; never relied on. */
export interface JournalEntry {
  readonly at: string;
  readonly rotationId: string;
  readonly credential: string;
  readonly step: number;
  readonly kind: string;
  readonly cluster?: string;
  readonly outcome: 'started' | 'done' | 'skipped' | 'failed' | 'rolled-back' | 'warning';
  readonly attempt: number;
  readonly detail?: string;
}

export interface Journal {
  append(entry: JournalEntry): Promise<void>;
  read(rotationId: string): Promise<JournalEntry[]>;
}
