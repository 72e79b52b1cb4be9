import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { startCodecServer } from '../codec/codecServer';
import { EncryptionCodec } from '../codec/encryptionCodec';
import { keyringFromEnv } from '../codec/keyring';
import { DEFAULT_TASK_QUEUE } from '../config';
import { BearerTokens } from '../http/auth';
import { startServeProcess } from '../http/serveProcess';
import { createKinesisClient } from '../kinesis/client';
import { ActivationMetrics } from '../observability/metrics';
import { openStore } from '../store/openStore';
import type { Store } from '../store/store';
import { startWorkerProcess } from '../workerProcess';
import { ensureStream } from './ensureStream';
import { startKinesisEmulator } from './kinesisEmulator';
import { startTemporalDevServer } from './temporalDevServer';

export interface DevStackOptions {
  dataDir: string;
  temporalPort: number;
  uiPort: number;
  kinesisPort: number;
  stream: string;
  shards: number;
  metricsPort: number;
  /** Port of the HTTP ingest service (on loopback). */
  ingestPort: number;
  /** Bearer tokens the ingest service accepts (at least one). */
  ingestTokens: string[];
}

export interface DevStack {
  temporalAddress: string;
  uiUrl: string;
  kinesisEndpoint: string;
  stream: string;
  databaseUrl: string;
  metricsUrl?: string;
  /** The HTTP ingest service (its metrics are on `metricsUrl`). */
  ingestUrl: string;
  /** The Web UI's codec endpoint, when payloads are encrypted (a codec key is configured). */
  codecEndpoint?: string;
  /** Resolves when the worker stops (after `stop`, or on a fatal worker error). */
  running: Promise<void>;
  stop(): Promise<void>;
}

/**
 * The embedded default: Temporal dev server with its Web UI (history in a file under the data
 * directory), kinesalite with a ready stream, the SQLite store, one worker and the HTTP ingest
 * service, all local.
 */
export async function startDevStack(options: DevStackOptions): Promise<DevStack> {
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined);
  };
  try {
    // With a codec key, the UI decrypts payloads through a local codec endpoint.
    const keyring = keyringFromEnv();
    const codec = keyring
      ? await startCodecServer({
          codec: new EncryptionCodec(keyring),
          // The dev server's Web UI cannot send a static token (it forwards only an OAuth access
          // token, and a dev server has no login), so the endpoint stays on loopback, open only
          // to processes of this machine and, among browsers, to the UI's origin.
          auth: { unauthenticatedLoopback: true },
          allowedOrigins: [`http://127.0.0.1:${options.uiPort}`, `http://localhost:${options.uiPort}`],
        })
      : undefined;
    if (codec) stops.push(() => codec.stop());
    const temporal = await startTemporalDevServer({
      port: options.temporalPort,
      uiPort: options.uiPort,
      dbFilename: resolve(dataDir, 'temporal.sqlite'),
      ...(codec ? { uiCodecEndpoint: codec.url } : {}),
    });
    stops.push(() => temporal.stop());

    mkdirSync(resolve(dataDir, 'kinesis'), { recursive: true });
    const kinesis = await startKinesisEmulator({ port: options.kinesisPort, path: resolve(dataDir, 'kinesis') });
    stops.push(() => kinesis.stop());
    const kinesisClient = createKinesisClient({
      region: 'us-east-1',
      endpoint: kinesis.endpoint,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    await ensureStream(kinesisClient, options.stream, options.shards);
    kinesisClient.destroy();

    const databaseUrl = resolve(dataDir, 'store.sqlite');
    const store: Store = await openStore(databaseUrl);
    stops.push(() => store.close());

    const temporalConfig = { address: temporal.address, namespace: temporal.namespace, taskQueue: DEFAULT_TASK_QUEUE };
    // One registry: the worker's endpoint serves the ingest service's metrics too.
    const metrics = new ActivationMetrics();
    const worker = await startWorkerProcess({
      temporal: temporalConfig,
      store,
      metricsPort: options.metricsPort,
      metrics,
    });
    stops.push(() => worker.shutdown());

    const ingest = await startServeProcess({
      temporal: temporalConfig,
      store,
      host: '127.0.0.1',
      port: options.ingestPort,
      auth: new BearerTokens(options.ingestTokens),
      metrics,
    });
    stops.push(() => ingest.stop());

    return {
      temporalAddress: temporal.address,
      uiUrl: temporal.uiUrl ?? '',
      kinesisEndpoint: kinesis.endpoint,
      stream: options.stream,
      databaseUrl,
      ...(worker.metricsUrl ? { metricsUrl: worker.metricsUrl } : {}),
      ingestUrl: ingest.url,
      ...(codec ? { codecEndpoint: codec.url } : {}),
      running: worker.running,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
