import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { setImmediate, setTimeout as delay } from 'node:timers/promises';
import { Client, ScheduleNotFoundError, WorkflowNotFoundError } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import { z } from 'zod';
import type { DataConverter } from '@temporalio/common';
import { dataConverterFromEnv } from '../codec/dataConverter';
import { activationSchema } from '../domain/activation';
import type { Activation } from '../domain/activation';
import { destinationIdSchema, destinationSettingsSchema } from '../domain/destination';
import { destinationWorkflowId } from '../domain/destinationWorkflowId';
import type { DestinationSettings, DestinationSettingsInput } from '../domain/destination';
import { parseMergePatchLine, parseProfileLine } from '../domain/ndjson';
import type { AcceptedLine, AcceptedPatch } from '../domain/ndjson';
import { reexportRequestSchema } from '../domain/reexport';
import { InvalidInputError, parseInput } from '../domain/validationError';
import type { TemporalConfig } from '../config';
import { deadLetterReplayRequestSchema, deleteRequestSchema } from '../domain/lifecycle';
import { DESTINATION_ID, DESTINATION_NAME, DESTINATION_STATE, KINESIS_STREAM } from '../searchAttributes';
import type { Store } from '../store/store';
import { StoreUnavailableError } from '../store/storeUnavailable';
import { connectClient } from '../temporal/clientConnection';
import { ensureSearchAttributes } from '../temporal/searchAttributeRegistration';
import { permissionCheckFailure } from '../domain/permissionCheck';
import type { PermissionCheckResult } from '../domain/permissionCheck';
import {
  activateUpdate,
  checkPermissionsUpdate,
  configureUpdate,
  deleteUpdate,
  pauseSignal,
  reexportUpdate,
  replayDeadLettersUpdate,
  resumeSignal,
  statusQuery,
} from '../workflows/messages';
import type {
  DeadLetterReplay,
  DestinationStatus,
  DestinationStopped,
  DestinationTuning,
  ReexportProgress,
  ReexportRequest,
} from '../workflows/messages';
import { destinationWorkflow } from '../workflows';
import { AnnouncementQueue } from './announcements';
import { byteLines } from './byteLines';
import { purgeErased } from './erasure';
import { reexportScheduleId, ReexportSchedules } from './reexportSchedules';

export { InvalidInputError } from '../domain/validationError';

const forgetIdSchema = z.string().min(1).max(1024);

export interface IngestProgress {
  linesRead: number;
  accepted: number;
  rejected: number;
}

export interface IngestOptions {
  /** replace (default): each line is a full snapshot; merge: each line is an RFC 7396 merge patch. */
  mode?: 'replace' | 'merge';
  /** Called after each write to the store. */
  onProgress?: (progress: IngestProgress) => void;
}

export interface IngestResult {
  accepted: number;
  rejected: { line: number; reason: string }[];
  /** Change sequence of the last snapshot written. */
  lastSeq: number;
  /** Destinations told about the changes. */
  notified: string[];
  /**
   * Null, or why destinations were not told: the changes are stored (durable) but not announced;
   * the worker's announcer tells the destinations once Temporal answers.
   */
  unannounced: string | null;
}

export interface ForgetResult {
  /** Profiles found and purged from the store. */
  forgotten: number;
  /** Exit records the destinations sent (one per destination that had exported the profile in a mapped segment). */
  exitsSent: number;
  /**
   * Profiles found whose purge still waits for an exit record (a destination stopped, paused or
   * slow): their erasure is durable, and the worker purges them once the exits went out.
   */
  waiting: string[];
  /** Null, or why the destinations owing exits were not told (the worker tells them later). */
  unannounced: string | null;
}

function countExits(owed: Map<string, string[]>): number {
  let n = 0;
  for (const destinations of owed.values()) n += destinations.length;
  return n;
}

/** A dead letter as `deadletters list` shows it. */
export interface DeadLetterSummary {
  profileId: string;
  reason: string;
  /** When it was dead-lettered (ISO-8601). */
  at: string;
  /** The record's size in bytes (data only; the partition key adds up to 256). */
  bytes: number;
}

/** What `deadletters replay` did. */
export interface DeadLetterReplayResult extends DeadLetterReplay {
  /** Dead letters the destination still has afterwards (those refused again among them). */
  remaining: number;
}

