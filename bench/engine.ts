import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { tsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, NativeConnection } from '@temporalio/worker';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { ExportPageResult } from '../src/activities/types';
import { ActivationClient } from '../src/client/activationClient';
import { destinationWorkflowId } from '../src/domain/destinationWorkflowId';
import type { Activation } from '../src/domain/activation';
import type { DestinationSettingsInput } from '../src/domain/destination';
import { startTemporalDevServer } from '../src/embedded/temporalDevServer';
import { waitFor } from '../src/embedded/waitFor';
import { createKinesisClient } from '../src/kinesis/client';
import { SqliteStore } from '../src/store/sqliteStore';
import { startWorkerProcess } from '../test/support/workerProcess';
import { workflowBundleOptions } from '../src/worker';
import type { DestinationStatus } from '../src/workflows/messages';
import { measureCpu } from './cpu';
import { startEmulatorProcess } from './emulator';
import type { Emulator } from './emulator';
import type { EngineWorkerArgs } from './engineWorker';
import type { BenchProfile } from './profiles';

const EventType = temporal.api.enums.v1.EventType;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export interface EngineRun {
  /** Milliseconds to parse the NDJSON and write the snapshots to the store. */
  ingestMs: number;
  /** Milliseconds from the first export activity's start until the last one completed: the export itself. */
  exportMs: number;
  /** Milliseconds from `activate` until the last export activity completed: the export plus the activation's checks and set-up. */
  activateMs: number;
  /** CPU seconds of each measured process (the worker's as `worker`) from `activate` to idle. */
  cpu: Record<string, number>;
  status: DestinationStatus;
  /** PutRecords calls, and entries throttled, as the export activities reported them. */
  putCalls: number;
  throttled: number;
}

export interface EngineTarget {
  connection: NativeConnection;
  client: Client;
  namespace: string;
  bundle: WorkflowBundleWithSourceMap;
}

/** What a benchmark run shares: the emulator in its own process, a Temporal dev server, a Kinesis client. */
export interface BenchServers {
  target: EngineTarget;
  emulator: Emulator;
  kinesis: KinesisClient;
  temporalAddress: string;
  /** The processes whose CPU the figures count. */
  pids: Record<string, number>;
}

/** Starts the servers, runs `fn` with them and stops them. */
export async function withBenchServers<T>(fn: (servers: BenchServers) => Promise<T>): Promise<T> {
  const emulator = await startEmulatorProcess();
  const temporal = await startTemporalDevServer({ headless: true });
  const connection = await NativeConnection.connect({ address: temporal.address });
  const clientConnection = await Connection.connect({ address: temporal.address });
  const kinesis = createKinesisClient({
    region: 'us-east-1',
    endpoint: emulator.endpoint,
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  try {
    const target: EngineTarget = {
      connection,
      client: new Client({ connection: clientConnection, namespace: temporal.namespace }),
      namespace: temporal.namespace,
      bundle: await bundleWorkflows(),
    };
    const pids = { bench: process.pid, emulator: emulator.pid, temporal: temporal.process.pid as number };
    return await fn({ target, emulator, kinesis, temporalAddress: temporal.address, pids });
  } finally {
    kinesis.destroy();
    await clientConnection.close();
    await connection.close();
    await temporal.stop();
    emulator.stop();
  }
}

const quiet = (): undefined => undefined;

/** The destination workflows bundled once for a benchmark run, the bundler's chatter left out. */
export function bundleWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({
    ...workflowBundleOptions,
    logger: { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: quiet, error: console.error },
  });
}

/** The activities that export: pages of changes, and pages of re-exports (an activation's back-fill is one). */
const EXPORT_ACTIVITIES = new Set(['exportPage', 'reexportPage']);

/** What an export activity's completion event reports (a page's result). */
function exportResultOf(event: HistoryEvent): Partial<ExportPageResult> | undefined {
  const payload = event.activityTaskCompletedEventAttributes?.result?.payloads?.[0];
  return payload ? defaultPayloadConverter.fromPayload<Partial<ExportPageResult> | undefined>(payload) : undefined;
}

/**
 * From the destination's history (times in epoch ms, by the Temporal server's clock): when its
 * first export activity started and its last one completed, and the profiles decided, PutRecords
 * calls and throttled entries the exports reported.
 */
function exportsOf(
  events: readonly HistoryEvent[],
  workflowId: string,
): { startedAt: number; completedAt: number; decided: number; putCalls: number; throttled: number } {
  const firstExport = events.find(
    (e) =>
      e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED &&
      EXPORT_ACTIVITIES.has(e.activityTaskScheduledEventAttributes?.activityType?.name ?? ''),
  );
  const completed = events.filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED);
  const last = completed[completed.length - 1];
  if (!last || !firstExport) throw new Error(`${workflowId} completed no export activity`);
  let decided = 0;
  let putCalls = 0;
  let throttled = 0;
  for (const event of completed) {
    const result = exportResultOf(event);
    decided += result?.decided ?? 0;
    putCalls += result?.putCalls ?? 0;
    throttled += result?.throttled ?? 0;
  }
  return {
    startedAt: tsToMs(firstExport.eventTime),
    completedAt: tsToMs(last.eventTime),
    decided,
    putCalls,
    throttled,
  };
}

/** Events after which a run asks whether the destination stopped on an error. */
const FAILURE_EVENTS = new Set([
  EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
  EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
  EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
]);

/**
 * Follows the destination's history with long polls until its activities decided `count`
 * profiles, or `stopped()` says it stopped on an error, and gives the events it read. The server answers each poll as events
 * arrive, so watching a run costs the server and this process next to nothing; fetching the
 * whole history again every 100 ms cost the Temporal server about 4 ms of CPU per 1,000 records,
 * on the cores the engine shares with the emulator. `stopped` (a status query, a workflow task
 * of the worker) is asked only after a failure event, or when a poll comes back empty: an
 * activity retried with backoff adds no event.
 */
