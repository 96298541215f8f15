import assert from 'node:assert/strict';
import { compareIds, jwtKeyId, kopsAdvance, kopsAfter, kopsReplaceAll, kopsSlots, parseKeypairs } from '../../src/model/kops.ts';

const target = { clusterName: 'k.example.com', stateStore: 's3://state', keyset: 'service-account' };

/** What `kops get keypairs service-account -o json` prints (cmd/kops/get_keypairs.go's keypairItem), trusted keypairs only. */
const printed = JSON.stringify([
  {
    name: 'service-account',
    id: '7000000000000000002',
    isPrimary: true,
    subject: 'CN=service-account',
    issuer: 'CN=service-account',
    isCA: true,
    notBefore: '2026-09-01T00:00:00Z',
    notAfter: '2036-09-01T00:00:00Z',
    keyLength: 2048,
    hasPrivateKey: true,
  },
  { name: 'service-account', id: '7000000000000000001', notBefore: '2026-06-01T00:00:00Z', hasPrivateKey: true },
  { name: 'service-account', id: '7000000000000000003', notBefore: '2026-09-02T00:00:00Z', hasPrivateKey: true },
  { name: 'kubernetes-ca', id: '9', isPrimary: true },
]);

describe('model: kOps keysets as previous/primary/next', () => {
  it('reads kops get keypairs -o json for one keyset and names the slots by id order around the primary', () => {
    const keypairs = parseKeypairs(printed, 'service-account');
    assert.equal(keypairs.length, 3, 'another keyset in the output is ignored');
    assert.deepEqual(kopsSlots(keypairs, target), {
      primary: '7000000000000000002',
      next: '7000000000000000003',
      previous: '7000000000000000001',
    });
    assert.equal(keypairs.find((k) => k.primary)?.issued, '2026-09-01T00:00:00Z');
    assert.throws(() => parseKeypairs('Error: no keypairs found', 'service-account'), /did not print JSON/);
    assert.throws(() => parseKeypairs('[{"name":"service-account","id":"abc"}]', 'service-account'), /without a numeric id/);
  });

  it('compares ids as numbers of any length, as kops does with its serials', () => {
    assert.equal(compareIds('9', '10'), -1);
    assert.equal(compareIds('70000000000000000010', '7000000000000000001'), 1);
  });

  it('refuses a keyset that is not previous/primary/next, naming the fix', () => {
    const keypairs = parseKeypairs(printed, 'service-account');
    const extra = [...keypairs, { id: '7000000000000000004', primary: false, distrusted: false }];
    assert.throws(() => kopsSlots(extra, target), /trusts 2 keypairs newer than the primary .*kops distrust keypair service-account ID/);
    assert.throws(
      () =>
        kopsSlots(
          keypairs.map((k) => ({ ...k, primary: false })),
          target,
        ),
      /has no primary keypair/,
    );
  });

  it('advances by distrust, promote, create, and repeats nothing the state store shows done', () => {
    const keypairs = parseKeypairs(printed, 'service-account');
    const before = kopsSlots(keypairs, target);
    const verbs = (cmds: string[][]) => cmds.map((c) => `${c[1]} ${c[1] === 'create' ? '' : c[4]}`.trim());
    assert.deepEqual(verbs(kopsAdvance(before, keypairs, target)), [
      'distrust 7000000000000000001',
      'promote 7000000000000000003',
      'create',
    ]);
    // Half done (an agent died after the promote): only the create is left.
    const halfDone = [
      { id: '7000000000000000001', primary: false, distrusted: true },
      { id: '7000000000000000002', primary: false, distrusted: false },
      { id: '7000000000000000003', primary: true, distrusted: false },
    ];
    assert.deepEqual(verbs(kopsAdvance(before, halfDone, target)), ['create']);
    const done = [...halfDone, { id: '7000000000000000004', primary: false, distrusted: false }];
    assert.deepEqual(kopsAdvance(before, done, target), []);
    assert.deepEqual(
      kopsAfter(
        before,
        done.filter((k) => !k.distrusted),
        target,
      ),
      {
        primary: '7000000000000000003',
        previous: '7000000000000000002',
        next: '7000000000000000004',
      },
    );
    assert.throws(
      () => kopsAdvance({ primary: '7000000000000000002' }, keypairs, target),
      /no staged next keypair to promote; stage one first/,
    );
    assert.throws(() => kopsAfter(before, keypairs, target), /changed outside keyslot/);
    // Every command carries the cluster and its state store.
    for (const c of kopsAdvance(before, keypairs, target))
      assert.deepEqual(c.slice(-4), ['--name', 'k.example.com', '--state', 's3://state']);
  });

  it('a disruptive replacement: three new keypairs, the middle promoted, every old one distrusted, a batch at a time', () => {
    const before = { previous: '1', primary: '2', next: '3' };
    const k = (id: string, primary = false, distrusted = false) => ({ id, primary, distrusted });
    const verb = (cmds: string[][]) => cmds.map((c) => `${c[1]}${c[1] === 'create' ? '' : ` ${c[4]}`}`);
    let now = [k('1'), k('2', true), k('3')];
    assert.deepEqual(verb(kopsReplaceAll(before, now, target)), ['create']);
    now = [...now, k('4'), k('5'), k('6')];
    assert.deepEqual(verb(kopsReplaceAll(before, now, target)), ['promote 5']);
    now = now.map((x) => ({ ...x, primary: x.id === '5' }));
    assert.deepEqual(verb(kopsReplaceAll(before, now, target)), ['distrust 1', 'distrust 2', 'distrust 3']);
    now = now.map((x) => ({ ...x, distrusted: ['1', '2', '3'].includes(x.id) }));
    assert.deepEqual(kopsReplaceAll(before, now, target), []);
    assert.deepEqual(
      kopsAfter(
        before,
        now.filter((x) => !x.distrusted),
        target,
        true,
      ),
      { primary: '5', previous: '4', next: '6' },
    );
  });

  it("reads a JWT's key id from its header only", () => {
    const header = Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'abc' })).toString('base64url');
    assert.equal(jwtKeyId(`${header}.e30.sig`), 'abc');
    assert.equal(jwtKeyId('not-a-jwt'), undefined);
    assert.equal(jwtKeyId(''), undefined);
  });
});
