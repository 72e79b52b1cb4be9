import type { SegmentStatus } from './profile';

/** An identity as it appears in an export record: the seed shows `{ "id": ... }` only. */
export interface ExportedIdentity {
  id: string;
}

export interface ExportedSegmentMembership {
  lastQualificationTime: string;
  status: SegmentStatus;
  name?: string;
  createdAt?: number;
  updatedAt?: number;
  mappingCreatedAt?: number;
  mappingUpdatedAt?: number;
}

/** One Kinesis record's JSON body, in the seed's shape. Mapped attribute objects sit at the top level. */
export interface ExportRecord {
  [attributeRoot: string]: unknown;
  segmentMembership: { ups: Record<string, ExportedSegmentMembership> };
  identityMap: Record<string, ExportedIdentity[]>;
}

/**
 * What the export ledger keeps per destination and profile: the last exported projection.
 * `segments` holds the mapped segments as last exported (members and exits); `attributes`
 * maps each mapped XDM path the profile had to its value; `identityMap` is as exported.
 */
export interface Projection {
  segments: Record<string, { status: SegmentStatus; lastQualificationTime: string }>;
  attributes: Record<string, unknown>;
  identityMap: Record<string, ExportedIdentity[]>;
}
