/**
 * The simulated world keeps each provider's real rules, and the simulated engine carries out an
 * up the way Pulumi's engine orders it. These run the real program, so they share the driver
 * suite's mock-runtime process.
 */
import assert from 'node:assert/strict';
import { Driver } from '../../src/driver/index.ts';
import { Traffic } from '../../src/sim/traffic.ts';
import { Crash, crashing, type CrashCounter } from './crash.ts';
import { tokenRefreshMs } from '../../src/sim/cluster.ts';
import { scenario, selfManagedKeyset } from './world.ts';
import { readStackFile } from '../../src/config/load.ts';
import { parseStackConfig } from '../../src/config/parse.ts';
import { buildWorld } from '../../src/sim/world.ts';

const iamKey = 'aws:iam/accessKey:AccessKey::thanos-store';

describe('simulated engine: an up in the engine order', () => {
  it('an IAM key is deleted before its replacement is made (deleteBeforeReplace): the user never needs a third key', async () => {
    const s = await scenario('kubecost-thanos');
    await s.driver().driver.rotate('thanos-store');
    const operations = s.world.backend.ups.at(-1)!.operations;
    const deleted = operations.indexOf(`delete ${iamKey}-primary`);
    const created = operations.indexOf(`create-replacement ${iamKey}-primary`);
    assert.ok(deleted >= 0 && created > deleted, operations.join('\n'));
    assert.equal(s.world.cloud.keysOf('iam:kubecost-thanos-example').length, 2);
    assert.ok(!operations.some((o) => o.endsWith('-secondary')), 'the active key is untouched');
  });

  it('a random value is replaced create-first, the old one deleted after every create', async () => {
    const s = await scenario('local');
    const cred = (s.checkout.credentials as { name: string }[])[0]!.name;
    await s.driver().driver.rotate(cred);
    const operations = s.world.backend.ups.at(-1)!.operations;
    const replaced = operations.find((o) => o.startsWith('create-replacement random:'))!;
    assert.ok(replaced, operations.join('\n'));
    const key = replaced.slice('create-replacement '.length);
    assert.ok(operations.indexOf(`delete ${key}`) > operations.indexOf(replaced));
  });

  it('a self-managed keyset: advancing it deletes the dropped generation, whose key stops existing', async () => {
    const s = await scenario('kops-service-account', selfManagedKeyset);
    const before = s.world.cloud.issued.filter((t) => t.includes('/private@'));
    await s.driver().driver.rotate('service-account');
    const operations = s.world.backend.ups.slice(1).flatMap((u) => u.operations);
    const dropped = operations.filter((o) => o.startsWith('delete tls:index/privateKey:PrivateKey::'));
    assert.equal(dropped.length, 1, operations.join('\n'));
    const gone = before.filter((t) => !s.world.cloud.find(t));
    assert.equal(gone.length, 1, 'one generation of the keyset no longer exists');
  });
});

