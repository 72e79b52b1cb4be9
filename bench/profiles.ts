import type { Activation } from '../src/domain/activation';
import { decideExport } from '../src/domain/diff';
import type { DestinationSettings } from '../src/domain/destination';
import { partitionKeyOf } from '../src/domain/partitionKey';
import type { ProfileSnapshot } from '../src/domain/profile';
import type { OutgoingRecord } from '../src/kinesis/outgoingRecord';

/** The segment the bench's profiles are members of, unless they are given another. */
const BENCH_SEGMENT = 'seg-bench';

/** What the bench maps: one segment and two attributes, as a typical activation. */
function benchActivation(segmentId: string): Activation {
  return {
    segments: [{ id: segmentId, name: 'Bench audience' }],
    attributes: ['person.email', 'person.name.firstName'],
  };
}

export const BENCH_ACTIVATION: Activation = benchActivation(BENCH_SEGMENT);

export interface BenchProfile {
  profileId: string;
  snapshot: ProfileSnapshot;
}

/** `count` profiles of the segment, each about the size of a real profile export. */
export function benchProfiles(count: number, tag: string, segmentId = BENCH_SEGMENT): BenchProfile[] {
  return Array.from({ length: count }, (_, i) => {
    const profileId = `${tag}-${String(i).padStart(8, '0')}`;
    return {
      profileId,
      snapshot: {
        profileId,
        identityMap: {
          ecid: [{ id: `${10 ** 17 + i}${tag.length}`, primary: true }],
          email_lc_sha256: [{ id: `${i.toString(16).padStart(12, '0')}655332b5fa2aea4498bf7a290cff017cb4` }],
        },
        person: { email: `user${i}@example.com`, name: { firstName: `First${i}`, lastName: `Last${i}` } },
        segmentMembership: {
          ups: { [segmentId]: { status: 'realized', lastQualificationTime: '2024-05-25T21:24:39Z' } },
        },
      },
    };
  });
}

/**
 * A run's own profiles: `count` members of a segment named after `tag`, and the activation that
 * maps it, so that a store which keeps earlier runs' profiles back-fills only this run's.
 */
export function benchRun(count: number, tag: string): { profiles: BenchProfile[]; activation: Activation } {
  const segmentId = `seg-${tag}`;
  return { profiles: benchProfiles(count, tag, segmentId), activation: benchActivation(segmentId) };
}

/** The records the engine builds for these profiles (first export): the bare loop sends the same bytes. */
export function exportRecords(
  profiles: readonly BenchProfile[],
  settings: DestinationSettings,
  activation = BENCH_ACTIVATION,
): OutgoingRecord[] {
  return profiles.map(({ profileId, snapshot }) => {
    const decision = decideExport(snapshot, null, activation, settings.exportOptions);
    if (decision.kind !== 'export')
      throw new Error(`bench profile ${profileId} would not be exported (${decision.reason})`);
    return {
      profileId,
      partitionKey: partitionKeyOf(settings.partitionKey, profileId, snapshot),
      data: Buffer.from(JSON.stringify(decision.record)),
    };
  });
}
