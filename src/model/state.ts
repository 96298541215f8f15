/**
 * The recorded state of one credential, as the program exports it and the policy pack, `status`
 * and the driver read it back. Never a value. Parsed with the same care as config, because what
 * comes back from a backend may be older than this code.
 */
import { z } from 'zod';

export const credentialStateType = 'keyslot:index:CredentialState';

export const credentialState = z.object({
  stack: z.string(),
  credential: z.string(),
  scheme: z.enum(['dual', 'triple', 'managed']),
  activeSlot: z.string(),
  slots: z.record(
    z.string(),
    z.object({
      generation: z.number().int(),
      createdAt: z.string().optional(),
      /** URN of the resource holding the key, when the program declares it. */
      keyUrn: z.string().optional(),
    }),
  ),
  /** Absent when the stack leaves the limit to the policy pack's config. */
  maxAgeDays: z.number().positive().optional(),
  minIntervalHours: z.number().nonnegative(),
  lastRotatedAt: z.string().optional(),
  previousRotatedAt: z.string().optional(),
  targets: z.array(z.string()),
});

export type CredentialState = z.infer<typeof credentialState>;

/** The state carried by a CredentialState resource's props, or undefined if it is not one. */
export function readCredentialState(props: unknown): CredentialState | undefined {
  const state = (props as { state?: unknown } | undefined)?.state;
  const parsed = credentialState.safeParse(state);
  return parsed.success ? parsed.data : undefined;
}