describe('simulated providers', () => {
  it('IAM refuses a third access key and an Inactive key', async () => {
    const s = await scenario('kubecost-thanos');
    const [first] = s.world.cloud.keysOf('iam:kubecost-thanos-example');
    assert.throws(
      () => s.world.cloud.create('iam:kubecost-thanos-example', 'extra', 'sim:iam:kubecost-thanos-example/extra@g1'),
      /LimitExceeded/,
    );
    assert.ok(s.world.cloud.accepts(first!.token));
    s.world.cloud.setStatus(first!.token, 'Inactive');
    assert.ok(!s.world.cloud.accepts(first!.token));
    s.world.cloud.setStatus(first!.token, 'Active');
    assert.ok(s.world.cloud.accepts(first!.token));
  });

  it('a Cosmos regeneration takes minutes: the old key dies at once, the new one works when it finishes', async () => {
    const s = await scenario('alwayson-cosmos');
    s.world.cloud.regenerationMs = () => 120_000;
    const old = s.world.cloud.key('cosmos:cosmos-example-global', 'primary').token;
    const started = s.world.clock.now().getTime();
    const done = s.world.cloudKeys.regenerate(
      {
        credential: 'cosmos',
        source: { type: 'azure-cosmosdb-keys', accountName: 'cosmos-example-global', resourceGroupName: 'rg' } as never,
      },
      'primary',
    );
    const fresh = s.world.cloud.key('cosmos:cosmos-example-global', 'primary').token;
    assert.ok(!s.world.cloud.accepts(old));
    assert.ok(!s.world.cloud.accepts(fresh), 'not before the regeneration finished');
    await done;
    assert.equal(s.world.clock.now().getTime() - started, 120_000, 'the adapter waited for the operation');
    assert.ok(s.world.cloud.accepts(fresh));
  });

  it('IAM soak: the freed key is switched off first, so a missed consumer fails while the key can still be turned back on', async () => {
    const s = await scenario('kubecost-thanos', (raw) => {
      (raw.credentials as Record<string, unknown>[])[0]!.soakMinutes = 30;
    });
    s.world.fleet
      .cluster('secondary-eu')
      .addWorkload({ kind: 'deployment', namespace: 'kubecost', name: 'forgotten-exporter', replicas: 1, secrets: ['kubecost-thanos'] });
    const traffic = new Traffic(s.world.fleet, s.world.cloud, s.world.clock);
    const result = await s.driver().driver.rotate('thanos-store');
    assert.equal(result.outcome, 'rotated');
    assert.deepEqual(s.world.cloud.deactivations, ['iam:kubecost-thanos-example/primary']);
    const regenerate = s.events.find((e) => e.type === 'step-finished' && e.kind === 'regenerate') as { detail?: string };
    assert.match(regenerate.detail ?? '', /deactivating it for a 30 min soak/);
    const failedFrom = traffic.totals.failures.get('secondary-eu kubecost/forgotten-exporter');
    assert.ok(failedFrom !== undefined, 'the forgotten consumer failed during the soak');
    const lines = s.world.fleet
      .cluster('secondary-eu')
      .logs(s.world.fleet.cluster('secondary-eu').workload('kubecost', 'deployment', 'forgotten-exporter')!, 0);
    assert.ok(
      lines.some((l) => /InvalidAccessKeyId/.test(l)),
      'it logs what the S3 client logs',
    );
  });

  it('IAM soak: an agent that dies during the soak leaves the key off; rollback switches it back on before flipping back', async () => {
    const s = await scenario('kubecost-thanos', (raw) => {
      (raw.credentials as Record<string, unknown>[])[0]!.soakMinutes = 30;
    });
    const ports = s.world.ports(s.checkout);
    const counter: CrashCounter = { calls: 0, at: Number.POSITIVE_INFINITY, dead: false };
    // The agent dies when it starts the soak's sleep (slept in pieces of a third of the lock's
    // duration, 20 min by default, the lock renewed between them).
    const clock = {
      now: () => ports.clock.now(),
      sleep: async (ms: number) => {
        if (ms >= 20 * 60_000) counter.dead = true;
        if (counter.dead) throw new Crash('the agent died during the soak');
        return ports.clock.sleep(ms);
      },
    };
    await assert.rejects(
      new Driver(
        { ...ports, clock, engine: crashing(ports.engine, counter), cloud: crashing(ports.cloud, counter) },
        { policyPacks: [], holder: 'a' },
      ).rotate('thanos-store'),
      Crash,
    );
    const primary = s.world.cloud.current('iam:kubecost-thanos-example', 'primary')!;
    assert.equal(primary.status, 'Inactive', 'the agent died mid-soak');
    s.world.clock.advance(7200_000);
    const result = await s.driver(s.checkout).driver.rollback('thanos-store');
    assert.equal(result.outcome, 'rolled-back');
    assert.equal(s.world.cloud.current('iam:kubecost-thanos-example', 'primary')!.status, 'Active');
    assert.ok(s.world.cloud.accepts(primary.token), 'the old key takes traffic again');
  });

  it('a self-managed keyset: a second rotation before every token was reissued drops a key that live tokens are signed by', async () => {
    const s = await scenario('kops-service-account', selfManagedKeyset);
    const traffic = new Traffic(s.world.fleet, s.world.cloud, s.world.clock);
    // Early on purpose, past the driver's check and the pack's (which would refuse it): the model must show the damage.
    const first = s.driver(s.checkout, { force: true, policyPacks: [] });
    await first.driver.rotate('service-account');
    const second = await s.driver(first.engine.checkout(), { force: true, policyPacks: [] }).driver.rotate('service-account');
    assert.equal(second.outcome, 'rotated', 'nothing in the driver stops a forced rotation');
    s.world.clock.advance(60_000);
    assert.ok(traffic.totals.failed > 0, 'tokens signed by the dropped key were refused');
    assert.match([...traffic.totals.failures.keys()].join(' '), /sa-token-client/);
  });

  it('a self-managed keyset: rotations a token lifetime apart fail nothing', async () => {
    const s = await scenario('kops-service-account', selfManagedKeyset);
    const traffic = new Traffic(s.world.fleet, s.world.cloud, s.world.clock);
    // Early on purpose, past the driver's check and the pack's (which would refuse it): the model must show the damage.
    const first = s.driver(s.checkout, { force: true, policyPacks: [] });
    await first.driver.rotate('service-account');
    s.world.clock.advance(tokenRefreshMs + 60_000);
    await s.driver(first.engine.checkout(), { force: true, policyPacks: [] }).driver.rotate('service-account');
    s.world.clock.advance(60_000);
    assert.equal(traffic.totals.failed, 0, [...traffic.totals.failures.keys()].join(' '));
    assert.ok(traffic.totals.requests > 0);
  });
});

