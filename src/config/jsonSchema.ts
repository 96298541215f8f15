/**
 * The stack file as a JSON Schema (for editors: `keyslot init` points a stack file at it) and as a
 * generated reference of every key. Both come from the one schema the parser uses (schema.ts), so
 * neither can drift from what keyslot accepts; test/config/jsonSchema.spec.ts checks the committed
 * copies (schema/keyslot-stack.schema.json, docs/stack-file.md) are current.
 */
import { z } from 'zod';
import { stackConfig } from './schema.ts';

type Json = Record<string, any>;

/** The stack file (`stacks/Pulumi.<stack>.yaml`) as a JSON Schema, draft 2020-12. */
export function stackFileJsonSchema(): Json {
  const keyslot = z.toJSONSchema(stackConfig, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as Json;
  const properties = Object.fromEntries(Object.entries(keyslot.properties as Json).map(([k, v]) => [`keyslot:${k}`, v]));
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://keyslot.dev/schema/keyslot-stack.schema.json',
    title: 'keyslot stack file (stacks/Pulumi.<stack>.yaml)',
    type: 'object',
    properties: {
      secretsprovider: {
        type: 'string',
        description:
          "The stack's secrets provider (awskms://, azurekeyvault://, ...), written by pulumi stack init / change-secrets-provider.",
      },
      encryptedkey: { type: 'string', description: "The stack's data key, encrypted by the secrets provider; written by Pulumi." },
      encryptionsalt: { type: 'string', description: "The passphrase provider's salt; written by Pulumi." },
      config: {
        type: 'object',
        description:
          "Stack config. keyslot reads the keyslot: keys below; a cluster's kubeconfigSecret names another keyslot: key holding a secret value.",
        properties,
        required: (keyslot.required as string[] | undefined)?.map((k) => `keyslot:${k}`) ?? [],
        ...(keyslot.$defs ? {} : {}),
      },
    },
    required: ['config'],
    ...(keyslot.$defs ? { $defs: keyslot.$defs } : {}),
  };
}

/** The `type` (or `kind`) that picks a variant of a list entry or a source. */
function variantOf(node: Json): string | undefined {
  return node.properties?.type?.const ?? node.properties?.kind?.const;
}

function typeOf(node: Json): string {
  const alternatives: Json[] | undefined = node.anyOf ?? node.oneOf;
  if (alternatives?.every((a) => variantOf(a))) return `one of ${alternatives.map((a) => variantOf(a)).join(', ')}`;
  if (node.enum) return node.enum.map((v: unknown) => JSON.stringify(v)).join(' | ');
  if (node.const !== undefined) return JSON.stringify(node.const);
  if (node.anyOf || node.oneOf) return (node.anyOf ?? node.oneOf).map(typeOf).join(' | ');
  if (node.type === 'array') return `list of ${node.items ? typeOf(node.items) : 'any'}`;
  if (node.type === 'object' && node.additionalProperties && typeof node.additionalProperties === 'object' && !node.properties)
    return `map of ${typeOf(node.additionalProperties)}`;
  return String(node.type ?? 'any');
}

function constraints(node: Json): string {
  const parts: string[] = [];
  // A format says it better than the pattern that checks it (RFC 3339 times, UUIDs).
  if (node.pattern && !node.format) parts.push(`matches \`${node.pattern}\``);
  if (node.minimum !== undefined) parts.push(`≥ ${node.minimum}`);
  if (node.exclusiveMinimum !== undefined) parts.push(`> ${node.exclusiveMinimum}`);
  if (node.maximum !== undefined) parts.push(`≤ ${node.maximum}`);
  if (node.minLength) parts.push(`at least ${node.minLength} character${node.minLength > 1 ? 's' : ''}`);
  if (node.minItems) parts.push(`at least ${node.minItems} item${node.minItems > 1 ? 's' : ''}`);
  if (node.format) parts.push(node.format);
  if (node.default !== undefined) parts.push(`default ${JSON.stringify(node.default)}`);
  return parts.join('; ');
}

/** Every key of the stack file, one row each: path, type, required, constraints and default. */
export function stackFileReference(): string {
  const schema = stackFileJsonSchema();
  const rows: string[] = [];
  const visit = (node: Json, path: string, required: boolean) => {
    if (node.$ref) node = schema.$defs[String(node.$ref).split('/').pop()!];
    rows.push(
      `| \`${path}\` | ${typeOf(node).replaceAll('|', '\\|')} | ${required ? 'yes' : ''} | ${constraints(node).replaceAll('|', '\\|')} |`,
    );
    visitChildren(node, path);
    if (node.type === 'array' && node.items) visitChildren(node.items, `${path}[]`);
    if (node.type === 'object' && node.additionalProperties && typeof node.additionalProperties === 'object')
      visitChildren(node.additionalProperties, `${path}.<name>`);
  };
  const visitChildren = (node: Json, path: string) => {
    if (node.$ref) node = schema.$defs[String(node.$ref).split('/').pop()!];
    const alternatives: Json[] = node.anyOf ?? node.oneOf ?? [];
    if (alternatives.some((a) => a.properties)) {
      for (const alt of alternatives) {
        const kind = variantOf(alt);
        const at = kind ? `${path}(${kind})` : path;
        for (const [k, v] of Object.entries((alt.properties ?? {}) as Json)) visit(v, `${at}.${k}`, (alt.required ?? []).includes(k));
      }
    } else if (node.properties) {
      for (const [k, v] of Object.entries(node.properties as Json)) visit(v, `${path}.${k}`, (node.required ?? []).includes(k));
      // Named entries beside fixed keys (a credential's slots beside lastRotatedAt).
      if (node.additionalProperties && typeof node.additionalProperties === 'object')
        visitChildren(node.additionalProperties, `${path}.<name>`);
    }
  };
  for (const [k, v] of Object.entries(schema.properties.config.properties as Json))
    visit(v, k, (schema.properties.config.required as string[]).includes(k));
  return [
    '# The stack file, key by key',
    '',
    'Generated from `src/config/schema.ts` (the schema keyslot parses with) by `npm run schema`; do not edit.',
    'Each key of `stacks/Pulumi.<stack>.yaml` under `config:`. A `(kind)` in a path is the variant of a list',
    "entry chosen by its `type` or `kind`. What each key does is told in README.md and in the schema's comments.",
    '',
    '| key | type | required | constraints, default |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}
