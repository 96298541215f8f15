/**
 * Runs CrossGuard policies the way the policy server does — config with the schema's defaults,
 * secrets already unwrapped, isType/asType by type token — and collects the violations each
 * reports. The simulated engine evaluates keyslot's pack with it at every preview and up (as the
 * CLI does with `--policy-pack`), and the policy tests use it. Never constructs a PolicyPack (its
 * constructor starts a server); `test/policy/boot.spec.ts` proves the same policies under the real
 * policy host.
 */
import type {
  Policies,
  Policy,
  PolicyResource,
  PolicyResourceOptions,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from '@pulumi/policy';
import { reveal } from './secretValues.ts';

export interface Violation {
  readonly message: string;
  readonly urn?: string;
}

export interface ResourceInput {
  readonly type: string;
  readonly name: string;
  readonly props: Record<string, unknown>;
  readonly opts?: Partial<PolicyResourceOptions>;
  readonly parent?: string;
  readonly urn?: string;
  /** The resource's provider, with its inputs, as the engine sends it (AnalyzerResource.provider). */
  readonly provider?: { readonly type: string; readonly name: string; readonly props: Record<string, unknown> };
}

class NotApplicable extends Error {}

/** The policy's config: its schema's defaults under what the test (the config file) sets. */
export function policyConfig(policy: Policy, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const defaults = Object.fromEntries(
    Object.entries(policy.configSchema?.properties ?? {}).flatMap(([k, s]) => ('default' in s ? [[k, s.default]] : [])),
  );
  return { ...defaults, ...overrides };
}

function urnOf(r: Pick<ResourceInput, 'type' | 'name' | 'urn'>): string {
  return r.urn ?? `urn:pulumi:test::keyslot::${r.type}::${r.name}`;
}

function options(r: ResourceInput): PolicyResourceOptions {
  return {
    protect: false,
    ignoreChanges: [],
    aliases: [],
    customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
    additionalSecretOutputs: [],
    ...r.opts,
    ...(r.parent ? { parent: r.parent } : {}),
  };
}

function typing(type: string) {
  const isType = (cls: { __pulumiType?: string }) => cls.__pulumiType === type;
  return {
    isType: isType as never,
    asType: ((cls: { __pulumiType?: string }, props: unknown) => (isType(cls) ? props : undefined)) as never,
  };
}

function notApplicable(reason?: string): never {
  throw new NotApplicable(reason);
}

export async function validateResource(
  policy: ResourceValidationPolicy,
  r: ResourceInput,
  config: Record<string, unknown> = {},
): Promise<Violation[]> {
  const violations: Violation[] = [];
  const { type, name, urn, props, opts, isType, asType, provider } = policyResources([r])[0]!;
  const args: ResourceValidationArgs = {
    type,
    name,
    urn,
    props,
    opts,
    ...(provider ? { provider } : {}),
    isType,
    asType: asType as never,
    stackTags: new Map(),
    getConfig: (() => policyConfig(policy, config)) as never,
    notApplicable,
  };
  const validations = [policy.validateResource ?? []].flat();
  try {
    for (const v of validations) await v(args, (message, urn) => violations.push({ message, ...(urn ? { urn } : {}) }));
  } catch (e) {
    if (!(e instanceof NotApplicable)) throw e;
  }
  return violations;
}

export function policyResources(inputs: readonly ResourceInput[]): PolicyResource[] {
  const byUrn = new Map<string, PolicyResource>();
  const list = inputs.map((r) => {
    const props = reveal(r.props) as Record<string, any>;
    const t = typing(r.type);
    const resource: PolicyResource = {
      type: r.type,
      name: r.name,
      urn: urnOf(r),
      props,
      opts: options(r),
      dependencies: [],
      propertyDependencies: {},
      isType: t.isType,
      asType: ((cls: never) => (t.asType as (c: never, p: unknown) => unknown)(cls, props)) as never,
      ...(r.provider
        ? {
            provider: {
              ...r.provider,
              urn: urnOf(r.provider),
              props: reveal(r.provider.props) as Record<string, any>,
            },
          }
        : {}),
    };
    byUrn.set(resource.urn, resource);
    return resource;
  });
  for (const [i, r] of inputs.entries()) {
    if (r.parent && byUrn.has(r.parent)) (list[i] as { parent?: PolicyResource }).parent = byUrn.get(r.parent);
  }
  return list;
}

export async function validateStack(
  policy: StackValidationPolicy,
  resources: readonly ResourceInput[],
  config: Record<string, unknown> = {},
): Promise<Violation[]> {
  const violations: Violation[] = [];
  const args: StackValidationArgs = {
    resources: policyResources(resources),
    stackTags: new Map(),
    getConfig: (() => policyConfig(policy, config)) as never,
    notApplicable,
  };
  try {
    await policy.validateStack(args, (message, urn) => violations.push({ message, ...(urn ? { urn } : {}) }));
  } catch (e) {
    if (!(e instanceof NotApplicable)) throw e;
  }
  return violations;
}

/** Runs any policy over a whole stack: resource policies once per resource. */
export async function runPolicy(
  policy: ResourceValidationPolicy | StackValidationPolicy,
  resources: readonly ResourceInput[],
  config: Record<string, unknown> = {},
): Promise<Violation[]> {
  if ('validateStack' in policy) return validateStack(policy, resources, config);
  const all: Violation[] = [];
  for (const r of resources) all.push(...(await validateResource(policy as ResourceValidationPolicy, r, config)));
  return all;
}

export interface PackViolation extends Violation {
  readonly policy: string;
  readonly level: 'advisory' | 'mandatory' | 'remediate' | 'disabled';
}

/**
 * A policy pack config file (`--policy-pack-config`), as the policy host reads it: by policy name
 * (or `all`), either an enforcement level or an object with an optional `enforcementLevel` and the
 * policy's own properties.
 */
export type PackConfig = Readonly<Record<string, unknown>>;

function entryOf(policy: Policy, config: PackConfig): { level?: string; props: Record<string, unknown> } {
  const entry = config[policy.name];
  const all = config.all;
  if (typeof entry === 'string') return { level: entry, props: {} };
  const { enforcementLevel, ...props } = (entry && typeof entry === 'object' ? entry : {}) as Record<string, unknown>;
  const level = typeof enforcementLevel === 'string' ? enforcementLevel : typeof all === 'string' ? all : undefined;
  return { ...(level ? { level } : {}), props };
}

function levelOf(policy: Policy, config: PackConfig = {}): PackViolation['level'] {
  return (entryOf(policy, config).level ?? policy.enforcementLevel ?? 'advisory') as PackViolation['level'];
}

/** The pack's resource or stack policies that are not disabled, run over the stack, each violation with its policy and level. */
async function analyze(
  policies: Policies,
  resources: readonly ResourceInput[],
  which: 'resource' | 'stack',
  config: PackConfig,
): Promise<PackViolation[]> {
  const found: PackViolation[] = [];
  for (const policy of policies) {
    const level = levelOf(policy, config);
    if ('validateStack' in policy !== (which === 'stack') || level === 'disabled') continue;
    for (const v of await runPolicy(policy as ResourceValidationPolicy | StackValidationPolicy, resources, entryOf(policy, config).props))
      found.push({ ...v, policy: policy.name, level });
  }
  return found;
}

/** Resource policies over one resource's inputs, as the engine asks them when it registers, before its step. */
export function analyzeResource(policies: Policies, resource: ResourceInput, config: PackConfig = {}): Promise<PackViolation[]> {
  return analyze(policies, [resource], 'resource', config);
}

/** Stack policies over every resource's outputs, as the engine asks them once the steps ran. */
export function analyzeStack(policies: Policies, resources: readonly ResourceInput[], config: PackConfig = {}): Promise<PackViolation[]> {
  return analyze(policies, resources, 'stack', config);
}