/** What deleting a destination removed. */
export interface DestinationDeletion {
  id: string;
  /** Its actor: stopped by this delete, or closed before (terminated, or a delete that did not finish), or none. */
  actor: { workflowId: string; outcome: 'stopped' | 'closed before' | 'none'; stoppedAt: string | null };
  /** The re-export a forced delete abandoned (null: none ran). */
  abandonedReexport: string | null;
  /** The re-export schedule deleted (null: it had none). */
  schedule: string | null;
  ledgerEntries: number;
  deadLetters: number;
  /** Its store row was there and is gone. */
  storeRow: boolean;
  deletedAt: string;
}

/** Lines written to the store per transaction at most while ingesting. */
const INGEST_BATCH = 5000;

/**
 * A line waits at most this long before its batch is written (and then announced), so a feed
 * kept open has each line durable and its destinations told well within 250 ms.
 */
const COMMIT_AFTER_MS = 100;

/** How long `forget` waits for the exit records before leaving the purge to the worker. */
const FORGET_WAIT_MS = 60_000;

/**
 * The typed API over the Temporal client that the CLI is a thin layer on: create and steer
 * destination actors, ingest profile snapshots, read status.
 */
export class ActivationClient {
  /** Scheduled re-exports (Temporal Schedules). */
  readonly schedules: ReexportSchedules;

  constructor(
    readonly client: Client,
    readonly store: Store,
    readonly taskQueue: string,
  ) {
    this.schedules = new ReexportSchedules(client, taskQueue, (id) => this.refuseDeleted(id));
  }

  /**
   * Payloads are encrypted as KINESIS_ACTIVATION_CODEC_KEY(_FILE) configures, unless a data
   * converter is given. `lazy` connects on the first call instead of failing now when Temporal is down.
   */
  static async connect(
    config: TemporalConfig,
    store: Store,
    dataConverter: DataConverter = dataConverterFromEnv(),
    { lazy = false }: { lazy?: boolean } = {},
  ): Promise<ActivationClient> {
    // Lazy: ingest stores while Temporal is unreachable, and reports what it could not announce.
    const connection = await connectClient(config, { lazy });
    return new ActivationClient(
      new Client({ connection, namespace: config.namespace, dataConverter }),
      store,
      config.taskQueue,
    );
  }

  async close(): Promise<void> {
    await this.client.connection.close();
  }

  /**
   * Validates the settings and starts the destination's actor, which checks its permissions
   * first (see `checkPermissions` and `status`); returns the new destination id.
   * `tuning` changes when a destination stopped by an error tries again by itself, and its re-export pages.
   */
  async createDestination(
    input: DestinationSettingsInput,
    id: string = randomUUID(),
    tuning: DestinationTuning = {},
  ): Promise<{ id: string }> {
    const settings = parseInput(destinationSettingsSchema, input, 'destination settings');
    parseInput(destinationIdSchema, id, 'destination id');
    const deletedAt = await this.store.destinationDeletedAt(id);
    if (deletedAt !== null)
      throw new InvalidInputError(`destination ${id} was deleted ${deletedAt.toISOString()}: create it under a new id`);
    // The worker registers the search attributes when it starts; before that, the actor's start
    // would fail on them, so register them here (or fail naming the operator's command).
    await ensureSearchAttributes(this.client.connection, this.client.options.namespace);
    await this.client.workflow.start(destinationWorkflow, {
      workflowId: destinationWorkflowId(id),
      taskQueue: this.taskQueue,
      args: [{ ...tuning, destinationId: id, settings }],
      memo: { name: settings.name, description: settings.description ?? '' },
      typedSearchAttributes: [
        { key: DESTINATION_ID, value: id },
        { key: KINESIS_STREAM, value: settings.stream },
        { key: DESTINATION_STATE, value: 'idle' },
        { key: DESTINATION_NAME, value: settings.name },
      ],
      staticSummary: `Kinesis destination ${settings.name} -> stream ${settings.stream} (${settings.region})`,
    });
    return { id };
  }

