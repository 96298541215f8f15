// `npm run schema`: writes the stack file's JSON Schema and key reference from the parser's schema.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stackFileJsonSchema, stackFileReference } from '../src/config/jsonSchema.ts';

const root = join(__dirname, '..');
mkdirSync(join(root, 'schema'), { recursive: true });
mkdirSync(join(root, 'docs'), { recursive: true });
writeFileSync(join(root, 'schema', 'keyslot-stack.schema.json'), `${JSON.stringify(stackFileJsonSchema(), null, 2)}\n`);
writeFileSync(join(root, 'docs', 'stack-file.md'), stackFileReference());
