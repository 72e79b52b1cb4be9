import type { Activation } from '../domain/activation';
import type { DestinationSettings } from '../domain/destination';
import type { PermissionCheckResult } from '../domain/permissionCheck';
import type { ExportCounts } from '../domain/exportCounts';
import type { MessageKind, MessageParse } from '../domain/messageParsing';

export interface SaveDestinationInput {
  destinationId: string;
  settings: DestinationSettings;
  activation: Activation | null;
}

export interface CheckPermissionsInput {
  destinationId: string;
  /** The settings to check: the current ones, or candidates not yet applied. */
  settings: DestinationSettings;
}

export interface ExportPageInput {
  destinationId: string;
  settings: DestinationSettings;
  activation: Activation;
  /** The change cursor: decide profiles whose latest change has a sequence above this. */
  cursor: number;
  pageSize: number;
}

export type { ExportCounts } from '../domain/exportCounts';

/**
 * A change page's checkpoint: every profile up to the change cursor `cursor` was decided, with
 * these counts. Heartbeat details (a retried attempt resumes there) and the details of a terminal
 * failure.
 */
export interface ChangePageCheckpoint {
  cursor: number;
  counts: ExportCounts;
}

/** What a page's last attempt asked of Kinesis. */
export interface PutReport {
  /** PutRecords calls of the last attempt. */
  putCalls: number;
  /** Entries throttled in the last attempt. */
  throttled: number;
}

export interface ExportPageResult extends ExportCounts, PutReport {
  /** The change cursor after this page: the sequence of its last profile (the input's when it was empty). */
  cursor: number;
  /** True when the page stopped before the end of the changes (full, or out of time), so more may follow. */
  more: boolean;
  /** Profiles changed after `cursor`, not yet decided. */
  remaining: number;
}

export interface ReexportPageInput {
  destinationId: string;
  settings: DestinationSettings;
  activation: Activation;
  /** Page through the members of these segments, by profile id. */
  segmentIds: string[];
  /** The re-export cursor: start after this profile id (null: from the first). */
  cursor: string | null;
  pageSize: number;
  /** Send every member, even when nothing mapped changed since its last export. */
  force: boolean;
  /**
   * Decide only members whose latest change has a sequence up to this (null: all). A back-fill
   * leaves later changes to the change stream, which decides them under the new mapping anyway.
   */
  upToSeq: number | null;
}

/**
 * A re-export page's checkpoint (heartbeat details): every member up to the re-export cursor
 * `cursor` was decided, `read` were paged over.
 */
export interface ReexportPageCheckpoint {
  cursor: string | null;
  read: number;
  counts: ExportCounts;
}

export interface ReexportPageResult extends ExportCounts, PutReport {
  /** The re-export cursor for the next page: the last member paged over (the input's when none). */
  cursor: string | null;
  /** Members paged over, decided or left to the change stream. */
  read: number;
  /** True when the page stopped before the last member (full, or out of time), so more may follow. */
  more: boolean;
}

/**
 * A page's input, result or checkpoint as versions before the cursor rename recorded it (in
 * histories, heartbeats, or tasks scheduled before an upgrade): the cursor under its earlier name.
 * Readers take `cursor`, else the earlier name.
 */
export type Recorded<T extends { cursor: unknown }> = Omit<T, 'cursor'> & {
  cursor?: T['cursor'];
  afterSeq?: number;
  lastSeq?: number;
  afterProfileId?: string | null;
  lastProfileId?: string | null;
};

export interface ReplayPageInput {
  destinationId: string;
  settings: DestinationSettings;
  activation: Activation;
  /** The profiles whose dead letters to replay (null: all the destination has). */
  profileIds: string[] | null;
  /** The replay cursor: start after this profile id (null: from the first). */
  cursor: string | null;
}

/** A replay page's checkpoint (heartbeat details), as a re-export page's. */
export type ReplayPageCheckpoint = ReexportPageCheckpoint;

/** What a replay page did; `more`: it stopped before the last letter (out of time). */
export interface ReplayPageResult extends ExportCounts, PutReport {
  /** The last profile id paged over. */
  cursor: string | null;
  more: boolean;
}

/** The activities the workflows call, as the worker registers them. */
export interface Activities {
  saveDestination(input: SaveDestinationInput): Promise<void>;
  /** Resolves when every permission is granted; else fails non-retryably, the result in the failure's details. */
  checkPermissions(input: CheckPermissionsInput): Promise<PermissionCheckResult>;
  exportPage(input: ExportPageInput): Promise<ExportPageResult>;
  reexportPage(input: ReexportPageInput): Promise<ReexportPageResult>;
  /** Sends again, through the export path, what the destination's dead letters owe. */
  replayPage(input: ReplayPageInput): Promise<ReplayPageResult>;
  countSegmentMembers(input: { segmentIds: string[] }): Promise<number>;
  /** The highest change sequence in the store. */
  storeHead(): Promise<number>;
  /** Parses a message the actor took, outside the workflow sandbox (see workflows/messageParsing). */
  parseMessage(input: { kind: MessageKind; value: unknown }): Promise<MessageParse<MessageKind>>;
}
