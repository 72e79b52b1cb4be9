import { createHash } from 'node:crypto';
import type { DestinationSettings } from '../domain/destination';
import { resolveCredentials } from '../aws/credentials';
import { createKinesisClient } from '../kinesis/client';
import { limitsForMaxRecordBytes } from '../kinesis/batcher';
import { AimdRateLimiter } from '../kinesis/rateLimiter';
import { KinesisRecordWriter } from '../kinesis/recordWriter';
import { observePutRecords } from '../observability/kinesisMetricsMiddleware';
import type { ActivationMetrics } from '../observability/metrics';

/**
 * One Kinesis writer per destination and worker process, so its connections and adaptive rate
 * limit carry over from one export activity to the next. Changed settings get a fresh writer.
 */
export class KinesisWriters {
  private readonly writers = new Map<string, { fingerprint: string; writer: KinesisRecordWriter; close: () => void }>();

  constructor(private readonly metrics?: ActivationMetrics) {}

  forDestination(destinationId: string, settings: DestinationSettings): KinesisRecordWriter {
    const fingerprint = createHash('sha256').update(JSON.stringify(settings)).digest('hex');
    const existing = this.writers.get(destinationId);
    if (existing?.fingerprint === fingerprint) return existing.writer;
    existing?.close();
    const client = createKinesisClient({
      region: settings.region,
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      credentials: resolveCredentials(settings.credentials),
    });
    const limiter = new AimdRateLimiter();
    if (this.metrics) observePutRecords(client, destinationId, this.metrics, limiter);
    const writer = new KinesisRecordWriter(client, settings.stream, { limits: limitsForMaxRecordBytes(settings.maxRecordBytes), limiter });
    this.writers.set(destinationId, { fingerprint, writer, close: () => client.destroy() });
    return writer;
  }

  close(): void {
    for (const { close } of this.writers.values()) close();
    this.writers.clear();
  }
}
