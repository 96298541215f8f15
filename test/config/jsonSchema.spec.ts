import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { stackFileJsonSchema, stackFileReference } from '../../src/config/jsonSchema.ts';

const Ajv2020 = require('ajv/dist/2020') as new (
  options: object,
) => {
  compile(schema: object): ((data: unknown) => boolean) & { errors?: Array<{ instancePath: string; message?: string }> | null };
};
const root = join(__dirname, '..', '..');

describe('the stack file as a JSON Schema and a key-by-key reference', () => {
  it("the committed schema and reference are what the parser's schema generates (npm run schema)", () => {
    assert.equal(
      readFileSync(join(root, 'schema', 'keyslot-stack.schema.json'), 'utf8'),
      `${JSON.stringify(stackFileJsonSchema(), null, 2)}\n`,
      'run npm run schema and commit',
    );
    assert.equal(readFileSync(join(root, 'docs', 'stack-file.md'), 'utf8'), stackFileReference(), 'run npm run schema and commit');
  });

  it('a JSON Schema validator (Ajv, draft 2020-12) accepts every shipped stack file and refuses a broken one', () => {
    const validate = new Ajv2020({ strict: false, validateFormats: false, allErrors: true }).compile(stackFileJsonSchema());
    const stacks = readdirSync(join(root, 'stacks')).filter((f) => f.endsWith('.yaml'));
    assert.ok(stacks.length >= 8);
    for (const file of stacks) {
      const doc = parse(readFileSync(join(root, 'stacks', file), 'utf8'));
      assert.ok(validate(doc), `${file}: ${JSON.stringify(validate.errors)}`);
    }
    const broken = parse(readFileSync(join(root, 'stacks', 'Pulumi.local.yaml'), 'utf8'));
    broken.config['keyslot:credentials'][0].source.type = 'randum';
    assert.equal(validate(broken), false);
    const extra = parse(readFileSync(join(root, 'stacks', 'Pulumi.local.yaml'), 'utf8'));
    extra.config['keyslot:clusters'][0].kubeconfig = 'x';
    assert.equal(validate(extra), false, 'an unknown key is refused, as the parser refuses it');
  });

  it('the reference lists every key the schema has', () => {
    const reference = stackFileReference();
    const keys = new Set<string>();
    const walk = (node: Record<string, any>) => {
      if (!node || typeof node !== 'object') return;
      for (const [k, v] of Object.entries(node.properties ?? {})) {
        keys.add(k);
        walk(v as Record<string, any>);
      }
      for (const v of [...(node.anyOf ?? []), ...(node.oneOf ?? []), node.items, node.additionalProperties]) if (v) walk(v);
    };
    walk(stackFileJsonSchema().properties.config);
    for (const key of keys) assert.match(reference, new RegExp(`\\.${key}\` |\`${key}\` `), `${key} is not in docs/stack-file.md`);
  });
});
