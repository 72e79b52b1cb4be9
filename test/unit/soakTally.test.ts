import assert from 'node:assert/strict';
import { slope, SoakTally } from '../../bench/soak/tally';

describe("the soak's accounting", () => {
  /** Three profiles, three versions each: changes 0..8, change k is profile k % 3, version k / 3 + 1. */
  const written = (): SoakTally => {
    const tally = new SoakTally(3, 9);
    for (let k = 0; k < 9; k++) tally.nextChange(1000 * k);
    return tally;
  };

  it('counts a change superseded by a read-back later change of its profile as coalesced, not lost', () => {
    const tally = written();
    for (let profile = 0; profile < 3; profile++) tally.recordRead({ profile, version: 3 }, 10_000);
    const figures = tally.figures(9);
    assert.deepEqual([figures.readBack, figures.coalesced, figures.lost], [3, 6, 0]);
  });

  it('counts as lost a change with no record of its own or of a later change, the newest above all', () => {
    const tally = written();
    // Profile 0: version 2 read, version 3 (its newest) never; profile 1: nothing; profile 2: all.
    tally.recordRead({ profile: 0, version: 2 }, 5_000);
    for (let version = 1; version <= 3; version++) tally.recordRead({ profile: 2, version }, 10_000);
    const figures = tally.figures(9);
    assert.equal(figures.lost, 1 + 3);
    assert.equal(figures.coalesced, 1);
    assert.equal(figures.readBack, 4);
  });

  it('looks only at acknowledged changes, counts duplicates and records of changes never written', () => {
    const tally = written();
    for (let k = 0; k < 6; k++) tally.recordRead({ profile: k % 3, version: Math.floor(k / 3) + 1 }, 1000 * k + 500);
    tally.recordRead({ profile: 1, version: 1 }, 9_000);
    tally.recordRead({ profile: 0, version: 4 }, 9_000);
    const figures = tally.figures(6);
    assert.deepEqual([figures.lost, figures.duplicated, figures.unexpected], [0, 1, 1]);
    // Latency of each change from its first arrival: 500 ms for all six.
    assert.deepEqual(figures.latencyMs, { p50: 500, p99: 500, max: 500 });
  });

  it('fits a slope by least squares', () => {
    assert.equal(slope([0, 1, 2, 3], [10, 12, 14, 16]), 2);
    assert.ok(Number.isNaN(slope([1], [5])));
  });
});
