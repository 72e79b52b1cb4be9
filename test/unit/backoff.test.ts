import assert from 'node:assert/strict';
import { backoffCeiling, backoffDelay } from '../../src/domain/backoff';

describe('backoffDelay', () => {
  const almostOne = 1 - Number.EPSILON;

  it('doubles the upper bound with each attempt up to the cap', () => {
    const options = { baseMs: 100, maxMs: 1000, random: () => almostOne };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((attempt) => backoffDelay(attempt, options)),
      [99, 199, 399, 799, 999, 999],
    );
  });

  it('draws uniformly below the bound (full jitter)', () => {
    assert.equal(backoffDelay(3, { baseMs: 100, maxMs: 1000, random: () => 0 }), 0);
    assert.equal(backoffDelay(3, { baseMs: 100, maxMs: 1000, random: () => 0.5 }), 200);
  });

  it('stays finite and capped for huge attempt numbers', () => {
    assert.equal(backoffDelay(10_000, { baseMs: 100, maxMs: 30_000, random: () => almostOne }), 29_999);
  });

  it('treats attempts below 1 as the first', () => {
    assert.equal(backoffDelay(0, { baseMs: 100, maxMs: 1000, random: () => 0.5 }), 50);
  });

  it('rejects a cap below the base', () => {
    assert.throws(() => backoffDelay(1, { baseMs: 100, maxMs: 10 }), /baseMs <= maxMs/);
  });
});

describe('backoffCeiling', () => {
  it('doubles from the base with each attempt up to the cap, attempts below 1 counting as the first', () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 40].map((attempt) => backoffCeiling(attempt, { baseMs: 10_000, maxMs: 60_000 })),
      [10_000, 10_000, 20_000, 40_000, 60_000, 60_000, 60_000],
    );
  });
});
