import assert from 'node:assert/strict';
import {
  compareIds,
  jwtKeyId,
  kopsAdvance,
  kopsAfter,
  kopsCommands,
  kopsHome,
  kopsReplaceAll,
  kopsSlots,
  parseKeypairs,
} from '../../src/model/kops.ts';

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

  it('runs each kops command with the keyset, the cluster and its state store, as kops takes them', () => {
    // kubernetes/kops v1.30 docs/cli: kops validate cluster, get keypairs, promote/distrust/create keypair, update cluster.
    const scope = ['--name', 'k.example.com', '--state', 's3://state'];
    assert.deepEqual(kopsCommands.validate(target), ['kops', 'validate', 'cluster', ...scope, '--wait', '10m']);
    assert.deepEqual(kopsCommands.getKeypairs(target), ['kops', 'get', 'keypairs', 'service-account', '-o', 'json', ...scope]);
    assert.deepEqual(kopsCommands.promote(target, '7'), ['kops', 'promote', 'keypair', 'service-account', '7', ...scope]);
    assert.deepEqual(kopsCommands.distrust(target, '7'), ['kops', 'distrust', 'keypair', 'service-account', '7', ...scope]);
    assert.deepEqual(kopsCommands.create(target), ['kops', 'create', 'keypair', 'service-account', ...scope]);
    assert.deepEqual(kopsCommands.update(target), ['kops', 'update', 'cluster', ...scope, '--yes']);
  });

  it("finds the keyset's home cluster: the one named, else the primary, else the first", () => {
    const clusters = [
      { name: 'eu', primary: false },
      { name: 'us', primary: true },
    ];
    assert.equal(kopsHome(clusters, 'ap'), 'ap');
    assert.equal(kopsHome(clusters), 'us');
    assert.equal(kopsHome([{ name: 'eu', primary: false }]), 'eu');
    assert.equal(kopsHome([]), '');
  });

  it('reads only objects of the keyset, with an id of digits only, and says what was wrong', () => {
    assert.throws(
      () => parseKeypairs('{"name":"service-account"}', 'service-account'),
      /^Error: kops get keypairs service-account -o json did not print a list$/,
    );
    const items = (id: unknown) => JSON.stringify([null, 7, 'x', { name: 'service-account', id }]);
    assert.deepEqual(parseKeypairs(items('12'), 'service-account'), [{ id: '12', primary: false, distrusted: false }]);
    for (const id of ['12a', 'a12', '', 12])
      assert.throws(
        () => parseKeypairs(items(id), 'service-account'),
        /kops listed a service-account keypair without a numeric id/,
        String(id),
      );
    const distrusted = JSON.stringify([
      { name: 'service-account', id: '3', distrustTimestamp: '2026-10-01T00:00:00Z', notBefore: '2026-01-01T00:00:00Z' },
    ]);
    assert.deepEqual(parseKeypairs(distrusted, 'service-account'), [
      { id: '3', primary: false, distrusted: true, issued: '2026-01-01T00:00:00Z' },
    ]);
  });

  it('counts only trusted keypairs in the slots, and names every extra one in the refusal', () => {
    const k = (id: string, primary = false, distrusted = false) => ({ id, primary, distrusted });
    // Keypairs distrusted by earlier rotations stay listed: they are no slot, and no excess.
    assert.deepEqual(kopsSlots([k('1', false, true), k('2', false, true), k('3'), k('4', true), k('5')], target), {
      primary: '4',
      next: '5',
      previous: '3',
    });
    // A distrusted primary is no primary.
    assert.throws(() => kopsSlots([k('1', true, true), k('2')], target), /has no primary keypair/);
    assert.throws(
      () => kopsSlots([k('1'), k('2'), k('3', true)], target),
      (e: Error) =>
        e.message ===
        'kOps keyset service-account of k.example.com trusts 2 keypairs older than the primary (1, 2); keyslot rotates a keyset of previous, primary and next: distrust the extra ones (kops distrust keypair service-account ID), then kops update cluster --yes and a rolling update',
    );
  });

  it('refuses to advance when the staged next keypair is gone or distrusted, whichever keypair is primary', () => {
    const before = { previous: '1', primary: '2', next: '3' };
    const k = (id: string, primary = false, distrusted = false) => ({ id, primary, distrusted });
    const gone = /^Error: kOps keyset service-account: keypair 3, the next key this rotation promotes, is gone or distrusted$/;
    assert.throws(() => kopsAdvance(before, [k('1'), k('2', true)], target), gone);
    assert.throws(() => kopsAdvance(before, [k('1'), k('2', true), k('3', false, true)], target), gone);
    // Already promoted (a resumed flip) is not gone.
    assert.deepEqual(kopsAdvance(before, [k('1', false, true), k('2'), k('3', true), k('4')], target), []);
  });

  it('promotes the middle of the three new keypairs whatever order kops lists them in', () => {
    const before = { previous: '1', primary: '2', next: '3' };
    const k = (id: string, primary = false) => ({ id, primary, distrusted: false });
    const cmds = kopsReplaceAll(before, [k('6'), k('2', true), k('4'), k('1'), k('5'), k('3')], target);
    assert.deepEqual(cmds, [kopsCommands.promote(target, '5')]);
  });

  it('checks where a rotation left the keyset, and says where it found it', () => {
    const before = { previous: '1', primary: '2', next: '3' };
    const k = (id: string, primary = false) => ({ id, primary, distrusted: false });
    const moved =
      (now: { id: string; primary: boolean; distrusted: boolean }[], replaced = false) =>
      () =>
        kopsAfter(before, now, target, replaced);
    // A rotation: next became primary, primary became previous, and a new next is staged.
    assert.doesNotThrow(moved([k('2'), k('3', true), k('4')]));
    assert.throws(moved([k('1'), k('3', true), k('4')]), /is not where the rotation left it \(primary 3, previous 1, next 4\)/);
    assert.throws(
      moved([k('2'), k('3', true)]),
      /is not where the rotation left it \(primary 3, previous 2, next none\); it changed outside keyslot$/,
    );
    assert.throws(moved([k('3', true)]), /\(primary 3, previous none, next none\)/);
    // The old primary is previous and a next is staged, but another keypair than the staged next signs.
    assert.throws(
      moved([k('2'), { id: '3', primary: false, distrusted: true }, k('4', true), k('5')]),
      /\(primary 4, previous 2, next 5\)/,
    );
    // A replacement: a primary, previous and next none of which was there before.
    assert.doesNotThrow(moved([k('4'), k('5', true), k('6')], true));
    assert.throws(moved([k('4'), k('5', true)], true), /next none/);
    assert.throws(moved([k('5', true), k('6')], true), /previous none/);
    assert.throws(moved([k('3'), k('5', true), k('6')], true), /previous 3/);
    // The old primary still signing, between two new keypairs (ids as kOps might order them).
    assert.throws(() => kopsAfter({ previous: '7', primary: '8', next: '9' }, [k('5'), k('8', true), k('10')], target, true), /primary 8/);
  });
});
