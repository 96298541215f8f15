import assert from 'node:assert/strict';
import fc from 'fast-check';
import { advance, defaultGenerations, regenerate, standbySlot, trustedGenerations, type Generations } from '../../src/model/slots.ts';

describe('model: slots', () => {
  it('flips dual slots both ways', () => {
    assert.equal(standbySlot('primary'), 'secondary');
    assert.equal(standbySlot('secondary'), 'primary');
  });

  it('regenerates a slot with a generation no slot ever had', () => {
    const gens = regenerate(defaultGenerations('dual'), 'primary');
    assert.deepEqual(gens, { primary: { generation: 3 }, secondary: { generation: 2 } });
    assert.deepEqual(regenerate(gens, 'secondary'), { primary: { generation: 3 }, secondary: { generation: 4 } });
  });

  it('advances a triple keyset kOps style', () => {
    const next = advance(defaultGenerations('triple'));
    assert.deepEqual(next, { previous: { generation: 2 }, primary: { generation: 3 }, next: { generation: 4 } });
  });

  it('property: after any sequence of advances the new primary was already trusted before the advance', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.constantFrom('advance', 'regenerate-next'), { maxLength: 40 }),
        (start, moves) => {
          let gens: Generations = { previous: { generation: start }, primary: { generation: start + 1 }, next: { generation: start + 2 } };
          for (const move of moves) {
            const trustedBefore = trustedGenerations(gens);
            // Re-making a staged next key before it is used is allowed; it never signs first.
            const after = move === 'advance' ? advance(gens) : regenerate(gens, 'next');
            if (move === 'advance') {
              assert.ok(trustedBefore.includes(after.primary!.generation), 'new primary was in the old trust bundle');
              assert.ok(trustedGenerations(after).includes(gens.primary!.generation), 'old primary is still trusted');
            } else {
              assert.equal(after.primary!.generation, gens.primary!.generation);
            }
            const all = trustedGenerations(after);
            assert.equal(new Set(all).size, 3, 'slots stay distinct');
            gens = after;
          }
        },
      ),
    );
  });
});
