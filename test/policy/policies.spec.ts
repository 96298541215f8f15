import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  iamTwoKeyLimit,
  keyslotPolicies,
  keyRotationDue,
  maxKeyAge,
  minRotationInterval,
  secretsStaySecret,
  slotsDistinct,
  trustBundleComplete,
} from '../../policy/policies/index.ts';
import { runPolicy, validateResource, type ResourceInput } from './harness.ts';

const now = new Date('2026-11-24T00:00:00Z');
const clock = { now: () => now };
const stateUrn = 'urn:pulumi:prod::keyslot::keyslot:index:Credential$keyslot:index:CredentialState::store-state';
const keyUrn = (slot: string) =>
  `urn:pulumi:prod::keyslot::keyslot:index:Credential$keyslot:source:AwsIamAccessKey$aws:iam/accessKey:AccessKey::store-${slot}`;

/** A healthy dual credential: fresh keys, distinct generations, delivered as a secret. */
function happy() {
  const state = {
    stack: 'prod',
    credential: 'store',
    scheme: 'dual',
    activeSlot: 'primary',
    slots: {
      primary: { generation: 3, createdAt: '2026-11-01T00:00:00Z', keyUrn: keyUrn('primary') },
      secondary: { generation: 2, createdAt: '2026-10-01T00:00:00Z', keyUrn: keyUrn('secondary') },
    } as Record<string, { generation: number; createdAt?: string; keyUrn?: string }>,
    minIntervalHours: 24,
    lastRotatedAt: '2026-11-01T00:00:00Z',
    previousRotatedAt: '2026-10-01T00:00:00Z',
    targets: ['eu:secret/app/store'],
  } as Record<string, any>;
  const resources: ResourceInput[] = [
    { type: 'keyslot:index:CredentialState', name: 'store-state', urn: stateUrn, props: { state } },
    ...['primary', 'secondary'].map((slot) => ({
      type: 'aws:iam/accessKey:AccessKey',
      name: `store-${slot}`,
      urn: keyUrn(slot),
      props: { user: 'store-user', createDate: state.slots[slot].createdAt },
      opts: { deleteBeforeReplace: true, additionalSecretOutputs: ['secret'] },
    })),
    {
      type: 'kubernetes:core/v1:Secret',
      name: 'store-d0-eu',
      props: {
        metadata: {
          name: 'store',
          namespace: 'app',
          annotations: { 'keyslot.dev/credential': 'store', 'keyslot.dev/slot': 'primary', 'keyslot.dev/generation': '3' },
        },
        stringData: { 'object-store.yaml': 'secret_key: s3cr3t-value-primary' },
      },
      opts: { additionalSecretOutputs: ['data', 'stringData'] },
    },
  ];
  return { state, resources };
}

function one(violations: { message: string }[]): string {
  assert.equal(violations.length, 1, JSON.stringify(violations));
  return violations[0]!.message;
}

