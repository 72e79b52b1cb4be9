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
import type { AwsOptions } from '../src/kinesis/connections';
import type { DestinationSettingsInput } from '../src/domain/destination';
import { startTemporalDevServer } from '../src/embedded/temporalDevServer';
import { waitFor } from '../src/embedded/waitFor';
import { createKinesisClient } from '../src/kinesis/client';
import { SqliteStore } from '../src/store/sqliteStore';
import { createActivationWorker, workflowBundleOptions } from '../src/worker';
import type { DestinationStatus } from '../src/workflows/messages';
import { measureCpu } from './cpu';
import { startEmulatorProcess } from './emulator';
import type { Emulator } from './emulator';
import { BENCH_ACTIVATION } from './profiles';
import type { BenchProfile } from './profiles';

const EventType = temporal.api.enums.v1.EventType;

export interface EngineRun {
  /** Milliseconds to parse the NDJSON and write the snapshots to the store. */
  ingestMs: number;
  /** Milliseconds from the first export activity's start until the last one completed: the export itself. */
  exportMs: number;
  /** Milliseconds from `activate` until the last export activity completed: the export plus the activation's checks and set-up. */
  activateMs: number;
  /** CPU seconds of each measured process during the export. */
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

/**
 * From the destination's history (times in epoch ms, by the Temporal server's clock): when its
 * first export activity started and its last one completed, and the PutRecords calls and
 * throttled entries the exports reported.
 */
async function exportsOf(
  client: Client,
  workflowId: string,
): Promise<{ startedAt: number; completedAt: number; putCalls: number; throttled: number }> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const events = history.events ?? [];
  const firstExport = events.find(
    (e) =>
      e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED &&
      EXPORT_ACTIVITIES.has(e.activityTaskScheduledEventAttributes?.activityType?.name ?? ''),
  );
  const completed = events.filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED);
  const last = completed[completed.length - 1];
  if (!last || !firstExport) throw new Error(`${workflowId} completed no export activity`);
  let putCalls = 0;
  let throttled = 0;
  for (const event of completed) {
    const payload = event.activityTaskCompletedEventAttributes?.result?.payloads?.[0];
    const result = payload
      ? defaultPayloadConverter.fromPayload<Partial<ExportPageResult> | undefined>(payload)
      : undefined;
    putCalls += result?.putCalls ?? 0;
    throttled += result?.throttled ?? 0;
  }
  return { startedAt: tsToMs(firstExport.eventTime), completedAt: tsToMs(last.eventTime), putCalls, throttled };
}

/**
 * The whole product on one fresh SQLite store and worker: ingest the profiles as NDJSON, create
 * a destination, activate it and wait until it decided every profile. Timed from the start of
 * the first export activity (after the activation's permission checks and set-up) to the
 * completion of the last one, and also from `activate`.
 */
export async function runEngine(
  target: EngineTarget,
  settings: DestinationSettingsInput,
  profiles: readonly BenchProfile[],
  pids: Record<string, number>,
  aws: AwsOptions = {},
): Promise<EngineRun> {
  const dir = mkdtempSync(join(tmpdir(), 'ka-bench-'));
  const store = new SqliteStore(join(dir, 'store.sqlite'));
  const taskQueue = `bench-${randomUUID()}`;
  const { worker, close } = await createActivationWorker({
    connection: target.connection,
    namespace: target.namespace,
    taskQueue,
    store,
    workflowBundle: target.bundle,
    aws,
  });
  const client = new ActivationClient(target.client, store, taskQueue);
  try {
    return await worker.runUntil(async () => {
      const { id } = await client.createDestination(settings);
      // The actor's first workflow task on a new worker builds its sandbox: not part of an export.
      await client.status(id);
      const ndjson = Readable.from(profiles.map((p) => `${JSON.stringify(p.snapshot)}\n`));
      const ingestStarted = performance.now();
      const ingested = await client.ingest(ndjson);
      const ingestMs = performance.now() - ingestStarted;
      if (ingested.accepted !== profiles.length)
        throw new Error(`ingest accepted ${ingested.accepted} of ${profiles.length}`);

      const activated = Date.now();
      const { result: status, cpu } = await measureCpu(pids, async () => {
        await client.activate(id, BENCH_ACTIVATION);
        return waitFor(
          async () => {
            const s = await client.status(id);
            return s.lastError !== null || (s.state === 'idle' && s.counters.received >= profiles.length)
              ? s
              : undefined;
          },
          // Queries run on the worker too: polling is kept slow, and the end is read from history.
          { timeoutMs: 600_000, intervalMs: 250, what: `the destination to export ${profiles.length} profiles` },
        );
      });
      const exports = await exportsOf(target.client, destinationWorkflowId(id));
      const exportMs = exports.completedAt - exports.startedAt;
      const activateMs = exports.completedAt - activated;
      if (status.lastError !== null) throw new Error(`destination failed: ${status.lastError}`);
      await client.client.workflow.getHandle(destinationWorkflowId(id)).terminate('bench done');
      return { ingestMs, exportMs, activateMs, cpu, status, putCalls: exports.putCalls, throttled: exports.throttled };
    });
  } finally {
    close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
