import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { ClientRequest } from 'node:http';
import { Registry } from 'prom-client';
import { ActivationClient } from '../../src/client/activationClient';
import { BearerTokens } from '../../src/http/auth';
import { startIngestService } from '../../src/http/ingestService';
import type { IngestBackend, IngestService } from '../../src/http/ingestService';
import { waitFor } from '../../src/embedded/waitFor';
import { HttpIngestMetrics } from '../../src/observability/httpMetrics';
import { createLogger } from '../../src/observability/logger';
import { useKinesisFixture } from '../support/kinesisFixture';
import { getTestTemporal } from '../support/temporal';

const TOKEN = 'test-token-0123456789abcdef';
const OTHER_TOKEN = 'second-token-0123456789abcdef';
const logger = createLogger('warn');

function snapshotLine(profileId: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    profileId,
    identityMap: { ecid: [{ id: `ecid-${profileId}` }] },
    segmentMembership: { ups: { 'seg-http': { status: 'realized', lastQualificationTime: '2024-01-01T00:00:00Z' } } },
    ...extra,
  });
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: Record<string, unknown>;
}

async function call(url: string, init: RequestInit & { token?: string | null } = {}): Promise<Answer> {
  const { token = TOKEN, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (token !== null) headers.set('authorization', `Bearer ${token}`);
  const response = await fetch(url, { ...rest, headers });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    text,
    body: JSON.parse(text) as Record<string, unknown>,
  };
}

/** Every error is one line of JSON with a one-line `error`. */
function assertError(answer: Answer, status: number, pattern: RegExp): void {
  assert.equal(answer.status, status, answer.text);
  assert.ok(!answer.text.trimEnd().includes('\n'), `one line: ${answer.text}`);
  assert.deepEqual(Object.keys(answer.body), ['error'], answer.text);
  assert.match(String(answer.body.error), pattern);
}

