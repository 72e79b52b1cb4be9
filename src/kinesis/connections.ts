import { createHash } from 'node:crypto';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { DestinationSettings } from '../domain/destination';
import { DEFAULT_MAX_RECORD_BYTES } from '../domain/recordSizeLimit';
import { resolveCredentials } from '../aws/credentials';
import type { CredentialOptions } from '../aws/credentials';
import { limitsForMaxRecordBytes } from './batcher';
import { createKinesisClient } from './client';
import type { KinesisHttpSettings } from './client';
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
}

/**
 * One Kinesis client and writer per destination and worker process, so connections, the
 * adaptive rate limit and assumed-role sessions (refreshed by the client's credential provider
 * before they expire) carry over from one activity to the next. Changed settings get fresh ones.
 */
export class KinesisConnections {
  private readonly connections = new Map<string, Connection>();

  constructor(
    private readonly aws: AwsOptions = {},
    private readonly metrics?: ActivationMetrics,
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
    if (existing?.fingerprint === fingerprintOf(settings)) return fn(existing.client);
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
    const fingerprint = fingerprintOf(settings);
    const existing = this.connections.get(destinationId);
    if (existing?.fingerprint === fingerprint) return existing;
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
    const connection = { fingerprint, client, writer };
    this.connections.set(destinationId, connection);
    return connection;
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
