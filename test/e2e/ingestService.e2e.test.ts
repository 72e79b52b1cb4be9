import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import type { ClientRequest } from 'node:http';
import { Registry } from 'prom-client';
import { ActivationClient } from '../../src/client/activationClient';
import { BearerTokens } from '../../src/http/auth';
import { startIngestService } from '../../src/http/ingestService';
import type { IngestBackend, IngestService } from '../../src/http/ingestService';
import { profileIdHash } from '../../src/domain/partitionKey';
import { startTemporalDevServer } from '../../src/embedded/temporalDevServer';
import type { TemporalDevServer } from '../../src/embedded/temporalDevServer';
import { waitFor } from '../../src/embedded/waitFor';
import { openStore } from '../../src/store/openStore';
import type { Store } from '../../src/store/store';
import { HttpIngestMetrics } from '../../src/observability/httpMetrics';
import { createLogger } from '../../src/observability/logger';
import { useKinesisFixture } from '../support/kinesisFixture';
import { readAllRecords } from '../support/kinesisStream';
import { getTestTemporal, withWorker } from '../support/temporal';

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
    const before = await fx.store.head();

    const right = await post(line);
    assert.equal(right.status, 200, right.text);
    assert.deepEqual(right.body, { accepted: 1, rejected: [] });
    assert.ok((await fx.store.head()) > before, 'stored once answered');
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

  it('answers 503 past its bound of body bytes in progress, while requests without a body still pass', async () => {
    const bodyLimit = 64 * 1024;
    const narrow = await startIngestService({
      backend,
      auth: null,
      logger,
      bodyLimit,
      maxInFlightBytes: bodyLimit,
      port: 0,
      host: '127.0.0.1',
    });
    // A chunked body may be as large as the limit: it reserves all of the byte bound.
    const slow = httpRequest(`${narrow.url}/v1/profiles`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson', 'transfer-encoding': 'chunked' },
    });
    const slowAnswer = answerOf(slow);
    slowAnswer.catch(() => undefined); // awaited below; destroyed after a failed check
    try {
      slow.write(`${snapshotLine('bytes-1')}\n`);
      await waitFor(() => narrow.inFlight() === 1, { timeoutMs: 10_000, what: 'the chunked request to be admitted' });
      const busy = await call(`${narrow.url}/v1/profiles`, {
        method: 'POST',
        body: snapshotLine('bytes-2'),
        headers: { 'content-type': 'application/x-ndjson' },
        token: null,
      });
      assertError(busy, 503, /^busy: 65536 bytes of request bodies in progress \(bound 65536\); retry after 1 s$/);
      assert.equal(busy.headers.get('retry-after'), '1');
      const erasure = await call(`${narrow.url}/v1/profiles/bytes-unknown`, { method: 'DELETE', token: null });
      assert.equal(erasure.status, 200, erasure.text);
      slow.end(snapshotLine('bytes-3'));
      assert.deepEqual((await slowAnswer).body, { accepted: 2, rejected: [] });
      const again = await call(`${narrow.url}/v1/profiles`, {
        method: 'POST',
        body: snapshotLine('bytes-2'),
        headers: { 'content-type': 'application/x-ndjson' },
        token: null,
      });
      assert.equal(again.status, 200, again.text);
    } finally {
      slow.destroy(); // a failed check leaves it open, and the service's stop would wait for it
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

/** What these tests read of a record or a stored snapshot. */
interface ProfileBody {
  person?: Record<string, unknown>;
  identityMap?: unknown;
  segmentMembership?: { ups?: Record<string, { status: string }> };
}

const STREAM = 'serve-e2e';
const SECRET_ENV = 'SERVE_E2E_KINESIS_SECRET';

describe('HTTP ingest service: records out, merges, erasure (real worker, Temporal, kinesalite, SQLite)', () => {
  const fx = useKinesisFixture('serve-e2e', { streams: { [STREAM]: 1 } });

  /** Runs `fn` with a worker, a destination mapping seg-http and `attributes`, and the service over the worker's client. */
  async function withServedDestination(
    attributes: string[],
    fn: (ctx: { service: IngestService; destinationId: string }) => Promise<void>,
  ): Promise<void> {
    process.env[SECRET_ENV] = 'emulator-accepts-any-secret';
    await withWorker(fx.store, async ({ client }) => {
      const { id } = await client.createDestination({
        name: 'serve e2e',
        region: 'us-east-1',
        stream: STREAM,
        endpoint: fx.emulator.endpoint,
        credentials: { type: 'accessKey', accessKeyId: 'AKIASERVEEXAMPLE01', secretAccessKeyEnv: SECRET_ENV },
      });
      await client.activate(id, { segments: [{ id: 'seg-http' }], attributes });
      const service = await startIngestService({
        backend: client,
        auth: new BearerTokens([TOKEN]),
        logger,
        port: 0,
        host: '127.0.0.1',
      });
      try {
        await fn({ service, destinationId: id });
      } finally {
        await service.stop();
      }
    });
  }

  /** The records of one profile in the stream, oldest first, as parsed JSON. */
  async function recordsOf(profileId: string): Promise<ProfileBody[]> {
    const key = profileIdHash(profileId);
    return (await readAllRecords(fx.kinesis, STREAM))
      .filter((r) => r.partitionKey === key)
      .map((r) => JSON.parse(r.data) as ProfileBody);
  }

  /** The stored snapshot of a profile (undefined: none), read as the export path reads it. */
  async function storedSnapshot(profileId: string): Promise<ProfileBody | undefined> {
    const view = { destinationId: 'none', segmentIds: null, changeKey: null, skipUnchanged: false };
    for (let cursor = 0; ;) {
      const page = await fx.store.readExportCandidates(view, { cursor, limit: 1000 });
      const found = page.find((c) => c.profileId === profileId);
      if (found) return found.snapshot as ProfileBody;
      if (page.length === 0) return undefined;
      cursor = page[page.length - 1]!.seq;
    }
  }

  it('POST answers once the snapshots are stored and announced: their records reach the stream', async () => {
    await withServedDestination(['person.email'], async ({ service }) => {
      const answer = await call(`${service.url}/v1/profiles`, {
        method: 'POST',
        body: JSON.stringify([JSON.parse(snapshotLine('out-1', { person: { email: 'out-1@example.com' } }))]),
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(answer.status, 200, answer.text);
      assert.deepEqual(answer.body, { accepted: 1, rejected: [] });
      const [record] = await waitFor(async () => ((await recordsOf('out-1')).length > 0 ? recordsOf('out-1') : null), {
        timeoutMs: 30_000,
        what: "out-1's record",
      });
      assert.equal(record?.person?.email, 'out-1@example.com');
    });
  });

  it('PATCH merges: 50 concurrent patches to one profile over separate connections all apply, null removes a field', async () => {
    const fields = Array.from({ length: 50 }, (_, i) => `f${i}`);
    await withServedDestination(
      fields.map((f) => `person.${f}`),
      async ({ service }) => {
        const created = await call(`${service.url}/v1/profiles`, {
          method: 'POST',
          body: snapshotLine('merge-1', { person: { gone: 'soon' } }),
          headers: { 'content-type': 'application/x-ndjson' },
        });
        assert.equal(created.status, 200, created.text);

        const answers = await Promise.all(
          fields.map((f, i) => {
            // agent: false: a connection of its own for each patch.
            const req = httpRequest(`${service.url}/v1/profiles`, {
              method: 'PATCH',
              agent: false,
              headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${TOKEN}` },
            });
            const answer = answerOf(req);
            req.end(`${JSON.stringify({ profileId: 'merge-1', person: { [f]: `v${i}` } })}\n`);
            return answer;
          }),
        );
        for (const answer of answers)
          assert.deepEqual([answer.status, answer.body], [200, { accepted: 1, rejected: [] }]);

        const removed = await call(`${service.url}/v1/profiles`, {
          method: 'PATCH',
          body: `${JSON.stringify({ profileId: 'merge-1', person: { gone: null } })}\nnot json\n`,
          headers: { 'content-type': 'application/x-ndjson' },
        });
        assert.equal(removed.status, 200, removed.text);
        assert.equal(removed.body.accepted, 1);
        assert.deepEqual(
          (removed.body.rejected as { line: number }[]).map((r) => r.line),
          [2],
        );

        const stored = await storedSnapshot('merge-1');
        assert.deepEqual(stored?.person, Object.fromEntries(fields.map((f, i) => [f, `v${i}`])), 'every patch applied');
        assert.deepEqual(stored?.identityMap, { ecid: [{ id: 'ecid-merge-1' }] }, 'what no patch named is kept');
        await waitFor(
          async () => {
            const records = await recordsOf('merge-1');
            return fields.every((f, i) => records[records.length - 1]?.person?.[f] === `v${i}`);
          },
          { timeoutMs: 30_000, what: 'a record of merge-1 with every patched field' },
        );
      },
    );
  });

  it('DELETE erases: the exit record is read back, then the person is in no store table or file', async () => {
    const email = `erase-${randomUUID()}@example.com`;
    const ecid = `ecid-${randomUUID()}`;
    await withServedDestination(['person.email'], async ({ service }) => {
      const line = JSON.stringify({
        profileId: 'erase-1',
        identityMap: { ecid: [{ id: ecid }] },
        person: { email },
        segmentMembership: {
          ups: { 'seg-http': { status: 'realized', lastQualificationTime: '2024-01-01T00:00:00Z' } },
        },
      });
      const posted = await call(`${service.url}/v1/profiles`, {
        method: 'POST',
        body: line,
        headers: { 'content-type': 'application/x-ndjson' },
      });
      assert.equal(posted.status, 200, posted.text);
      await waitFor(async () => (await recordsOf('erase-1')).length === 1, {
        timeoutMs: 30_000,
        what: "erase-1's record",
      });

      const erased = await call(`${service.url}/v1/profiles/erase-1`, { method: 'DELETE' });
      assert.equal(erased.status, 200, erased.text);
      assert.deepEqual(erased.body, { forgotten: 1, exitsSent: 1 });
      const records = await recordsOf('erase-1');
      assert.equal(records.length, 2, 'the member record and its exit');
      assert.equal(records[1]?.segmentMembership?.ups?.['seg-http']?.status, 'exited');
      assert.deepEqual(records[1]?.identityMap, { ecid: [{ id: ecid }] }, 'the exit names the person');

      assert.equal(await storedSnapshot('erase-1'), undefined);
      const files = readdirSync(fx.dir).filter((f) => f.startsWith('store.sqlite'));
      assert.ok(files.includes('store.sqlite'));
      for (const file of files) {
        const bytes = readFileSync(join(fx.dir, file));
        for (const trace of [email, ecid])
          assert.equal(bytes.includes(trace), false, `${file} holds no ${trace === email ? 'attribute' : 'identity'}`);
      }

      const unknown = await call(`${service.url}/v1/profiles/${encodeURIComponent('never:seen')}`, {
        method: 'DELETE',
      });
      assert.deepEqual([unknown.status, unknown.body], [200, { forgotten: 0, exitsSent: 0 }]);
    });
  });
});

describe('HTTP ingest service while Temporal is down', () => {
  const fx = useKinesisFixture('serve-down');
  let server: TemporalDevServer;
  let client: ActivationClient;
  let store: Store;
  let service: IngestService;

  before(async () => {
    server = await startTemporalDevServer({ headless: true });
    store = await openStore(join(fx.dir, 'down.sqlite'));
    // A destination the profiles below concern, so that ingest has someone to tell.
    await store.saveDestination({
      id: 'down-dest',
      settings: {},
      activation: { segments: [{ id: 'seg-http' }], attributes: [] },
    });
    client = await ActivationClient.connect(
      { address: server.address, namespace: server.namespace, taskQueue: `down-${randomUUID()}` },
      store,
      {},
    );
    service = await startIngestService({
      backend: client,
      auth: new BearerTokens([TOKEN]),
      logger,
      port: 0,
      host: '127.0.0.1',
      readinessTimeoutMs: 1000,
    });
  });

  after(async () => {
    await service?.stop();
    await client?.close();
    await store?.close();
    await server?.stop();
  });

  it('is ready while the store and Temporal answer, not ready once Temporal stops, and stores but reports not announced', async () => {
    const ready = await call(`${service.url}/readyz`, { token: null });
    assert.deepEqual([ready.status, ready.body], [200, { ready: true, store: 'ok', temporal: 'ok' }]);

    await server.stop();
    const down = await call(`${service.url}/readyz`, { token: null });
    assert.equal(down.status, 503, down.text);
    assert.equal(down.body.ready, false);
    assert.equal(down.body.store, 'ok');
    assert.notEqual(down.body.temporal, 'ok');
    assert.match(String(down.body.error), /^not ready: temporal: /);
    assert.ok(!down.text.includes('\n'));
    assert.equal((await call(`${service.url}/healthz`, { token: null })).status, 200, 'alive all the same');

    const before = await store.head();
    const stored = await call(`${service.url}/v1/profiles`, {
      method: 'POST',
      body: snapshotLine('down-1'),
      headers: { 'content-type': 'application/x-ndjson' },
    });
    assert.equal(stored.status, 202, stored.text);
    assert.equal(stored.body.accepted, 1);
    assert.equal(typeof stored.body.unannounced, 'string', 'why the destinations were not told');
    assert.ok((await store.head()) > before, 'stored all the same');
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
