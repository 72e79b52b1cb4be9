import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import type { KinesisClientConfig } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { wholeNumberFromEnv } from '../config';

/** How a client talks HTTP to Kinesis; worker-wide, the same for every destination. */
export interface KinesisHttpSettings {
  /** Milliseconds to open a connection before the call fails (retried). */
  connectionTimeoutMs: number;
  /**
   * Milliseconds a call may wait for its answer once sent; past it the call is abandoned and
   * retried like any retryable error, so an endpoint that never answers cannot stall a page.
   */
  requestTimeoutMs: number;
  /** Sockets kept open per client; several batches are in flight per destination. */
  maxSockets: number;
}

export const DEFAULT_HTTP_SETTINGS: Readonly<KinesisHttpSettings> = Object.freeze({
  connectionTimeoutMs: 5_000,
  requestTimeoutMs: 30_000,
  maxSockets: 16,
});

/** The environment variable of each setting (documented in the README). */
const HTTP_SETTINGS_ENV: Readonly<Record<keyof KinesisHttpSettings, string>> = {
  connectionTimeoutMs: 'KINESIS_ACTIVATION_KINESIS_CONNECTION_TIMEOUT_MS',
  requestTimeoutMs: 'KINESIS_ACTIVATION_KINESIS_REQUEST_TIMEOUT_MS',
  maxSockets: 'KINESIS_ACTIVATION_KINESIS_MAX_SOCKETS',
};

/** The settings the environment gives, each a positive whole number; throws one line naming a bad one. */
export function httpSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<KinesisHttpSettings> {
  const settings: Partial<KinesisHttpSettings> = {};
  for (const [key, name] of Object.entries(HTTP_SETTINGS_ENV) as [keyof KinesisHttpSettings, string][]) {
    const value = wholeNumberFromEnv(env, name, 1);
    if (value !== undefined) settings[key] = value;
  }
  return settings;
}

export interface KinesisClientOptions {
  region: string;
  endpoint?: string;
  credentials?: KinesisClientConfig['credentials'];
  http?: Partial<KinesisHttpSettings>;
}

/**
 * A Kinesis client over keep-alive HTTP/1.1 connections. The SDK's own retries are off: the
 * writer classifies errors and retries failed entries itself, so a throttled stream is not
 * hammered by two retry loops.
 */
export function createKinesisClient(options: KinesisClientOptions): KinesisClient {
  const http = { ...DEFAULT_HTTP_SETTINGS, ...options.http };
  return new KinesisClient({
    region: options.region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets: http.maxSockets }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: http.maxSockets }),
      connectionTimeout: http.connectionTimeoutMs,
      requestTimeout: http.requestTimeoutMs,
      // Without it the handler only logs a warning and the call waits for an answer forever.
      throwOnRequestTimeout: true,
    }),
  });
}
