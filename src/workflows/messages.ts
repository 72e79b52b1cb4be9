import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Activation } from '../domain/activation';
import type { DestinationSettings, DestinationSettingsInput } from '../domain/destination';
import type { PermissionCheckResult } from '../domain/permissionCheck';

export type DestinationState = 'idle' | 'exporting' | 'paused' | 'error';

export interface ExportCounters {
  /** Profiles the destination decided on (exported or skipped or dead-lettered). */
  received: number;
  exported: number;
  skipped: number;
  deadLettered: number;
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
  /** The change sequence up to which every profile has been decided. */
  checkpoint: number;
  activation: Activation | null;
  /** The re-export running now (null when none). */
  reexport: ReexportProgress | null;
  /** The last finished re-exports, newest first. */
  recentReexports: ReexportProgress[];
  /** The latest permission check of the current settings (null before the first). */
  permissions: PermissionCheckResult | null;
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
  activation: Activation | null;
  paused: boolean;
  checkpoint: number;
  knownSeq: number;
  rescan: boolean;
  pending: number;
  counters: ExportCounters;
  lastError: string | null;
  /** Absent in state carried by runs older than permission checks. */
  permissions?: PermissionCheckResult | null;
  /** Absent in state carried by earlier versions. */
  failedAttempts?: number;
  /** Absent in state carried by versions before re-exports. */
  reexports?: ReexportState;
}

/** A re-export's cursor and bookkeeping, carried across continue-as-new. */
export interface ActiveReexport {
  progress: ReexportProgress;
  /** The last member paged over; the next page starts after it. */
  afterProfileId: string | null;
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
