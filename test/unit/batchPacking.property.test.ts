import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  batchFiller,
  DEFAULT_LIMITS,
  limitsForMaxRecordBytes,
  packBatches,
  rejectReason,
} from '../../src/kinesis/batcher';
import type { BatchLimits } from '../../src/kinesis/batcher';
import { recordSize } from '../../src/kinesis/outgoingRecord';
import type { OutgoingRecord } from '../../src/kinesis/outgoingRecord';
import { ProfileQueue } from '../../src/kinesis/profileQueue';

const MiB = 1024 * 1024;
/** Every record's data is a view of this buffer: large records cost no allocation. */
const BACKING = new Uint8Array(10 * MiB + 1024);
const RUNS = { seed: 20261201, numRuns: 150 };

/** The service's rules, written out here apart from the code under test (DESIGN §5). */
const sendable = (record: OutgoingRecord, limits: BatchLimits): boolean =>
  record.partitionKey.length >= 1 &&
  record.partitionKey.length <= 256 &&
  record.data.byteLength + Buffer.byteLength(record.partitionKey, 'utf8') <= limits.maxRecordBytes;

function assertWithinLimits(batch: readonly OutgoingRecord[], limits: BatchLimits): void {
  assert.ok(batch.length >= 1, 'an empty batch');
  assert.ok(batch.length <= 500 && batch.length <= limits.maxRecordsPerCall, `${batch.length} records in one call`);
  const bytes = batch.reduce((sum, r) => sum + r.data.byteLength + Buffer.byteLength(r.partitionKey, 'utf8'), 0);
  assert.ok(bytes <= limits.maxBytesPerCall, `${bytes} bytes in one call`);
  for (const record of batch) assert.ok(sendable(record, limits), `unsendable ${record.profileId} in a call`);
}

const limitsArb: fc.Arbitrary<BatchLimits> = fc.oneof(
  fc.constant(DEFAULT_LIMITS),
  fc.constant(limitsForMaxRecordBytes(8 * MiB)),
  // Tiny limits, so that many batches fill up in one run, some exactly to the byte.
  fc
    .record({ maxRecordsPerCall: fc.integer({ min: 1, max: 500 }), maxRecordBytes: fc.integer({ min: 1, max: 64 }) })
    .chain(({ maxRecordsPerCall, maxRecordBytes }) =>
      fc
        .integer({ min: maxRecordBytes, max: 4 * maxRecordBytes })
        .map((maxBytesPerCall) => ({ maxRecordsPerCall, maxRecordBytes, maxBytesPerCall })),
    ),
);

/** Records around the limits: small, near 1 MiB, near 8 MiB; keys empty, multi-byte, too long. */
const recordsArb = (limits: BatchLimits): fc.Arbitrary<OutgoingRecord[]> =>
  fc
    .array(
      fc.record({
        profile: fc.integer({ min: 0, max: 20 }),
        key: fc.oneof(
          fc.constantFrom('k', 'é', '€'),
          fc.string({ minLength: 1, maxLength: 40 }),
          fc.string({ minLength: 0, maxLength: 300, unit: 'binary' }),
          fc.constant('k'.repeat(256)),
        ),
        size: fc.oneof(
          fc.integer({ min: 0, max: 2 * limits.maxRecordBytes }),
          fc.integer({ min: Math.max(0, limits.maxRecordBytes - 600), max: limits.maxRecordBytes + 10 }),
          fc.integer({ min: 0, max: Math.min(limits.maxRecordBytes, 2000) }),
        ),
      }),
      { maxLength: 600, size: 'max' },
    )
    .map((specs) =>
      specs.map(({ profile, key, size }) => ({
        profileId: `p${profile}`,
        partitionKey: key,
        data: BACKING.subarray(0, Math.min(size, BACKING.length)),
      })),
    );

const recordsWithLimits = limitsArb.chain((limits) => recordsArb(limits).map((records) => ({ limits, records })));

describe('batch packing (property-based)', () => {
  it('packBatches never exceeds a call’s limits, keeps input order and loses no record', () => {
    fc.assert(
      fc.property(recordsWithLimits, ({ limits, records }) => {
        const { batches, oversize } = packBatches(records, limits);
        for (const batch of batches) assertWithinLimits(batch, limits);
        assert.deepEqual(
          batches.flat(),
          records.filter((r) => sendable(r, limits)),
        );
        assert.deepEqual(
          oversize.map((o) => o.record),
          records.filter((r) => !sendable(r, limits)),
        );
        for (const { record, code, reason } of oversize)
          assert.deepEqual({ code, reason }, rejectReason(record, limits));
        // A batch is closed only when the next record does not fit it.
        for (let i = 0; i + 1 < batches.length; i++) {
          const batch = batches[i] as OutgoingRecord[];
          const next = (batches[i + 1] as OutgoingRecord[])[0] as OutgoingRecord;
          const bytes = batch.reduce((sum, r) => sum + recordSize(r), 0);
          assert.ok(
            batch.length === limits.maxRecordsPerCall || bytes + recordSize(next) > limits.maxBytesPerCall,
            'a batch was closed early',
          );
        }
      }),
      RUNS,
    );
  });

  it('the writer’s calls, filled from its queue while calls complete and fail, never exceed the limits and lose no record', () => {
    fc.assert(
      fc.property(
        recordsWithLimits,
        fc.integer({ min: 1, max: 500 }),
        fc.infiniteStream(fc.integer({ min: 0, max: 9 })),
        ({ limits, records }, maxPermits, dice) => {
          const queue = new ProfileQueue<OutgoingRecord>((r) => r.profileId);
          const queued = records.filter((r) => sendable(r, limits));
          for (const record of queued) queue.add(record);
          const acknowledged: OutgoingRecord[] = [];
          const inFlight: OutgoingRecord[][] = [];
          const roll = dice[Symbol.iterator]();
          for (let steps = 0; queue.outstanding > 0; steps++) {
            assert.ok(steps < 100_000, 'the queue stopped handing records out');
            const fits = batchFiller(limits, maxPermits);
            const batch = queue.take((r) => fits(recordSize(r)));
            if (batch.length > 0) {
              assertWithinLimits(batch, limits);
              assert.ok(batch.length <= maxPermits);
              inFlight.push(batch);
            }
            // Answer a call in flight: all acknowledged, or some entries failed and given back.
            const done = inFlight.shift();
            if (done === undefined) continue;
            const r = roll.next().value as number;
            const failed = r < 3 ? done.filter((_, i) => i % (r + 2) === 0) : [];
            for (const record of done) {
              if (failed.includes(record)) continue;
              acknowledged.push(record);
              queue.complete(record);
            }
            if (failed.length > 0) queue.giveBack(failed);
          }
          assert.equal(acknowledged.length, queued.length, 'records acknowledged');
          assert.equal(new Set(acknowledged).size, queued.length, 'a record acknowledged twice');
          const inOrder = (list: readonly OutgoingRecord[], profile: string): OutgoingRecord[] =>
            list.filter((r) => r.profileId === profile);
          for (const profile of new Set(queued.map((r) => r.profileId)))
            assert.deepEqual(inOrder(acknowledged, profile), inOrder(queued, profile), `${profile} out of order`);
        },
      ),
      { ...RUNS, numRuns: 60 },
    );
  });
});
