import { triggersOf } from './activation';
import type { Activation } from './activation';
import { consentExclusion } from './consent';
import type { ConsentRule, ExcludeReason } from './consent';
import { buildExportRecord, exportedIdentityMap, mappedAttributeValues } from './exportRecord';
import type { ExportOptions } from './exportOptions';
import type { ProfileSnapshot, SegmentStatus } from './profile';
import type { ExportRecord, Projection } from './projection';
import { jsonEqual, ownValue, setOwn } from './xdmPath';

export type SkipReason =
  /** Never exported and in no mapped segment. */
  | 'not-in-mapped-segment'
  /** Nothing mapped changed since the last export: memberships, identities and mapped attributes are the same. */
  | 'no-mapped-change'
  /** Its exit from every mapped segment was exported already and it has not re-entered one. */
  | 'exited-already-exported'
  /** Only kinds of change whose trigger is off changed (say attributes, with `attribute` off). */
  | 'not-a-trigger';

export type ExportDecision =
  | { kind: 'export'; record: ExportRecord; projection: Projection }
  | { kind: 'skip'; reason: SkipReason }
  /** A member the destination's consent rule holds back (one exported before got its exit first). */
  | { kind: 'exclude'; reason: ExcludeReason };

type SegmentState = { status: SegmentStatus; lastQualificationTime: string } | undefined;

export interface DecideOptions {
  /**
   * Export a member of a mapped segment even when nothing mapped changed (a forced re-export).
   * Statuses still come from the diff, so a member exported before stays `existing`.
   */
  force?: boolean;
  /** The destination's consent rule: a profile failing it is in no mapped segment, as far as exports go. */
  consent?: ConsentRule;
}

/**
 * Decides whether a snapshot is exported, given the projection of its last export (null when
 * never exported), and builds the record plus the projection to store once Kinesis acknowledged
 * it (DESIGN §4). Only mapped segments and mapped attributes are looked at.
 */
export function decideExport(
  snapshot: ProfileSnapshot,
  previous: Projection | null,
  activation: Activation,
  options: ExportOptions,
  { force = false, consent }: DecideOptions = {},
): ExportDecision {
  const exclusion = consentExclusion(consent, snapshot);
  // One pass over the mapped segments, in plain loops: this runs for every changed profile.
  const ups = snapshot.segmentMembership?.ups ?? {};
  const segments: Projection['segments'] = {};
  let memberOfAnyNow = false;
  let memberOfAnyBefore = false;
  let membershipChanged = false;
  for (const { id } of activation.segments) {
    // Without consent a profile is a member of nothing: where it was exported, it exits.
    const now: SegmentState = exclusion === null ? ownValue(ups, id) : undefined;
    const before: SegmentState = previous === null ? undefined : ownValue(previous.segments, id);
    const memberNow = isMember(now);
    const memberBefore = isMember(before);
    memberOfAnyNow ||= memberNow;
    memberOfAnyBefore ||= memberBefore;
    membershipChanged ||= memberNow !== memberBefore;
    const exported = exportedSegment(now, before, options);
    if (exported !== undefined) setOwn(segments, id, exported);
  }
  if (!memberOfAnyNow && !memberOfAnyBefore) {
    if (exclusion !== null && activation.segments.some(({ id }) => isMember(ownValue(ups, id))))
      return { kind: 'exclude', reason: exclusion };
    return { kind: 'skip', reason: previous === null ? 'not-in-mapped-segment' : 'exited-already-exported' };
  }

  const projection: Projection = {
    segments,
    // The exit of a profile that withdrew consent carries identities only, as an erasure's does.
    attributes: exclusion === null ? mappedAttributeValues(snapshot, activation.attributes) : {},
    identityMap: exportedIdentityMap(snapshot.identityMap, activation.identityNamespaces),
  };
  // An exit for withdrawn consent goes out whatever the triggers.
  if (!force && exclusion === null) {
    const reason = skipReasonOf(previous ?? NOTHING_EXPORTED, projection, activation, membershipChanged);
    if (reason !== undefined) return { kind: 'skip', reason };
  }
  return { kind: 'export', record: buildExportRecord(projection, activation, options), projection };
}

function isMember(state: SegmentState): boolean {
  return state?.status === 'realized' || state?.status === 'existing';
}

/**
 * A mapped segment's entry in the next export: `realized` when entered since the last export,
 * `existing` (or `realized` in the post-2023 style) when still a member, `exited` when left.
 * An exit keeps the last known qualification time when the snapshot no longer lists the segment.
 */
function exportedSegment(now: SegmentState, before: SegmentState, options: ExportOptions): SegmentState {
  if (now !== undefined && isMember(now)) {
    const status = isMember(before) && options.statusStyle === 'existing' ? 'existing' : 'realized';
    return { status, lastQualificationTime: now.lastQualificationTime };
  }
  if (before !== undefined && isMember(before)) {
    return { status: 'exited', lastQualificationTime: now?.lastQualificationTime ?? before.lastQualificationTime };
  }
  return undefined;
}

/** What a profile never exported is compared with: every attribute and identity it has is a change. */
const NOTHING_EXPORTED: Projection = { segments: {}, attributes: {}, identityMap: {} };

/**
 * Why a profile is skipped after all: no kind of change since the last export (membership,
 * compared while the projection is built; a mapped attribute; the exported identity map), or
 * none whose trigger is on. Undefined: a change it has is a trigger, so it is exported. Status
 * style and qualification times alone do not count. Stops at the first triggering change: most
 * exports are membership changes, and then nothing else needs comparing.
 */
function skipReasonOf(
  previous: Projection,
  next: Projection,
  activation: Activation,
  membershipChanged: boolean,
): SkipReason | undefined {
  const triggers = triggersOf(activation);
  let changed = false;
  if (membershipChanged) {
    if (triggers.includes('segmentation')) return undefined;
    changed = true;
  }
  if (attributesChanged(previous, next, activation.attributes)) {
    if (triggers.includes('attribute')) return undefined;
    changed = true;
  }
  if (!jsonEqual(previous.identityMap, next.identityMap)) {
    if (triggers.includes('identity')) return undefined;
    changed = true;
  }
  return changed ? 'not-a-trigger' : 'no-mapped-change';
}

function attributesChanged(previous: Projection, next: Projection, paths: readonly string[]): boolean {
  for (const path of paths) {
    if (!jsonEqual(ownValue(previous.attributes, path), ownValue(next.attributes, path))) return true;
  }
  return false;
}
