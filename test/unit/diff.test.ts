import assert from 'node:assert/strict';
import type { Activation } from '../../src/domain/activation';
import { consentExclusion } from '../../src/domain/consent';
import { decideExport } from '../../src/domain/diff';
import type { ExportOptions } from '../../src/domain/exportOptions';
import { buildExportRecord } from '../../src/domain/exportRecord';
import type { ProfileSnapshot } from '../../src/domain/profile';
import type { Projection } from '../../src/domain/projection';
import { diffRules } from '../fixtures/diffRules';
import type { DiffCase } from '../fixtures/diffRules';

const consentOf = (c: DiffCase) => (c.consent ? { consent: c.consent } : {});

describe('decideExport', () => {
  describe('export rules (test/fixtures/diffRules.ts)', () => {
    for (const c of diffRules) {
      it(c.rule, () => {
        const inputs = JSON.stringify([c.snapshot, c.previous]);
        const decision = decideExport(c.snapshot, c.previous, c.activation, c.options, consentOf(c));
        assert.equal(JSON.stringify([c.snapshot, c.previous]), inputs, 'inputs must not be modified');

        if (c.expected === null) {
          if (c.expectedExclude) {
            assert.deepStrictEqual(decision, { kind: 'exclude', reason: c.expectedExclude });
            return;
          }
          assert.ok(c.expectedSkip, 'a case expecting no record names its skip or exclude reason');
          assert.deepStrictEqual(decision, { kind: 'skip', reason: c.expectedSkip });
          return;
        }
        assert.equal(decision.kind, 'export');
        assert.deepStrictEqual(decision.record, c.expected);
        // Key order is part of the format (seed order), and deepStrictEqual ignores it.
        assert.equal(JSON.stringify(decision.record), JSON.stringify(c.expected));
      });
    }
  });

  describe('returned projection', () => {
    for (const c of diffRules.filter((r) => r.expected !== null)) {
      it(`renders back to the record and, stored, makes the same snapshot a skip: ${c.rule}`, () => {
        const decision = decideExport(c.snapshot, c.previous, c.activation, c.options, consentOf(c));
        assert.equal(decision.kind, 'export');
        const stored = JSON.parse(JSON.stringify(decision.projection)) as Projection;
        assert.deepStrictEqual(buildExportRecord(stored, c.activation, c.options), decision.record);
        const again = decideExport(c.snapshot, stored, c.activation, c.options, consentOf(c));
        // After the exit for withdrawn consent, the profile is held back by consent.
        assert.equal(again.kind, consentExclusion(c.consent, c.snapshot) === null ? 'skip' : 'exclude');
      });
    }

    it('holds exported memberships with status, exits as exited, mapped attribute values and ids only', () => {
      const previous: Projection = {
        segments: { a: { status: 'realized', lastQualificationTime: '2024-01-01T00:00:00Z' } },
        attributes: {},
        identityMap: { ecid: [{ id: '1' }] },
      };
      const snapshot: ProfileSnapshot = {
        identityMap: { ecid: [{ id: '1', primary: true }] },
        person: { name: { firstName: 'Ada', lastName: 'Lovelace' } },
        segmentMembership: { ups: { b: { status: 'existing', lastQualificationTime: '2024-02-01T00:00:00Z' } } },
      };
      const decision = decideExport(snapshot, previous, activation, seedOptions);
      assert.equal(decision.kind, 'export');
      assert.deepStrictEqual(decision.projection, {
        segments: {
          a: { status: 'exited', lastQualificationTime: '2024-01-01T00:00:00Z' },
          b: { status: 'realized', lastQualificationTime: '2024-02-01T00:00:00Z' },
        },
        attributes: { 'person.name': { firstName: 'Ada', lastName: 'Lovelace' } },
        identityMap: { ecid: [{ id: '1' }] },
      });
    });
  });

  describe('a profile through its lifecycle, with the ledger stored as JSON', () => {
    const steps: { statuses: Record<string, 'realized' | 'existing' | 'exited'>; expect: string }[] = [
      { statuses: { a: 'realized' }, expect: 'a:realized' },
      { statuses: { a: 'existing' }, expect: 'skip:no-mapped-change' },
      { statuses: { a: 'existing', b: 'realized' }, expect: 'a:existing b:realized' },
      { statuses: { a: 'exited', b: 'existing' }, expect: 'a:exited b:existing' },
      { statuses: { a: 'exited', b: 'exited' }, expect: 'b:exited' },
      { statuses: { a: 'exited', b: 'exited' }, expect: 'skip:exited-already-exported' },
      { statuses: { b: 'realized' }, expect: 'b:realized' },
    ];

    it('exports entries, exits once, then nothing until re-entry', () => {
      let ledger: string | null = null;
      const seen = steps.map(({ statuses }) => {
        const snapshot: ProfileSnapshot = {
          identityMap: { ecid: [{ id: '1' }] },
          segmentMembership: {
            ups: Object.fromEntries(
              Object.entries(statuses).map(([id, status]) => [
                id,
                { status, lastQualificationTime: '2024-01-01T00:00:00Z' },
              ]),
            ),
          },
        };
        const previous = ledger === null ? null : (JSON.parse(ledger) as Projection);
        const decision = decideExport(snapshot, previous, activation, seedOptions);
        if (decision.kind !== 'export') return `skip:${decision.reason}`;
        ledger = JSON.stringify(decision.projection);
        return Object.entries(decision.record.segmentMembership.ups)
          .map(([id, entry]) => `${id}:${entry.status}`)
          .join(' ');
      });
      assert.deepStrictEqual(
        seen,
        steps.map((s) => s.expect),
      );
    });
  });

  describe('forced (a re-export with --force)', () => {
    const member = (status: 'realized' | 'existing' | 'exited'): ProfileSnapshot => ({
      identityMap: { ecid: [{ id: '1' }] },
      person: { name: { firstName: 'Ada' } },
      segmentMembership: { ups: { a: { status, lastQualificationTime: '2024-01-01T00:00:00Z' } } },
    });

    it('exports an unchanged member again, as existing', () => {
      const first = decideExport(member('realized'), null, activation, seedOptions);
      assert.equal(first.kind, 'export');
      const ledger = JSON.parse(JSON.stringify(first.projection)) as Projection;
      assert.deepStrictEqual(decideExport(member('realized'), ledger, activation, seedOptions), {
        kind: 'skip',
        reason: 'no-mapped-change',
      });

      const forced = decideExport(member('realized'), ledger, activation, seedOptions, { force: true });
      assert.equal(forced.kind, 'export');
      assert.deepStrictEqual(forced.record, {
        person: { name: { firstName: 'Ada' } },
        segmentMembership: { ups: { a: { lastQualificationTime: '2024-01-01T00:00:00Z', status: 'existing' } } },
        identityMap: { ecid: [{ id: '1' }] },
      });
    });

    it('still skips a profile in no mapped segment and an exit exported before', () => {
      assert.deepStrictEqual(decideExport(member('exited'), null, activation, seedOptions, { force: true }), {
        kind: 'skip',
        reason: 'not-in-mapped-segment',
      });
      const exit = decideExport(
        member('exited'),
        { segments: { a: { status: 'realized', lastQualificationTime: 'x' } }, attributes: {}, identityMap: {} },
        activation,
        seedOptions,
      );
      assert.equal(exit.kind, 'export');
      assert.deepStrictEqual(
        decideExport(member('exited'), exit.projection, activation, seedOptions, { force: true }),
        {
          kind: 'skip',
          reason: 'exited-already-exported',
        },
      );
    });
  });

  it('treats segment ids and attribute paths named like Object.prototype members as plain keys', () => {
    const protoActivation: Activation = {
      segments: [{ id: 'constructor' }],
      attributes: ['toString', 'person.constructor'],
    };
    const snapshot: ProfileSnapshot = { identityMap: { ecid: [{ id: '1' }] } };
    const previous: Projection = { segments: {}, attributes: {}, identityMap: { ecid: [{ id: '1' }] } };
    assert.deepStrictEqual(decideExport(snapshot, null, protoActivation, seedOptions), {
      kind: 'skip',
      reason: 'not-in-mapped-segment',
    });
    assert.deepStrictEqual(decideExport(snapshot, previous, protoActivation, seedOptions), {
      kind: 'skip',
      reason: 'exited-already-exported',
    });
  });
});

const activation: Activation = { segments: [{ id: 'a' }, { id: 'b' }], attributes: ['person.name'] };
const seedOptions: ExportOptions = {
  includeSegmentNames: false,
  includeSegmentTimestamps: false,
  statusStyle: 'existing',
  includeMessageId: false,
};
