/**
 * The engine's worker for bench/putRecords, in a process of its own for the whole benchmark, as
 * a worker runs in production: the product's worker process (src/workerProcess: JSON logs,
 * metrics, the announcer) on a SQLite file the benchmark's client shares. Its CPU is the
 * engine's figure; the client's stays in the benchmark's process. Argument: EngineWorkerArgs as
 * JSON. Started and stopped by test/support/workerProcess, which waits for its `worker started` line.
 */
import { SqliteStore } from '../src/store/sqliteStore';
import { startWorkerProcess } from '../src/workerProcess';

export interface EngineWorkerArgs {
  address: string;
  namespace: string;
  taskQueue: string;
  storePath: string;
  /** Fixed PutRecords calls in flight instead of the adaptive limit (see AwsOptions). */
  fixedCallsInFlight?: number;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as EngineWorkerArgs;
  const store = new SqliteStore(args.storePath);
  const worker = await startWorkerProcess({
    temporal: { address: args.address, namespace: args.namespace, taskQueue: args.taskQueue },
    store,
    ...(args.fixedCallsInFlight !== undefined ? { aws: { fixedCallsInFlight: args.fixedCallsInFlight } } : {}),
  });
  await worker.running;
  await store.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
