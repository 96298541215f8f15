/**
 * What a rotation reports as it goes: rendered by the CLI (task list, timestamped lines or JSON
 * lines) and written to the journal. Events carry names, slots, generations and outcomes only;
 * no field can hold a value, and the driver never holds one.
 */
import type { RotationMode, StepKind } from '../model/planner.ts';

export type StepOutcome = 'done' | 'skipped' | 'failed';

export type RotationEvent =
  | {
      readonly type: 'rotation-started';
      readonly at: string;
      readonly stack: string;
      readonly credential: string;
      readonly rotationId: string;
      readonly mode: RotationMode;
      readonly from: string;
      readonly to: string;
      readonly resumed: boolean;
    }
  | {
      readonly type: 'step-started';
      readonly at: string;
      readonly credential: string;
      readonly rotationId: string;
      readonly step: number;
      readonly kind: StepKind;
      readonly clusters: readonly string[];
    }
  | {
      readonly type: 'cluster-finished';
      readonly at: string;
      readonly credential: string;
      readonly rotationId: string;
      readonly step: number;
      readonly kind: StepKind;
      readonly cluster: string;
      readonly outcome: StepOutcome;
      readonly durationMs: number;
      readonly detail?: string;
    }
  | {
      readonly type: 'step-finished';
      readonly at: string;
      readonly credential: string;
      readonly rotationId: string;
      readonly step: number;
      readonly kind: StepKind;
      readonly outcome: StepOutcome;
      readonly durationMs: number;
      readonly detail?: string;
    }
  | { readonly type: 'engine'; readonly at: string; readonly credential: string; readonly message: string }
  /** Something a human should look at that does not stop the rotation (a missed consumer's evidence, say). */
  | { readonly type: 'warning'; readonly at: string; readonly credential: string; readonly message: string }
  | {
      readonly type: 'rotation-finished';
      readonly at: string;
      readonly credential: string;
      readonly rotationId: string;
      readonly outcome: 'rotated' | 'rolled-back' | 'halted';
      /** Consumers an emergency rotation went past without confirmation. */
      readonly unconfirmed: readonly string[];
      readonly detail?: string;
    };

export type EventSink = (event: RotationEvent) => void;
