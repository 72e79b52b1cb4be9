import assert from 'node:assert/strict';
import type { Activation } from '../../src/domain/activation';
import { decideOwed } from '../../src/domain/deadLetterRule';
import { decideExport } from '../../src/domain/diff';
import type { ExportOptions } from '../../src/domain/exportOptions';
import type { ProfileSnapshot } from '../../src/domain/profile';
import type { Projection } from '../../src/domain/projection';

const activation: Activation = { segments: [{ id: 'seg' }], attributes: ['person.email'] };
const options: ExportOptions = {
  includeSegmentNames: false,
  includeSegmentTimestamps: false,
  statusStyle: 'existing',
  includeMessageId: false,
};
const at = '2024-01-01T00:00:00Z';

function profile(email: string, member = true, note = ''): ProfileSnapshot {
  return {
    profileId: 'p',
    identityMap: { ecid: [{ id: '1' }] },
    person: { email, note },
    segmentMembership: { ups: member ? { seg: { status: 'realized', lastQualificationTime: at } } : {} },
  };
}

/** The projection an export of `snapshot` after `previous` would have put in the ledger. */
function exported(snapshot: ProfileSnapshot, previous: Projection | null): Projection {
  const decision = decideExport(snapshot, previous, activation, options);
  assert.equal(decision.kind, 'export');
  return decision.projection;
}

const normal = { force: false, replay: false };

describe('decideOwed: profiles with a dead letter', () => {
  it('parks a never-exported profile whose snapshot was rewritten with nothing mapped changed', () => {
    const owed = exported(profile('a@x'), null);
    assert.deepEqual(decideOwed(profile('a@x', true, 'unrelated'), null, owed, activation, options, normal), {
      kind: 'parked',
    });
  });

  it('parks an owed exit while the profile stays out', () => {
    const ledger = exported(profile('a@x'), null);
    const owed = exported(profile('a@x', false), ledger);
    assert.equal(owed.segments.seg?.status, 'exited');
    assert.deepEqual(decideOwed(profile('a@x', false, 'unrelated'), ledger, owed, activation, options, normal), {
      kind: 'parked',
    });
  });

  it('decides a mapped change against the ledger: a profile the consumer never saw is still realized', () => {
    const owed = exported(profile('a@x'), null);
    const decision = decideOwed(profile('b@x'), null, owed, activation, options, normal);
    assert.equal(decision.kind, 'export');
    assert.equal(decision.kind === 'export' && decision.record.segmentMembership.ups.seg?.status, 'realized');
    assert.deepEqual(decision.kind === 'export' && decision.record.person, { email: 'b@x' });
  });

  it('sends the owed export on replay and on a forced re-export', () => {
    const owed = exported(profile('a@x'), null);
    for (const flags of [
      { force: false, replay: true },
      { force: true, replay: false },
    ]) {
      const decision = decideOwed(profile('a@x', true, 'unrelated'), null, owed, activation, options, flags);
      assert.equal(decision.kind, 'export', JSON.stringify(flags));
    }
  });

  it('skips, as any profile, when the consumer already has the current state (the letter is obsolete)', () => {
    const ledger = exported(profile('a@x'), null);
    const owed = exported(profile('b@x'), ledger);
    assert.deepEqual(decideOwed(profile('a@x'), ledger, owed, activation, options, normal), {
      kind: 'skip',
      reason: 'no-mapped-change',
    });
  });

  it('decides letters without a projection (earlier versions) against the ledger alone', () => {
    assert.equal(decideOwed(profile('a@x', true, 'unrelated'), null, null, activation, options, normal).kind, 'export');
  });
});