async function followUntilDecided(
  client: Client,
  namespace: string,
  workflowId: string,
  count: number,
  stopped: () => Promise<boolean>,
  timeoutMs: number,
): Promise<HistoryEvent[]> {
  const deadline = Date.now() + timeoutMs;
  const history: HistoryEvent[] = [];
  let nextPageToken: Uint8Array | null = null;
  let decided = 0;
  while (Date.now() < deadline) {
    const page: temporal.api.workflowservice.v1.IGetWorkflowExecutionHistoryResponse =
      await client.workflowService.getWorkflowExecutionHistory({
        namespace,
        execution: { workflowId },
        waitNewEvent: true,
        nextPageToken,
      });
    const events = page.history?.events ?? [];
    history.push(...events);
    for (const event of events)
      if (event.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)
        decided += exportResultOf(event)?.decided ?? 0;
    if (decided >= count) return history;
    // No token: the run closed (a poll from the start would count its exports twice).
    const next: Uint8Array | null | undefined = page.nextPageToken;
    if (!next?.length) throw new Error(`${workflowId} closed after deciding ${decided} of ${count} profiles`);
    nextPageToken = next;
    if (
      (events.length === 0 || events.some((e: HistoryEvent) => FAILURE_EVENTS.has(e.eventType ?? 0))) &&
      (await stopped())
    )
      return history;
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for the destination to export ${count} profiles`);
}

/** The engine of bench/putRecords: a worker in its own process for the whole run, and a client here. */
export interface Engine {
  /** The worker's process: its CPU is the engine's. */
  pid: number;
  /**
   * Ingests the profiles as NDJSON, creates a destination, activates it with `activation` and
   * waits until it decided every profile. Timed from the start of the first export activity
   * (after the activation's permission checks and set-up) to the completion of the last one, and
   * also from `activate`; CPU is counted from `activate`, for `pids` and the worker (`worker`).
   */
  run(
    settings: DestinationSettingsInput,
    profiles: readonly BenchProfile[],
    activation: Activation,
    pids: Record<string, number>,
  ): Promise<EngineRun>;
  stop(): Promise<void>;
}

/** Where an engine's worker polls and its client calls. */
export type EngineTemporal = Pick<EngineTarget, 'client' | 'namespace'> & { address: string };

/**
 * Starts a worker as production runs one (bench/engineWorker) on a fresh SQLite store, and a
 * client on the same store. The worker lives as long as the engine: a production worker does
 * not start afresh for each export, so its JIT-compiled code and workflow sandbox carry over.
 */
export async function startEngine(
  target: EngineTemporal,
  options: Pick<EngineWorkerArgs, 'fixedCallsInFlight'> = {},
): Promise<Engine> {
  const dir = mkdtempSync(join(tmpdir(), 'ka-bench-'));
  const storePath = join(dir, 'store.sqlite');
  const store = new SqliteStore(storePath);
  const taskQueue = `bench-${randomUUID()}`;
  const args: EngineWorkerArgs = {
    address: target.address,
    namespace: target.namespace,
    taskQueue,
    storePath,
    ...options,
  };
  const removeStore = async (): Promise<void> => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  };
  let worker: Awaited<ReturnType<typeof startWorkerProcess>>;
  try {
    worker = await startWorkerProcess({}, [require.resolve('./engineWorker'), JSON.stringify(args)]);
  } catch (err) {
    await removeStore();
    throw err;
  }
  const pid = worker.child.pid as number;
  const client = new ActivationClient(target.client, store, taskQueue);
  return {
    pid,
    async stop() {
      // Not SIGTERM: a graceful worker shutdown may wait long for the SDK.
      await worker.kill();
      await removeStore();
    },
    async run(settings, profiles, activation, pids) {
      const { id } = await client.createDestination(settings);
      const workflowId = destinationWorkflowId(id);
      await client.status(id);
      const ndjson = Readable.from(profiles.map((p) => `${JSON.stringify(p.snapshot)}\n`));
      const ingestStarted = performance.now();
      const ingested = await client.ingest(ndjson);
      const ingestMs = performance.now() - ingestStarted;
      if (ingested.accepted !== profiles.length)
        throw new Error(`ingest accepted ${ingested.accepted} of ${profiles.length}`);

      const activated = Date.now();
      let history: HistoryEvent[] = [];
      const { result: status, cpu } = await measureCpu({ ...pids, worker: pid }, async () => {
        await client.activate(id, activation);
        history = await followUntilDecided(
          target.client,
          target.namespace,
          workflowId,
          profiles.length,
          async () => (await client.status(id)).lastError !== null,
          600_000,
        );
        return waitFor(
          async () => {
            const s = await client.status(id);
            return s.lastError !== null || s.state === 'idle' ? s : undefined;
          },
          { timeoutMs: 60_000, intervalMs: 100, what: 'the destination to be idle' },
        );
      });
      // The events followed: the export's times and counts, without reading the history again.
      const exports = exportsOf(history, workflowId);
      const exportMs = exports.completedAt - exports.startedAt;
      const activateMs = exports.completedAt - activated;
      if (status.lastError !== null) throw new Error(`destination failed: ${status.lastError}`);
      // Done with: a terminated destination costs the worker nothing more.
      await client.client.workflow.getHandle(workflowId).terminate('bench done');
      return { ingestMs, exportMs, activateMs, cpu, status, putCalls: exports.putCalls, throttled: exports.throttled };
    },
  };
}
