import type { Activation } from '../domain/activation';
import { changeKeyOf } from '../domain/changeKey';
import type { ChangeKeySpec } from '../domain/changeKey';
import type { ProfileSnapshot } from '../domain/profile';
import type { IdentityConflict } from '../domain/profileIdentity';
import type { Projection } from '../domain/projection';
import { mergeProfileSnapshot } from '../domain/ndjson';

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

/**
 * Which profiles to read: changed after the change cursor (a change sequence; by seq), or members of
 * segments after the re-export cursor (a profile id, null: from the first; by id).
 */
export type CandidateRange =
  { cursor: number; limit: number } | { segmentIds: string[]; cursor: string | null; limit: number };

export interface DeadLetter {
  destinationId: string;
  profileId: string;
  reason: string;
  /** The record body (JSON text) that could not be sent. */
  record: string;
  /** What the record would have put in the ledger: the export that is owed (absent in letters of earlier versions). */
  projection?: Projection;
  createdAt?: Date;
}

/** What deleting a destination removed from the store. */
export interface DestinationRemoval {
  /** The destination's row was there (false: it was removed before, or never saved). */
  destination: boolean;
  ledgerEntries: number;
  deadLetters: number;
  /** When it was deleted: now, or the first deletion's time. */
  deletedAt: Date;
}

/** The profiles a change concerns: given by id, or those whose latest write has a seq in [fromSeq, toSeq]. */
export type ChangedProfiles = { profileIds: string[] } | { fromSeq: number; toSeq: number };

/** A profile write no one has announced yet: the seqs it gave out (see Store.unannouncedWrites). */
export interface UnannouncedWrite {
  firstSeq: number;
  lastSeq: number;
}

/** A merge patch (RFC 7396) for the profile it names. */
export interface ProfilePatch {
  profileId: string;
  patch: Record<string, unknown>;
}

/** A profile's ledger entry at one destination. */
export interface LedgerHolding {
  destinationId: string;
  profileId: string;
  projection: Projection;
}

/** Non-secret destination settings as kept for listing and for the CLI. */
export interface DestinationRow {
  id: string;
  /** Non-secret settings as JSON (never a secret value, only references). */
  settings: unknown;
  activation: Activation | null;
}

export interface UpsertResult {
  lastSeq: number;
  /** The ids the snapshots were written as (identities resolved), each once. */
  profileIds: string[];
  /** Snapshots not written: their identities belong to two different profiles. */
  conflicts: IdentityConflict[];
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
   *
   * A snapshot without an explicit profileId that shares an identity with a stored profile (or
   * an earlier one of the call) is written as that profile, whatever `profileId` says; one that
   * shares identities with two different profiles is not written but returned in `conflicts`
   * (its position in `profiles`, and why). See domain/profileIdentity; the identity index is
   * kept in the same transaction.
   */
  upsertProfiles(profiles: { profileId: string; snapshot: ProfileSnapshot }[]): Promise<UpsertResult>;
  /**
   * Merges patches onto the stored snapshots in one write transaction, in input order (a later
   * patch of a profile applies on top of an earlier one): concurrent merges of one profile,
   * from any process, all apply. A patch for an unknown profile creates it. A patch whose merged
   * snapshot is invalid is rejected (by its index) and writes nothing; the others are written
   * as upsertProfiles writes. `written`: profiles written.
   */
  mergeProfiles(
    patches: ProfilePatch[],
  ): Promise<{ lastSeq: number; written: number; rejected: { index: number; reason: string }[] }>;
  /**
   * Destinations a change of these profiles concerns: those whose activation maps a segment one
   * of them is now a member of, and those whose ledger holds one of them (it may owe an update
   * or an exit). Only these need telling.
   */
  destinationsConcerned(changed: ChangedProfiles): Promise<string[]>;
  /**
   * Writes recorded (in the write's transaction) and not yet marked announced, oldest first,
   * at least `olderThanMs` old: a writer normally announces its own within that time.
   */
  unannouncedWrites(olderThanMs: number): Promise<UnannouncedWrite[]>;
  /** Their destinations were told: forgets the writes ending at these seqs. */
  markAnnounced(lastSeqs: number[]): Promise<void>;

