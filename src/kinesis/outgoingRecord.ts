/** One Kinesis record ready to send: the bytes of one profile export and where it goes. */
export interface OutgoingRecord {
  profileId: string;
  partitionKey: string;
  data: Uint8Array;
}

/**
 * The size Kinesis charges against its record and request limits: data plus the UTF-8 bytes of
 * the partition key (counting data alone lets a record near the limit be rejected by the service).
 */
export function recordSize(record: Pick<OutgoingRecord, 'partitionKey' | 'data'>): number {
  return record.data.byteLength + Buffer.byteLength(record.partitionKey, 'utf8');
}
