import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { freePort } from '../../src/embedded/freePort';
import { startTemporalDevServer } from '../../src/embedded/temporalDevServer';
import type { TemporalDevServer, TemporalDevServerOptions } from '../../src/embedded/temporalDevServer';
import type { KinesisFixture } from './kinesisFixture';

/** A dev server that keeps its history in a file, so it can be killed and started again. */
export interface RestartableTemporal {
  /** The server running now (replaced by `start`). */
  server: TemporalDevServer;
  /** A client connection to it, kept across restarts (same port). */
  connection: Connection;
  /** Starts the server again on the same port and history file; `server` is then the new one. */
  start(): Promise<TemporalDevServer>;
}

/**
 * Registers mocha `before`/`after` hooks that start and stop the server; register it after
 * useKinesisFixture (whose dir it uses). Its fields are set once `before` ran.
 */
export function useRestartableTemporal(
  fixture: KinesisFixture,
  options: Pick<TemporalDevServerOptions, 'dynamicConfig'> = {},
): RestartableTemporal {
  let port: number;
  let historyDir: string | undefined;
  const temporal = {
    async start() {
      temporal.server = await startTemporalDevServer({
        ...options,
        port,
        headless: true,
        dbFilename: join(historyDir ?? fixture.dir, 'temporal.sqlite'),
      });
      return temporal.server;
    },
  } as RestartableTemporal;
  before(async () => {
    // In memory where the OS offers it: these tests time how fast the project recovers, not how
    // fast a disk syncs the server's every write (a slow one stretched a restart to tens of seconds).
    if (existsSync('/dev/shm')) historyDir = mkdtempSync('/dev/shm/ka-temporal-');
    port = await freePort();
    await temporal.start();
    temporal.connection = await Connection.connect({ address: temporal.server.address });
  });
  after(async () => {
    await temporal.connection?.close();
    await temporal.server?.stop();
    if (historyDir) rmSync(historyDir, { recursive: true, force: true });
  });
  return temporal;
}
