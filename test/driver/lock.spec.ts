import assert from 'node:assert/strict';
import { parseStackConfig } from '../../src/config/parse.ts';
import { driverContext } from '../../src/driver/context.ts';
import { stackLock } from '../../src/driver/lock.ts';
import type { DriverPorts } from '../../src/ports/index.ts';
import type { ClusterFleet, StackEngine } from '../../src/ports/index.ts';
import { SimClock } from '../../src/sim/clock.ts';
import { LockedError } from '../../src/errors.ts';

describe('driver: the stack lock', () => {
  it("renews once for all the clusters of a wave that ask at the same moment, so the holder's own compare-and-swaps never fight", async () => {
    const config = parseStackConfig(
      'x',
      {
        clusters: [{ name: 'eu', primary: true }],
        credentials: [
          {
            name: 'c',
            source: { type: 'random', length: 32 },
            deliver: [{ type: 'kubernetes-secret', namespace: 'apps', name: 'c', data: { key: '${value}' } }],
            stages: [],
          },
        ],
      },
      'x',
    );
    let calls = 0;
    let open = 0;
    let most = 0;
    const clock = new SimClock('2026-11-24T00:00:00Z');
    const clusters = {
      acquireLease: async () => {
        calls += 1;
        open += 1;
        most = Math.max(most, open);
        await clock.sleep(50);
        open -= 1;
        return { acquired: true as const };
      },
      releaseLease: async () => {},
    } as unknown as ClusterFleet;
    const lock = stackLock(config, { engine: {} as StackEngine, clusters, clock }, 'me', 600);
    await Promise.all(Array.from({ length: 100 }, () => lock.acquire()));
    assert.equal(most, 1, 'one renewal in flight at a time');
    assert.equal(calls, 1, 'the callers of one moment shared it');
    await lock.acquire();
    assert.equal(calls, 2, 'a later step renews again');
  });

  it('renews the lock between the pieces of a wait longer than a third of its duration (a soak of hours), and only while one is held', async () => {
    const clock = new SimClock('2026-11-24T00:00:00Z');
    const ctx = driverContext({ clock } as unknown as DriverPorts, { policyPacks: [], holder: 'me', lockTtlSeconds: 60 });
    let renewals = 0;
    await ctx.ports.clock.sleep(100_000);
    assert.equal(renewals, 0);
    ctx.renewLock = async () => {
      renewals += 1;
    };
    const started = clock.now().getTime();
    await ctx.ports.clock.sleep(100_000);
    assert.equal(clock.now().getTime() - started, 100_000, 'the whole wait, in pieces');
    assert.equal(renewals, 4, 'renewed every 20 s of a 60 s lock');
    await ctx.ports.clock.sleep(15_000);
    assert.equal(renewals, 4, "a short wait is the clock's own");
  });

  it('a stack without clusters locks with a stack tag that binds for its duration in seconds, and only its holder removes it', async () => {
    const config = parseStackConfig(
      'y',
      {
        credentials: [
          {
            name: 'c',
            source: { type: 'random', length: 32 },
            deliver: [{ type: 'azure-keyvault-secret', resourceGroupName: 'rg', vaultName: 'kv', secretName: 's', value: '${value}' }],
            stages: [],
          },
        ],
      },
      'y',
    );
    const tags = new Map<string, string>();
    const engine = {
      getTag: async (k: string) => tags.get(k),
      setTag: async (k: string, v: string) => void tags.set(k, v),
      removeTag: async (k: string) => void tags.delete(k),
    } as unknown as StackEngine;
    const clock = new SimClock('2026-11-24T00:00:00Z');
    const ports = { engine, clusters: {} as ClusterFleet, clock };
    const a = stackLock(config, ports, 'a', 600);
    const b = stackLock(config, ports, 'b', 600);
    await a.acquire();
    clock.advance(60_000);
    await assert.rejects(b.acquire(), (e: unknown) => e instanceof LockedError && e.holder === 'a', 'a minute into a 600 s lock');
    await b.release();
    assert.match(tags.get('keyslot:lock') ?? '', /^a\|/, 'only the holder removes it');
    clock.advance(541_000);
    await b.acquire();
    assert.match(tags.get('keyslot:lock') ?? '', /^b\|/, 'past its 600 s, the lock is taken over');
  });
});