describe('policy pack', () => {
  const all = keyslotPolicies(clock);

  it('passes the happy path on every policy', async () => {
    for (const policy of all) assert.deepEqual(await runPolicy(policy, happy().resources), [], policy.name);
  });

  describe('max-key-age', () => {
    it('fails a slot past the stack limit, naming credential, slot, age, limit and fix', async () => {
      const { state, resources } = happy();
      state.maxAgeDays = 30;
      const message = one(await runPolicy(maxKeyAge(clock), resources));
      assert.equal(
        message,
        'credential store: slot secondary (generation 2) is 54 days old, over the 30-day limit; rotate it: keyslot rotate --stack prod --credential store',
      );
    });

    it("uses the pack config's maxAgeDays where the stack sets none", async () => {
      const { resources } = happy();
      assert.equal((await runPolicy(maxKeyAge(clock), resources, { maxAgeDays: 50 })).length, 1);
      assert.equal((await runPolicy(maxKeyAge(clock), resources, { maxAgeDays: 60 })).length, 0);
    });

    it("uses an IAM key's own createDate when it is older than the record", async () => {
      const { resources } = happy();
      (resources[1]!.props as Record<string, unknown>).createDate = '2026-01-01T00:00:00Z';
      assert.match(
        one(await runPolicy(maxKeyAge(clock), resources)),
        /slot primary \(generation 3\) is 327 days old, over the 90-day limit/,
      );
    });

    it('does not block the rotation that cures it: the slot a rotation in flight is retiring is judged by that rotation', async () => {
      const { state, resources } = happy();
      state.maxAgeDays = 30;
      // secondary (54 days) is over the limit; a rotation from secondary is under way.
      state.activeSlot = 'primary';
      state.rotation = {
        id: 'r-1',
        startedAt: '2026-11-24T00:00:00Z',
        from: 'secondary',
        to: 'primary',
        mode: 'rotate',
        generations: { primary: 3, secondary: 2 },
      };
      assert.deepEqual(await runPolicy(maxKeyAge(clock), resources), []);
      assert.deepEqual(await runPolicy(keyRotationDue(clock), resources), []);
      // The slot it moves onto is still judged: a rotation does not make that key younger.
      state.rotation = { ...state.rotation, from: 'primary', to: 'secondary' };
      assert.match(one(await runPolicy(maxKeyAge(clock), resources)), /slot secondary \(generation 2\) is 54 days old/);
    });

    it('does not judge a key whose creation time is not known yet', async () => {
      const { state, resources } = happy();
      state.slots.primary = { generation: 3 };
      resources.splice(1, 2);
      assert.deepEqual(
        await runPolicy(maxKeyAge(clock), resources, { maxAgeDays: 1 }).then((v) => v.filter((x) => x.message.includes('primary'))),
        [],
      );
    });
  });

  describe('key-rotation-due', () => {
    it('flags a slot past 80 % of its limit with the due and limit dates', async () => {
      const { state, resources } = happy();
      state.maxAgeDays = 60;
      assert.equal(
        one(await runPolicy(keyRotationDue(clock), resources)),
        'credential store: slot secondary is 54 days old; rotation was due on 2026-11-18 and the 60-day limit is reached on 2026-11-30; run: keyslot rotate --stack prod --credential store',
      );
    });

    it('takes its threshold from the pack config', async () => {
      const { state, resources } = happy();
      state.maxAgeDays = 60;
      assert.equal((await runPolicy(keyRotationDue(clock), resources, { duePercent: 95 })).length, 0);
    });
  });

  describe('slots-distinct', () => {
    it('fails two slots with one generation', async () => {
      const { state, resources } = happy();
      state.slots.secondary!.generation = 3;
      assert.match(one(await validateResource(slotsDistinct, resources[0]!)), /slots primary and secondary share generation 3/);
    });

    it('fails a triple keyset with a repeated generation', async () => {
      const { state, resources } = happy();
      state.scheme = 'triple';
      state.slots = { previous: { generation: 1 }, primary: { generation: 2 }, next: { generation: 1 } };
      assert.match(one(await validateResource(slotsDistinct, resources[0]!)), /slots previous and next share generation 1/);
    });
  });

  describe('trust-bundle-complete', () => {
    function triple(trusts: string) {
      const { state, resources } = happy();
      state.scheme = 'triple';
      state.slots = { previous: { generation: 4 }, primary: { generation: 5 }, next: { generation: 6 } };
      const verifier = resources[3]!;
      (verifier.props.metadata as { annotations: Record<string, string> }).annotations['keyslot.dev/trusts'] = trusts;
      return resources;
    }

    it('passes a verifier trusting previous, primary and next', async () => {
      assert.deepEqual(await runPolicy(trustBundleComplete, triple('4,5,6')), []);
    });

    it('fails a verifier missing the next key', async () => {
      assert.match(one(await runPolicy(trustBundleComplete, triple('4,5'))), /verifier store-d0-eu does not trust generation 6/);
    });
  });

  describe('secrets-stay-secret', () => {
    const secret = () => happy().resources[3]!;

    it('fails a delivered value copied into an annotation', async () => {
      const r = secret();
      (r.props.metadata as { annotations: Record<string, string> }).annotations.note = 'was s3cr3t-value-primary';
      assert.match(one(await validateResource(secretsStaySecret, r)), /appears in plaintext at metadata\.annotations\.note/);
    });

    it('fails a delivered value in a label', async () => {
      const r = secret();
      (r.props.metadata as Record<string, unknown>).labels = { k: 's3cr3t-value-primary' };
      assert.match(one(await validateResource(secretsStaySecret, r)), /at metadata\.labels\.k/);
    });

    it('fails a Secret whose data is not a secret output', async () => {
      const r = { ...secret(), opts: { additionalSecretOutputs: [] } };
      assert.match(one(await validateResource(secretsStaySecret, r)), /data, stringData not marked as secret outputs/);
    });

    it('fails a keyslot delivery into a ConfigMap', async () => {
      const r = { ...secret(), type: 'kubernetes:core/v1:ConfigMap' };
      assert.match(one(await validateResource(secretsStaySecret, r)), /ConfigMap is plaintext/);
    });

    it('ignores objects keyslot does not own', async () => {
      const r = secret();
      (r.props.metadata as Record<string, unknown>).annotations = { note: 's3cr3t-value-primary' };
      assert.deepEqual(await validateResource(secretsStaySecret, r), []);
    });
  });

  describe('iam-two-key-limit', () => {
    it('fails a third access key for one user', async () => {
      const { resources } = happy();
      resources.push({ ...resources[1]!, name: 'other-primary', urn: 'urn:x::other-primary' });
      assert.match(one(await runPolicy(iamTwoKeyLimit, resources)), /IAM user store-user has 3 access keys/);
    });

    it('fails a key replaced create-before-delete', async () => {
      const { resources } = happy();
      resources[2] = { ...resources[2]!, opts: { deleteBeforeReplace: false } };
      assert.match(one(await runPolicy(iamTwoKeyLimit, resources)), /store-secondary: .* create-before-delete/);
    });
  });

  describe('min-rotation-interval', () => {
    const starting = (startedAt: string, mode = 'rotate') => {
      const { state, resources } = happy();
      state.minIntervalHours = 48;
      state.rotation = { id: 'r-2', startedAt, from: 'primary', to: 'secondary', mode, generations: { primary: 3, secondary: 2 } };
      return resources[0]!;
    };

    it('fails a rotation that starts sooner than minIntervalHours after the last one finished', async () => {
      assert.match(
        one(await validateResource(minRotationInterval, starting('2026-11-01T12:00:00Z'))),
        /rotation r-2 started 12\.0h after the last rotation at 2026-11-01T00:00:00Z \(minimum 48h\)/,
      );
      assert.deepEqual(await validateResource(minRotationInterval, starting('2026-11-03T01:00:00Z')), []);
    });

    it('never holds back an emergency rotation, and never fails the up that records a finished one', async () => {
      assert.deepEqual(await validateResource(minRotationInterval, starting('2026-11-01T12:00:00Z', 'emergency')), []);
      const { state, resources } = happy();
      state.minIntervalHours = 48;
      state.previousRotatedAt = '2026-10-31T12:00:00Z'; // an early rotation that already happened
      assert.deepEqual(await validateResource(minRotationInterval, resources[0]!), []);
    });
  });
});

describe('policy/config.example.json', () => {
  it('only sets policies and options the pack declares', async () => {
    const example = JSON.parse(readFileSync(new URL('../../policy/config.example.json', `file://${__filename}`), 'utf8')) as Record<
      string,
      unknown
    >;
    const byName = new Map(keyslotPolicies({ now: () => new Date() }).map((p) => [p.name, p]));
    for (const [name, value] of Object.entries(example)) {
      const policy = byName.get(name);
      assert.ok(policy, `${name} is a keyslot policy`);
      if (typeof value === 'string') continue;
      for (const key of Object.keys(value as object)) {
        if (key === 'enforcementLevel') continue;
        assert.ok(policy.configSchema?.properties[key], `${name}.${key} is in its configSchema`);
      }
    }
  });
});
