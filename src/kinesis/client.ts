import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import type { KinesisClientConfig } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';

export interface KinesisClientOptions {
  region: string;
  endpoint?: string;
  credentials?: KinesisClientConfig['credentials'];
  /** Sockets kept open per client; several batches are in flight per destination. */
  maxSockets?: number;
}

/**
 * A Kinesis client over keep-alive HTTP/1.1 connections. The SDK's own retries are off: the
 * writer classifies errors and retries failed entries itself, so a throttled stream is not
 * hammered by two retry loops.
 */
export function createKinesisClient(options: KinesisClientOptions): KinesisClient {
  const maxSockets = options.maxSockets ?? 16;
  return new KinesisClient({
    region: options.region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets }),
      connectionTimeout: 5_000,
      requestTimeout: 30_000,
    }),
  });
}
