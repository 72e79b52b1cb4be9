import type { Activation } from '../domain/activation';
import { changeKeyOf } from '../domain/changeKey';
import type { ChangeKeySpec } from '../domain/changeKey';
import type { ProfileSnapshot } from '../domain/profile';
import type { Projection } from '../domain/projection';

export interface LedgerEntry {
  profileId: string;
  projection: Projection;
  /** The change key of the exported snapshot (absent or null: none, its next change is decided in full). */
  changeKey?: string | null;
}

/** How the export path reads profiles for one destination: with its ledger entries. */
export interface LedgerView {
  destinationId: string;
  /**
   * The destination's mapped segments: a read by seq returns only profiles that are now members
   * of one of them, or that left one of them and that the destination's ledger holds (they may
   * owe an exit). Null: every changed profile (a read for no destination).
   */
  segmentIds: readonly string[] | null;
  /** The destination's change key (null: no key, every profile is decided in full). */
  changeKey: ChangeKeySpec | null;
  /** Leave out the snapshot of a profile whose stored key equals its ledger key (false for a forced re-export). */
  skipUnchanged: boolean;
}

/** A profile as the export decides it: its snapshot, unless unchanged, and its last export. */
export interface ExportCandidate {
  seq: number;
  profileId: string;
  /** This snapshot's change key, for the ledger once it is exported. */
  changeKey: string | null;
  /**
   * Null when the view skips unchanged profiles and this one's key equals its ledger key: nothing
   * mapped changed since its last export, so the diff would skip it (see domain/changeKey).
   */
  snapshot: ProfileSnapshot | null;
  /** The projection of its last export (null: never exported, or snapshot left out). */
  previous: Projection | null;
}

/** Which profiles to read: changed after a seq (by seq), or members of segments after a profile id (by id). */
export type CandidateRange =
  { afterSeq: number; limit: number } | { segmentIds: string[]; afterProfileId: string | null; limit: number };

export interface DeadLetter {
  destinationId: string;
  profileId: string;
  reason: string;
  /** The record body (JSON text) that could not be sent. */
  record: string;
  createdAt?: Date;
}

/** Non-secret destination settings as kept for listing and for the CLI. */
export interface DestinationRow {
  id: string;
  /** Non-secret settings as JSON (never a secret value, only references). */
  settings: unknown;
  activation: Activation | null;
}

/**
 * The durable store: profile snapshots with a change sequence, the export ledger, dead letters
 * and non-secret destination settings. SQLite (embedded) and PostgreSQL (shared by many
 * workers) implement it and pass the same contract tests.
 */
export interface Store {
  /**
   * Writes snapshots; each write gives the profile a new, higher sequence (the newest snapshot
   * of a profile replaces the older one, so readers see changes coalesced). Within one call a
   * later element wins over an earlier one with the same profileId. It knows nothing of
   * destinations: it routes each change to the segments the profile is or was a member of
   * (see readExportCandidates), and change keys are computed by the first read that needs them.
   */
  upsertProfiles(profiles: { profileId: string; snapshot: ProfileSnapshot }[]): Promise<{ lastSeq: number }>;
  countProfilesSince(afterSeq: number): Promise<number>;
  maxSeq(): Promise<number>;
  /** Profiles that are members of any of `segmentIds` (each counted once). */
  countSegmentMembers(segmentIds: string[]): Promise<number>;

  /**
   * Profiles with the view's ledger entries and change keys, one chunk of the export path:
   * - `{ afterSeq, limit }`: those whose latest write has seq > afterSeq, ordered by seq, among
   *   the profiles the view is concerned by (see LedgerView.segmentIds). Fewer than `limit`
   *   means every concerned change up to the store head (maxSeq read before this call) was read;
   * - `{ segmentIds, afterProfileId, limit }`: members (realized or existing) of any of the
   *   segments with profileId > afterProfileId (null: from the start), ordered by profileId
   *   (byte-wise), each once.
   * At most `limit`. A view without a change key and not skipping unchanged profiles reads every
   * snapshot in range.
   */
  readExportCandidates(view: LedgerView, range: CandidateRange): Promise<ExportCandidate[]>;

  readLedger(destinationId: string, profileIds: string[]): Promise<Map<string, Projection>>;
  writeLedger(destinationId: string, entries: LedgerEntry[]): Promise<void>;

  addDeadLetters(entries: DeadLetter[]): Promise<void>;
  listDeadLetters(destinationId: string): Promise<DeadLetter[]>;

  saveDestination(row: DestinationRow): Promise<void>;
  getDestination(id: string): Promise<DestinationRow | undefined>;
  listDestinations(): Promise<DestinationRow[]>;

  close(): Promise<void>;
}

/**
 * The input of one upsertProfiles call with duplicates removed: the last snapshot of each profile
 * wins and takes the position of its last occurrence, so both stores hand out the same seqs.
 */
export function latestPerProfile<T extends { profileId: string }>(profiles: readonly T[]): T[] {
  const latest = new Map<string, T>();
  for (const p of profiles) {
    latest.delete(p.profileId);
    latest.set(p.profileId, p);
  }
  return [...latest.values()];
}

/** Segments a snapshot is a member of (status realized or existing), as the membership index keeps them. */
export function memberSegmentIds(snapshot: ProfileSnapshot): string[] {
  return Object.entries(snapshot.segmentMembership?.ups ?? {})
    .filter(([, entry]) => entry.status !== 'exited')
    .map(([segmentId]) => segmentId);
}

/**
 * A candidate from its stored texts. The store leaves out the snapshot (null) of a profile the
 * view skips as unchanged; any other snapshot is parsed, with the ledger entry, and gets its key
 * computed here when none was stored for it (the first read of this snapshot under this mapping).
 */
export function toExportCandidate(
  spec: ChangeKeySpec | null,
  seq: number,
  profileId: string,
  snapshot: string | null,
  changeKey: string | null,
  projection: string | null,
): ExportCandidate {
  if (snapshot === null) return { seq, profileId, changeKey, snapshot: null, previous: null };
  const parsed = JSON.parse(snapshot) as ProfileSnapshot;
  return {
    seq,
    profileId,
    changeKey: changeKey ?? (spec === null ? null : changeKeyOf(spec, parsed)),
    snapshot: parsed,
    previous: projection === null ? null : (JSON.parse(projection) as Projection),
  };
}

/**
 * The keys a read by segment (a re-export) computed because none was stored (see
 * toExportCandidate), for the store to keep when the profile was exported before: its next
 * re-export under this mapping then skips it unparsed while it is not rewritten. Keeping a key
 * rewrites the profile's row, so it is done only where it pays: a read by seq keeps none (its
 * profiles were just rewritten and the ledger takes the key of each one exported), nor does a
 * first export (a back-fill): those profiles are parsed once more by their next re-export,
 * which keeps their keys then.
 */
export function keysComputedOnRead(
  range: CandidateRange,
  storedKeys: readonly (string | null)[],
  candidates: readonly ExportCandidate[],
): { profileId: string; seq: number; changeKey: string }[] {
  const computed: { profileId: string; seq: number; changeKey: string }[] = [];
  if ('afterSeq' in range) return computed;
  candidates.forEach(({ profileId, seq, changeKey, previous }, i) => {
    if (storedKeys[i] === null && changeKey !== null && previous !== null) computed.push({ profileId, seq, changeKey });
  });
  return computed;
}
