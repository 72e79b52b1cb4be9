import type { ProfileSnapshot, SegmentStatus } from '../../src/domain/profile';
import type { Store } from '../../src/store/store';
import type { StoredRecord } from './kinesisStream';
import { profileIdHash } from '../../src/domain/partitionKey';

export const QUALIFIED_AT = '2024-03-01T12:00:00Z';

/** A snapshot with an explicit profile id, an ECID, the given memberships and attributes. */
export function profile(
  profileId: string,
  segments: Record<string, SegmentStatus>,
  attributes: Record<string, unknown> = {},
): { profileId: string; snapshot: ProfileSnapshot } {
  return {
    profileId,
    snapshot: {
      profileId,
      identityMap: { ecid: [{ id: `ecid-${profileId}` }] },
      ...attributes,
      segmentMembership: {
        ups: Object.fromEntries(
          Object.entries(segments).map(([id, status]) => [id, { status, lastQualificationTime: QUALIFIED_AT }]),
        ),
      },
    },
  };
}

/** Profile ids `${prefix}000000`.. in byte order, so paging by id follows the numbers. */
export function profileIds(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(6, '0')}`);
}

/** Writes member profiles straight to the store (no destination hears of them), in batches. */
export async function seedMembers(
  store: Store,
  ids: string[],
  segments: Record<string, SegmentStatus>,
): Promise<number> {
  let lastSeq = 0;
  for (let i = 0; i < ids.length; i += 5000) {
    ({ lastSeq } = await store.upsertProfiles(
      ids.slice(i, i + 5000).map((id) => profile(id, segments, { person: { email: `${id}@example.com` } })),
    ));
  }
  return lastSeq;
}

/** Records per profile id (by the default partition key, a hash of the id), for the ids given. */
export function recordsPerProfile(records: StoredRecord[], ids: string[]): Map<string, StoredRecord[]> {
  const byKey = new Map(ids.map((id) => [profileIdHash(id), id]));
  const per = new Map<string, StoredRecord[]>(ids.map((id) => [id, []]));
  for (const record of records) {
    const id = byKey.get(record.partitionKey);
    if (id === undefined) throw new Error(`a record with an unexpected partition key: ${record.partitionKey}`);
    per.get(id)?.push(record);
  }
  return per;
}

/** Segment statuses of a record, by segment id. */
export function statusesOf(record: StoredRecord): Record<string, string> {
  const body = JSON.parse(record.data) as { segmentMembership: { ups: Record<string, { status: string }> } };
  return Object.fromEntries(Object.entries(body.segmentMembership.ups).map(([id, entry]) => [id, entry.status]));
}
