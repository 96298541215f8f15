import assert from 'node:assert/strict';
import { LeaseObserver, takenBy } from '../../src/model/lease.ts';

describe("model: the lock Lease, judged as client-go's leader election judges it", () => {
  const t0 = Date.parse('2026-11-24T00:00:00Z');
  const held = (renewTime: number) => ({ holder: 'a', durationSeconds: 60, renewTime, acquireTime: renewTime, transitions: 0 });

  it("binds for its duration from when this process first saw it, whatever the holder's clock wrote", () => {
    const me = new LeaseObserver();
    // The holder's clock is two hours behind ours: renewTime + duration is long past by our clock.
    assert.deepEqual(me.verdict('k', held(t0 - 7_200_000), 'b', t0), { held: true, freeAt: new Date(t0 + 60_000) });
    assert.equal(me.verdict('k', held(t0 - 7_200_000), 'b', t0 + 59_000).held, true);
    assert.equal(me.verdict('k', held(t0 - 7_200_000), 'b', t0 + 60_000).held, false);
  });

  it('a holder whose clock is ahead does not hold it longer: unchanged for its duration, it is free', () => {
    const me = new LeaseObserver();
    assert.equal(me.verdict('k', held(t0 + 7_200_000), 'b', t0).held, true);
    assert.equal(me.verdict('k', held(t0 + 7_200_000), 'b', t0 + 61_000).held, false);
  });

  it('a renewal (any change of the record) starts the wait again; an empty holder or our own is free', () => {
    const me = new LeaseObserver();
    me.verdict('k', held(t0), 'b', t0);
    assert.equal(me.verdict('k', held(t0 + 50_000), 'b', t0 + 50_000).held, true);
    assert.deepEqual(me.verdict('k', held(t0 + 50_000), 'b', t0 + 100_000), { held: true, freeAt: new Date(t0 + 110_000) });
    assert.equal(me.verdict('k', { ...held(t0), holder: '' }, 'b', t0).held, false);
    assert.equal(me.verdict('k', held(t0), 'a', t0).held, false);
  });

  it('a change of the transition count alone is a change of the record: the wait starts again', () => {
    const me = new LeaseObserver();
    me.verdict('k', { ...held(t0), transitions: 3 }, 'b', t0);
    assert.deepEqual(me.verdict('k', { ...held(t0), transitions: 4 }, 'b', t0 + 50_000), { held: true, freeAt: new Date(t0 + 110_000) });
  });

  it('the record a holder writes: a new holder takes acquireTime now and counts one transition; a renewal keeps both', () => {
    // client-go tryAcquireOrRenew: AcquireTime and LeaderTransitions kept while the holder stays.
    assert.deepEqual(takenBy(undefined, 'a', 60, 't1'), {
      holder: 'a',
      durationSeconds: 60,
      renewTime: 't1',
      acquireTime: 't1',
      transitions: 0,
    });
    const mine = { holder: 'a', acquireTime: 't0', transitions: 3 };
    assert.deepEqual(takenBy(mine, 'a', 60, 't2'), {
      holder: 'a',
      durationSeconds: 60,
      renewTime: 't2',
      acquireTime: 't0',
      transitions: 3,
    });
    assert.deepEqual(takenBy(mine, 'b', 30, 't3'), {
      holder: 'b',
      durationSeconds: 30,
      renewTime: 't3',
      acquireTime: 't3',
      transitions: 4,
    });
    assert.deepEqual(takenBy({ holder: '', transitions: 2 }, 'b', 30, 't4'), {
      holder: 'b',
      durationSeconds: 30,
      renewTime: 't4',
      acquireTime: 't4',
      transitions: 3,
    });
    assert.equal(takenBy({ holder: 'a' }, 'a', 60, 't5').acquireTime, 't5', 'a renewal of a record without acquireTime sets it');
  });
});
