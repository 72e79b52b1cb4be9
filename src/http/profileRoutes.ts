import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyPluginCallback, FastifyRequest } from 'fastify';
import type { HttpIngestMetrics } from '../observability/httpMetrics';
import type { BearerTokens } from './auth';
import type { GroupCommit, IngestOutcome } from './groupCommit';
import { bodyBytesOf } from './inFlightLimit';
import type { Admission, InFlightLimit } from './inFlightLimit';

const NDJSON = 'application/x-ndjson';
const JSON_ARRAY = 'application/json';

/** What an erasure reports (the client's ForgetResult). */
export interface ForgetOutcome {
  forgotten: number;
  exitsSent: number;
  /** Erased profiles whose purge waits for an exit record (the worker finishes it). */
  waiting: string[];
  /** Null, or why the destinations owing exits were not told. */
  unannounced: string | null;
}

/** What the routes need of the client API (ActivationClient is one). */
export interface ProfileOperations {
  ingest(input: Readable, options: { mode: 'replace' | 'merge' }): Promise<IngestOutcome>;
  forget(profileIds: string[], options: { waitMs: number }): Promise<ForgetOutcome>;
}

export interface ProfileRoutesOptions {
  operations: ProfileOperations;
  /** Accepted bearer tokens; null: no authentication. */
  auth: BearerTokens | null;
  limit: InFlightLimit;
  /** Largest request body in bytes: what a body sent without a declared length may be. */
  bodyLimit: number;
  /** Writes the bodies, grouping those of concurrent requests. */
  groups: GroupCommit;
  metrics: HttpIngestMetrics | undefined;
  /** How long a DELETE waits for exit records before answering 202 (the worker finishes the purge). */
  forgetWaitMs: number;
}

/** What a POST or PATCH answers (status codes: see `ingestStatus`). */
export interface IngestResponse {
  accepted: number;
  rejected: { line: number; reason: string }[];
  /** Present when the accepted lines are stored but destinations were not told: why. */
  unannounced?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    admission?: Admission;
  }
}

const ingestResponseSchema = {
  type: 'object',
  required: ['accepted', 'rejected'],
  properties: {
    accepted: { type: 'integer' },
    rejected: {
      type: 'array',
      items: {
        type: 'object',
        required: ['line', 'reason'],
        properties: { line: { type: 'integer' }, reason: { type: 'string' } },
      },
    },
    unannounced: { type: 'string' },
  },
} as const;

const forgetResponseSchema = {
  type: 'object',
  required: ['forgotten', 'exitsSent'],
  properties: { forgotten: { type: 'integer' }, exitsSent: { type: 'integer' }, pending: { type: 'string' } },
} as const;

const ingestResponses = { 200: ingestResponseSchema, 202: ingestResponseSchema };

/**
 * 200: every accepted line is stored and its destinations are told. 202: stored, but the
 * destinations were not told (Temporal unreachable): the changes are durable and go out when the
 * destinations next look at the store. Rejected lines do not change the code; they are listed.
 */
function ingestStatus(outcome: IngestOutcome): 200 | 202 {
  return outcome.unannounced ? 202 : 200;
}

function toResponse(outcome: IngestOutcome): IngestResponse {
  return {
    accepted: outcome.accepted,
    rejected: outcome.rejected,
    ...(outcome.unannounced ? { unannounced: outcome.unannounced } : {}),
  };
}

/** One line of JSON per array element, so both body types go through the same line reader (line n: element n). */
function arrayAsNdjson(items: readonly unknown[]): Buffer {
  return Buffer.from(items.map((item) => `${JSON.stringify(item)}\n`).join(''));
}

