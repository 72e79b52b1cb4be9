import { hash } from 'node:crypto';
import type { ExportRecord } from './projection';

/** Characters of base64url kept from the SHA-256 digest: 132 bits, as change keys keep. */
const MESSAGE_ID_LENGTH = 22;

/**
 * The id of one export, for consumers that drop duplicates (Segment's and RudderStack's
 * `messageId`, Amplitude's `insert_id`): a digest of the destination, the profile and the change
 * sequence of the snapshot the record was built from. A record sent again after a crash (its
 * ledger entry never written) is built from the same snapshot and carries the same id; an export
 * of a later snapshot carries a new one.
 */
export function messageIdOf(destinationId: string, profileId: string, seq: number): string {
  return hash('sha256', JSON.stringify([destinationId, profileId, seq]), 'base64url').slice(0, MESSAGE_ID_LENGTH);
}

/** The record with `messageId` as its first field; the seed's fields follow unchanged. */
export function withMessageId(record: ExportRecord, messageId: string): ExportRecord {
  return { messageId, ...record };
}