  /**
   * Erasure, first step, in one transaction per call: each stored profile of `profileIds` gets
   * an erasure request and is rewritten as a tombstone (its identity map alone, in no segment),
   * so a destination that exported it in a mapped segment exports its exit. Returns the ids found
   * and the seq of the tombstones' write (0: none found).
   */
  requestErasure(profileIds: string[]): Promise<{ found: string[]; lastSeq: number }>;
  /** Profiles with an erasure request not yet purged (all, or those of `profileIds`), oldest first. */
  pendingErasures(profileIds?: string[]): Promise<{ profileId: string; requestedAt: Date }[]>;
  /** The ledger entries of these profiles at every destination. */
  ledgerHoldings(profileIds: string[]): Promise<LedgerHolding[]>;
  /**
   * Erasure, last step: deletes every row of these profiles (snapshot, change keys, membership,
   * ledger entries, dead letters, erasure request, identity index) so that no table or file keeps their data.
   */
  purgeProfiles(profileIds: string[]): Promise<void>;

  /** Profiles whose latest change has a sequence above `cursor`. */
  countChangesAfter(cursor: number): Promise<number>;
  /** The store's head: the highest change sequence given out and committed (0: none); it never moves back. */
  head(): Promise<number>;
  /** Profiles that are members of any of `segmentIds` (each counted once). */
  countSegmentMembers(segmentIds: string[]): Promise<number>;

  /**
   * Profiles with the view's ledger entries and change keys, one chunk of the export path:
   * - `{ cursor, limit }`: those whose latest write has seq > cursor, ordered by seq, among
   *   the profiles the view is concerned by (see LedgerView.segmentIds). Fewer than `limit`
   *   means every concerned change up to the store's head (read before this call) was read;
   * - `{ segmentIds, cursor, limit }`: members (realized or existing) of any of the
   *   segments with profileId > cursor (null: from the start), ordered by profileId
   *   (byte-wise), each once.
   * At most `limit`. A view without a change key and not skipping unchanged profiles reads every
   * snapshot in range.
   */
  readExportCandidates(view: LedgerView, range: CandidateRange): Promise<ExportCandidate[]>;

  readLedger(destinationId: string, profileIds: string[]): Promise<Map<string, Projection>>;
  writeLedger(destinationId: string, entries: LedgerEntry[]): Promise<void>;

  /**
   * The stored ones of `profileIds`, ordered by profile id, with the destination's ledger entries
   * (and stored change keys under `changeKey`); every snapshot parsed. A dead-letter replay reads so.
   */
  readProfileCandidates(
    destinationId: string,
    changeKey: ChangeKeySpec | null,
    profileIds: string[],
  ): Promise<ExportCandidate[]>;

  /** Keeps one dead letter per destination and profile: a new one replaces the profile's earlier one. */
  addDeadLetters(entries: DeadLetter[]): Promise<void>;
  /** The destination's dead letters, oldest first. */
  listDeadLetters(destinationId: string): Promise<DeadLetter[]>;
  /**
   * Those of `profileIds` with a dead letter at the destination, each with the letter's
   * projection (null in letters of earlier versions).
   */
  deadLetteredProjections(destinationId: string, profileIds: string[]): Promise<Map<string, Projection | null>>;
  /** Removes the destination's dead letters of `profileIds` (null: all of them); answers how many. */
  removeDeadLetters(destinationId: string, profileIds: string[] | null): Promise<number>;

