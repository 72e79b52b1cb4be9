import type { Activation, IdentityNamespaces, MappedSegment } from './activation';
import type { ExportOptions } from './exportOptions';
import type { IdentityMap, ProfileSnapshot } from './profile';
import type { ExportedIdentity, ExportedSegmentMembership, ExportRecord, Projection } from './projection';
import { cloneJson, getXdmValue, ownValue, setOwn, setXdmValue } from './xdmPath';

type ProjectedSegment = Projection['segments'][string];

/** Segment metadata keys added by `includeSegmentTimestamps`, in the order they appear in a record. */
const TIMESTAMP_KEYS = ['createdAt', 'updatedAt', 'mappingCreatedAt', 'mappingUpdatedAt'] as const;

/**
 * The identity map as exported: the namespaces the activation lets out (all when it names none; namespaces compare
 * case-insensitively, as identities do) in snapshot order, each identity reduced to `{ id }` as in the seed.
 */
export function exportedIdentityMap(
  identityMap: IdentityMap,
  filter?: IdentityNamespaces,
): Record<string, ExportedIdentity[]> {
  // Plain loops: this runs for every decided profile.
  const exported: Record<string, ExportedIdentity[]> = {};
  const listed = filter && new Set(filter.namespaces.map((n) => n.toLowerCase()));
  for (const namespace of Object.keys(identityMap)) {
    if (listed && listed.has(namespace.toLowerCase()) !== (filter.mode === 'include')) continue;
    const identities = identityMap[namespace] as IdentityMap[string];
    const ids: ExportedIdentity[] = new Array<ExportedIdentity>(identities.length);
    for (let i = 0; i < identities.length; i++) ids[i] = { id: (identities[i] as IdentityMap[string][number]).id };
    setOwn(exported, namespace, ids);
  }
  return exported;
}

/**
 * Mapped XDM path -> value for the mapped attributes the profile has. `null` counts as not
 * having the attribute (XDM's unset), so it is neither exported nor different from absent.
 */
export function mappedAttributeValues(snapshot: ProfileSnapshot, paths: readonly string[]): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const path of paths) {
    const value = getXdmValue(snapshot, path);
    if (value !== undefined && value !== null) setOwn(values, path, cloneJson(value));
  }
  return values;
}

/**
 * Renders a projection as the seed's JSON record: mapped attributes nested by path (mapping
 * order), then `segmentMembership.ups` (mapping order), then `identityMap`.
 */
export function buildExportRecord(
  projection: Projection,
  activation: Activation,
  options: ExportOptions,
): ExportRecord {
  // Built in place (no spread or entry arrays): this runs for every exported profile. Mapped
  // paths never start with segmentMembership or identityMap, so those keys come last.
  const record: Record<string, unknown> = {};
  for (const path of activation.attributes) {
    const value = ownValue(projection.attributes, path);
    if (value !== undefined) setXdmValue(record, path, value);
  }
  const ups: Record<string, ExportedSegmentMembership> = {};
  for (const segment of activation.segments) {
    const projected = ownValue(projection.segments, segment.id);
    if (projected !== undefined) setOwn(ups, segment.id, segmentEntry(projected, segment, options));
  }
  record.segmentMembership = { ups };
  record.identityMap = projection.identityMap;
  return record as ExportRecord;
}

function segmentEntry(
  projected: ProjectedSegment,
  segment: MappedSegment,
  options: ExportOptions,
): ExportedSegmentMembership {
  const entry: ExportedSegmentMembership = {
    lastQualificationTime: projected.lastQualificationTime,
    status: projected.status,
  };
  if (options.includeSegmentNames && segment.name !== undefined) entry.name = segment.name;
  if (options.includeSegmentTimestamps) {
    for (const key of TIMESTAMP_KEYS) {
      const value = segment[key];
      if (value !== undefined) entry[key] = value;
    }
  }
  return entry;
}