describe('HTTP ingest service: auth, limits, content types, rejected lines', () => {
  const fx = useKinesisFixture('serve');
  let service: IngestService;
  let registry: Registry;
  let backend: IngestBackend;

  before(async () => {
    const temporal = await getTestTemporal();
    // No destination and no worker: ingest stores and has no one to tell.
    const client = new ActivationClient(temporal.env.client, fx.store, `serve-${randomUUID()}`);
    registry = new Registry();
    backend = client;
    service = await startIngestService({
      backend,
      auth: new BearerTokens([TOKEN, OTHER_TOKEN]),
      metrics: new HttpIngestMetrics(registry),
      logger,
      port: 0,
      host: '127.0.0.1',
    });
  });

  after(async () => {
    await service?.stop();
  });

  const post = (body: string, init: RequestInit & { token?: string | null } = {}) =>
    call(`${service.url}/v1/profiles`, {
      method: 'POST',
      body,
      ...init,
      headers: { 'content-type': 'application/x-ndjson', ...init.headers },
    });

  it('answers 401 without a token or with a wrong one, and takes the request with a right one', async () => {
    const line = snapshotLine('auth-1');
    const none = await post(line, { token: null });
    assertError(none, 401, /bearer token/);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
    assertError(await post(line, { token: `${TOKEN}x` }), 401, /bearer token/);
    assertError(await post(line, { headers: { authorization: `Basic ${TOKEN}` }, token: null }), 401, /bearer/);
    const before = await fx.store.maxSeq();

    const right = await post(line);
    assert.equal(right.status, 200, right.text);
    assert.deepEqual(right.body, { accepted: 1, rejected: [] });
    assert.ok((await fx.store.maxSeq()) > before, 'stored once answered');
    const second = await post(snapshotLine('auth-2'), { token: OTHER_TOKEN });
    assert.equal(second.status, 200, 'any configured token');

    const health = await call(`${service.url}/healthz`, { token: null });
    assert.equal(health.status, 200, 'the probes need no token');
  });

  it('lists rejected lines by number and stores the others, from NDJSON and from a JSON array', async () => {
    const ndjson = [snapshotLine('rej-1'), '{"profileId": "rej-2", oops', '', snapshotLine('rej-3')].join('\n');
    const fromNdjson = await post(ndjson);
    assert.equal(fromNdjson.status, 200, fromNdjson.text);
    assert.equal(fromNdjson.body.accepted, 2);
    const [rejected] = fromNdjson.body.rejected as { line: number; reason: string }[];
    assert.equal(rejected?.line, 2);
    assert.match(rejected?.reason ?? '', /invalid JSON/);

    const array = [JSON.parse(snapshotLine('arr-1')), { profileId: 'arr-2' }, 7, JSON.parse(snapshotLine('arr-4'))];
    const fromArray = await post(JSON.stringify(array), { headers: { 'content-type': 'application/json' } });
    assert.equal(fromArray.status, 200, fromArray.text);
    assert.equal(fromArray.body.accepted, 2);
    assert.deepEqual(
      (fromArray.body.rejected as { line: number }[]).map((r) => r.line),
      [2, 3],
      'line n is element n of the array',
    );
  });

  it('answers 415 to a content type a route does not take, and 400 to a body that is not a JSON array', async () => {
    const line = snapshotLine('ct-1');
    assertError(await post(line, { headers: { 'content-type': 'text/plain' } }), 415, /content-type|media type/i);
    assertError(
      await call(`${service.url}/v1/profiles`, {
        method: 'PATCH',
        body: JSON.stringify([{ profileId: 'ct-1' }]),
        headers: { 'content-type': 'application/json' },
      }),
      415,
      /content-type|media type/i,
    );
    assertError(await post(line, { headers: { 'content-type': 'application/json' } }), 400, /must be array/);
    assertError(await post('[{"profileId": ', { headers: { 'content-type': 'application/json' } }), 400, /JSON/);
    assertError(await call(`${service.url}/v1/nothing`), 404, /no route GET \/v1\/nothing/);
  });

  it('answers 413 past the 16 MiB body limit, with or without a Content-Length', async () => {
    const big = `${snapshotLine('big-1')}\n${' '.repeat(16 * 1024 * 1024)}`;
    assertError(await post(big), 413, /larger than the limit of 16777216 bytes/);
    const chunked = await new Promise<Answer>((resolve, reject) => {
      const req = httpRequest(`${service.url}/v1/profiles`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${TOKEN}` },
      });
      answerOf(req).then(resolve, reject);
      for (let i = 0; i < 17; i++) req.write(' '.repeat(1024 * 1024));
      req.end();
    });
    assertError(chunked, 413, /larger than the limit of 16777216 bytes/);
  });

  it('answers 503 with Retry-After past its bound of requests in progress, and takes requests again once one ends', async () => {
    const narrow = await startIngestService({
      backend,
      auth: null,
      logger,
      maxInFlight: 1,
      port: 0,
      host: '127.0.0.1',
    });
    try {
      // A request whose body is still arriving holds the only slot.
      const slow = httpRequest(`${narrow.url}/v1/profiles`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson' },
      });
      const slowAnswer = answerOf(slow);
      slow.write(`${snapshotLine('busy-1')}\n`);
      await waitFor(() => narrow.inFlight() === 1, { timeoutMs: 10_000, what: 'the slow request to be admitted' });
      const busy = await call(`${narrow.url}/v1/profiles`, {
        method: 'POST',
        body: snapshotLine('busy-2'),
        headers: { 'content-type': 'application/x-ndjson' },
        token: null,
      });
      assertError(busy, 503, /busy/);
      assert.equal(busy.headers.get('retry-after'), '1');
      slow.end(snapshotLine('busy-3'));
      assert.deepEqual((await slowAnswer).body, { accepted: 2, rejected: [] });
      const again = await call(`${narrow.url}/v1/profiles`, {
        method: 'POST',
        body: snapshotLine('busy-2'),
        headers: { 'content-type': 'application/x-ndjson' },
        token: null,
      });
      assert.equal(again.status, 200, again.text);
    } finally {
      await narrow.stop();
    }
  });

  it('counts requests, lines and latency in the registry', async () => {
    const text = await registry.metrics();
    assert.match(
      text,
      /kinesis_activation_http_requests_total\{method="POST",route="\/v1\/profiles",status="401"\} [1-9]/,
    );
    assert.match(
      text,
      /kinesis_activation_http_requests_total\{method="POST",route="\/v1\/profiles",status="200"\} [1-9]/,
    );
    assert.match(text, /kinesis_activation_http_lines_total\{operation="replace",outcome="accepted"\} [1-9]/);
    assert.match(text, /kinesis_activation_http_lines_total\{operation="replace",outcome="rejected"\} [1-9]/);
    assert.match(
      text,
      /kinesis_activation_http_request_duration_seconds_count\{method="POST",route="\/v1\/profiles"\} [1-9]/,
    );
  });
});

/** The status, headers and JSON body of a node:http request's response. */
function answerOf(req: ClientRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    req.once('error', reject);
    req.once('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.once('end', () => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(res.headers))
          if (typeof value === 'string') headers.set(name, value);
        resolve({ status: res.statusCode ?? 0, headers, text, body: JSON.parse(text) as Record<string, unknown> });
      });
    });
  });
}
