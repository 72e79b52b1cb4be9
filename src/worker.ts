import { NativeConnection, Worker } from '@temporalio/worker';
import type { WorkerOptions } from '@temporalio/worker';
import type { DataConverter } from '@temporalio/common';
import { createActivities } from './activities';
import { KinesisConnections } from './kinesis/connections';
import type { AwsOptions } from './kinesis/connections';
import { dataConverterFromEnv } from './codec/dataConverter';
import type { TemporalConfig } from './config';
import type { ActivationMetrics } from './observability/metrics';
import type { Store } from './store/store';
import { ensureSearchAttributes } from './temporal/searchAttributeRegistration';

export interface ActivationWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  store: Store;
  metrics?: ActivationMetrics;
  /** A prebuilt workflow bundle (tests bundle once); otherwise the workflows are bundled now. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Payload encryption; by default what KINESIS_ACTIVATION_CODEC_KEY(_FILE) configures. */
  dataConverter?: DataConverter;
  aws?: AwsOptions;
  /** Destination workflows kept in memory (see maxCachedWorkflowsFromEnv); by default the SDK's. */
  maxCachedWorkflows?: number;
}

/**
 * Where the workflow code is, and the modules its workflows share: every worker, test and bench
 * bundles with these (see sharedParsing for why the schemas are shared).
 */
export const workflowBundleOptions = {
  workflowsPath: require.resolve('./workflows'),
  preloadModules: [require.resolve('./workflows/sharedParsing')],
};

/** Workflow tasks run at once by default (the SDK's); never more than the cache holds, as the SDK requires. */
const WORKFLOW_TASK_SLOTS = 40;

/** The worker: destination workflows plus the activities bound to the store and Kinesis. */
export async function createActivationWorker(
  options: ActivationWorkerOptions,
): Promise<{ worker: Worker; close: () => void }> {
  const writers = new KinesisConnections(options.aws, options.metrics);
  await ensureSearchAttributes(options.connection, options.namespace);
  const worker = await Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : {
          workflowsPath: workflowBundleOptions.workflowsPath,
          bundlerOptions: { preloadModules: workflowBundleOptions.preloadModules },
        }),
    activities: createActivities({
      store: options.store,
      writers,
      ...(options.metrics ? { metrics: options.metrics } : {}),
    }),
    dataConverter: options.dataConverter ?? dataConverterFromEnv(),
    // Export pages checkpoint in their heartbeats; by default the SDK sends one only every 80% of
    // the heartbeat timeout, so a retried page would resume from a checkpoint up to 24 s old.
    maxHeartbeatThrottleInterval: '2 seconds',
    ...(options.maxCachedWorkflows !== undefined
      ? {
          maxCachedWorkflows: options.maxCachedWorkflows,
          maxConcurrentWorkflowTaskExecutions: Math.min(WORKFLOW_TASK_SLOTS, options.maxCachedWorkflows),
        }
      : {}),
  });
  return { worker, close: () => writers.close() };
}

export async function connectWorker(config: TemporalConfig): Promise<NativeConnection> {
  return NativeConnection.connect({
    address: config.address,
    ...(config.tls !== undefined ? { tls: config.tls } : {}),
    ...(config.apiKey ? { apiKey: config.apiKey } : {}),
  });
}
