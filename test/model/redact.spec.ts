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

  it('remembers a value of 8 characters, the shortest it takes', () => {
    const r = new Redactor();
    r.remember('h8h8h8h8');
    r.remember('h7h7h7h');
    assert.equal(r.redact('x h8h8h8h8 y h7h7h7h'), 'x [redacted] y h7h7h7h');
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

describe('redaction by shape: each shape of key material, and what stays', () => {
  const cases: [string, string, string][] = [
    ['a PEM private key, whole', 'a\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nabc\n-----END RSA PRIVATE KEY-----\nb', 'a\n[redacted]\nb'],
    ['a PEM private key cut short', 'x -----BEGIN PRIVATE KEY-----\nMIIE', 'x [redacted]'],
    ['a PEM certificate is public', '-----BEGIN CERTIFICATE-----', '-----BEGIN CERTIFICATE-----'],
    ['an AWS access key id', 'id AKIAABCDEFGHIJKLMNOP used', 'id [redacted] used'],
    ['a temporary AWS key id', 'ASIAABCDEFGHIJKLMNOP', '[redacted]'],
    ['an AWS-like word one character short', 'AKIAABCDEFGHIJKLMNO', 'AKIAABCDEFGHIJKLMNO'],
    ['name=value, any case', 'PASSWORD=hunter2 Sig=abc&x=1', 'PASSWORD=[redacted] Sig=[redacted]&x=1'],
    ['a SAS token', 'SharedAccessSignature=sv-2020&foo', 'SharedAccessSignature=[redacted]&foo'],
    ['key=, secret=, token=', 'key=k1 secret=s1 token=t1', 'key=[redacted] secret=[redacted] token=[redacted]'],
    ['name: value in YAML, single-quoted (it used to pass)', "api_key: 'abc123'", 'api_key: [redacted]'],
    ['name: value in YAML, double-quoted', 'token: "abc123"', 'token: [redacted]'],
    ['a kubeconfig client key', 'client-key-data: LS0tLS1CRUdJTg', 'client-key-data: [redacted]'],
    ['a name without a value stays', 'password:', 'password:'],
    ['a JWT', 'Bearer eyJhbGciOiJSUzI1.eyJzdWIiOiJhYmM.c2lnbmF0dXJl', 'Bearer [redacted]'],
    ['32 characters of base64', `k ${'A'.repeat(32)}= x`, 'k [redacted] x'],
    ['31 of them stay', `k ${'A'.repeat(31)} x`, `k ${'A'.repeat(31)} x`],
    ['32 hex digits', `h ${'0f'.repeat(16)} x`, 'h [redacted] x'],
    ['prose', 'the key rotated; consumers restarted', 'the key rotated; consumers restarted'],
    ['prose with no hex digit in 32 characters', 'mmm nnn ppp qqq rrr sss ttt uuu vvv www', 'mmm nnn ppp qqq rrr sss ttt uuu vvv www'],
    ['name: value after more than one space', 'password:   two-spaces', 'password:   [redacted]'],
    ['base64 without padding', `k ${'Z'.repeat(40)} x`, 'k [redacted] x'],
  ];
  for (const [what, text, masked] of cases) it(what, () => assert.equal(redact(text), masked));
});
