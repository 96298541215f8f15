import assert from 'node:assert/strict';
import { AwsIamKeys } from '../../src/adapters/cloud/aws.ts';
import type { Source } from '../../src/config/schema.ts';
import { ApiUnavailableError, ForbiddenError, KeyRejectedError, ResourceNotFoundError } from '../../src/errors.ts';
import { AwsQueryEmulator, iamDecision, type IamPolicy } from '../fixtures/awsQueryEmulator.ts';

// Fake identifiers in AWS's shapes; none is or was a real key.
const keyslotKey = { id: 'AKIAKEYSLOTTEST00001', secret: 'keyslot-test-secret-not-real-000000000001', user: 'keyslot' };
const primary = { id: 'AKIAKEYSLOTTEST00002', secret: 'keyslot-test-secret-not-real-000000000002', user: 'thanos' };
const secondary = { id: 'AKIAKEYSLOTTEST00003', secret: 'keyslot-test-secret-not-real-000000000003', user: 'thanos' };

describe('adapter: AWS IAM/STS (SDK v3) against a query-protocol emulator on 127.0.0.1', () => {
  let emulator: AwsQueryEmulator;
  let aws: AwsIamKeys;
  let material: Record<string, { accessKeyId: string; secretAccessKey: string }>;
  const key = { credential: 'thanos-store', source: { type: 'aws-iam-access-key', userName: 'thanos' } as Source };

  beforeEach(async () => {
    emulator = new AwsQueryEmulator();
    emulator.addKey({ ...keyslotKey, createdAt: new Date('2026-01-01T00:00:00Z') });
    emulator.addKey({ ...primary, createdAt: new Date('2026-08-01T00:00:00Z') });
    emulator.addKey({ ...secondary, createdAt: new Date('2026-11-01T00:00:00Z') });
    material = {
      primary: { accessKeyId: primary.id, secretAccessKey: primary.secret },
      secondary: { accessKeyId: secondary.id, secretAccessKey: secondary.secret },
    };
    aws = new AwsIamKeys({
      endpoint: await emulator.start(),
      credentials: { accessKeyId: keyslotKey.id, secretAccessKey: keyslotKey.secret },
      material: async (_c, slot) => material[slot],
      keyId: async (_c, slot) => material[slot]?.accessKeyId,
      maxAttempts: 2,
    });
  });
  afterEach(() => emulator.stop());

  it('tests a key with GetCallerIdentity signed by that key', async () => {
    await aws.testKey(key, 'secondary');
    assert.deepEqual(emulator.actions, ['GetCallerIdentity']);
    assert.ok(emulator.keys.get(secondary.id)!.lastUsedAt, 'the call was signed with the secondary key');
  });

  it('rejects a wrong secret, an inactive key and a key the stack lacks', async () => {
    material.secondary = { accessKeyId: secondary.id, secretAccessKey: 'keyslot-test-wrong-secret' };
    await assert.rejects(
      aws.testKey(key, 'secondary'),
      (e: unknown) => e instanceof KeyRejectedError && /SignatureDoesNotMatch/.test(e.message) && !e.message.includes('wrong-secret'),
    );
    emulator.keys.get(primary.id)!.status = 'Inactive';
    await assert.rejects(
      aws.testKey(key, 'primary'),
      (e: unknown) => e instanceof KeyRejectedError && /InvalidClientTokenId/.test(e.message),
    );
    await assert.rejects(aws.testKey(key, 'next'), (e: unknown) => e instanceof KeyRejectedError && /run pulumi up/.test(e.message));
  });

  it('reads when a slot key was made and last used', async () => {
    assert.deepEqual(await aws.keyCreatedAt(key, 'primary'), new Date('2026-08-01T00:00:00Z'));
    assert.equal(await aws.keyLastUsedAt(key, 'primary'), undefined);
    emulator.keys.get(primary.id)!.lastUsedAt = new Date('2026-11-24T10:00:00Z');
    assert.deepEqual(await aws.keyLastUsedAt(key, 'primary'), new Date('2026-11-24T10:00:00Z'));
    assert.deepEqual(emulator.actions.slice(-2), ['ListAccessKeys', 'GetAccessKeyLastUsed']);
  });

  it('switches a slot key off and on with UpdateAccessKey; off, it no longer signs', async () => {
    assert.equal(await aws.setActive(key, 'primary', false), true);
    assert.equal(emulator.keys.get(primary.id)!.status, 'Inactive');
    assert.equal(emulator.keys.get(secondary.id)!.status, 'Active', 'only that slot');
    await assert.rejects(aws.testKey(key, 'primary'), KeyRejectedError);
    await assert.rejects(
      aws.setActive({ ...key, source: { type: 'aws-iam-access-key', userName: 'someone-else' } as Source }, 'primary', false),
      ResourceNotFoundError,
    );
    assert.equal(await aws.setActive(key, 'primary', true), true);
    await aws.testKey(key, 'primary');
  });

  it('classifies a missing user, a denied identity and an outage', async () => {
    await assert.rejects(
      aws.keyCreatedAt({ ...key, source: { type: 'aws-iam-access-key', userName: 'nobody' } as Source }, 'primary'),
      ResourceNotFoundError,
    );
    emulator.failNext = 5;
    await assert.rejects(aws.keyCreatedAt(key, 'primary'), ApiUnavailableError);
    assert.equal(emulator.actions.filter((a) => a === 'ListAccessKeys').length, 3, 'the SDK retried the 503 once');
    emulator.failNext = 0;
    emulator.keys.delete(keyslotKey.id);
    await assert.rejects(
      aws.keyCreatedAt(key, 'primary'),
      (e: unknown) => e instanceof ForbiddenError && /own AWS credentials were not accepted \(InvalidClientTokenId\)/.test(e.message),
    );
  });

  it("with identity policies, answers a denied call as IAM does and keyslot names the action and the user's ARN", async () => {
    const allow = (...Action: string[]): IamPolicy => ({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action, Resource: 'arn:aws:iam::*:user/thanos' }],
    });
    emulator.policies = new Map([['keyslot', [allow('iam:ListAccessKeys')]]]);
    await aws.testKey(key, 'secondary');
    assert.deepEqual(await aws.keyCreatedAt(key, 'primary'), new Date('2026-08-01T00:00:00Z'));
    const error = await aws.setActive(key, 'primary', false).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof ForbiddenError);
    assert.equal(
      error.message,
      "AWS: deactivating thanos-store's primary key was denied (AccessDenied); grant iam:UpdateAccessKey on arn:aws:iam::*:user/thanos to keyslot's identity",
    );
    // What the SDK decoded from the wire: IAM's code, status and wording.
    const cause = error.cause as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    assert.equal(cause.name, 'AccessDenied');
    assert.equal(cause.$metadata?.httpStatusCode, 403);
    assert.equal(
      cause.message,
      'User: arn:aws:iam::000000000000:user/keyslot is not authorized to perform: iam:UpdateAccessKey on resource: user thanos because no identity-based policy allows the iam:UpdateAccessKey action',
    );
    assert.equal(emulator.keys.get(primary.id)!.status, 'Active', 'a denied call changes nothing');
    await assert.rejects(
      aws.keyLastUsedAt(key, 'primary'),
      (e: unknown) => e instanceof ForbiddenError && e.message.includes('grant iam:GetAccessKeyLastUsed on arn:aws:iam::*:user/thanos '),
    );
  });

  describe('the policy evaluation the emulator applies (IAM identity policies)', () => {
    const user = 'arn:aws:iam::000000000000:user/thanos';
    const policy = (Effect: 'Allow' | 'Deny', Action: string | string[], Resource: string | string[]): IamPolicy => ({
      Version: '2012-10-17',
      Statement: [{ Effect, Action, Resource }],
    });

    it('allows only what an Allow matches in both action and resource, `*` and `?` as wildcards', () => {
      assert.equal(iamDecision([policy('Allow', 'iam:ListAccessKeys', user)], 'iam:ListAccessKeys', user), 'allow');
      assert.equal(iamDecision([policy('Allow', 'iam:*AccessKey*', 'arn:aws:iam::*:user/*')], 'iam:ListAccessKeys', user), 'allow');
      assert.equal(iamDecision([policy('Allow', 'IAM:listaccesskeys', 'arn:aws:iam::*:user/thano?')], 'iam:ListAccessKeys', user), 'allow');
      assert.equal(
        iamDecision([policy('Allow', 'iam:ListAccessKeys', 'arn:aws:iam::*:user/Thanos')], 'iam:ListAccessKeys', user),
        'implicit-deny',
      );
      assert.equal(
        iamDecision([policy('Allow', 'iam:ListAccessKeys', 'arn:aws:iam::*:user/other')], 'iam:ListAccessKeys', user),
        'implicit-deny',
      );
      assert.equal(iamDecision([policy('Allow', 'iam:UpdateAccessKey', '*')], 'iam:ListAccessKeys', user), 'implicit-deny');
      assert.equal(iamDecision([], 'iam:ListAccessKeys', user), 'implicit-deny');
    });

    it('lets an explicit Deny win over any Allow, in the same policy or another', () => {
      const allowed = policy('Allow', '*', '*');
      assert.equal(iamDecision([allowed, policy('Deny', 'iam:Update*', user)], 'iam:UpdateAccessKey', user), 'explicit-deny');
      assert.equal(iamDecision([allowed, policy('Deny', 'iam:Update*', user)], 'iam:ListAccessKeys', user), 'allow');
    });
  });
});
