import assert from 'node:assert/strict';
import { Agent } from 'node:https';
import { AzureAccountKeys } from '../../src/adapters/cloud/azure.ts';
import type { Source } from '../../src/config/schema.ts';
import { ConfigError, ForbiddenError, KeyRejectedError, ResourceNotFoundError } from '../../src/errors.ts';
import { SimClock } from '../../src/sim/clock.ts';
import { SimCloud } from '../../src/sim/cloud.ts';
import { ArmEmulator, armAuthorized, requestedAction } from '../fixtures/armEmulator.ts';

const subscriptionId = '00000000-0000-4000-8000-000000000000';
const token = 'keyslot-test-arm-token';
// A TokenCredential that hands out a fixed test token, as DefaultAzureCredential would a real one.
const credential = { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3600_000 }) };

describe('adapter: Azure (arm-cosmosdb, arm-storage) against an ARM emulator over HTTPS on 127.0.0.1', () => {
  let cloud: SimCloud;
  let emulator: ArmEmulator;
  let azure: AzureAccountKeys;
  const cosmos = {
    credential: 'cosmos',
    source: { type: 'azure-cosmosdb-keys', subscriptionId, resourceGroupName: 'rg', accountName: 'orders', readOnly: false } as Source,
  };
  const storage = {
    credential: 'etl',
    source: { type: 'azure-storage-keys', subscriptionId, resourceGroupName: 'rg', accountName: 'etlstore' } as Source,
  };

  beforeEach(async () => {
    cloud = new SimCloud(new SimClock('2026-11-01T00:00:00Z'));
    emulator = new ArmEmulator(cloud, token, { cosmos: ['orders'], storage: ['etlstore'] });
    const endpoint = await emulator.start();
    azure = new AzureAccountKeys({ credential, endpoint, agent: new Agent({ ca: emulator.ca }), pollIntervalMs: 10 });
  });
  afterEach(() => emulator.stop());

  it("reads a Key Vault secret's current version through ARM (arm-keyvault), never its value", async () => {
    cloud.stores.set('kv-eastus2/CosmosDb-PrimaryKey', 'a-value-that-must-not-travel');
    const ref = { subscriptionId, resourceGroupName: 'rg', vaultName: 'kv-eastus2', secretName: 'CosmosDb-PrimaryKey' };
    const first = await azure.vaultSecretVersion(ref);
    assert.equal(first, cloud.storeVersion('kv-eastus2/CosmosDb-PrimaryKey'));
    assert.match(first ?? '', /^[0-9a-f]{32}$/);
    cloud.stores.set('kv-eastus2/CosmosDb-PrimaryKey', 'the next value');
    assert.notEqual(await azure.vaultSecretVersion(ref), first, 'a new write is a new version');
    assert.equal(await azure.vaultSecretVersion({ ...ref, secretName: 'Missing' }), undefined);
    assert.ok(
      emulator.requests.includes(
        'GET /subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-eastus2/secrets/CosmosDb-PrimaryKey',
      ),
    );
  });

  it('regenerates a Cosmos DB key as a long-running operation and reports the new generation time', async () => {
    const before = cloud.key('cosmos:orders', 'secondary').token;
    const createdAt = await azure.regenerate(cosmos, 'secondary');
    assert.notEqual(cloud.key('cosmos:orders', 'secondary').token, before);
    assert.deepEqual(createdAt, cloud.key('cosmos:orders', 'secondary').createdAt);
    const polls = emulator.requests.filter((r) => r.startsWith('GET /operations/')).length;
    assert.ok(polls >= 3, `the poller followed the operation (${polls} polls)`);
    assert.deepEqual(cloud.regenerations, ['cosmos:orders/secondary']);
  });

  it('regenerates the read-only pair when the source says readOnly', async () => {
    await azure.regenerate({ ...cosmos, source: { ...cosmos.source, readOnly: true } as Source }, 'primary');
    assert.deepEqual(cloud.regenerations, ['cosmos:orders/primaryReadonly']);
  });

  it('regenerates storage key2 for the secondary slot and reads each key creation time', async () => {
    const createdAt = await azure.regenerate(storage, 'secondary');
    assert.deepEqual(cloud.regenerations, ['storage:etlstore/secondary']);
    assert.deepEqual(await azure.keyCreatedAt(storage, 'secondary'), createdAt);
    assert.ok(
      emulator.requests.includes(
        'POST /subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/etlstore/regenerateKey',
      ),
    );
  });

  it('tests a standby key by listing it, without the value leaving the adapter', async () => {
    await azure.testKey(cosmos, 'secondary');
    await azure.testKey(storage, 'primary');
    await assert.rejects(azure.testKey(cosmos, 'next'), TypeError);
  });

  it('classifies not found, denied and unauthenticated calls, naming the action to grant', async () => {
    await assert.rejects(
      azure.keyCreatedAt({ ...storage, source: { ...storage.source, accountName: 'gone' } as Source }, 'primary'),
      ResourceNotFoundError,
    );
    emulator.forbidden.add('orders');
    await assert.rejects(
      azure.regenerate(cosmos, 'primary'),
      (e: unknown) =>
        e instanceof ForbiddenError &&
        e.message.includes(
          `grant Microsoft.DocumentDB/databaseAccounts/regenerateKey/action on /subscriptions/${subscriptionId}/resourceGroups/rg/providers/Microsoft.DocumentDB/databaseAccounts/orders to keyslot's identity`,
        ),
    );
    const stranger = new AzureAccountKeys({
      credential: { getToken: async () => ({ token: 'other', expiresOnTimestamp: Date.now() + 3600_000 }) },
      endpoint: emulator.base,
      agent: new Agent({ ca: emulator.ca }),
    });
    await assert.rejects(
      stranger.testKey(storage, 'primary'),
      (e: unknown) => e instanceof ForbiddenError && /own Azure credential was not accepted/.test(e.message),
    );
  });

  it('asks for a subscription when neither the source nor the environment has one', async () => {
    const saved = process.env.AZURE_SUBSCRIPTION_ID;
    delete process.env.AZURE_SUBSCRIPTION_ID;
    try {
      const { subscriptionId: _s, ...rest } = storage.source as { subscriptionId?: string };
      await assert.rejects(
        azure.testKey({ ...storage, source: rest as Source }, 'primary'),
        (e: unknown) => e instanceof ConfigError && /AZURE_SUBSCRIPTION_ID/.test(e.message),
      );
    } finally {
      if (saved !== undefined) process.env.AZURE_SUBSCRIPTION_ID = saved;
    }
  });

  it('says a storage key without full permissions cannot take traffic', async () => {
    await assert.rejects(azure.testKey(storage, 'tertiary'), KeyRejectedError);
  });

  it('with role assignments, answers a denied call as ARM does and keyslot names the action and the scope', async () => {
    const account = `/subscriptions/${subscriptionId}/resourceGroups/rg/providers/Microsoft.DocumentDB/databaseAccounts/orders`;
    emulator.roleAssignments = [{ scope: account, role: { Actions: ['Microsoft.DocumentDB/databaseAccounts/listKeys/action'] } }];
    await azure.testKey(cosmos, 'primary');
    const error = await azure.keyCreatedAt(cosmos, 'primary').then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof ForbiddenError);
    assert.equal(
      error.message,
      `Azure: reading rg/orders was denied (AuthorizationFailed); grant Microsoft.DocumentDB/databaseAccounts/read on ${account} to keyslot's identity`,
    );
    // What the SDK decoded from the wire: ARM's wording, the caller's object id, the request's scope.
    const cause = error.cause as { statusCode?: number; code?: string; message?: string };
    assert.equal(cause.statusCode, 403);
    assert.equal(cause.code, 'AuthorizationFailed');
    assert.equal(
      cause.message,
      `The client '${emulator.principalId}' with object id '${emulator.principalId}' does not have authorization to perform action 'Microsoft.DocumentDB/databaseAccounts/read' over scope '${account}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    );
    // ARM authorizes before the provider answers: an account that does not exist is denied, not 404.
    await assert.rejects(
      azure.testKey({ ...storage, source: { ...storage.source, accountName: 'gone' } as Source }, 'primary'),
      ForbiddenError,
    );
    await assert.rejects(
      azure.vaultSecretVersion({ subscriptionId, resourceGroupName: 'rg', vaultName: 'kv', secretName: 's' }),
      (e: unknown) =>
        e instanceof ForbiddenError &&
        e.message.includes(
          `grant Microsoft.KeyVault/vaults/secrets/read on /subscriptions/${subscriptionId}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv to keyslot's identity`,
        ),
    );
  });

  describe('the RBAC rules the emulator applies (Azure RBAC role definitions and scopes)', () => {
    const sub = `/subscriptions/${subscriptionId}`;
    const account = `${sub}/resourceGroups/rg/providers/Microsoft.DocumentDB/databaseAccounts/orders`;
    const regenerate = 'Microsoft.DocumentDB/databaseAccounts/regenerateKey/action';

    it('reads each request as the action ARM authorizes, over the resource id', () => {
      assert.deepEqual(requestedAction('GET', account), { action: 'Microsoft.DocumentDB/databaseAccounts/read', scope: account });
      assert.deepEqual(requestedAction('POST', `${account}/listKeys`), {
        action: 'Microsoft.DocumentDB/databaseAccounts/listKeys/action',
        scope: account,
      });
      assert.deepEqual(requestedAction('POST', `${account}/regenerateKey`), { action: regenerate, scope: account });
      const secret = `${sub}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv/secrets/s`;
      assert.deepEqual(requestedAction('GET', secret), { action: 'Microsoft.KeyVault/vaults/secrets/read', scope: secret });
      assert.deepEqual(requestedAction('PUT', secret), { action: 'Microsoft.KeyVault/vaults/secrets/write', scope: secret });
    });

    it('applies a role at its scope and below, never above or beside it', () => {
      const role = { Actions: [regenerate] };
      assert.ok(armAuthorized([{ scope: sub, role }], regenerate, account));
      assert.ok(armAuthorized([{ scope: `${sub}/resourceGroups/rg`, role }], regenerate, account));
      assert.ok(armAuthorized([{ scope: account, role }], regenerate, account));
      assert.ok(!armAuthorized([{ scope: `${account}/child`, role }], regenerate, account));
      assert.ok(!armAuthorized([{ scope: `${sub}/resourceGroups/rg2`, role }], regenerate, account));
      assert.ok(!armAuthorized([{ scope: `${sub}/resourceGroups/r`, role }], regenerate, account), 'a scope is a path, not a prefix');
    });

    it("matches `*` and case-insensitively, and takes a role's NotActions out of its own Actions only", () => {
      assert.ok(armAuthorized([{ scope: sub, role: { Actions: ['Microsoft.DocumentDB/*'] } }], regenerate, account));
      assert.ok(armAuthorized([{ scope: sub, role: { Actions: ['*'] } }], regenerate, account));
      assert.ok(
        armAuthorized([{ scope: sub, role: { Actions: ['microsoft.documentdb/databaseaccounts/*/action'] } }], regenerate, account),
      );
      assert.ok(!armAuthorized([{ scope: sub, role: { Actions: ['Microsoft.DocumentDB/*/read'] } }], regenerate, account));
      const less = { Actions: ['Microsoft.DocumentDB/*'], NotActions: ['*/regenerateKey/action'] };
      assert.ok(!armAuthorized([{ scope: sub, role: less }], regenerate, account));
      assert.ok(
        armAuthorized(
          [
            { scope: sub, role: less },
            { scope: account, role: { Actions: [regenerate] } },
          ],
          regenerate,
          account,
        ),
      );
      assert.ok(!armAuthorized([], regenerate, account));
    });
  });
});
