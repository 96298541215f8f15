import assert from 'node:assert/strict';
import { parseStackConfig } from '../../src/config/parse.ts';
import { driverContext } from '../../src/driver/context.ts';
import { stackLock } from '../../src/driver/lock.ts';
import type { DriverPorts } from '../../src/ports/index.ts';
import type { ClusterFleet, StackEngine } from '../../src/ports/index.ts';
import { SimClock } from '../../src/sim/clock.ts';
import { LockedError } from '../../src/errors.ts';

describe('driver: the stack lock', () => {
  /** A stack without clusters (so its lock is a stack tag), its tags, and a 600 s lock for a holder. */
  function tagWorld() {
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
    return { tags, clock, lock: (holder: string) => stackLock(config, ports, holder, 600) };
  }

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
    const { tags, clock, lock } = tagWorld();
    const a = lock('a');
    const b = lock('b');
    await a.acquire();
    clock.advance(60_000);
    await assert.rejects(b.acquire(), (e: unknown) => e instanceof LockedError && e.holder === 'a', 'a minute into a 600 s lock');
    await b.release();
    assert.match(tags.get('keyslot:lock') ?? '', /^a\|/, 'only the holder removes it');
    clock.advance(541_000);
    await b.acquire();
    assert.match(tags.get('keyslot:lock') ?? '', /^b\|/, 'past its 600 s, the lock is taken over');
  });

  /** A stack on these clusters, and a fleet whose Lease answers as `answer` says, recording each call. */
  function leaseWorld(clusters: { name: string; primary?: boolean }[], stack = 'x') {
    const config = parseStackConfig(
      stack,
      {
        clusters,
        credentials: [
          {
            name: 'c',
            source: { type: 'random', length: 32 },
            deliver: [{ type: 'kubernetes-secret', namespace: 'apps', name: 'c', data: { key: '${value}' } }],
            stages: [],
          },
        ],
      },
      stack,
    );
    const clock = new SimClock('2026-11-24T00:00:00Z');
    const calls: { cluster: string; name: string; at: number }[] = [];
    const released: { cluster: string; name: string; holder: string }[] = [];
    let answer: (now: number) => { acquired: true } | { acquired: false; lease: { holder: string; expiresAt: Date } } = () => ({
      acquired: true,
    });
    const fleet = {
      acquireLease: async (cluster: string, args: { name: string; now: Date }) => {
        calls.push({ cluster, name: args.name, at: args.now.getTime() - Date.parse('2026-11-24T00:00:00Z') });
        return answer(clock.now().getTime() - Date.parse('2026-11-24T00:00:00Z'));
      },
      releaseLease: async (cluster: string, args: { name: string; holder: string }) => void released.push({ cluster, ...args }),
    } as unknown as ClusterFleet;
    return {
      config,
      clock,
      calls,
      released,
      answer: (f: typeof answer) => {
        answer = f;
      },
      lock: (wait = 0) => stackLock(config, { engine: {} as StackEngine, clusters: fleet, clock }, 'ci@agent-1', 600, wait),
    };
  }
  const heldUntil = (ms: number) => ({
    acquired: false as const,
    lease: { holder: 'ci@agent-2', expiresAt: new Date(Date.parse('2026-11-24T00:00:00Z') + ms) },
  });

  it('takes a Lease named for the stack in kube-system on the primary cluster, else the first, and releases it there', async () => {
    const w = leaseWorld([{ name: 'eu' }, { name: 'us', primary: true }], 'payments');
    const lock = w.lock();
    assert.equal(lock.where, 'Lease kube-system/keyslot-rotation-payments on cluster us');
    await lock.acquire();
    await lock.release();
    assert.deepEqual(w.calls, [{ cluster: 'us', name: 'keyslot-rotation-payments', at: 0 }]);
    assert.deepEqual(w.released, [{ cluster: 'us', name: 'keyslot-rotation-payments', holder: 'ci@agent-1' }]);
    assert.equal(leaseWorld([{ name: 'eu' }, { name: 'us' }]).lock().where, 'Lease kube-system/keyslot-rotation-x on cluster eu');
    // A Lease name is a DNS label here: at most 63 characters.
    const long = 'a'.repeat(80);
    assert.equal(
      leaseWorld([{ name: 'eu' }], long).lock().where,
      `Lease kube-system/${`keyslot-rotation-${long}`.slice(0, 63)} on cluster eu`,
    );
  });

  it('without --lock-wait a held Lease refuses at once, naming the holder and where', async () => {
    const w = leaseWorld([{ name: 'eu', primary: true }]);
    w.answer(() => heldUntil(25_000));
    await assert.rejects(
      w.lock().acquire(),
      (e: unknown) =>
        e instanceof LockedError &&
        e.holder === 'ci@agent-2' &&
        e.expiresAt.getTime() === Date.parse('2026-11-24T00:00:25Z') &&
        e.message.includes('(Lease kube-system/keyslot-rotation-x on cluster eu)'),
    );
    assert.equal(w.calls.length, 1);
    assert.equal(w.clock.now().toISOString(), '2026-11-24T00:00:00.000Z', 'no wait');
  });

  it('with --lock-wait asks again every 10 s, sooner when the Lease is due, and gives up once the wait (in seconds) is over', async () => {
    const w = leaseWorld([{ name: 'eu', primary: true }]);
    // Held until 25 s, then free: asked at 0, 10, 20, then at 25 (its expiry, sooner than 10 s).
    w.answer((now) => (now < 25_000 ? heldUntil(25_000) : { acquired: true }));
    await w.lock(60).acquire();
    assert.deepEqual(
      w.calls.map((c) => c.at),
      [0, 10_000, 20_000, 25_000],
    );
    // Never free: a 15 s wait asks at 0, 10 and 15 s, then refuses.
    const never = leaseWorld([{ name: 'eu', primary: true }]);
    never.answer(() => heldUntil(3_600_000));
    await assert.rejects(never.lock(15).acquire(), LockedError);
    assert.deepEqual(
      never.calls.map((c) => c.at),
      [0, 10_000, 15_000],
    );
    assert.equal(never.clock.now().toISOString(), '2026-11-24T00:00:15.000Z');
  });

  it('the stack tag: its holder renews it, it is free at the very moment it expires, and only its holder removes it', async () => {
    const { tags, clock, lock } = tagWorld();
    const first = lock('ci@agent-1');
    const second = lock('ci@agent-2');
    assert.equal(first.where, 'stack tag keyslot:lock (best-effort: tags have no compare-and-swap)');
    await first.acquire();
    clock.advance(300_000);
    await first.acquire();
    assert.equal(tags.get('keyslot:lock'), 'ci@agent-1|2026-11-24T00:15:00.000Z', 'renewed by its holder for another 600 s');
    clock.advance(599_999);
    await assert.rejects(second.acquire(), LockedError);
    clock.advance(1);
    await second.acquire();
    assert.equal(tags.get('keyslot:lock'), 'ci@agent-2|2026-11-24T00:25:00.000Z', 'free at its expiry');
    await first.release();
    assert.ok(tags.has('keyslot:lock'), 'not removed by another holder');
    await second.release();
    assert.equal(tags.has('keyslot:lock'), false, 'removed by its holder');
  });
});
