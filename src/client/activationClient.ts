import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { dataConverterFromEnv } from '../codec/dataConverter';
import { activationSchema } from '../domain/activation';
import type { Activation } from '../domain/activation';
import { destinationIdSchema, destinationSettingsSchema, destinationWorkflowId } from '../domain/destination';
import type { DestinationSettings, DestinationSettingsInput } from '../domain/destination';
import { parseProfileLine } from '../domain/ndjson';
import { reexportRequestSchema } from '../domain/reexport';
import { InvalidInputError, parseInput } from '../domain/validationError';
import type { TemporalConfig } from '../config';
import { DESTINATION_ID, DESTINATION_STATE, KINESIS_STREAM } from '../searchAttributes';
import type { ProfileSnapshot } from '../domain/profile';
import type { Store } from '../store/store';
import type { PermissionCheckResult } from '../domain/permissionCheck';
import {
  activateUpdate,
  checkPermissionsUpdate,
  configureUpdate,
  pauseSignal,
  profilesChangedSignal,
  reexportUpdate,
  resumeSignal,
  statusQuery,
} from '../workflows/messages';
import type { DestinationStatus, DestinationTuning, ReexportProgress, ReexportRequest } from '../workflows/messages';
import { destinationWorkflow } from '../workflows';
import { ReexportSchedules } from './reexportSchedules';

export { InvalidInputError } from '../domain/validationError';

export interface IngestResult {
  accepted: number;
  rejected: { line: number; reason: string }[];
  /** Change sequence of the last snapshot written. */
  lastSeq: number;
  /** Destinations told about the changes. */
  notified: string[];
}

/** Snapshots written to the store per transaction while ingesting. */
const INGEST_BATCH = 5000;

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
    this.schedules = new ReexportSchedules(client, taskQueue);
  }

  /** Payloads are encrypted as KINESIS_ACTIVATION_CODEC_KEY(_FILE) configures, unless a data converter is given. */
  static async connect(
    config: TemporalConfig,
    store: Store,
    dataConverter: DataConverter = dataConverterFromEnv(),
  ): Promise<ActivationClient> {
    const connection = await Connection.connect({
      address: config.address,
      connectTimeout: '5 seconds',
      ...(config.tls !== undefined ? { tls: config.tls } : {}),
      ...(config.apiKey ? { apiKey: config.apiKey } : {}),
    });
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
    await this.client.workflow.start(destinationWorkflow, {
      workflowId: destinationWorkflowId(id),
      taskQueue: this.taskQueue,
      args: [{ ...tuning, destinationId: id, settings }],
      memo: { name: settings.name, description: settings.description ?? '' },
      typedSearchAttributes: [
        { key: DESTINATION_ID, value: id },
        { key: KINESIS_STREAM, value: settings.stream },
        { key: DESTINATION_STATE, value: 'idle' },
      ],
      staticSummary: `Kinesis destination ${settings.name} -> stream ${settings.stream} (${settings.region})`,
    });
    return { id };
  }

  /** A destination's settings (secret references, never values) and mapping, as its actor last saved them. */
  async describeDestination(
    id: string,
  ): Promise<{ id: string; settings: DestinationSettings; activation: Activation | null }> {
    const row = await this.store.getDestination(parseInput(destinationIdSchema, id, 'destination id'));
    if (row === undefined) throw new InvalidInputError(`no such destination: ${id} (see \`destination list\`)`);
    return {
      id: row.id,
      settings: parseInput(destinationSettingsSchema, row.settings, 'stored settings'),
      activation: row.activation,
    };
  }

  async configure(id: string, input: DestinationSettingsInput): Promise<DestinationStatus> {
    const settings = parseInput(destinationSettingsSchema, input, 'destination settings');
    return this.handle(id).executeUpdate(configureUpdate, { args: [settings] });
  }

  /** Maps segments and attributes; the destination back-fills current members. */
  async activate(id: string, activation: Activation): Promise<DestinationStatus> {
    const parsed = parseInput(activationSchema, activation, 'activation');
    return this.handle(id).executeUpdate(activateUpdate, { args: [parsed] });
  }

  /**
   * Checks the destination's ListStreams, PutRecord and PutRecords grants and its stream now;
   * the result is also kept in its status. Rejects when the check could not run at all.
   */
  async checkPermissions(id: string): Promise<PermissionCheckResult> {
    return this.handle(id).executeUpdate(checkPermissionsUpdate);
  }

  async status(id: string): Promise<DestinationStatus> {
    return this.handle(id).query(statusQuery);
  }

  /** Every destination in the store with its actor's status (null where the actor is gone). */
  async listDestinations(): Promise<{ id: string; status: DestinationStatus | null }[]> {
    const rows = await this.store.listDestinations();
    return Promise.all(
      rows.map(async ({ id }) => {
        try {
          return { id, status: await this.status(id) };
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
    return this.handle(id).executeUpdate(reexportUpdate, { args: [parsed] });
  }

  /**
   * Waits until the re-export `reexportId` finished, calling `onProgress` with its progress on
   * each poll; fails when the destination stops on an error (the re-export resumes with `resume`).
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
      if (status.state === 'error')
        throw new Error(
          `re-export ${reexportId} stopped: ${status.lastError ?? 'unknown error'}; fix it, then \`resume ${id}\` continues it`,
        );
      options.onProgress?.(status.reexport);
      await delay(options.pollMs ?? 500);
    }
  }

  async pause(id: string): Promise<void> {
    await this.handle(id).signal(pauseSignal);
  }

  async resume(id: string): Promise<void> {
    await this.handle(id).signal(resumeSignal);
  }

  /**
   * Reads NDJSON profile snapshots, stores the valid ones (a rejected line never stops the
   * others) and tells every destination that changes are waiting.
   */
  async ingest(input: Readable, onProgress?: (linesRead: number) => void): Promise<IngestResult> {
    const result: IngestResult = { accepted: 0, rejected: [], lastSeq: 0, notified: [] };
    let batch: { profileId: string; snapshot: ProfileSnapshot }[] = [];
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const { lastSeq } = await this.store.upsertProfiles(batch);
      result.lastSeq = lastSeq;
      result.accepted += batch.length;
      batch = [];
    };
    let lineNumber = 0;
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      lineNumber++;
      const parsed = parseProfileLine(line, lineNumber);
      if (parsed.kind === 'rejected') result.rejected.push(parsed.rejected);
      if (parsed.kind === 'accepted') batch.push(parsed.accepted);
      if (batch.length >= INGEST_BATCH) {
        await flush();
        onProgress?.(lineNumber);
      }
    }
    await flush();
    onProgress?.(lineNumber);
    if (result.accepted > 0) result.notified = await this.notifyDestinations(result.lastSeq, result.accepted);
    return result;
  }

  private async notifyDestinations(seq: number, count: number): Promise<string[]> {
    const notified: string[] = [];
    for (const destination of await this.store.listDestinations()) {
      try {
        await this.handle(destination.id).signal(profilesChangedSignal, { seq, count });
        notified.push(destination.id);
      } catch (err) {
        // A deleted destination's actor is gone; the others still hear of the change.
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
    }
    return notified;
  }

  private handle(id: string) {
    return this.client.workflow.getHandle<typeof destinationWorkflow>(
      destinationWorkflowId(parseInput(destinationIdSchema, id, 'destination id')),
    );
  }
}
