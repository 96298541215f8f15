import type { ResourceValidationPolicy } from '@pulumi/policy';
import { annotations } from '../../src/model/index.ts';
import { declaredByKeyslot, deliveryMarks } from './common.ts';

/**
 * Where each delivery kind keeps its value, which outputs must be marked secret, and whether it can
 * carry keyslot's marks (an AWS SecretVersion takes no tags: it is known by its place in the stack).
 */
const deliveryKinds: {
  match: (type: string) => boolean;
  values: (p: Record<string, any>) => unknown[];
  secretOutputs: string[];
  marked?: false;
}[] = [
  {
    match: (t) => t === 'kubernetes:core/v1:Secret' || t === 'kubernetes:core/v1:SecretPatch',
    values: (p) => [...Object.values(p.stringData ?? {}), ...Object.values(p.data ?? {})],
    secretOutputs: ['data', 'stringData'],
  },
  { match: (t) => /^azure-native:keyvault(\/[^:]+)?:Secret$/.test(t), values: (p) => [p.properties?.value], secretOutputs: ['properties'] },
  {
    match: (t) => t === 'aws:secretsmanager/secretVersion:SecretVersion',
    values: (p) => [p.secretString],
    secretOutputs: ['secretString'],
    marked: false,
  },
];

/** Every string inside `value`, with the property path it sits at. */
function* strings(value: unknown, path: string): Generator<[string, string]> {
  if (typeof value === 'string') yield [path, value];
  else if (Array.isArray(value)) for (const [i, v] of value.entries()) yield* strings(v, `${path}[${i}]`);
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) yield* strings(v, path ? `${path}.${k}` : k);
}

/**
 * A delivered value appears only where the delivery keeps it, and that property is a secret
 * output. keyslot never delivers into a ConfigMap.
 */
export const secretsStaySecret: ResourceValidationPolicy = {
  name: 'secrets-stay-secret',
  description: 'No delivered value in plaintext inputs, labels, annotations or tags; delivered data is a secret output.',
  enforcementLevel: 'mandatory',
  validateResource: (args, reportViolation) => {
    const marks = deliveryMarks(args.props);
    if (!declaredByKeyslot(args.urn, marks)) return;
    if (args.type === 'kubernetes:core/v1:ConfigMap') {
      reportViolation(`${args.name}: a keyslot delivery into a ConfigMap is plaintext; fix: deliver a kubernetes-secret instead`);
      return;
    }
    const kind = deliveryKinds.find((k) => k.match(args.type));
    if (!kind) return;
    // Delivered values are rendered templates: look for their key-like tokens, not the prose around them.
    const tokens = kind.values(args.props).flatMap((v) => (typeof v === 'string' ? (v.match(/[A-Za-z0-9+/=_.-]{16,}/g) ?? []) : []));
    const elsewhere = {
      ...args.props,
      stringData: undefined,
      data: undefined,
      secretString: undefined,
      properties: { ...args.props.properties, value: undefined },
    };
    for (const [path, text] of strings(elsewhere, '')) {
      if (tokens.some((t) => text.includes(t)))
        reportViolation(`${args.name}: a delivered value appears in plaintext at ${path}; fix: keep values in the delivery's data only`);
    }
    const marked = new Set(args.opts.additionalSecretOutputs ?? []);
    const unmarked = kind.secretOutputs.filter((o) => !marked.has(o));
    if (unmarked.length)
      reportViolation(`${args.name}: ${unmarked.join(', ')} not marked as secret outputs; fix: add them to additionalSecretOutputs`);
    if (kind.marked !== false && marks[annotations.slot] === undefined) {
      reportViolation(`${args.name}: delivery does not say which slot it holds; fix: deploy it with the keyslot program`);
    }
  },
};
