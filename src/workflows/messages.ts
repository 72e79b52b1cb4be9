import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ExportCounts } from '../activities/types';
import type { Activation } from '../domain/activation';
import type { DestinationSettings, DestinationSettingsInput } from '../domain/destination';
import type { PermissionCheckResult } from '../domain/permissionCheck';
import type { ReasonCounts } from '../domain/reasonCounts';

/**
 * The destination actor's state (see DestinationActor). A re-export is no state of its own: its
 * pages and change pages take turns within one `exporting` period, so status and the search
 * attribute keep the four values scripts know, and are not rewritten every page.
 */
export type ActorState =
  /** Nothing running; the actor starts a step as soon as one is due. */
  | { name: 'idle' }
  /** A step is running, or a re-export is in progress between its pages. */
  | { name: 'exporting' }
  /** Nothing starts until `resume` (a running step finishes and is recorded). */
  | { name: 'paused' }
  /**
   * Stopped by a failed step. The automatic retry runs at `retryAt`; null while none is planned
   * (nothing to retry yet, or the retry is running).
   */
  | { name: 'error'; message: string; failedStep: Step; failedAttempts: number; retryAt: number | null };

/** What the actor runs, one at a time: a change page, a re-export step, or a permission check. */
export type Step = 'changes' | 'reexport' | 'check';

export type DestinationState = ActorState['name'];

/** ExportCounts as `status` shows them: `received` is the decided count, under the name scripts read. */
export interface ExportCounters {
  /** Profiles the destination decided on (exported, skipped, excluded or dead-lettered). */
  received: number;
  exported: number;
  skipped: number;
  deadLettered: number;
  /** Members the consent rule held back (the sum of excludedByReason). */
  excluded: number;
  /** PutRecords entries Kinesis refused and that were resent (the sum of failedByErrorCode). */
  failed: number;
  excludedByReason: ReasonCounts;
  failedByErrorCode: ReasonCounts;
  deadLetteredByReason: ReasonCounts;
}

/** One export page (changes or re-export) as the short history in `status` shows it. */
export interface PageSummary {
  /** When it ended (ISO-8601, workflow time). */
  at: string;
  step: 'changes' | 'reexport';
  received: number;
  exported: number;
  skipped: number;
  excluded: number;
  deadLettered: number;
  failedByErrorCode: ReasonCounts;
  /** The error that failed the page (its type, e.g. AccessDeniedException); null when it ended well. */
  error: string | null;
}

/** What `status` answers (and the CLI prints with --json). */
export interface DestinationStatus {
  destinationId: string;
  name: string;
  stream: string;
  state: DestinationState;
  /** Profiles changed in the store that this destination has not decided on yet. */
  pending: number;
  counters: ExportCounters;
  lastError: string | null;
  /** Export attempts that failed in a row (0 while healthy). */
  failedAttempts: number;
  /** While in `error`: when the destination tries again by itself (ISO-8601); `resume` or `configure` try at once. */
  nextRetryAt: string | null;
  /** The change cursor: the sequence up to which every profile has been decided. */
  checkpoint: number;
  activation: Activation | null;
  /** The re-export running now (null when none). */
  reexport: ReexportProgress | null;
  /** The last finished re-exports, newest first. */
  recentReexports: ReexportProgress[];
  /** The latest permission check of the current settings (null before the first). */
  permissions: PermissionCheckResult | null;
  /** The last export pages, newest first. */
  recentPages: PageSummary[];
}

/** Who started a re-export: a user, a Temporal Schedule, or an activation back-filling new segments. */
export type ReexportTrigger = 'manual' | 'schedule' | 'activation';

/** A re-export's progress, as `status` shows it. Times are ISO-8601 (workflow time). */
export interface ReexportProgress {
  id: string;
  trigger: ReexportTrigger;
  force: boolean;
  segmentIds: string[];
  startedAt: string;
  finishedAt: string | null;
  pagesDone: number;
  /** Members paged over so far. */
  profilesRead: number;
  profilesExported: number;
  profilesSkipped: number;
  deadLettered: number;
  /** Members of the segments when the re-export started (null until counted). */
  estimatedTotal: number | null;
  estimatedRemaining: number | null;
}

export interface ReexportRequest {
  /** Send every current member, even when nothing mapped changed since its last export. */
  force?: boolean;
}

/** A scheduled run asks the actor for a re-export; the actor answers with reexportFinishedSignal. */
export interface ScheduledReexportRequest {
  /** Workflow id that the actor signals when the re-export ends (or is skipped). */
  requestedBy: string;
  force: boolean;
}

export type ReexportOutcome =
  { outcome: 'completed'; reexport: ReexportProgress } | { outcome: 'skipped'; reason: string };

/** Sent after profile snapshots were written to the store, up to change sequence `seq`. */
export interface ProfilesChanged {
  seq: number;
  count: number;
}