describe('simulated engine: a failed program fails the update', () => {
  it('an up from a checkout that predates a rotation fails on the stale-file guard and deletes nothing', async () => {
    // GIVEN a Cosmos stack rotated once, so the deployed generations are newer than the repository's file
    const s = await scenario('alwayson-cosmos');
    const cred = (s.checkout.credentials as { name: string }[])[0]!.name;
    await s.driver().driver.rotate(cred);
    const before = new Map(s.world.backend.state);
    const ups = s.world.backend.ups.length;
    // WHEN someone runs `pulumi up` from the old checkout
    const stale = s.world.ports(structuredClone(s.checkout)).engine;
    // THEN the update fails with the guard's one line, and no delivery or key is touched
    await assert.rejects(stale.up({ policyPacks: [] }), /predates the last rotation/);
    assert.equal(s.world.backend.ups.length, ups, 'no update was applied');
    assert.deepEqual([...s.world.backend.state.keys()], [...before.keys()]);
    assert.ok(
      [...before.keys()].some((k) => k.includes('keyvault')),
      'the stack has Key Vault deliveries to lose',
    );
  });
});

describe('simulated engine: Key Vault secrets that already exist', () => {
  const cosmos = () => structuredClone(readStackFile('alwayson-cosmos').raw) as Record<string, any>;
  const deliveries = (raw: Record<string, any>) => raw.credentials[0].deliver as Record<string, unknown>[];

  it('refuses to create a vault secret that exists, as azure-native does, and names the fix', async () => {
    const raw = cosmos();
    for (const d of deliveries(raw)) delete d.adopt;
    const world = buildWorld(parseStackConfig('alwayson-cosmos', raw, 'alwayson-cosmos'));
    await assert.rejects(
      world.ports(raw).engine.up({ policyPacks: [] }),
      /Key Vault secret kv-example-eastus2\/CosmosDb-ApiKey already exists; adopt it: set adopt: true/,
    );
  });

  it('adopts it with the import option on the first up (then writes the active key), and treats it as its own afterwards', async () => {
    const raw = cosmos();
    const world = buildWorld(parseStackConfig('alwayson-cosmos', raw, 'alwayson-cosmos'));
    assert.equal(world.cloud.stores.get('kv-example-eastus2/CosmosDb-ApiKey'), 'placed-by-hand');
    const engine = world.ports(raw).engine;
    await engine.up({ policyPacks: ['policy'] });
    const active = world.cloud.key('cosmos:cosmos-example-global', 'primary').token;
    assert.equal(world.cloud.stores.get('kv-example-eastus2/CosmosDb-ApiKey'), active);
    assert.deepEqual((await engine.up({ policyPacks: ['policy'] })).changes.create, 0, 'nothing is imported or created twice');
  });

  it('fails the preview of an adoption whose secret does not exist, naming its ARM id', async () => {
    const raw = cosmos();
    const world = buildWorld(parseStackConfig('alwayson-cosmos', raw, 'alwayson-cosmos'));
    world.cloud.stores.delete('kv-example-westeurope/CosmosDb-ApiKey');
    await assert.rejects(
      world.ports(raw).engine.preview({ policyPacks: [] }),
      /importing .*\/subscriptions\/0{8}-0{4}-0{4}-0{4}-0{12}\/resourceGroups\/rg-example-westeurope\/providers\/Microsoft\.KeyVault\/vaults\/kv-example-westeurope\/secrets\/CosmosDb-ApiKey\) failed: the secret does not exist/,
    );
  });
});

describe('simulated providers: a Cosmos DB account has four keys', () => {
  it('a read-only credential rotates the read-only keys and leaves the read-write ones alone, next to a read-write credential', async () => {
    // GIVEN the AlwaysOn stack with a second, read-only credential on the same account
    const s = await scenario('alwayson-cosmos', (raw) => {
      const ro = structuredClone((raw.credentials as any[])[0]);
      ro.name = 'cosmos-ro';
      ro.source.readOnly = true;
      for (const d of ro.deliver) d.secretName = 'CosmosDb-ReadOnlyKey';
      (raw.credentials as any[]).push(ro);
    });
    const token = (slot: string) => s.world.cloud.key('cosmos:cosmos-example-global', slot).token;
    const before = { primary: token('primary'), secondary: token('secondary'), primaryRo: token('primary-ro') };
    // WHEN the read-only credential is rotated
    const first = s.driver();
    assert.equal((await first.driver.rotate('cosmos-ro')).outcome, 'rotated');
    // THEN its freed key (primary, read-only) is new, and the read-write keys are the same
    assert.notEqual(token('primary-ro'), before.primaryRo);
    assert.deepEqual([token('primary'), token('secondary')], [before.primary, before.secondary]);
    // AND the read-write credential still rotates cleanly afterwards
    assert.equal((await s.driver(first.engine.checkout()).driver.rotate('cosmos')).outcome, 'rotated');
    assert.notEqual(token('primary'), before.primary);
  });
});
