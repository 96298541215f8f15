import assert from 'node:assert/strict';
import { AwsIamKeys } from '../../src/adapters/cloud/aws.ts';
import type { Source } from '../../src/config/schema.ts';
import { ApiUnavailableError, ForbiddenError, KeyRejectedError, ResourceNotFoundError } from '../../src/errors.ts';
import { AwsQueryEmulator } from '../fixtures/awsQueryEmulator.ts';

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
});
