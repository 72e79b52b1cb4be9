import { randomUUID } from 'node:crypto';
import { Client } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { ActivationClient } from '../../src/client/activationClient';
import { startTemporalDevServer } from '../../src/embedded/temporalDevServer';
import type { TemporalDevServer } from '../../src/embedded/temporalDevServer';
import type { Store } from '../../src/store/store';
import { createActivationWorker, workflowBundleOptions } from '../../src/worker';
import type { ActivationWorkerOptions } from '../../src/worker';
import { onShutdown } from './services';

export interface TestTemporal {
  server: TemporalDevServer;
  env: TestWorkflowEnvironment;
  bundle: WorkflowBundleWithSourceMap;
}

let shared: Promise<TestTemporal> | undefined;
const bundles = new Map<string, Promise<WorkflowBundleWithSourceMap>>();

/** The workflow code with `ignoreModules` left out (empty modules in their place), bundled once per test process. */
function bundleWithout(ignoreModules: string[]): Promise<WorkflowBundleWithSourceMap> {
  const key = ignoreModules.join(',');
  let bundle = bundles.get(key);
  if (bundle === undefined) {
    bundle = bundleWorkflowCode({
      ...workflowBundleOptions,
      ignoreModules,
      logger: quietLogger,
    });
    bundles.set(key, bundle);
  }
  return bundle;
}

/** The workflow code, bundled once per test process. */
export function getWorkflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWithout([]);
}

export type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;

/** The history of every run of a workflow, oldest first (each run's start names the run it continued). */
export async function historiesOfEveryRun(client: Client, workflowId: string): Promise<History[]> {
  const histories: History[] = [];
  let runId: string | undefined;
  do {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    histories.unshift(history);
    runId = history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId ?? undefined;
  } while (runId);
  return histories;
}

/**
 * The workflow code with zod left out: evaluating any schema fails with it, so a replay that
 * passes evaluated none.
 */
export function getWorkflowBundleWithoutZod(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWithout(['zod']);
}

/**
 * A real `temporal server start-dev` (in memory, headless) shared by the test process, with the
 * workflows bundled once; each test runs its own worker on its own task queue.
 */
export function getTestTemporal(): Promise<TestTemporal> {
  shared ??= (async () => {
    const server = await startTemporalDevServer({ headless: true });
    const env = await TestWorkflowEnvironment.createFromExistingServer({
      address: server.address,
      namespace: server.namespace,
    });
    const bundle = await getWorkflowBundle();
    onShutdown(async () => {
      await env.teardown();
      await server.stop();
    });
    return { server, env, bundle };
  })();
  return shared;
}

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => console.warn(message),
  error: (message: string) => console.error(message),
};

export interface WorkerContext {
  temporal: TestTemporal;
  client: ActivationClient;
  taskQueue: string;
}

/** What a test may set of the worker; the client gets the same data converter. */
export type TestWorkerOptions = Pick<ActivationWorkerOptions, 'aws' | 'metrics'> & { dataConverter?: DataConverter };

/** Runs `fn` while a fresh worker (own task queue, given store) polls; the worker stops after. */
export async function withWorker<T>(
  store: Store,
  fn: (ctx: WorkerContext) => Promise<T>,
  options: TestWorkerOptions = {},
): Promise<T> {
  const temporal = await getTestTemporal();
  const taskQueue = `test-${randomUUID()}`;
  const dataConverter = options.dataConverter ?? {};
  const { worker, close } = await createActivationWorker({
    connection: temporal.env.nativeConnection,
    namespace: temporal.server.namespace,
    taskQueue,
    store,
    workflowBundle: temporal.bundle,
    dataConverter,
    ...(options.aws ? { aws: options.aws } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
  });
  const temporalClient = options.dataConverter
    ? new Client({ connection: temporal.env.connection, namespace: temporal.server.namespace, dataConverter })
    : temporal.env.client;
  const client = new ActivationClient(temporalClient, store, taskQueue);
  try {
    return await worker.runUntil(fn({ temporal, client, taskQueue }));
  } finally {
    close();
  }
}

/**
 * The environment a spawned CLI or worker process needs to reach the test's Temporal server,
 * task queue and store, as a user's shell would set it.
 */
export function processEnv(
  server: { address: string; namespace: string },
  taskQueue: string,
  databaseUrl: string,
): NodeJS.ProcessEnv {
  return {
    TEMPORAL_ADDRESS: server.address,
    TEMPORAL_NAMESPACE: server.namespace,
    KINESIS_ACTIVATION_TASK_QUEUE: taskQueue,
    DATABASE_URL: databaseUrl,
  };
}
