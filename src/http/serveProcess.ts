import type { Logger as PinoLogger } from 'pino';
import { ActivationClient } from '../client/activationClient';
import type { TemporalConfig } from '../config';
import { HttpIngestMetrics } from '../observability/httpMetrics';
import type { ActivationMetrics } from '../observability/metrics';
import type { Store } from '../store/store';
import type { BearerTokens } from './auth';
import { startIngestService } from './ingestService';
import type { IngestService } from './ingestService';

export interface ServeProcessOptions {
  temporal: TemporalConfig;
  store: Store;
  host: string;
  port: number;
  auth: BearerTokens | null;
  /** The process's metrics; the service's are added to its registry. */
  metrics: ActivationMetrics;
  logger?: PinoLogger;
  bodyLimit?: number;
  maxInFlight?: number;
}

/**
 * The ingest service as a process runs it (`serve` and `dev`): a client of Temporal over the
 * given store, the service in front of it, and an orderly stop (requests in progress finish,
 * then the client closes; the store is the caller's).
 */
export async function startServeProcess(options: ServeProcessOptions): Promise<IngestService> {
  const client = await ActivationClient.connect(options.temporal, options.store);
  try {
    const service = await startIngestService({
      backend: client,
      auth: options.auth,
      metrics: new HttpIngestMetrics(options.metrics.registry),
      host: options.host,
      port: options.port,
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.bodyLimit !== undefined ? { bodyLimit: options.bodyLimit } : {}),
      ...(options.maxInFlight !== undefined ? { maxInFlight: options.maxInFlight } : {}),
    });
    return {
      ...service,
      async stop() {
        await service.stop();
        await client.close();
      },
    };
  } catch (err) {
    await client.close();
    throw err;
  }
}
