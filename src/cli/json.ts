/**
 * keyslot's machine output: every JSON document and JSON line carries `schemaVersion`, and a step
 * is numbered as the text and the reports number it.
 */
import type { RotationEvent } from '../driver/index.ts';

/**
 * The version of the JSON keyslot prints. It goes up when a field is removed or changes meaning;
 * a new field does not change it. 1: the first versioned shape (steps numbered from 1).
 */
export const schemaVersion = 1;

/** A plan step's number as people read it: from 1; undefined for a rollback's own steps (index -1). */
export function stepNumber(index: number): number | undefined {
  return index < 0 ? undefined : index + 1;
}

/** One JSON document (or JSON line), versioned. */
export function jsonDocument(body: Readonly<Record<string, unknown>>): string {
  return `${JSON.stringify({ schemaVersion, ...body })}\n`;
}

/** A rotation event for --json: the step numbered as in text and reports; a rollback's own steps say so. */
export function eventJson(e: RotationEvent): Record<string, unknown> {
  if (!('step' in e)) return { ...e };
  const number = stepNumber(e.step);
  return number === undefined ? { ...e, step: null, rollback: true } : { ...e, step: number };
}