  saveDestination(row: DestinationRow): Promise<void>;
  getDestination(id: string): Promise<DestinationRow | undefined>;
  listDestinations(): Promise<DestinationRow[]>;
  /**
   * Removes the destination's row, ledger entries and dead letters in one transaction, and
   * records that it was deleted (see destinationDeletedAt). Deleting again removes what is left.
   */
  deleteDestination(id: string): Promise<DestinationRemoval>;
  /** When the destination `id` was deleted; null when it was not. */
  destinationDeletedAt(id: string): Promise<Date | null>;

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

/** A candidate as a store reads it: texts, unparsed. */
export interface StoredCandidate {
  seq: number;
  profileId: string;
  /** Null when the store skipped it as unchanged (its stored key equals its ledger key). */
  snapshot: string | null;
  /** The change key stored with the profile under the view's mapping (null: none yet). */
  changeKey: string | null;
  /** The ledger entry's projection (null: never exported, or skipped). */
  projection: string | null;
  /** The ledger entry's change key. */
  ledgerKey: string | null;
}

/**
 * A candidate from its stored texts. The store leaves out the snapshot (null) of a profile the
 * view skips as unchanged; any other snapshot is parsed and gets its key computed here when none
 * was stored for it (the first read of this snapshot under this mapping, as after every write).
 * A computed key equal to the ledger's is the same skip, found before the ledger entry is parsed
 * and decided: a profile rewritten with only unmapped changes costs one parse and one digest.
 */
export function toExportCandidate(
  spec: ChangeKeySpec | null,
  skipUnchanged: boolean,
  row: StoredCandidate,
): ExportCandidate {
  const { seq, profileId, snapshot } = row;
  if (snapshot === null) return { seq, profileId, changeKey: row.changeKey, snapshot: null, previous: null };
  const parsed = JSON.parse(snapshot) as ProfileSnapshot;
  const changeKey = row.changeKey ?? (spec === null ? null : changeKeyOf(spec, parsed));
  // Not under a consent rule: a profile it holds back is counted as excluded, which takes its decision.
  if (skipUnchanged && spec?.consentPath === undefined && changeKey !== null && changeKey === row.ledgerKey)
    return { seq, profileId, changeKey, snapshot: null, previous: null };
  return {
    seq,
    profileId,
    changeKey,
    snapshot: parsed,
    previous: row.projection === null ? null : (JSON.parse(row.projection) as Projection),
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
  rows: readonly StoredCandidate[],
  candidates: readonly ExportCandidate[],
): { profileId: string; seq: number; changeKey: string }[] {
  const computed: { profileId: string; seq: number; changeKey: string }[] = [];
  if (!('segmentIds' in range)) return computed;
  candidates.forEach(({ profileId, seq, changeKey }, i) => {
    const row = rows[i] as StoredCandidate;
    if (row.changeKey === null && changeKey !== null && row.projection !== null)
      computed.push({ profileId, seq, changeKey });
  });
  return computed;
}

/**
 * Applies patches in order onto the stored snapshots (`stored`: profile id -> snapshot, updated
 * as patches apply); the snapshots to write, one per profile, and the patches rejected.
 */
export function mergePatches(
  stored: Map<string, ProfileSnapshot>,
  patches: readonly ProfilePatch[],
): { merged: { profileId: string; snapshot: ProfileSnapshot }[]; rejected: { index: number; reason: string }[] } {
  const touched = new Set<string>();
  const rejected: { index: number; reason: string }[] = [];
  patches.forEach(({ profileId, patch }, index) => {
    const result = mergeProfileSnapshot(stored.get(profileId) ?? null, patch);
    if ('reason' in result) {
      rejected.push({ index, reason: result.reason });
      return;
    }
    stored.set(profileId, result.snapshot);
    touched.add(profileId);
  });
  return {
    merged: [...touched].map((profileId) => ({ profileId, snapshot: stored.get(profileId) as ProfileSnapshot })),
    rejected,
  };
}

/** What a profile being erased is rewritten as: its identities only, so exits can name the person. */
export function erasureTombstone(profileId: string, snapshot: ProfileSnapshot): ProfileSnapshot {
  return { profileId, identityMap: snapshot.identityMap };
}

/** Destinations whose activation maps one of `segmentIds`, with those holding `ledgerDestinations`. */
export function concernedBy(
  destinations: readonly DestinationRow[],
  segmentIds: ReadonlySet<string>,
  ledgerDestinations: readonly string[],
): string[] {
  const concerned = new Set(ledgerDestinations);
  for (const { id, activation } of destinations) {
    if (activation?.segments.some((s) => segmentIds.has(s.id))) concerned.add(id);
  }
  return [...concerned].sort();
}