/** NDJSON bodies stay bytes: the client's line reader splits and decodes them. */
function acceptNdjson(scope: FastifyInstance): void {
  scope.addContentTypeParser(NDJSON, { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
}

/**
 * /v1/profiles: POST snapshots, PATCH merge patches, DELETE one profile. A token and a free slot
 * are checked on request, before the body is read; each route accepts only its content types
 * (415 otherwise).
 */
export const profileRoutes: FastifyPluginCallback<ProfileRoutesOptions> = (v1, options, done) => {
  const { operations, auth, limit, bodyLimit, groups, metrics, forgetWaitMs } = options;

  v1.addHook('onRequest', async (request, reply) => {
    if (auth && !auth.accepts(request.headers.authorization))
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="kinesis-activation"')
        .send({ error: 'missing or wrong bearer token (Authorization: Bearer <token>)' });
    const admission = limit.tryAdmit(bodyBytesOf(request.headers, bodyLimit));
    if (typeof admission === 'string')
      return reply
        .code(503)
        .header('retry-after', '1')
        .send({ error: `busy: ${admission}; retry after 1 s` });
    request.admission = admission;
    reply.raw.once('close', () => admission.closed());
  });

  /** The request's slot is held until the operation settles, even if its client left. */
  const held = <T>(request: FastifyRequest, work: Promise<T>): Promise<T> =>
    request.admission ? request.admission.hold(work) : work;

  const ingest = async (request: FastifyRequest, body: Buffer, mode: 'replace' | 'merge') => {
    const outcome = await held(request, groups.submit(mode, body));
    metrics?.lines.inc({ operation: mode, outcome: 'accepted' }, outcome.accepted);
    metrics?.lines.inc({ operation: mode, outcome: 'rejected' }, outcome.rejected.length);
    return outcome;
  };

  // Full snapshots: NDJSON, or a JSON array (Fastify's JSON parser, with its prototype-poisoning guard).
  v1.register((snapshots, _opts, registered) => {
    snapshots.removeContentTypeParser('text/plain');
    acceptNdjson(snapshots);
    snapshots.post(
      '/profiles',
      {
        config: { accepts: [NDJSON, `${JSON_ARRAY} (an array)`] },
        schema: {
          body: { content: { [JSON_ARRAY]: { schema: { type: 'array' } } } },
          response: ingestResponses,
        },
      },
      async (request, reply) => {
        const body = Buffer.isBuffer(request.body) ? request.body : arrayAsNdjson(request.body as unknown[]);
        const outcome = await ingest(request, body, 'replace');
        return reply.code(ingestStatus(outcome)).send(toResponse(outcome));
      },
    );
    registered();
  });

  // Merge patches (RFC 7396): NDJSON only.
  v1.register((patches, _opts, registered) => {
    patches.removeAllContentTypeParsers();
    acceptNdjson(patches);
    patches.patch(
      '/profiles',
      { config: { accepts: [NDJSON] }, schema: { response: ingestResponses } },
      async (request, reply) => {
        const outcome = await ingest(request, request.body as Buffer, 'merge');
        return reply.code(ingestStatus(outcome)).send(toResponse(outcome));
      },
    );
    registered();
  });

  // Erasure. 200: exits sent and every trace purged (or the id was unknown: forgotten 0); 202: the
  // erasure is durable but waits for exit records (or Temporal), and the worker finishes it.
  v1.delete<{ Params: { profileId: string } }>(
    '/profiles/:profileId',
    {
      schema: {
        params: {
          type: 'object',
          required: ['profileId'],
          properties: { profileId: { type: 'string', minLength: 1, maxLength: 1024 } },
        },
        response: { 200: forgetResponseSchema, 202: forgetResponseSchema },
      },
    },
    async (request, reply) => {
      const outcome = await held(request, operations.forget([request.params.profileId], { waitMs: forgetWaitMs }));
      const finished = outcome.waiting.length === 0 && outcome.unannounced === null;
      return reply.code(finished ? 200 : 202).send({
        forgotten: outcome.forgotten,
        exitsSent: outcome.exitsSent,
        ...(finished ? {} : { pending: outcome.unannounced ?? 'waiting for exit records; the worker purges after' }),
      });
    },
  );

  done();
};
