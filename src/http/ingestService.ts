import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import Fastify from 'fastify';
import type { FastifyError, FastifyRequest } from 'fastify';
import type { Logger as PinoLogger } from 'pino';
import { InvalidInputError } from '../domain/validationError';
import { createLogger } from '../observability/logger';
import type { HttpIngestMetrics } from '../observability/httpMetrics';
import type { Store } from '../store/store';
import type { BearerTokens } from './auth';
import { GroupCommit } from './groupCommit';
import { InFlightLimit } from './inFlightLimit';
import { profileRoutes } from './profileRoutes';
import type { ProfileOperations } from './profileRoutes';

export const DEFAULT_BODY_LIMIT = 16 * 1024 * 1024;
/**
 * Requests in progress at once by default: at 1,000 one-change requests a second, each waiting for
 * its group's write (~100 ms apart), 100-200 are in progress, more while the machine is loaded.
 */
export const DEFAULT_MAX_IN_FLIGHT = 1024;
/** Request bodies of the largest size that may be in progress at once by default (the memory they may take). */
const FULL_BODIES_IN_FLIGHT = 64;

/**
 * The client API the service fronts (ActivationClient is one): its operations, and the store and Temporal client
 * /readyz checks.
 */
export interface IngestBackend extends ProfileOperations {
  readonly store: Pick<Store, 'head'>;
  readonly client: Client;
}

export interface IngestServiceOptions {
  backend: IngestBackend;
  /** Accepted bearer tokens; null serves without authentication (loopback only, see `ingestAuth`). */
  auth: BearerTokens | null;
  metrics?: HttpIngestMetrics;
  logger?: PinoLogger;
  /** Largest request body in bytes (413 past it). */
  bodyLimit?: number;
  /** Requests in progress at once under /v1; past it 503 with Retry-After. */
  maxInFlight?: number;
  /** Body bytes of the requests in progress at most (past it 503); default 64 bodies of `bodyLimit`. */
  maxInFlightBytes?: number;
  /** How long /readyz waits for the store and for Temporal. */
  readinessTimeoutMs?: number;
  /** How long a DELETE waits for its exit records before answering 202. */
  forgetWaitMs?: number;
}

/**
 * Logged URLs name the route, not the profile: a DELETE's path is a person's id, which erasure must not leave in log
 * files.
 */
function redactedUrl(url: string): string {
  return url.replace(/^(\/v1\/profiles\/)[^?]*/, '$1:profileId');
}

/** Every error is one line of JSON, `{"error": "..."}`, with Fastify's status (400 for schema failures). */
function errorMessage(
  err: FastifyError,
  request: FastifyRequest,
  bodyLimit: number,
): { status: number; error: string } {
  const status = err.validation || err instanceof InvalidInputError ? 400 : (err.statusCode ?? 500);
  let message = err.message;
  if (err.validation) message = `${err.validationContext ?? 'request'}${err.message.replace(/^\w+/, '')}`;
  else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    const accepts = (request.routeOptions.config as { accepts?: string[] }).accepts ?? [];
    message =
      `content-type ${request.headers['content-type'] ?? '(none)'} is not taken here: ` +
      `send ${accepts.join(' or ')}`;
  } else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    message = `request body is larger than the limit of ${bodyLimit} bytes: split it into smaller requests`;
  else if (status >= 500) message = `internal error: ${message}`;
  return { status, error: message.replace(/\s+/g, ' ') };
}

/** Null when `probe` answers within `timeoutMs`, else why not (one line). */
async function probe(check: () => Promise<unknown>, timeoutMs: number): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return null;
  } catch (err) {
    return (err instanceof Error ? err.message : String(err)).split('\n')[0] || 'unreachable';
  } finally {
    clearTimeout(timer);
  }
}

function inFlightLimitOf(options: IngestServiceOptions): InFlightLimit {
  return new InFlightLimit(
    options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT,
    options.maxInFlightBytes ?? FULL_BODIES_IN_FLIGHT * (options.bodyLimit ?? DEFAULT_BODY_LIMIT),
  );
}

/**
 * The HTTP ingest service: Fastify with its content-type parsers, schema validation, pino
 * request logs and body limit in front of the client API. /healthz says the process is alive;
 * /readyz that the store and Temporal answer; /v1/profiles takes changes (see profileRoutes).
 */
export function buildIngestService(options: IngestServiceOptions, limit = inFlightLimitOf(options)) {
  const { backend } = options;
  const readinessTimeoutMs = options.readinessTimeoutMs ?? 2000;
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const logger = (options.logger ?? createLogger()).child(
    { component: 'ingest-service' },
    {
      serializers: {
        req: (req: FastifyRequest) => ({ method: req.method, url: redactedUrl(req.url), remoteAddress: req.ip }),
      },
    },
  );
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit,
    // No coercion: a JSON object is not a one-element array.
    ajv: { customOptions: { coerceTypes: false } },
    // A stalled upload holds a slot; it is cut off rather than held forever.
    requestTimeout: 120_000,
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const { status, error } = errorMessage(err, request, bodyLimit);
    if (status >= 500) request.log.error({ err }, 'request failed');
    return reply.code(status).send({ error });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: `no route ${request.method} ${redactedUrl(request.url.split('?')[0] ?? '')}` }),
  );

  const metrics = options.metrics;
  if (metrics)
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched';
      metrics.requests.inc({ method: request.method, route, status: reply.statusCode });
      metrics.latency.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    });

  app.get('/healthz', () => ({ ok: true }));

  app.get('/readyz', async (_request, reply) => {
    const connection = backend.client.connection;
    const [store, temporal] = await Promise.all([
      probe(() => backend.store.head(), readinessTimeoutMs),
      probe(
        () =>
          connection.withDeadline(Date.now() + readinessTimeoutMs, () => connection.workflowService.getSystemInfo({})),
        readinessTimeoutMs,
      ),
    ]);
    if (store === null && temporal === null) return { ready: true, store: 'ok', temporal: 'ok' };
    const failing = [store && `store: ${store}`, temporal && `temporal: ${temporal}`].filter(Boolean);
    return reply.code(503).send({
      ready: false,
      store: store ?? 'ok',
      temporal: temporal ?? 'ok',
      error: `not ready: ${failing.join('; ')}`,
    });
  });

  void app.register(profileRoutes, {
    prefix: '/v1',
    operations: backend,
    auth: options.auth,
    limit,
    bodyLimit,
    groups: new GroupCommit((input, opts) => backend.ingest(input, opts), bodyLimit),
    metrics,
    forgetWaitMs: options.forgetWaitMs ?? 10_000,
  });

  return app;
}

export interface IngestService {
  url: string;
  app: ReturnType<typeof buildIngestService>;
  /** Requests under /v1 in progress now. */
  inFlight(): number;
  stop(): Promise<void>;
}

/** Builds the service and listens on `host:port` (port 0: any free port). */
export async function startIngestService(
  options: IngestServiceOptions & { port: number; host: string },
): Promise<IngestService> {
  const limit = inFlightLimitOf(options);
  const app = buildIngestService(options, limit);
  await app.listen({ port: options.port, host: options.host });
  const { port } = app.server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return { url: `http://${host}:${port}`, app, inFlight: () => limit.inFlight, stop: () => app.close() };
}
