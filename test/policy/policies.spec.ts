import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { generate } from 'selfsigned';
import { kubeconfigUser } from '../../policy/policies/deployerLeastPrivilege.ts';
import {
  deployerLeastPrivilege,
  iamTwoKeyLimit,
  keyslotPolicies,
  keyRotationDue,
  maxKeyAge,
  minRotationInterval,
  secretsStaySecret,
  slotsDistinct,
  trustBundleComplete,
} from '../../policy/policies/index.ts';
import { policyConfig, runPolicy, validateResource, type ResourceInput } from './harness.ts';

const Ajv = require('ajv') as new (options: object) => { compile(schema: object): (data: unknown) => boolean };

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

  it('has the names and levels the README documents, which teams write in their pack config files', () => {
    const readme = readFileSync(new URL('../../README.md', `file://${__filename}`), 'utf8');
    const section = readme.slice(readme.indexOf('## Policy pack'));
    const documented = [...section.matchAll(/^\| `([a-z-]+)` \| (advisory|mandatory) \|/gm)].map((m) => [m[1], m[2]]);
    assert.equal(documented.length, 8, 'the README table lists every policy');
    assert.deepEqual(all.map((p) => [p.name, p.enforcementLevel]).sort(), documented.sort());
  });

  it('describes what each policy enforces', () => {
    const says: Record<string, RegExp[]> = {
      'max-key-age': [/younger than maxAgeDays/],
      'key-rotation-due': [/past duePercent/, /maximum age/],
      'slots-distinct': [/slots of a credential/, /never share a generation/],
      'trust-bundle-complete': [/verifier/, /trusts its previous, primary and next keys/],
      'secrets-stay-secret': [/No delivered value in plaintext/, /secret output/],
      'iam-two-key-limit': [/two access keys per IAM user/, /delete-before-create/],
      'min-rotation-interval': [/no sooner than minIntervalHours/, /emergency/],
      'deployer-least-privilege': [/deployer identity/, /system:masters/],
    };
    for (const policy of all) {
      for (const pattern of says[policy.name] ?? [/./]) assert.match(policy.description, pattern, policy.name);
      for (const [option, schema] of Object.entries(policy.configSchema?.properties ?? {}))
        assert.ok(String((schema as { description?: string }).description ?? '').length > 10, `${policy.name}.${option} is described`);
    }
  });

  it('reads each credential from its record only, though the Credential component outputs the same state', async () => {
    // GIVEN a stack whose Credential component exports its state (stack policies see outputs)
    const { state, resources } = happy();
    state.maxAgeDays = 30;
    state.slots.secondary!.generation = 3;
    resources.push({ type: 'keyslot:index:Credential', name: 'store', props: { state } });
    // THEN each credential is judged once, on its CredentialState record
    assert.match(one(await runPolicy(maxKeyAge(clock), resources)), /slot secondary \(generation 3\) is 54 days old/);
    const distinct = await runPolicy(slotsDistinct, resources);
    assert.equal(distinct.length, 1, JSON.stringify(distinct));
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

    it("judges a slot whose recorded createdAt is missing or unreadable by its IAM key's own createDate", async () => {
      for (const createdAt of [undefined, '', 'pending']) {
        const { state, resources } = happy();
        state.slots.primary = { generation: 3, keyUrn: keyUrn('primary'), ...(createdAt === undefined ? {} : { createdAt }) };
        (resources[1]!.props as Record<string, unknown>).createDate = '2026-01-01T00:00:00Z';
        assert.match(one(await runPolicy(maxKeyAge(clock), resources)), /slot primary \(generation 3\) is 327 days old/, String(createdAt));
      }
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

    it('does not flag the slot a rotation in flight is retiring, and still flags the slot it moves onto', async () => {
      // GIVEN secondary at 54 of 60 days: due, not yet expired
      const { state, resources } = happy();
      state.maxAgeDays = 60;
      state.rotation = {
        id: 'r-1',
        startedAt: '2026-11-24T00:00:00Z',
        from: 'secondary',
        to: 'primary',
        mode: 'rotate',
        generations: { primary: 3, secondary: 2 },
      };
      assert.deepEqual(await runPolicy(keyRotationDue(clock), resources), []);
      state.rotation = { ...state.rotation, from: 'primary', to: 'secondary' };
      assert.match(one(await runPolicy(keyRotationDue(clock), resources)), /slot secondary is 54 days old/);
    });

    it('accepts a whole percentage from 1 to 100 as duePercent, 80 when the config file sets none', () => {
      const schema = { type: 'object', ...keyRotationDue(clock).configSchema };
      const valid = new Ajv({ strict: false }).compile(schema);
      assert.equal(policyConfig(keyRotationDue(clock)).duePercent, 80);
      for (const duePercent of [1, 75, 100]) assert.ok(valid({ duePercent }), String(duePercent));
      for (const duePercent of [0, 101, 80.5, '80']) assert.ok(!valid({ duePercent }), String(duePercent));
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

    it('names every generation a verifier is missing', async () => {
      assert.match(
        one(await runPolicy(trustBundleComplete, triple('5'))),
        /^credential store: verifier store-d0-eu does not trust generation 4, 6 of the keyset; fix: deliver \$\{trustBundle\}/,
      );
    });

    it('judges a Key Vault verifier by its keyslot- tags as the program writes them', async () => {
      const resources = triple('4,5,6');
      resources.push({
        type: 'azure-native:keyvault:Secret',
        name: 'store-d1',
        urn: 'urn:pulumi:prod::keyslot::keyslot:index:Credential$azure-native:keyvault:Secret::store-d1',
        props: { properties: {}, tags: { 'keyslot-credential': 'store', 'keyslot-slot': 'primary', 'keyslot-trusts': '4,5' } },
      });
      assert.equal(
        one(await runPolicy(trustBundleComplete, resources)),
        'credential store: verifier store-d1 does not trust generation 6 of the keyset; fix: deliver ${trustBundle} (it holds previous, primary and next) and run pulumi up',
      );
    });

    it('reads generations past 9 whole', async () => {
      const resources = triple('10,11,12');
      const { state } = resources[0]!.props as { state: { slots: Record<string, { generation: number }> } };
      state.slots = { previous: { generation: 10 }, primary: { generation: 11 }, next: { generation: 12 } };
      assert.deepEqual(await runPolicy(trustBundleComplete, resources), []);
      (resources[3]!.props.metadata as { annotations: Record<string, string> }).annotations['keyslot.dev/trusts'] = '1,11,12';
      assert.match(one(await runPolicy(trustBundleComplete, resources)), /does not trust generation 10 of the keyset/);
    });

    it('judges only verifiers: a delivery of the keyset that says nothing about trust is left alone', async () => {
      const resources = triple('4,5,6');
      delete (resources[3]!.props.metadata as { annotations: Record<string, string> }).annotations['keyslot.dev/trusts'];
      assert.deepEqual(await runPolicy(trustBundleComplete, resources), []);
    });

    it("judges each verifier against its own credential's keyset", async () => {
      // GIVEN a second triple credential in the stack, its verifier trusting its own keyset
      const resources = triple('4,5,6');
      const other = structuredClone(resources[0]!.props) as { state: Record<string, any> };
      other.state.credential = 'tokens';
      other.state.slots = { previous: { generation: 7 }, primary: { generation: 8 }, next: { generation: 9 } };
      resources.push({ type: 'keyslot:index:CredentialState', name: 'tokens-state', props: other });
      const verifier = structuredClone(resources[3]!);
      Object.assign((verifier.props.metadata as { annotations: Record<string, string> }).annotations, {
        'keyslot.dev/credential': 'tokens',
        'keyslot.dev/trusts': '7,8,9',
      });
      resources.push({ ...verifier, name: 'tokens-d0-eu' });
      assert.deepEqual(await runPolicy(trustBundleComplete, resources), []);
    });

    it('judges triple keysets only: a dual credential has no previous and next to trust', async () => {
      const { resources } = happy();
      (resources[3]!.props.metadata as { annotations: Record<string, string> }).annotations['keyslot.dev/trusts'] = '2';
      assert.deepEqual(await runPolicy(trustBundleComplete, resources), []);
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

    it('fails a delivery that does not say which slot it holds', async () => {
      const r = secret();
      delete (r.props.metadata as { annotations: Record<string, string> }).annotations['keyslot.dev/slot'];
      assert.equal(
        one(await validateResource(secretsStaySecret, r)),
        'store-d0-eu: delivery does not say which slot it holds; fix: deploy it with the keyslot program',
      );
    });

    it('judges a SecretPatch like a Secret', async () => {
      const patch = { ...secret(), type: 'kubernetes:core/v1:SecretPatch' };
      assert.deepEqual(await validateResource(secretsStaySecret, patch), []);
      const unmarked = { ...patch, opts: { additionalSecretOutputs: [] } };
      assert.match(one(await validateResource(secretsStaySecret, unmarked)), /data, stringData not marked as secret outputs/);
    });

    it('leaves alone a keyslot-annotated object that is not a delivery', async () => {
      const role: ResourceInput = {
        type: 'kubernetes:rbac.authorization.k8s.io/v1:Role',
        name: 'keyslot-deployer',
        props: { metadata: { name: 'keyslot-deployer', annotations: { 'keyslot.dev/sensitive': 'secrets: get, patch' } } },
      };
      assert.deepEqual(await validateResource(secretsStaySecret, role), []);
    });

    it('finds a copy of any key-like token of a delivered value, and path and index in lists', async () => {
      const r = secret();
      r.props.stringData = { credentials: 'user: keyslot-user-0000001\npassword: s3cr3t-value-primary' };
      const metadata = r.props.metadata as Record<string, any>;
      metadata.annotations.note = 'password s3cr3t-value-primary';
      metadata.finalizers = ['example.com/keep', 'example.com/keyslot-user-0000001'];
      assert.deepEqual(
        (await validateResource(secretsStaySecret, r)).map((v) => v.message.replace(/;.*/, '')),
        [
          'store-d0-eu: a delivered value appears in plaintext at metadata.annotations.note',
          'store-d0-eu: a delivered value appears in plaintext at metadata.finalizers[1]',
        ],
      );
    });

    it('looks for key-like tokens, not short words: a value with none flags nothing', async () => {
      const r = secret();
      r.props.stringData = { enabled: 'on' };
      (r.props.metadata as Record<string, any>).labels = { 'app.kubernetes.io/managed-by': 'keyslot', feature: 'on' };
      assert.deepEqual(await validateResource(secretsStaySecret, r), []);
    });

    /** A Key Vault secret as the program declares it: keyslot's marks are tags (no "/" in an Azure tag name). */
    const vaultSecret = (type = 'azure-native:keyvault:Secret'): ResourceInput => ({
      type,
      name: 'store-d1',
      props: {
        resourceGroupName: 'rg-app',
        vaultName: 'kv-app',
        secretName: 'store',
        properties: { value: 'secret_key: s3cr3t-value-primary', contentType: 'text/plain' },
        tags: { 'keyslot-credential': 'store', 'keyslot-slot': 'primary', 'keyslot-generation': '3' },
      },
      opts: { additionalSecretOutputs: ['properties'] },
    });

    it('judges Key Vault secrets of every api version, known as keyslot deliveries by their tags', async () => {
      for (const type of [
        'azure-native:keyvault:Secret',
        'azure-native:keyvault/v20230701:Secret',
        'azure-native:keyvault/v20240401preview:Secret',
      ]) {
        assert.deepEqual(await validateResource(secretsStaySecret, vaultSecret(type)), [], type);
        const unmarked = { ...vaultSecret(type), opts: { additionalSecretOutputs: [] } };
        assert.equal(
          one(await validateResource(secretsStaySecret, unmarked)),
          'store-d1: properties not marked as secret outputs; fix: add them to additionalSecretOutputs',
          type,
        );
      }
    });

    it('does not take other resource types for Key Vault secrets', async () => {
      for (const type of ['azure-native:keyvault:SecretX', 'other-azure-native:keyvault:Secret', 'azure-native:keyvault:Key']) {
        const r = { ...vaultSecret(type), opts: { additionalSecretOutputs: [] } };
        assert.deepEqual(await validateResource(secretsStaySecret, r), [], type);
      }
    });

    it('fails a Key Vault value copied into a tag or another property', async () => {
      const r = vaultSecret();
      const props = r.props as Record<string, any>;
      props.tags.note = 's3cr3t-value-primary';
      props.properties.contentType = 'was s3cr3t-value-primary';
      assert.deepEqual(
        (await validateResource(secretsStaySecret, r)).map((v) => v.message.replace(/;.*/, '')),
        [
          'store-d1: a delivered value appears in plaintext at properties.contentType',
          'store-d1: a delivered value appears in plaintext at tags.note',
        ],
      );
    });

    it('still judges a Key Vault secret whose properties are not set', async () => {
      const r = { ...vaultSecret(), opts: { additionalSecretOutputs: [] } };
      delete (r.props as Record<string, unknown>).properties;
      assert.match(one(await validateResource(secretsStaySecret, r)), /properties not marked as secret outputs/);
    });

    it("leaves alone a Key Vault secret that is not keyslot's, whatever its tags say", async () => {
      const theirs: ResourceInput = {
        type: 'azure-native:keyvault:Secret',
        name: 'team-secret',
        urn: 'urn:pulumi:prod::other::azure-native:keyvault:Secret::team-secret',
        props: {
          properties: { value: 'their-own-value-0123456789' },
          tags: { environment: 'production', note: 'their-own-value-0123456789' },
        },
        opts: { additionalSecretOutputs: [] },
      };
      assert.deepEqual(await validateResource(secretsStaySecret, theirs), []);
    });

    it('judges an AWS Secrets Manager SecretVersion, and not the Secret that holds it', async () => {
      // A SecretVersion takes no tags: the pack knows it as keyslot's by its place under a Credential component.
      const version: ResourceInput = {
        type: 'aws:secretsmanager/secretVersion:SecretVersion',
        name: 'store-d2',
        urn: 'urn:pulumi:prod::keyslot::keyslot:index:Credential$aws:secretsmanager/secretVersion:SecretVersion::store-d2',
        props: {
          secretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/store',
          secretString: 'secret_key: s3cr3t-value-primary',
          tags: {},
        },
        opts: { additionalSecretOutputs: ['secretString'] },
      };
      // The same resource outside keyslot's program is not keyslot's to judge.
      const foreign = { ...version, urn: 'urn:pulumi:prod::other::aws:secretsmanager/secretVersion:SecretVersion::store-d2' };
      assert.deepEqual(await validateResource(secretsStaySecret, { ...foreign, opts: { additionalSecretOutputs: [] } }), []);
      assert.deepEqual(await validateResource(secretsStaySecret, version), []);
      assert.equal(
        one(await validateResource(secretsStaySecret, { ...version, opts: { additionalSecretOutputs: [] } })),
        'store-d2: secretString not marked as secret outputs; fix: add them to additionalSecretOutputs',
      );
      const copied = structuredClone(version);
      (copied.props.tags as Record<string, string>).note = 's3cr3t-value-primary';
      assert.match(one(await validateResource(secretsStaySecret, copied)), /appears in plaintext at tags\.note/);
      const container = { ...version, type: 'aws:secretsmanager/secret:Secret', opts: { additionalSecretOutputs: [] } };
      assert.deepEqual(await validateResource(secretsStaySecret, container), []);
    });
  });

  describe('iam-two-key-limit', () => {
    it('fails a third access key for one user, naming each key', async () => {
      const { resources } = happy();
      resources.push({ ...resources[1]!, name: 'other-primary', urn: 'urn:x::other-primary' });
      assert.equal(
        one(await runPolicy(iamTwoKeyLimit, resources)),
        'IAM user store-user has 3 access keys in this stack (store-primary, store-secondary, other-primary); AWS allows two; fix: one aws-iam-access-key credential per user',
      );
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

  describe('deployer-least-privilege', () => {
    const deliveryUrn = (type: string) =>
      `urn:pulumi:kops-service-account::keyslot::keyslot:index:Credential$${type}::token-signer-d0-kops`;
    /** A kubeconfig as `kops export kubeconfig` writes it, the client certificate issued for `groups`. */
    async function kubeconfig(groups: string[], opts: { user?: string; context?: string } = {}) {
      const subject = [{ name: 'commonName', value: 'kubecfg-ci' }, ...groups.map((g) => ({ name: 'organizationName', value: g }))];
      const made = await generate(subject, { keySize: 2048 });
      const user = opts.user ?? 'kops-example.k8s.local';
      return [
        'apiVersion: v1',
        'kind: Config',
        `current-context: ${opts.context ?? 'kops-example.k8s.local'}`,
        'contexts:',
        `  - name: kops-example.k8s.local`,
        `    context: { cluster: kops-example.k8s.local, user: ${user} }`,
        `  - name: readonly`,
        `    context: { cluster: kops-example.k8s.local, user: readonly }`,
        'users:',
        `  - name: ${user}`,
        `    user: { client-certificate-data: ${Buffer.from(made.cert).toString('base64')}, client-key-data: ${Buffer.from(made.private).toString('base64')} }`,
        `  - name: readonly`,
        `    user: { token: not-a-real-token }`,
      ].join('\n');
    }
    const delivery = (type: string, kubeconfigText: unknown, context?: string): ResourceInput => ({
      type,
      name: 'token-signer-d0-kops',
      urn: deliveryUrn(type),
      props: {
        metadata: { name: 'token-signer', namespace: 'platform', annotations: { 'keyslot.dev/credential': 'service-account' } },
        stringData: { 'key.pem': 'never-read' },
      },
      provider: {
        type: 'pulumi:providers:kubernetes',
        name: 'cluster-kops',
        props: { kubeconfig: kubeconfigText, ...(context ? { context } : {}) },
      },
    });

    it('flags a delivery deployed with a system:masters client certificate, naming cluster, user, what it needs and the fix', async () => {
      const text = await kubeconfig(['system:masters']);
      const message = one(await validateResource(deployerLeastPrivilege, delivery('kubernetes:core/v1:Secret', text)));
      assert.match(
        message,
        /^platform\/token-signer on cluster kops: the deployer's kubeconfig user kops-example\.k8s\.local holds a system:masters client certificate/,
      );
      assert.match(message, /this delivery needs get, patch, delete secrets token-signer; create secrets; list, watch secrets in platform/);
      assert.match(message, /fix: .*keyslot permissions --stack kops-service-account --cluster kops/);
      assert.doesNotMatch(message, /never-read|BEGIN|client-key/, 'nothing of the kubeconfig but the user name');
      const patch = one(await validateResource(deployerLeastPrivilege, delivery('kubernetes:core/v1:SecretPatch', text)));
      assert.match(patch, /this delivery needs get, patch secrets token-signer in platform/, 'a patched Secret needs no create');
    });

    it('passes a certificate in other groups, a token user, a kubeconfig path and no kubeconfig at all', async () => {
      const secret = 'kubernetes:core/v1:Secret';
      const narrow = await kubeconfig(['keyslot:deployers']);
      assert.deepEqual(await validateResource(deployerLeastPrivilege, delivery(secret, narrow)), []);
      const admin = await kubeconfig(['system:masters']);
      // The provider's context wins over the file's current one: here it picks the token user.
      assert.deepEqual(await validateResource(deployerLeastPrivilege, delivery(secret, admin, 'readonly')), []);
      assert.deepEqual(await validateResource(deployerLeastPrivilege, delivery(secret, '/home/ci/.kube/config')), []);
      assert.deepEqual(await validateResource(deployerLeastPrivilege, delivery(secret, undefined)), []);
      assert.deepEqual(await validateResource(deployerLeastPrivilege, delivery(secret, 'users: [')), [], 'unreadable: not judged');
    });

    it("reads the user's groups from its certificate's organizations, and nothing from a kubeconfig it cannot read", async () => {
      const text = await kubeconfig(['system:masters', 'keyslot:deployers']);
      assert.deepEqual(kubeconfigUser({ kubeconfig: text }), {
        user: 'kops-example.k8s.local',
        groups: ['system:masters', 'keyslot:deployers'],
      });
      assert.deepEqual(kubeconfigUser({ kubeconfig: await kubeconfig([]) }), { user: 'kops-example.k8s.local', groups: [] });
      for (const unreadable of [
        '',
        'null',
        '42',
        '- a list',
        text.replace(/client-certificate-data: [^,]+,/, 'client-certificate-data: bm90IGEgY2VydA==,'),
      ])
        assert.equal(kubeconfigUser({ kubeconfig: unreadable }), undefined, JSON.stringify(unreadable.slice(0, 60)));
    });

    it('names a Secret without a namespace as in default, and a provider keyslot did not name by its own name', async () => {
      const admin = await kubeconfig(['system:masters']);
      const d = delivery('kubernetes:core/v1:Secret', admin);
      const bare = { ...d, props: { ...d.props, metadata: { name: 'token-signer', annotations: { 'keyslot.dev/credential': 'x' } } } };
      assert.match(one(await validateResource(deployerLeastPrivilege, bare)), /^default\/token-signer on cluster kops: .* in default;/);
      const foreign = { ...d, provider: { ...d.provider!, name: 'eu-cluster-1' } };
      assert.match(one(await validateResource(deployerLeastPrivilege, foreign)), /on cluster eu-cluster-1: .*--cluster eu-cluster-1`/);
    });

    it('judges the provider of keyslot deliveries only, and the context the provider names', async () => {
      const admin = await kubeconfig(['system:masters'], { context: 'readonly' });
      const own = delivery('kubernetes:core/v1:Secret', admin, 'kops-example.k8s.local');
      assert.equal((await validateResource(deployerLeastPrivilege, own)).length, 1);
      const foreign = { ...own, urn: 'urn:pulumi:prod::other::kubernetes:core/v1:Secret::x', props: { metadata: { name: 'x' } } };
      assert.deepEqual(await validateResource(deployerLeastPrivilege, foreign), [], 'a Secret keyslot did not declare');
      const configMap = { ...own, type: 'kubernetes:core/v1:ConfigMap' };
      assert.deepEqual(await validateResource(deployerLeastPrivilege, configMap), [], 'not a delivery the deployer writes as a Secret');
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
