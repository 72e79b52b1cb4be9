import assert from 'node:assert/strict';
import {
  DEFAULT_LIMITS,
  limitsForMaxRecordBytes,
  MAX_RECORD_BYTES_CEILING,
  packBatches,
  validateLimits,
} from '../../src/kinesis/batcher';
import type { BatchLimits } from '../../src/kinesis/batcher';
import { recordSize } from '../../src/kinesis/outgoingRecord';
import type { OutgoingRecord } from '../../src/kinesis/outgoingRecord';

const MiB = 1024 * 1024;

function record(id: string, dataBytes: number, partitionKey = `pk-${id}`): OutgoingRecord {
  return { profileId: id, partitionKey, data: new Uint8Array(dataBytes) };
}

const ids = (records: readonly OutgoingRecord[]): string[] => records.map((r) => r.profileId);

describe('recordSize', () => {
  it('counts data plus the UTF-8 bytes of the partition key', () => {
    assert.equal(recordSize({ partitionKey: 'abc', data: new Uint8Array(10) }), 13);
    assert.equal(recordSize({ partitionKey: 'é€😀', data: new Uint8Array(1) }), 1 + 2 + 3 + 4);
  });
});

describe('packBatches', () => {
  it('keeps input order and closes a batch at 500 records', () => {
    const input = Array.from({ length: 1201 }, (_, i) => record(String(i), 10));
    const { batches, oversize } = packBatches(input);
    assert.deepEqual(
      batches.map((b) => b.length),
      [500, 500, 201],
    );
    assert.deepEqual(ids(batches.flat()), ids(input));
    assert.deepEqual(oversize, []);
  });

  it('closes a batch at 5 MiB counting partition keys, exactly at the limit', () => {
    const key = 'k'.repeat(16);
    // Each is exactly 1 MiB with its key: five fill a call exactly.
    const input = [1, 2, 3, 4, 5, 6].map((i) => record(String(i), MiB - key.length, key));
    const { batches } = packBatches(input);
    assert.deepEqual(batches.map(ids), [['1', '2', '3', '4', '5'], ['6']]);
    assert.equal(
      batches[0]?.reduce((sum, r) => sum + recordSize(r), 0),
      5 * MiB,
    );
  });

  it('would overflow 5 MiB if it counted data alone', () => {
    const limits: BatchLimits = { ...DEFAULT_LIMITS, maxRecordBytes: 5 * MiB };
    const input = [record('a', 5 * MiB - 100, 'k'.repeat(100)), record('b', 1, 'k')];
    assert.deepEqual(packBatches(input, limits).batches.map(ids), [['a'], ['b']]);
  });

  it('rejects records over the record limit, counting the partition key, and keeps the others in order', () => {
    const key = 'pk';
    const input = [
      record('a', 10),
      record('exact', MiB - key.length, key),
      record('over', MiB - key.length + 1, key),
      record('b', 10),
    ];
    const { batches, oversize } = packBatches(input);
    assert.deepEqual(ids(batches.flat()), ['a', 'exact', 'b']);
    assert.deepEqual(ids(oversize.map((o) => o.record)), ['over']);
    assert.equal(
      oversize[0]?.reason,
      `record is ${MiB + 1} bytes (data plus partition key), over the stream's maximum of ${MiB}`,
    );
  });

  it('rejects empty and over-long partition keys with a reason', () => {
    const input = [record('empty', 1, ''), record('max', 1, 'k'.repeat(256)), record('long', 1, 'k'.repeat(257))];
    const { batches, oversize } = packBatches(input);
    assert.deepEqual(ids(batches.flat()), ['max']);
    assert.deepEqual(
      oversize.map((o) => [o.record.profileId, o.reason]),
      [
        ['empty', 'partition key is empty (1..256 characters required)'],
        ['long', 'partition key has 257 characters (at most 256)'],
      ],
    );
  });

  it('returns no batch for no records', () => {
    assert.deepEqual(packBatches([]), { batches: [], oversize: [] });
  });

  it('accepts larger records on streams that opted in, with 10 MiB calls', () => {
    const limits = limitsForMaxRecordBytes(8 * MiB);
    assert.deepEqual(limits, { maxRecordsPerCall: 500, maxBytesPerCall: 10 * MiB, maxRecordBytes: 8 * MiB });
    const input = [
      record('big', 8 * MiB - 1, 'k'),
      record('small', 2 * MiB - 1, 'k'),
      record('next', 1, 'k'),
      record('too-big', 8 * MiB, 'k'),
    ];
    const { batches, oversize } = packBatches(input, limits);
    assert.deepEqual(batches.map(ids), [['big', 'small'], ['next']]);
    assert.deepEqual(ids(oversize.map((o) => o.record)), ['too-big']);
    assert.deepEqual(limitsForMaxRecordBytes(MiB), DEFAULT_LIMITS);
  });

  it('refuses limits the service would not honour', () => {
    assert.throws(() => limitsForMaxRecordBytes(MAX_RECORD_BYTES_CEILING + 1), /maxRecordBytes/);
    assert.throws(() => validateLimits({ ...DEFAULT_LIMITS, maxRecordsPerCall: 501 }), /maxRecordsPerCall/);
    assert.throws(() => validateLimits({ ...DEFAULT_LIMITS, maxRecordsPerCall: 0 }), /maxRecordsPerCall/);
    // A record allowed by the record limit must fit an empty call.
    assert.throws(() => packBatches([], { ...DEFAULT_LIMITS, maxRecordBytes: 6 * MiB }), /maxBytesPerCall/);
  });
});
