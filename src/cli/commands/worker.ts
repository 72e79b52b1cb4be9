import type { Command } from 'commander';
import { databaseUrlFromEnv } from '../../config';
import { openStore } from '../../store/openStore';
import { startWorkerProcess } from '../../workerProcess';
import { temporal } from '../context';

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('the worker alone, against TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE and the store in DATABASE_URL')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ TEMPORAL_ADDRESS=temporal:7233 DATABASE_URL=postgres://u:p@db/activation kinesis-activation worker\n' +
        '  $ TEMPORAL_ADDRESS=ns.acct.tmprl.cloud:7233 TEMPORAL_NAMESPACE=ns.acct TEMPORAL_API_KEY=... ' +
        'kinesis-activation worker',
    )
    .option('--metrics-port <port>', 'Prometheus metrics endpoint port', process.env.METRICS_PORT ?? '9464')
    .action(async (opts: { metricsPort: string }) => {
      const store = await openStore(databaseUrlFromEnv());
      const worker = await startWorkerProcess({ temporal, store, metricsPort: Number(opts.metricsPort) });
      const stop = (): void => void worker.shutdown();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        await worker.running;
      } finally {
        await store.close();
      }
    });
}