export const statusQuery = defineQuery<DestinationStatus>('status');
export const profilesChangedSignal = defineSignal<[ProfilesChanged]>('profilesChanged');
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
/** Replaces the destination's settings; answers once they are saved. */
export const configureUpdate = defineUpdate<DestinationStatus, [DestinationSettingsInput]>('configure');
/** Maps segments and attributes; the destination then exports every current member. */
export const activateUpdate = defineUpdate<DestinationStatus, [Activation]>('activate');
/** Starts a re-export of every member of the mapped segments; rejected while one is running. */
export const reexportUpdate = defineUpdate<ReexportProgress, [ReexportRequest]>('reexport');
export const requestReexportSignal = defineSignal<[ScheduledReexportRequest]>('requestReexport');
export const reexportFinishedSignal = defineSignal<[ReexportOutcome]>('reexportFinished');
/** Checks ListStreams, PutRecord and PutRecords now; answers the result, failed or not. */
export const checkPermissionsUpdate = defineUpdate<PermissionCheckResult>('checkPermissions');
/** Sends what dead letters owe, through the export path; answers once done. */
export const replayDeadLettersUpdate = defineUpdate<DeadLetterReplay, [DeadLetterReplayRequest]>('replayDeadLetters');
/**
 * Stops the actor for good once its running step finished (refused while a re-export runs,
 * unless forced); the workflow then ends. The caller removes the destination's data.
 */
export const deleteUpdate = defineUpdate<DestinationStopped, [DeleteRequest]>('delete');

export interface DeadLetterReplayRequest {
  /** The profiles whose dead letters to replay; null: every dead letter of the destination. */
  profileIds: string[] | null;
}

/** What a replay did: each replayed profile was sent (`exported`), dead-lettered again, or skipped (owed nothing). */
export type DeadLetterReplay = ExportCounts;

export interface DeleteRequest {
  /** Delete even while a re-export runs (it is abandoned). */
  force?: boolean;
}

/** What the actor answers when it stops for deletion (times ISO-8601, workflow time). */
export interface DestinationStopped {
  destinationId: string;
  stoppedAt: string;
  /** The re-export abandoned by a forced delete (null: none ran). */
  abandonedReexport: string | null;
}

/** How a destination stopped by an error tries again: after `initialMs`, doubling up to `maxMs`. */
export interface ErrorRetry {
  initialMs: number;
  maxMs: number;
}

export interface DestinationWorkflowInput {
  destinationId: string;
  settings: DestinationSettings;
  /** Carried over by continue-as-new; absent on the first run. */
  carried?: CarriedState;
  /** Defaults to DEFAULT_ERROR_RETRY. */
  errorRetry?: ErrorRetry;
  /** Members per re-export page; defaults to REEXPORT_PAGE_SIZE. */
  reexportPageSize?: number;
}

/** How a destination's actor is tuned; tests shorten its waits and pages. */
export type DestinationTuning = Pick<DestinationWorkflowInput, 'errorRetry' | 'reexportPageSize'>;

/** JSON-safe state carried across continue-as-new. */
export interface CarriedState {
  /** Absent in state carried by runs before the explicit state (they carried `paused` and `lastError`). */
  state?: ActorState;
  activation: Activation | null;
  /** The change cursor: every profile changed up to this sequence has been decided. */
  changeCursor?: number;
  /** The highest change sequence announced to the actor (`profilesChanged`) or read by a page. */
  announcedHead?: number;
  /** A change page is due even at `announcedHead`: the last page was full (or, before back-fills, the mapping changed). */
  moreChanges?: boolean;
  /** changeCursor, announcedHead and moreChanges as runs before the rename carried them. */
  checkpoint?: number;
  knownSeq?: number;
  rescan?: boolean;
  pending: number;
  /** Absent in state carried by runs that kept `counters` (status-shaped) instead. */
  counts?: ExportCounts;
  counters?: ExportCounters;
  /** Absent in state carried by runs older than permission checks. */
  permissions?: PermissionCheckResult | null;
  /** Absent in state carried by versions before re-exports. */
  reexports?: ReexportState;
  /** Absent in state carried by versions before the page history. */
  recentPages?: PageSummary[];
  /** Carried by runs before the explicit state only. */
  paused?: boolean;
  lastError?: string | null;
  failedAttempts?: number;
}

/** A re-export's cursor and bookkeeping, carried across continue-as-new. */
export interface ActiveReexport {
  progress: ReexportProgress;
  /** The re-export cursor: the last member paged over; the next page starts after it (runs before the rename carried afterProfileId). */
  cursor: string | null;
  /** Decide only members changed up to this sequence (a back-fill); null: all. */
  upToSeq: number | null;
  /** Workflows (scheduled runs) to signal when it ends. */
  waiters: string[];
}

export interface ReexportState {
  active: ActiveReexport | null;
  /** Segments mapped while a re-export was running: back-filled right after it. */
  pendingBackfill: { segmentIds: string[]; upToSeq: number } | null;
  recent: ReexportProgress[];
}

export interface ScheduledReexportInput {
  destinationId: string;
  force: boolean;
}
