import assert from 'node:assert/strict';
import { defaultPortsFactory, knownSecrets } from '../../src/cli/ports.ts';
import { readStackFile } from '../../src/config/load.ts';
import { parseStackConfig } from '../../src/config/parse.ts';
import { Driver } from '../../src/driver/index.ts';
import { redact } from '../../src/model/redact.ts';

describe('cli: values of the random source are masked like any other secret', () => {
  it('a random password printed by a command or a consumer is masked, and so is the one a regeneration makes', async () => {
    const { raw } = readStackFile('local');
    const config = parseStackConfig('local', raw, 'local');
    const ports = await defaultPortsFactory({ stack: 'local', simulate: true, config, raw });
    const before = await ports.engine.keyMaterial('demo', 'primary');
    assert.ok(before?.value && before.value.length >= 16, "the program exports each slot's password as secret key material");
    // No shape gives it away (redact() alone leaves it): only the remembered value can mask it.
    const line = (v: string) => `consumer says: connected with ${v} as its credential`;
    assert.ok(redact(line(before.value)).includes(before.value));
    assert.equal(knownSecrets.redact(line(before.value)).includes(before.value), false);
    const standby = (await ports.engine.keyMaterial('demo', 'secondary'))!.value!;
    assert.equal(knownSecrets.redact(line(standby)).includes(standby), false);

    await new Driver(ports, { policyPacks: [], holder: 'test@runner' }).rotate('demo');
    const regenerated = (await ports.engine.keyMaterial('demo', 'primary'))!.value!;
    assert.notEqual(regenerated, before.value, 'the freed slot got a new password');
    assert.equal(knownSecrets.redact(line(regenerated)).includes(regenerated), false, 'the new password is masked too');
  });
});
