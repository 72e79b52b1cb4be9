import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import type { Activation } from '../../src/domain/activation';
import { decideExport } from '../../src/domain/diff';
import type { ExportOptions } from '../../src/domain/exportOptions';
import type { ProfileSnapshot, SegmentStatus } from '../../src/domain/profile';
import type { Projection } from '../../src/domain/projection';

/*
 * A reference model of the export rules (DESIGN §4), written from the text and not from
 * src/domain/diff.ts: it keeps its own ledger (what it last sent per segment, the mapped values
 * and identity ids) and says, for each snapshot of a sequence, what the record must be.
 */

type Membership = { status: SegmentStatus; lastQualificationTime: string };

interface ModelLedger {
  segments: Map<string, Membership>;
  /** Canonical JSON of the mapped values and identity ids last sent. */
  values: string;
}

/** JSON with object keys sorted: equal for equal content whatever the key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const isMember = (m: Membership | undefined): boolean => m?.status === 'realized' || m?.status === 'existing';

function valueAt(snapshot: ProfileSnapshot, path: string): unknown {
  let at: unknown = snapshot;
  for (const step of path.split('.')) {
    if (at === null || typeof at !== 'object' || !Object.hasOwn(at, step)) return undefined;
    at = (at as Record<string, unknown>)[step];
  }
  return at === null ? undefined : at;
}

type ModelDecision = { kind: 'skip'; reason: string } | { kind: 'export'; record: Record<string, unknown> };

function modelDecide(
  snapshot: ProfileSnapshot,
  ledger: ModelLedger | null,
  activation: Activation,
  options: ExportOptions,
  force: boolean,
): { decision: ModelDecision; ledger: ModelLedger | null } {
  const ups = snapshot.segmentMembership?.ups ?? {};
  const now = (id: string): Membership | undefined => (Object.hasOwn(ups, id) ? ups[id] : undefined);
  const before = (id: string): Membership | undefined => ledger?.segments.get(id);
  const mapped = activation.segments;
  const anyNow = mapped.some((s) => isMember(now(s.id)));
  const anyBefore = mapped.some((s) => isMember(before(s.id)));
  if (!anyNow && !anyBefore) {
    const reason = ledger === null ? 'not-in-mapped-segment' : 'exited-already-exported';
    return { decision: { kind: 'skip', reason }, ledger };
  }
  const attributes: [string, unknown][] = activation.attributes
    .map((path): [string, unknown] => [path, valueAt(snapshot, path)])
    .filter(([, v]) => v !== undefined);
  const identities = Object.fromEntries(
    Object.entries(snapshot.identityMap).map(([ns, list]) => [ns, list.map((i) => ({ id: i.id }))]),
  );
  const values = canonical({ attributes: Object.fromEntries(attributes), identities });
  const membershipChanged = mapped.some((s) => isMember(now(s.id)) !== isMember(before(s.id)));
  if (!force && ledger !== null && !membershipChanged && values === ledger.values) {
    return { decision: { kind: 'skip', reason: 'no-mapped-change' }, ledger };
  }

  const sent = new Map<string, Membership>();
  const segmentEntries: Record<string, unknown> = {};
  for (const s of mapped) {
    const n = now(s.id);
    const b = before(s.id);
    let entry: Membership | undefined;
    if (n !== undefined && isMember(n)) {
      const stayed = isMember(b) && options.statusStyle === 'existing';
      entry = { status: stayed ? 'existing' : 'realized', lastQualificationTime: n.lastQualificationTime };
    } else if (b !== undefined && isMember(b)) {
      entry = { status: 'exited', lastQualificationTime: n?.lastQualificationTime ?? b.lastQualificationTime };
    }
    if (entry === undefined) continue;
    sent.set(s.id, entry);
    const shown: Record<string, unknown> = { ...entry };
    if (options.includeSegmentNames && s.name !== undefined) shown.name = s.name;
    if (options.includeSegmentTimestamps) {
      for (const key of ['createdAt', 'updatedAt', 'mappingCreatedAt', 'mappingUpdatedAt'] as const) {
        if (s[key] !== undefined) shown[key] = s[key];
      }
    }
    segmentEntries[s.id] = shown;
  }
  const record: Record<string, unknown> = {};
  for (const [path, value] of attributes) {
    const steps = path.split('.');
    let at = record;
    for (const step of steps.slice(0, -1)) at = (at[step] ??= {}) as Record<string, unknown>;
    at[steps[steps.length - 1] as string] = value;
  }
  record.segmentMembership = { ups: segmentEntries };
  record.identityMap = identities;
  return { decision: { kind: 'export', record }, ledger: { segments: sent, values } };
}

// Generators: a few ids and values each, so that sequences often repeat, enter, leave and re-enter.
const SEGMENTS = ['s1', 's2', 's3', 's4'];
const ATTRIBUTES = ['person.email', 'person.name.firstName', 'personalEmail'];
const time = fc.constantFrom('2024-01-01T00:00:00Z', '2024-02-01T00:00:00Z');
const membership = fc.record({
  status: fc.constantFrom<SegmentStatus>('realized', 'existing', 'exited'),
  lastQualificationTime: time,
});
const identity = fc.record({ id: fc.constantFrom('a', 'b', 'c'), primary: fc.boolean() }, { requiredKeys: ['id'] });
const identityMap = fc
  .uniqueArray(fc.constantFrom('ecid', 'email'), { maxLength: 2 })
  .chain((namespaces) =>
    fc
      .tuple(...namespaces.map(() => fc.array(identity, { minLength: 1, maxLength: 2 })))
      .map((lists) => Object.fromEntries(namespaces.map((ns, i) => [ns, lists[i] ?? []]))),
  );
const maybe = <T>(value: fc.Arbitrary<T>) => fc.option(value, { nil: undefined });
const snapshot: fc.Arbitrary<ProfileSnapshot> = fc
  .record({
    identityMap,
    ups: fc.dictionary(fc.constantFrom(...SEGMENTS), membership, { maxKeys: 4 }),
    email: maybe(fc.constantFrom<string | null>('x@y', 'z@y', null)),
    firstName: maybe(fc.constantFrom('Ann', 'Bo')),
    personalEmail: maybe(
      fc.constantFrom({ address: 'p@q', type: 'home' }, { type: 'home', address: 'p@q' }, { address: 'r@q' }),
    ),
  })
  .map(({ identityMap: ids, ups, email, firstName, personalEmail }) => {
    const person: Record<string, unknown> = {};
    if (email !== undefined) person.email = email;
    if (firstName !== undefined) person.name = { firstName, lastName: 'Lee' };
    return {
      identityMap: ids,
      segmentMembership: { ups },
      person,
      ...(personalEmail === undefined ? {} : { personalEmail }),
    };
  });
const activation: fc.Arbitrary<Activation> = fc.record({
  segments: fc.uniqueArray(fc.constantFrom(...SEGMENTS), { minLength: 1, maxLength: 3 }).chain((ids) =>
    fc.tuple(
      ...ids.map((id) =>
        fc.record(
          {
            id: fc.constant(id),
            name: fc.constantFrom(`name ${id}`),
            createdAt: fc.constant(1648553325000),
            mappingUpdatedAt: fc.constant(1648553350000),
          },
          { requiredKeys: ['id'] },
        ),
      ),
    ),
  ),
  attributes: fc.subarray(ATTRIBUTES),
});
const options: fc.Arbitrary<ExportOptions> = fc.record({
  includeSegmentNames: fc.boolean(),
  includeSegmentTimestamps: fc.boolean(),
  statusStyle: fc.constantFrom<ExportOptions['statusStyle']>('existing', 'realized'),
  // Added after the decision, by the page (see messageIdOf).
  includeMessageId: fc.constant(false),
});

describe('decideExport against a reference model of the export rules', function () {
  it('agrees on every decision and record of random snapshot sequences, mappings and options', function () {
    this.timeout(30_000);
    fc.assert(
      fc.property(
        activation,
        options,
        fc.array(fc.tuple(snapshot, fc.boolean()), { minLength: 1, maxLength: 8 }),
        (mapping, opts, steps) => {
          let previous: Projection | null = null;
          let model: ModelLedger | null = null;
          for (const [next, force] of steps) {
            const actual = decideExport(next, previous, mapping, opts, { force });
            const expected = modelDecide(next, model, mapping, opts, force);
            if (actual.kind !== 'export') assert.deepEqual(actual, expected.decision);
            else {
              assert.equal(expected.decision.kind, 'export');
              assert.deepEqual(actual.record, (expected.decision as { record: unknown }).record);
              // What an acknowledged export leaves in the ledger for the next step.
              previous = actual.projection;
            }
            model = expected.ledger;
          }
        },
      ),
      { seed: 20261201, numRuns: 3000 },
    );
  });
});
