/**
 * The worker of bench/fanout's memory figure, in a process of its own so that its RSS is the
 * worker's alone. Arguments: Temporal address, namespace, task queue, SQLite path,
 * and the path of the workflow bundle's code (bundling here would inflate the figure). It says
 * `started` once polling, and answers each `measure` message with its memory once settled: full
 * GCs ten seconds apart for two minutes, so V8 gives back heap the destinations' set-up needed only
 * for a while.
 */
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { SqliteStore } from '../src/store/sqliteStore';
import { createActivationWorker } from '../src/worker';

export interface FanoutWorkerReply {
  kind: 'started' | 'measured';
  rssMiB: number;
  heapMiB: number;
  heapTotalMiB: number;
  /** RSS at each sample while settling. */
  series?: number[];
}

/** Samples ten seconds apart: the workflow thread's heap gives back a burst's memory in steps over a minute or two. */
const SETTLE_SAMPLES = 12;

const mib = (bytes: number): number => Math.round(bytes / 2 ** 20);

function memory(kind: FanoutWorkerReply['kind']): FanoutWorkerReply {
  (globalThis as { gc?: () => void }).gc?.();
  const { rss, heapUsed, heapTotal } = process.memoryUsage();
  return { kind, rssMiB: mib(rss), heapMiB: mib(heapUsed), heapTotalMiB: mib(heapTotal) };
}

async function main(): Promise<void> {
  const [address, namespace, taskQueue, storePath, codePath, maxCached] = process.argv.slice(2);
  if (!address || !namespace || !taskQueue || !storePath || !codePath)
    throw new Error('usage: fanoutWorker address namespace taskQueue storePath codePath [maxCachedWorkflows]');
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const store = new SqliteStore(storePath);
  const connection = await NativeConnection.connect({ address });
  const { worker } = await createActivationWorker({
    connection,
    namespace,
    taskQueue,
    store,
    workflowBundle: { codePath },
    ...(maxCached ? { maxCachedWorkflows: Number(maxCached) } : {}),
  });
  process.on('message', () => {
    const series: number[] = [];
    const sample = setInterval(() => {
      series.push(memory('measured').rssMiB);
      if (series.length < SETTLE_SAMPLES) return;
      clearInterval(sample);
      process.send?.({ ...memory('measured'), series });
    }, 10_000);
  });
  process.on('disconnect', () => worker.shutdown());
  const running = worker.run();
  process.send?.(memory('started'));
  await running;
  await connection.close();
  await store.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
