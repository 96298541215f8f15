import assert from 'node:assert/strict';
import { keyAge, hoursBetween, tooSoon, worstStatus } from '../../src/model/ages.ts';

const now = new Date('2026-11-24T12:00:00Z');

describe('model: ages', () => {
  const table: [string, string | undefined, number, string][] = [
    ['a key made today', '2026-11-24T00:00:00Z', 90, 'fresh'],
    ['a key at 79 % of its limit', '2026-09-02T12:00:00Z', 105, 'fresh'],
    ['a key at exactly 80 %', '2026-09-25T12:00:00Z', 75, 'due'],
    ['a key one day short of the limit', '2026-08-27T12:00:00Z', 90, 'due'],
    ['a key at the limit', '2026-08-26T12:00:00Z', 90, 'expired'],
    ['a key with no recorded creation', undefined, 90, 'unknown'],
    ['a key with an unreadable creation time', 'yesterday', 90, 'unknown'],
  ];
  for (const [name, createdAt, max, status] of table) {
    it(`${name} is ${status}`, () => assert.equal(keyAge(createdAt, max, now).status, status));
  }

  it('computes age, due and expiry dates', () => {
    const age = keyAge('2026-11-14T12:00:00Z', 10, now);
    assert.equal(age.ageDays, 10);
    assert.equal(age.dueAt?.toISOString(), '2026-11-22T12:00:00.000Z');
    assert.equal(age.expiresAt?.toISOString(), '2026-11-24T12:00:00.000Z');
  });

  it('ranks statuses worst first', () => {
    assert.equal(worstStatus(['fresh', 'due', 'unknown']), 'due');
    assert.equal(worstStatus(['fresh', 'expired', 'due']), 'expired');
    assert.equal(worstStatus([]), 'fresh');
  });

  it('refuses a rotation sooner than the minimum interval', () => {
    assert.equal(tooSoon('2026-11-24T00:00:00Z', 24, now), true);
    assert.equal(tooSoon('2026-11-23T11:59:59Z', 24, now), false);
    assert.equal(tooSoon(undefined, 24, now), false);
    // Exactly the interval after the last rotation is soon enough.
    assert.equal(tooSoon('2026-11-24T00:00:00Z', 24, '2026-11-25T00:00:00Z'), false);
    assert.equal(tooSoon('2026-11-24T00:00:00Z', 24, '2026-11-24T23:59:59Z'), true);
  });

  it('counts hours only between two readable times', () => {
    assert.equal(hoursBetween('2026-11-24T00:00:00Z', '2026-11-24T06:30:00Z'), 6.5);
    assert.equal(hoursBetween('2026-11-24T00:00:00Z', new Date('2026-11-23T23:00:00Z')), -1);
    assert.equal(hoursBetween('not a time', '2026-11-24T06:30:00Z'), undefined);
    assert.equal(hoursBetween('2026-11-24T00:00:00Z', 'not a time'), undefined);
    assert.equal(hoursBetween(undefined, '2026-11-24T06:30:00Z'), undefined);
    // An unreadable last rotation never blocks one.
    assert.equal(tooSoon('garbled', 24, '2026-11-24T06:30:00Z'), false);
  });
});
