import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';

export const DEFAULT_TASK_QUEUE = 'kinesis-activation';
export const DEFAULT_DATA_DIR = '.data';
export const DEFAULT_SQLITE_FILE = `${DEFAULT_DATA_DIR}/store.sqlite`;

/** How to reach Temporal: the standard TEMPORAL_* environment variables. */
export interface TemporalConfig {
  address: string;
  namespace: string;
  taskQueue: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
}

export function temporalConfigFromEnv(env: NodeJS.ProcessEnv = process.env): TemporalConfig {
  const certPath = env.TEMPORAL_TLS_CLIENT_CERT_PATH;
  const keyPath = env.TEMPORAL_TLS_CLIENT_KEY_PATH;
  const caPath = env.TEMPORAL_TLS_SERVER_CA_CERT_PATH;
  let tls: TLSConfig | boolean | undefined;
  if (certPath && keyPath) {
    tls = {
      clientCertPair: { crt: readFileSync(certPath), key: readFileSync(keyPath) },
      ...(caPath ? { serverRootCACertificate: readFileSync(caPath) } : {}),
    };
  } else if (env.TEMPORAL_TLS === 'true' || env.TEMPORAL_API_KEY) {
    tls = true; // API keys need TLS, as Temporal Cloud requires
  }
  return {
    address: env.TEMPORAL_ADDRESS ?? 'localhost:7233',
    namespace: env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: env.KINESIS_ACTIVATION_TASK_QUEUE ?? DEFAULT_TASK_QUEUE,
    ...(tls !== undefined ? { tls } : {}),
    ...(env.TEMPORAL_API_KEY ? { apiKey: env.TEMPORAL_API_KEY } : {}),
  };
}

/** The store: DATABASE_URL (postgres:// URL or SQLite file path), else a SQLite file under ./.data. */
export function databaseUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return env.DATABASE_URL ?? DEFAULT_SQLITE_FILE;
}

/** The variable of the worker's workflow cache size (documented in the README). */
const MAX_CACHED_WORKFLOWS_ENV = 'KINESIS_ACTIVATION_MAX_CACHED_WORKFLOWS';

/**
 * How many destination workflows the worker keeps in memory (undefined: the SDK's default, sized
 * by the heap limit, so in practice every destination). Each cached one costs about 0.3 MiB, 1.5
 * MiB once it validated a new message (see workflows/messageParsing); an evicted one is replayed
 * from its history when it next has work. At least 2, as the SDK requires.
 */
export function maxCachedWorkflowsFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  return wholeNumberFromEnv(env, MAX_CACHED_WORKFLOWS_ENV, 2);
}

/** A whole number of at least `min` (undefined when unset or empty); a bad one throws one line naming the variable. */
export function wholeNumberFromEnv(env: NodeJS.ProcessEnv, name: string, min: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!(Number.isSafeInteger(value) && value >= min)) {
    const expected = min === 1 ? 'a positive whole number' : `a whole number of at least ${min}`;
    throw new Error(`${name} must be ${expected}, got ${raw}`);
  }
  return value;
}
