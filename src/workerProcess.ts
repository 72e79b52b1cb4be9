import { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { Announcer } from './client/announcer';
import { dataConverterFromEnv } from './codec/dataConverter';
import { maxCachedWorkflowsFromEnv } from './config';
import type { TemporalConfig } from './config';
import { freePort } from './embedded/freePort';
import { httpSettingsFromEnv } from './kinesis/client';
import type { AwsOptions } from './kinesis/connections';
import { createLogger } from './observability/logger';
import { ActivationMetrics } from './observability/metrics';
import { startMetricsServer } from './observability/metricsServer';
import type { MetricsServer } from './observability/metricsServer';
import { installRuntime } from './observability/runtime';
import type { Store } from './store/store';
import { connectClient } from './temporal/clientConnection';
import { connectWorker, createActivationWorker } from './worker';

export interface WorkerProcessOptions {
  temporal: TemporalConfig;
  store: Store;
  /** Port of the Prometheus endpoint (0: any free port; undefined: none). */
  metricsPort?: number;
  /** The registry its endpoint serves (one the process shares with an ingest service, in `dev`). */
  metrics?: ActivationMetrics;
  /** AWS options over those the environment sets (bench/putRecords fixes the calls in flight). */
  aws?: AwsOptions;
}

export interface WorkerProcess {
  metricsUrl?: string;
  /** Resolves when the worker has stopped (after `shutdown`, or on a fatal error). */
  running: Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * A worker as a process runs it (`worker` and `dev`): JSON logs, the Prometheus endpoint with
 * the SDK's metrics merged in, the worker itself, and an orderly shutdown of all of it.
 */
export async function startWorkerProcess(options: WorkerProcessOptions): Promise<WorkerProcess> {
  // Settings first: a bad one fails with its one line before anything starts.
  const maxCachedWorkflows = maxCachedWorkflowsFromEnv();
  const aws: AwsOptions = { http: httpSettingsFromEnv(), ...options.aws };
  const logger = createLogger();
  const sdkMetricsPort = options.metricsPort !== undefined ? await freePort() : undefined;
  const { sdkMetricsUrl } = installRuntime(logger, sdkMetricsPort);
  const metrics = options.metrics ?? new ActivationMetrics();
  let metricsServer: MetricsServer | undefined;
  if (options.metricsPort !== undefined) {
    metricsServer = await startMetricsServer(metrics, {
      port: options.metricsPort,
      ...(sdkMetricsUrl ? { sdkMetricsUrl } : {}),
    });
  }
  const connection: NativeConnection = await connectWorker(options.temporal);
  const { worker, close } = await createActivationWorker({
    connection,
    namespace: options.temporal.namespace,
    taskQueue: options.temporal.taskQueue,
    store: options.store,
    metrics,
    aws,
    ...(maxCachedWorkflows !== undefined ? { maxCachedWorkflows } : {}),
  });
  // Tells destinations of changes stored while Temporal was unreachable or by a client that died.
  // Lazy, and quick to reconnect: it must reach Temporal within seconds of its return.
  const announcerConnection = await connectClient(options.temporal, { lazy: true });
  const announcer = new Announcer(
    new Client({
      connection: announcerConnection,
      namespace: options.temporal.namespace,
      dataConverter: dataConverterFromEnv(),
    }),
    options.store,
    logger,
  );
  announcer.start();
  logger.info(
    {
      taskQueue: options.temporal.taskQueue,
      address: options.temporal.address,
      namespace: options.temporal.namespace,
      metrics: metricsServer?.url,
    },
    'worker started',
  );
  const running = worker.run().finally(async () => {
    await announcer.stop();
    await announcerConnection.close();
    close();
    await metricsServer?.stop();
    await connection.close();
  });
  return {
    ...(metricsServer ? { metricsUrl: metricsServer.url } : {}),
    running,
    async shutdown() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running.catch(() => undefined);
    },
  };
}
