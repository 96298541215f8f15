import assert from 'node:assert/strict';
import { redact, Redactor } from '../../src/model/redact.ts';

describe('redaction', () => {
  it('masks a value it has seen whatever its shape: a 16-character random password passes the shapes', () => {
    const password = 'Xq3-v9_Lm2.pR7tz';
    assert.equal(redact(`connected with ${password}`), `connected with ${password}`, 'no shape catches it');
    const r = new Redactor();
    r.remember(password);
    assert.equal(r.redact(`connected with ${password}, retrying ${password}`), 'connected with [redacted], retrying [redacted]');
  });

  it('masks the longer of two overlapping values whole, and ignores values too short to be keys', () => {
    const r = new Redactor();
    r.remember('abcdefgh');
    r.remember('abcdefgh-and-more');
    r.remember('short');
    assert.equal(r.redact('x abcdefgh-and-more y short'), 'x [redacted] y short');
  });

  it('masks `name: value` by name, as it masks `name=value`', () => {
    assert.equal(redact('password: hunter2hunter'), 'password: [redacted]');
    assert.equal(redact('secret_key: "Zm9vYmFy"'), 'secret_key: [redacted]');
    assert.equal(redact('AccountKey=abc123;EndpointSuffix=core'), 'AccountKey=[redacted];EndpointSuffix=core');
    // A value holding a colon is still a value: the pair's mask never depends on what the value contains.
    assert.equal(redact('token=abc:defghij'), 'token=[redacted]');
    assert.equal(redact('AccountKey=zz:yy;EndpointSuffix=core'), 'AccountKey=[redacted];EndpointSuffix=core');
    assert.equal(redact('the key rotated at 10:00'), 'the key rotated at 10:00', 'prose survives');
    assert.equal(
      redact('create azure-native:keyvault:Secret::cosmos-d0: failed'),
      'create azure-native:keyvault:Secret::cosmos-d0: failed',
      'type tokens survive',
    );
  });
});
