import type { PolicyResource, ResourceValidationArgs } from '@pulumi/policy';
import {
  credentialStateType,
  defaultMaxAgeDays,
  readCredentialState,
  readRecordedDecisions,
  type CredentialState,
  type RecordedDecisions,
} from '../../src/model/index.ts';

/** The pack's only dependency on the outside world. */
export interface Clock {
  now(): Date;
}

/** Every credential state recorded in the stack, with its resource. */
export function credentialStates(resources: readonly PolicyResource[]): { resource: PolicyResource; state: CredentialState }[] {
  return resources.flatMap((resource) => {
    if (resource.type !== credentialStateType) return [];
    const state = readCredentialState(resource.props);
    return state ? [{ resource, state }] : [];
  });
}

/**
 * The credential state a resource policy is looking at — its config-made part only, which a preview
 * always knows (model/state.ts recordedDecisions) — or undefined for any other resource.
 */
export function credentialStateOf(args: ResourceValidationArgs): RecordedDecisions | undefined {
  return args.type === credentialStateType ? readRecordedDecisions(args.props) : undefined;
}

/**
 * The keyslot marks a delivered object carries, keyed as annotations are (`keyslot.dev/…`):
 * Kubernetes objects carry them as annotations, Azure resources as tags named `keyslot-…` (a tag
 * name cannot hold `/`; src/program/deliveries.ts renames them so).
 */
export function deliveryMarks(props: Record<string, any>): Record<string, string> {
  const tags = Object.entries((props.tags ?? {}) as Record<string, string>).map(([k, v]) => [
    k.startsWith('keyslot-') ? `keyslot.dev/${k.slice('keyslot-'.length)}` : k,
    v,
  ]);
  return { ...(props.metadata?.annotations ?? {}), ...Object.fromEntries(tags) };
}

/**
 * Whether a resource is one the keyslot program declared: it carries keyslot's marks, or it sits
 * under a keyslot Credential component (a URN's type part names its parents' types, joined by `$`),
 * which is how a resource that takes no tags (an AWS SecretVersion) is known.
 */
export function declaredByKeyslot(urn: string, marks: Readonly<Record<string, string>>): boolean {
  if (Object.keys(marks).some((k) => k.startsWith('keyslot.dev/'))) return true;
  return (urn.split('::')[2] ?? '').split('$').includes('keyslot:index:Credential');
}

/** The command that fixes an age or interval problem. */
export function rotateCommand(state: Pick<CredentialState, 'stack' | 'credential'>): string {
  return `keyslot rotate --stack ${state.stack} --credential ${state.credential}`;
}

/** The stack's own limit wins; the pack's config is the default. */
export function maxAgeOf(state: CredentialState, packMaxAgeDays: number | undefined): number {
  return state.maxAgeDays ?? packMaxAgeDays ?? defaultMaxAgeDays;
}

/**
 * When a slot's key was made: the recorded createdAt, or the provider's own date for the key
 * resource (an IAM access key's createDate) when that is known; the earlier of the two.
 */
export function slotCreatedAt(slot: CredentialState['slots'][string], resources: readonly PolicyResource[]): string | undefined {
  const key = slot.keyUrn ? resources.find((r) => r.urn === slot.keyUrn) : undefined;
  const provided = typeof key?.props.createDate === 'string' ? key.props.createDate : undefined;
  const dates = [slot.createdAt, provided].filter((d): d is string => d !== undefined && !Number.isNaN(Date.parse(d)));
  return dates.sort((a, b) => Date.parse(a) - Date.parse(b))[0];
}

export const maxAgeConfig = {
  maxAgeDays: {
    type: 'integer',
    minimum: 1,
    default: defaultMaxAgeDays,
    description: 'Oldest a key may get, in days, where the stack does not set maxAgeDays.',
  },
} as const;
