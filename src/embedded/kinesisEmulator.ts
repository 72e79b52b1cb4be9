import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import kinesalite from 'kinesalite';

export interface KinesisEmulator {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts kinesalite in this process: fast, no JVM, persistent when given a directory.
 * Stream state changes (create, delete) take effect at once so tests and `dev` need no waiting.
 */
export async function startKinesisEmulator(
  options: { port?: number; host?: string; path?: string } = {},
): Promise<KinesisEmulator> {
  const host = options.host ?? '127.0.0.1';
  const server: Server = kinesalite({
    createStreamMs: 0,
    deleteStreamMs: 0,
    updateStreamMs: 0,
    shardLimit: 100,
    ...(options.path ? { path: options.path } : {}),
  });
  // Never close idle keep-alive connections (Node's default closes them after 5 s): a client
  // sending a request on one just as it closes gets ECONNRESET, and the project's Kinesis clients
  // do not retry on their own (maxAttempts 1). `stop` closes every connection.
  server.keepAliveTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://${host}:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
