import { createHash } from 'node:crypto';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { DestinationSettings } from '../domain/destination';
import { DEFAULT_MAX_RECORD_BYTES } from '../domain/recordSizeLimit';
import { resolveCredentials } from '../aws/credentials';
import type { CredentialOptions } from '../aws/credentials';
import { limitsForMaxRecordBytes } from './batcher';
import { createKinesisClient } from './client';
import type { KinesisHttpSettings } from './client';
import { systemClock } from './clock';
import type { Clock } from './clock';
import { AimdRateLimiter } from './rateLimiter';
import { KinesisRecordWriter } from './recordWriter';
import { observePutRecords } from '../observability/kinesisMetricsMiddleware';
import type { ActivationMetrics } from '../observability/metrics';

/** Worker-wide AWS options, the same for every destination. */
export type AwsOptions = Pick<CredentialOptions, 'roleSessionSeconds'> & {
  http?: Partial<KinesisHttpSettings>;
  /** A fixed number of PutRecords calls in flight per destination, instead of the adaptive limit. */
  fixedCallsInFlight?: number;
};

interface Connection {
  fingerprint: string;
  client: KinesisClient;
  writer: KinesisRecordWriter;
  /** When a page last asked for it (the clock's ms). */
  lastUsed: number;
}

/**
 * A connection no page asked for this long, and with no write open, is closed: the worker is
 * never told that a destination was deleted, and its client (HTTP agent, credentials) would stay
 * for as long as the worker runs. Reopening costs a handshake, an AssumeRole for a role, and the
 * rate limit learnt, which after this long says little about the stream's other writers.
 */
export const IDLE_CONNECTION_MS = 15 * 60_000;

/**
 * One Kinesis client and writer per destination and worker process, so connections, the
 * adaptive rate limit and assumed-role sessions (refreshed by the client's credential provider
 * before they expire) carry over from one activity to the next. Changed settings get fresh ones,
 * and idle ones are closed (see IDLE_CONNECTION_MS).
 */
export class KinesisConnections {
  private readonly connections = new Map<string, Connection>();

  constructor(
    private readonly aws: AwsOptions = {},
    private readonly metrics?: ActivationMetrics,
    private readonly clock: Pick<Clock, 'now'> = systemClock,
  ) {}

  forDestination(destinationId: string, settings: DestinationSettings): KinesisRecordWriter {
    return this.connect(destinationId, settings).writer;
  }

  /**
   * Runs `fn` with the destination's client when the settings are the current ones, else with
   * a client of its own, so checking candidate settings never disturbs an export in flight.
   */
  async withClient<T>(
    destinationId: string,
    settings: DestinationSettings,
    fn: (client: KinesisClient) => Promise<T>,
  ): Promise<T> {
    const existing = this.connections.get(destinationId);
    if (existing?.fingerprint === fingerprintOf(settings)) {
      // In use: not to be closed by another destination's page while `fn` runs.
      existing.lastUsed = this.clock.now();
      return fn(existing.client);
    }
    const client = this.createClient(settings);
    try {
      return await fn(client);
    } finally {
      client.destroy();
    }
  }

  close(): void {
    for (const { client } of this.connections.values()) client.destroy();
    this.connections.clear();
  }

  private connect(destinationId: string, settings: DestinationSettings): Connection {
    const now = this.clock.now();
    this.closeIdle(destinationId, now);
    const fingerprint = fingerprintOf(settings);
    const existing = this.connections.get(destinationId);
    if (existing?.fingerprint === fingerprint) {
      existing.lastUsed = now;
      return existing;
    }
    existing?.client.destroy();
    this.connections.delete(destinationId);
    const client = this.createClient(settings);
    const writer = new KinesisRecordWriter(client, settings.stream, {
      limits: limitsForMaxRecordBytes(settings.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES),
      ...(this.aws.fixedCallsInFlight !== undefined
        ? { concurrency: this.aws.fixedCallsInFlight, limiter: new AimdRateLimiter() }
        : {}),
    });
    if (this.metrics) observePutRecords(client, destinationId, this.metrics, writer.limiter);
    const connection = { fingerprint, client, writer, lastUsed: now };
    this.connections.set(destinationId, connection);
    return connection;
  }

  /** Closes the other destinations' connections idle since before `now - IDLE_CONNECTION_MS`. */
  private closeIdle(asked: string, now: number): void {
    for (const [destinationId, { client, writer, lastUsed }] of this.connections) {
      if (destinationId === asked || !writer.idle || now - lastUsed < IDLE_CONNECTION_MS) continue;
      client.destroy();
      this.connections.delete(destinationId);
    }
  }

  private createClient(settings: DestinationSettings): KinesisClient {
    const { http, roleSessionSeconds } = this.aws;
    return createKinesisClient({
      region: settings.region,
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      credentials: resolveCredentials(settings.credentials, {
        region: settings.region,
        ...(roleSessionSeconds !== undefined ? { roleSessionSeconds } : {}),
      }),
      ...(http ? { http } : {}),
    });
  }
}

function fingerprintOf(settings: DestinationSettings): string {
  return createHash('sha256').update(JSON.stringify(settings)).digest('hex');
}
