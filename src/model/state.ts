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
      /** The key's public identifier (an IAM access key id), never its value. */
      keyId: z.string().optional(),
    }),
  ),
  /** Absent when the stack leaves the limit to the policy pack's config. */
  maxAgeDays: z.number().positive().optional(),
  minIntervalHours: z.number().nonnegative(),
  lastRotatedAt: z.string().optional(),
  previousRotatedAt: z.string().optional(),
  /** The rotation in flight when this was deployed. */
  rotation: z
    .object({
      id: z.string(),
      startedAt: z.string(),
      from: z.string(),
      to: z.string(),
      mode: z.enum(['rotate', 'emergency', 'disruptive']),
      generations: z.record(z.string(), z.number()),
    })
    .optional(),
  targets: z.array(z.string()),
  /** Deliveries adopted with Pulumi's `import`: resource name → the import id deployed. */
  imports: z.record(z.string(), z.string()).optional(),
});

export type CredentialState = z.infer<typeof credentialState>;

/**
 * The slot a rotation in flight is retiring, judged by that rotation rather than by the age rules:
 * a dual credential's freed slot (regenerated after the gate), a keyset's `previous` key (trusted
 * only until tokens signed by it are reissued). Blocking the up that starts the cure of an
 * over-age key would leave it in place.
 */
export function retiringSlot(state: CredentialState): string | undefined {
  if (!state.rotation) return undefined;
  if (state.scheme === 'dual') return state.rotation.from;
  if (state.scheme === 'triple') return 'previous';
  return undefined;
}

/**
 * What a resource policy may read of a recorded state: everything but what the keys themselves
 * report (a slot's creation time, key id, resource). Those come from the keys' outputs, which a
 * preview does not know while a key is being replaced; the policy host refuses to run a policy that
 * reads an unknown value ("can't run during preview"), so the policies judged per resource read
 * only this part, and the preview can judge them before every up.
 */
export const recordedDecisions = credentialState
  .pick({
    stack: true,
    credential: true,
    scheme: true,
    activeSlot: true,
    maxAgeDays: true,
    minIntervalHours: true,
    lastRotatedAt: true,
    previousRotatedAt: true,
    rotation: true,
  })
  .extend({ slots: z.record(z.string(), z.object({ generation: z.number().int() })) });

export type RecordedDecisions = z.infer<typeof recordedDecisions>;

/** The config-made part of a CredentialState resource's props (see recordedDecisions), or undefined if it is not one. */
export function readRecordedDecisions(props: unknown): RecordedDecisions | undefined {
  const state = (props as { state?: unknown } | undefined)?.state;
  const parsed = recordedDecisions.safeParse(state);
  return parsed.success ? parsed.data : undefined;
}

/** The state carried by a CredentialState resource's props, or undefined if it is not one. */
export function readCredentialState(props: unknown): CredentialState | undefined {
  const state = (props as { state?: unknown } | undefined)?.state;
  const parsed = credentialState.safeParse(state);
  return parsed.success ? parsed.data : undefined;
}

/** A difference between the stack file and what is deployed, by config path. */
export interface Drift {
  /** What differs: key generations, the active slot, or the rotation in flight. */
  readonly kind: 'generations' | 'slot' | 'rotation';
  readonly path: string;
  readonly file: string;
  readonly deployed: string;
  /** True when the file is behind what is deployed (a stale checkout), not merely ahead. */
  readonly stale: boolean;
}

interface CredentialView {
  readonly name: string;
  readonly active: string;
  readonly generations: Readonly<Record<string, { generation: number }>>;
  readonly rotation?: { id: string };
}

/**
 * How the stack file's view of a credential differs from the deployed state. Generation numbers
 * only grow, so a file whose newest generation is older than the deployed newest predates a key
 * that was made since: it is stale, and deploying it would bring back a key that no longer exists.
 */
export function driftOf(cred: CredentialView, deployed: CredentialState | undefined): Drift[] {
  if (!deployed) return [];
  const drift: Drift[] = [];
  const gens = `keyslot:generations.${cred.name}`;
  const fileNewest = Math.max(0, ...Object.values(cred.generations).map((g) => g.generation));
  const deployedNewest = Math.max(0, ...Object.values(deployed.slots).map((s) => s.generation));
  if (fileNewest < deployedNewest)
    drift.push({
      kind: 'generations',
      path: gens,
      file: `newest generation ${fileNewest}`,
      deployed: `newest generation ${deployedNewest}`,
      stale: true,
    });
  for (const [slot, d] of Object.entries(deployed.slots)) {
    const file = cred.generations[slot]?.generation;
    if (file !== d.generation)
      drift.push({
        kind: 'generations',
        path: `${gens}.${slot}.generation`,
        file: String(file),
        deployed: String(d.generation),
        stale: false,
      });
  }
  if (deployed.activeSlot !== cred.active)
    drift.push({ kind: 'slot', path: `keyslot:slots.${cred.name}`, file: cred.active, deployed: deployed.activeSlot, stale: false });
  if (deployed.rotation && deployed.rotation.id !== cred.rotation?.id) {
    drift.push({
      kind: 'rotation',
      path: `keyslot:rotations.${cred.name}`,
      file: cred.rotation?.id ?? 'none',
      deployed: deployed.rotation.id,
      stale: true,
    });
  }
  return drift;
}