  /**
   * Waits (up to `timeoutMs`) for the outcome of the destination's first permission check, which
   * its actor runs on start: null when it passed, else the one line of its failure; undefined
   * when it has not finished in time.
   */
  async firstCheckFailure(id: string, timeoutMs = 30_000): Promise<string | null | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await this.status(id);
      const failure = checkFailureOf(status);
      if (failure !== undefined || Date.now() >= deadline) return failure;
      await delay(200);
    }
  }

  /** A destination's settings (secret references, never values) and mapping, as its actor last saved them. */
  async describeDestination(
    id: string,
  ): Promise<{ id: string; settings: DestinationSettings; activation: Activation | null }> {
    await this.refuseDeleted(id);
    const row = await this.store.getDestination(id);
    if (row === undefined) throw new InvalidInputError(`no such destination: ${id} (see \`destination list\`)`);
    return {
      id: row.id,
      settings: parseInput(destinationSettingsSchema, row.settings, 'stored settings'),
      activation: row.activation,
    };
  }

  async configure(id: string, input: DestinationSettingsInput): Promise<DestinationStatus> {
    const settings = parseInput(destinationSettingsSchema, input, 'destination settings');
    return (await this.liveHandle(id)).executeUpdate(configureUpdate, { args: [settings] });
  }

  /** Maps segments and attributes; the destination back-fills current members. */
  async activate(id: string, activation: Activation): Promise<DestinationStatus> {
    const parsed = parseInput(activationSchema, activation, 'activation');
    return (await this.liveHandle(id)).executeUpdate(activateUpdate, { args: [parsed] });
  }

  /**
   * Checks the destination's ListStreams, PutRecord and PutRecords grants and its stream now;
   * the result is also kept in its status. Rejects when the check could not run at all.
   */
  async checkPermissions(id: string): Promise<PermissionCheckResult> {
    return (await this.liveHandle(id)).executeUpdate(checkPermissionsUpdate);
  }

  async status(id: string): Promise<DestinationStatus> {
    return (await this.liveHandle(id)).query(statusQuery);
  }

  /**
   * The status of a running actor, or null when it is gone: terminated, timed out, or ended.
   * A closed workflow still answers queries with its last state, which would show a destination
   * that no longer exports as if it did. Rejects with WorkflowNotFoundError for an unknown id.
   */
  async liveStatus(id: string): Promise<DestinationStatus | null> {
    return statusIfRunning(await this.liveHandle(id));
  }

  /** Every destination in the store with its actor's status (null where the actor is gone). */
  async listDestinations(): Promise<{ id: string; status: DestinationStatus | null }[]> {
    // The store lists no deleted destination: no id needs checking again.
    const rows = await this.store.listDestinations();
    return Promise.all(
      rows.map(async ({ id }) => {
        try {
          return { id, status: await statusIfRunning(this.client.workflow.getHandle(destinationWorkflowId(id))) };
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) return { id, status: null };
          throw err;
        }
      }),
    );
  }

  /**
   * Starts a re-export of every member of the mapped segments (diff rules apply; `force` resends
   * every member). Rejected, changing nothing, while another re-export of the destination runs.
   */
  async reexport(id: string, request: ReexportRequest = {}): Promise<ReexportProgress> {
    const parsed = parseInput(reexportRequestSchema, request, 're-export request');
    return (await this.liveHandle(id)).executeUpdate(reexportUpdate, { args: [parsed] });
  }

  /**
   * Waits until the re-export `reexportId` finished, calling `onProgress` with its progress on
   * each poll; fails when the destination is paused or stops on an error (the re-export resumes with `resume`).
   */
  async waitForReexport(
    id: string,
    reexportId: string,
    options: { onProgress?: (progress: ReexportProgress) => void; pollMs?: number } = {},
  ): Promise<ReexportProgress> {
    for (;;) {
      const status = await this.status(id);
      const finished = status.recentReexports.find((r) => r.id === reexportId);
      if (finished) return finished;
      if (status.reexport?.id !== reexportId)
        throw new Error(`re-export ${reexportId} is not known to destination ${id}`);
      // Paused, nothing moves until someone resumes it: waiting would never end.
      if (status.state === 'paused')
        throw new Error(
          `destination ${id} is paused: ` +
            `re-export ${reexportId} waits for \`kinesis-activation resume ${id}\` to continue`,
        );
      if (status.state === 'error')
        throw new Error(
          `re-export ${reexportId} stopped: ${status.lastError ?? 'unknown error'}; ` +
            `fix it, then \`resume ${id}\` continues it`,
        );
      options.onProgress?.(status.reexport);
      await delay(options.pollMs ?? 500);
    }
  }

  async pause(id: string): Promise<void> {
    await (await this.liveHandle(id)).signal(pauseSignal);
  }

  async resume(id: string): Promise<void> {
    await (await this.liveHandle(id)).signal(resumeSignal);
  }

  /**
   * Reads NDJSON lines (full snapshots, or merge patches in merge mode) as they arrive, and
   * writes the valid ones (a rejected line never stops the others) in batches: a batch is
   * written when it is full or COMMIT_AFTER_MS after its first line, then the destinations it
   * concerns are told (coalesced while signals are in flight). Resolves at the end of the input,
   * once every write is durable and announced, or stored with `unannounced` saying why not.
   */
  async ingest(input: Readable, options: IngestOptions = {}): Promise<IngestResult> {
    const merge = options.mode === 'merge';
    const result: IngestResult = { accepted: 0, rejected: [], lastSeq: 0, notified: [], unannounced: null };
    const announcements = new AnnouncementQueue(this.client, this.store);
    let linesRead = 0;
    let batch: (AcceptedLine | AcceptedPatch)[] = [];
    // Set in callbacks: kept in an object so that the loop below reads their current values.
    const write: { inFlight: Promise<void> | null; again: boolean; failure: Error | null; storedThrough: number } = {
      inFlight: null,
      again: false,
      failure: null,
      storedThrough: 0,
    };
    let timer: NodeJS.Timeout | undefined;
    const progress = (): void =>
      options.onProgress?.({ linesRead, accepted: result.accepted, rejected: result.rejected.length });
    // One write at a time; lines read meanwhile wait for the next.
    const commit = (): void => {
      clearTimeout(timer);
      timer = undefined;
      if (batch.length === 0 || write.failure !== null) return;
      if (write.inFlight !== null) {
        write.again = true;
        return;
      }
      const lines = batch;
      batch = [];
      write.inFlight = this.writeLines(lines, merge, result, announcements, (line) => (write.storedThrough = line))
        .then(progress)
        .catch((err: unknown) => {
          write.failure = err instanceof Error ? err : new Error(String(err));
        })
        .finally(() => {
          write.inFlight = null;
          if (write.again) {
            write.again = false;
            commit();
          }
        });
    };
    const written = async (): Promise<void> => {
      while (write.inFlight !== null) await write.inFlight;
    };
    try {
      for await (const bytes of byteLines(input)) {
        if (write.failure !== null) break;
        linesRead++;
        const parsed = merge ? parseMergePatchLine(bytes, linesRead) : parseProfileLine(bytes, linesRead);
        if (parsed.kind === 'rejected') result.rejected.push(parsed.rejected);
        if (parsed.kind !== 'accepted') continue;
        batch.push(parsed.accepted);
        if (batch.length >= INGEST_BATCH) {
          commit();
          // Back-pressure: at most one batch in flight and one full batch waiting.
          while (write.inFlight !== null && batch.length >= INGEST_BATCH) await write.inFlight;
          // An input already in memory never waits on I/O: let the signals telling destinations
          // of the batches written go out before reading on, not only at the end of the input.
          await setImmediate();
        } else {
          timer ??= setTimeout(commit, COMMIT_AFTER_MS);
        }
      }
      commit();
      await written();
    } finally {
      clearTimeout(timer);
    }
    if (write.failure !== null) throw stoppedAt(write.failure, write.storedThrough, result.accepted);
    progress();
    result.rejected.sort((a, b) => a.line - b.line);
    result.unannounced = await announcements.settle();
    result.notified = [...announcements.told].sort();
    return result;
  }

  /** Writes one batch and queues its announcement to the destinations it concerns, before and after. */
  private async writeLines(
    lines: (AcceptedLine | AcceptedPatch)[],
    merge: boolean,
    result: IngestResult,
    announcements: AnnouncementQueue,
    /** Told the last line of a batch once the batch is stored. */
    stored: (throughLine: number) => void,
  ): Promise<void> {
    const profileIds = [...new Set(lines.map((l) => l.profileId))];
    // A profile leaving a mapped segment concerns that destination even before its ledger shows it.
    const before = await this.store.destinationsConcerned({ profileIds });
    let lastSeq: number;
    if (merge) {
      const patches = lines as AcceptedPatch[];
      const merged = await this.store.mergeProfiles(patches);
      for (const { index, reason } of merged.rejected)
        result.rejected.push({ line: (patches[index] as AcceptedPatch).line, reason });
      result.accepted += lines.length - merged.rejected.length;
      stored(lines[lines.length - 1]?.line ?? 0);
      if (merged.written === 0) return;
      ({ lastSeq } = merged);
    } else {
      const snapshots = lines as AcceptedLine[];
      const upserted = await this.store.upsertProfiles(snapshots);
      for (const { index, reason } of upserted.conflicts)
        result.rejected.push({ line: (snapshots[index] as AcceptedLine).line, reason });
      result.accepted += lines.length - upserted.conflicts.length;
      stored(lines[lines.length - 1]?.line ?? 0);
      if (upserted.profileIds.length === 0) return;
      ({ lastSeq } = upserted);
      // A line without profileId may have been written as the stored profile sharing its identities.
      profileIds.push(...upserted.profileIds.filter((id) => !profileIds.includes(id)));
    }
    result.lastSeq = lastSeq;
    const after = await this.store.destinationsConcerned({ profileIds });
    announcements.add([...before, ...after], lastSeq);
  }

  /**
   * Erasure: each stored profile of `profileIds` is rewritten as a tombstone and the destinations
   * that exported it in a mapped segment are told, so each sends one record with those segments
   * exited; once they did (or after `waitMs`, leaving the rest to the worker), every trace of the
   * profile is purged from the store. Unknown ids are no error. The erasure request is durable
   * from the first step: a process that dies later leaves it to the worker to finish.
   */
  async forget(profileIds: string[], options: { waitMs?: number } = {}): Promise<ForgetResult> {
    const ids = [...new Set(profileIds.map((id) => parseInput(forgetIdSchema, id, 'profile id')))];
    const { found, lastSeq } = await this.store.requestErasure(ids);
    if (found.length === 0) return { forgotten: 0, exitsSent: 0, waiting: [], unannounced: null };
    // Profiles no destination owes an exit for go at once; the others once their exits went out.
    let { purged, owed } = await purgeErased(this.store, found, Infinity);
    const exitsDue = countExits(owed);
    const announcements = new AnnouncementQueue(this.client, this.store);
    announcements.add(new Set([...owed.values()].flat()), lastSeq);
    const unannounced = await announcements.settle();
    const deadline = Date.now() + (options.waitMs ?? FORGET_WAIT_MS);
    while (owed.size > 0 && unannounced === null && Date.now() < deadline) {
      await delay(100);
      const round = await purgeErased(this.store, [...owed.keys()], Infinity);
      purged = [...purged, ...round.purged];
      owed = round.owed;
    }
    return {
      forgotten: purged.length,
      exitsSent: exitsDue - countExits(owed),
      waiting: [...owed.keys()].sort(),
      unannounced,
    };
  }

  /** The destination's dead letters, oldest first. */
  async deadLetters(id: string): Promise<DeadLetterSummary[]> {
    await this.describeDestination(id);
    return (await this.store.listDeadLetters(id)).map((l) => ({
      profileId: l.profileId,
      reason: l.reason,
      at: (l.createdAt ?? new Date(0)).toISOString(),
      bytes: Buffer.byteLength(l.record),
    }));
  }

  /**
   * Sends what the dead letters of `profileIds` (null: all) owe, through the destination's export
   * path with its current settings and mapping; answers once done. A profile without a dead letter
   * is refused, changing nothing.
   */
  async replayDeadLetters(id: string, profileIds: string[] | null): Promise<DeadLetterReplayResult> {
    const request = parseInput(deadLetterReplayRequestSchema, { profileIds }, 'dead-letter replay request');
    const lettered = new Set((await this.deadLetters(id)).map((l) => l.profileId));
    const missing = request.profileIds?.find((p) => !lettered.has(p));
    if (missing !== undefined)
      throw new InvalidInputError(
        `profile ${missing} has no dead letter at destination ${id} (see \`deadletters list ${id}\`)`,
      );
    const replay = await (await this.liveHandle(id)).executeUpdate(replayDeadLettersUpdate, { args: [request] });
    return { ...replay, remaining: (await this.store.listDeadLetters(id)).length };
  }

  /** Removes every dead letter of the destination; answers how many. */
  async purgeDeadLetters(id: string): Promise<number> {
    await this.describeDestination(id);
    return this.store.removeDeadLetters(id, null);
  }

  /**
   * Deletes a destination: its actor stops once its running step finished (refused while a
   * re-export runs, unless `force`), then its re-export schedule, ledger entries, dead letters and
   * store row are removed, and its id is refused from then on. A delete interrupted midway is
   * finished by deleting again.
   */
  async deleteDestination(id: string, { force = false }: { force?: boolean } = {}): Promise<DestinationDeletion> {
    const request = parseInput(deleteRequestSchema, { force }, 'delete request');
    parseInput(destinationIdSchema, id, 'destination id');
    const handle = this.client.workflow.getHandle<typeof destinationWorkflow>(destinationWorkflowId(id));
    const deletedBefore = await this.store.destinationDeletedAt(id);
    const running = await handle.describe().then(
      (d) => d.status.name === 'RUNNING',
      (err: unknown) => {
        if (err instanceof WorkflowNotFoundError) return null;
        throw err;
      },
    );
    if (running === null && deletedBefore === null && (await this.store.getDestination(id)) === undefined)
      throw new InvalidInputError(`no such destination: ${id} (see \`destination list\`)`);
    let stopped: DestinationStopped | null = null;
    if (running) {
      await handle.executeUpdate(deleteUpdate, { args: [request] });
      // The actor ends once every handler answered: wait for it, so nothing writes after the rows go.
      stopped = (await handle.result()) ?? null;
    }
    const schedule = await this.client.schedule
      .getHandle(reexportScheduleId(id))
      .delete()
      .then(
        () => reexportScheduleId(id),
        (err: unknown) => {
          if (err instanceof ScheduleNotFoundError) return null;
          throw err;
        },
      );
    const removal = await this.store.deleteDestination(id);
    if (deletedBefore !== null && !running && schedule === null && !removal.destination)
      throw new InvalidInputError(`no such destination: ${id} (deleted ${deletedBefore.toISOString()})`);
    return {
      id,
      actor: {
        workflowId: handle.workflowId,
        outcome: running ? 'stopped' : running === false ? 'closed before' : 'none',
        stoppedAt: stopped?.stoppedAt ?? null,
      },
      abandonedReexport: stopped?.abandonedReexport ?? null,
      schedule,
      ledgerEntries: removal.ledgerEntries,
      deadLetters: removal.deadLetters,
      storeRow: removal.destination,
      deletedAt: removal.deletedAt.toISOString(),
    };
  }

  /**
   * Refuses the id of a deleted destination, with when it was deleted. A store that is down
   * leaves the answer to the actor (a deleted one is gone): steering a destination, such as
   * resuming it, must not wait for the store.
   */
  async refuseDeleted(id: string): Promise<void> {
    const deletedAt = await this.store
      .destinationDeletedAt(parseInput(destinationIdSchema, id, 'destination id'))
      .catch((err: unknown) => {
        if (err instanceof StoreUnavailableError) return null;
        throw err;
      });
    if (deletedAt !== null)
      throw new InvalidInputError(`no such destination: ${id} (deleted ${deletedAt.toISOString()})`);
  }

  /** The handle of the destination's actor; refuses a deleted destination's id. */
  private async liveHandle(id: string) {
    await this.refuseDeleted(id);
    return this.client.workflow.getHandle<typeof destinationWorkflow>(destinationWorkflowId(id));
  }
}

/**
 * Whether the destination's permission check failed: its one line, null when it passed,
 * undefined before the first check finished. A check that could not run at all leaves the
 * destination in error without a result.
 */
export function checkFailureOf(status: DestinationStatus): string | null | undefined {
  if (status.permissions !== null && !status.permissions.ok) return permissionCheckFailure(status.permissions);
  if (status.state === 'error') return status.lastError ?? 'the permission check failed';
  return status.permissions === null ? undefined : null;
}

/**
 * An ingest stopped by a failed write: batches are written one after the other, so every line
 * up to the last stored batch's is stored, and none after it (a failed write's transaction was
 * rolled back). Says so, so the user resends exactly what is missing.
 */
function stoppedAt(failure: Error, storedThroughLine: number, accepted: number): Error {
  return new Error(
    `${failure.message}; lines 1 to ${storedThroughLine} are stored (${accepted} accepted), ` +
      `none after line ${storedThroughLine}: send those again`,
    { cause: failure },
  );
}

/** The status of the actor behind `handle` while its workflow runs; null once it ended. */
async function statusIfRunning(handle: WorkflowHandle): Promise<DestinationStatus | null> {
  const { status } = await handle.describe();
  return status.name === 'RUNNING' ? handle.query(statusQuery) : null;
}
