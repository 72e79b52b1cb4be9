import { Connection } from '@temporalio/client';
import type { ConnectionOptions } from '@temporalio/client';
import type { TemporalConfig } from '../config';

/**
 * The options of every client connection to Temporal (the CLI, `serve`, the worker's announcer).
 * gRPC's reconnect backoff grows to two minutes while the server is down; a client reaches it
 * again within seconds of its return.
 */
export function clientConnectionOptions(config: TemporalConfig): ConnectionOptions {
  return {
    address: config.address,
    connectTimeout: '5 seconds',
    channelArgs: { 'grpc.initial_reconnect_backoff_ms': 250, 'grpc.max_reconnect_backoff_ms': 2000 },
    ...(config.tls !== undefined ? { tls: config.tls } : {}),
    ...(config.apiKey ? { apiKey: config.apiKey } : {}),
  };
}

/** A client connection; `lazy` connects on the first call instead of failing now when Temporal is down. */
export async function connectClient(
  config: TemporalConfig,
  { lazy = false }: { lazy?: boolean } = {},
): Promise<Connection> {
  const options = clientConnectionOptions(config);
  return lazy ? Connection.lazy(options) : Connection.connect(options);
}
