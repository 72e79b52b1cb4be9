import { DEFAULT_MAX_RECORD_BYTES, MiB } from '../domain/recordSizeLimit';
import { recordSize } from './outgoingRecord';
import type { OutgoingRecord } from './outgoingRecord';

/** PutRecords limits; every byte count is data plus partition key. */
export interface BatchLimits {
  maxRecordsPerCall: number;
  maxBytesPerCall: number;
  maxRecordBytes: number;
}

/** The service limits of a stream with the default 1 MiB maximum record size. */
export const DEFAULT_LIMITS: Readonly<BatchLimits> = Object.freeze({
  maxRecordsPerCall: 500,
  maxBytesPerCall: 5 * MiB,
  maxRecordBytes: DEFAULT_MAX_RECORD_BYTES,
});

/** The largest record a stream can opt in to. */
export const MAX_RECORD_BYTES_CEILING = 10 * MiB;
const MAX_PARTITION_KEY_LENGTH = 256;

/**
 * Limits for a stream whose maximum record size was raised: such streams also accept PutRecords
 * requests of up to 10 MiB (AWS doubled the request size along with large-record support).
 */
export function limitsForMaxRecordBytes(maxRecordBytes: number): BatchLimits {
  const limits: BatchLimits = {
    ...DEFAULT_LIMITS,
    maxRecordBytes,
    maxBytesPerCall:
      maxRecordBytes > DEFAULT_LIMITS.maxRecordBytes ? MAX_RECORD_BYTES_CEILING : DEFAULT_LIMITS.maxBytesPerCall,
  };
  validateLimits(limits);
  return limits;
}

/** Rejects limits the service would not honour, so a misconfiguration fails before any call. */
export function validateLimits(limits: BatchLimits): void {
  const { maxRecordsPerCall, maxBytesPerCall, maxRecordBytes } = limits;
  if (
    !Number.isInteger(maxRecordsPerCall) ||
    maxRecordsPerCall < 1 ||
    maxRecordsPerCall > DEFAULT_LIMITS.maxRecordsPerCall
  ) {
    throw new RangeError(
      `maxRecordsPerCall must be an integer in 1..${DEFAULT_LIMITS.maxRecordsPerCall}, got ${maxRecordsPerCall}`,
    );
  }
  if (!(maxRecordBytes >= 1 && maxRecordBytes <= MAX_RECORD_BYTES_CEILING)) {
    throw new RangeError(`maxRecordBytes must be in 1..${MAX_RECORD_BYTES_CEILING}, got ${maxRecordBytes}`);
  }
  // A valid record must always fit an empty batch, or it could never be sent.
  if (!(maxBytesPerCall >= maxRecordBytes && maxBytesPerCall <= MAX_RECORD_BYTES_CEILING)) {
    throw new RangeError(
      `maxBytesPerCall must be in ${maxRecordBytes}..${MAX_RECORD_BYTES_CEILING}, got ${maxBytesPerCall}`,
    );
  }
}

/** What makes a record unsendable, as counters and metrics name it (`deadLettered{reason}`). */
export type DeadLetterCode = 'record-too-large' | 'partition-key-invalid';

/** Why a record can never be sent: its code and a sentence (for the dead-letter table). */
export interface RejectReason {
  code: DeadLetterCode;
  reason: string;
}

/** A record that can never be sent, with the reason (for the dead-letter table). */
export interface RejectedRecord extends RejectReason {
  record: OutgoingRecord;
}

/** Why the service would reject this record whatever the batch, or undefined when it is sendable. */
export function rejectReason(record: OutgoingRecord, limits: BatchLimits): RejectReason | undefined {
  // `length` counts UTF-16 code units, never fewer than the characters the service counts, so a
  // key accepted here is never rejected there.
  const keyLength = record.partitionKey.length;
  if (keyLength === 0)
    return { code: 'partition-key-invalid', reason: 'partition key is empty (1..256 characters required)' };
  if (keyLength > MAX_PARTITION_KEY_LENGTH)
    return {
      code: 'partition-key-invalid',
      reason: `partition key has ${keyLength} characters (at most ${MAX_PARTITION_KEY_LENGTH})`,
    };
  const size = recordSize(record);
  if (size > limits.maxRecordBytes) {
    return {
      code: 'record-too-large',
      reason: `record is ${size} bytes (data plus partition key), over the stream's maximum of ${limits.maxRecordBytes}`,
    };
  }
  return undefined;
}

/**
 * Fills one PutRecords batch: accepts sendable records (by size, data plus partition key) while
 * they fit, at most `maxRecords` of them and never over the call's limits. The one packing rule:
 * the writer fills its calls with it, and `packBatches` packs lists with it.
 */
export function batchFiller(limits: BatchLimits, maxRecords = limits.maxRecordsPerCall): (size: number) => boolean {
  const most = Math.min(maxRecords, limits.maxRecordsPerCall);
  let records = 0;
  let bytes = 0;
  return (size) => {
    if (records >= most || bytes + size > limits.maxBytesPerCall) return false;
    records += 1;
    bytes += size;
    return true;
  };
}

/**
 * Packs records into PutRecords batches in input order (a batch is closed when the next record
 * does not fit), and sets aside the records that can never be sent.
 */
export function packBatches(
  records: readonly OutgoingRecord[],
  limits: BatchLimits = DEFAULT_LIMITS,
): { batches: OutgoingRecord[][]; oversize: RejectedRecord[] } {
  validateLimits(limits);
  const batches: OutgoingRecord[][] = [];
  const oversize: RejectedRecord[] = [];
  let current: OutgoingRecord[] = [];
  let fits = batchFiller(limits);
  for (const record of records) {
    const rejected = rejectReason(record, limits);
    if (rejected !== undefined) {
      oversize.push({ record, ...rejected });
      continue;
    }
    const size = recordSize(record);
    if (!fits(size)) {
      batches.push(current);
      current = [];
      fits = batchFiller(limits);
      fits(size);
    }
    current.push(record);
  }
  if (current.length > 0) batches.push(current);
  return { batches, oversize };
}
