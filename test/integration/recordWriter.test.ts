import assert from 'node:assert/strict';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { startKinesisEmulator } from '../../src/embedded/kinesisEmulator';
import type { KinesisEmulator } from '../../src/embedded/kinesisEmulator';
import { waitFor } from '../../src/embedded/waitFor';
import { DEFAULT_LIMITS } from '../../src/kinesis/batcher';
import { createKinesisClient } from '../../src/kinesis/client';
import { KinesisTerminalError } from '../../src/kinesis/errors';
import type { OutgoingRecord } from '../../src/kinesis/outgoingRecord';
import { AimdRateLimiter } from '../../src/kinesis/rateLimiter';
import { KinesisRecordWriter } from '../../src/kinesis/recordWriter';
import type { RecordWriterOptions } from '../../src/kinesis/recordWriter';
import { startKinesisFaultProxy } from '../support/kinesisFaultProxy';
import type { KinesisFaultProxy } from '../support/kinesisFaultProxy';
import { createStream, readAllRecords } from '../support/kinesisStream';
import type { StoredRecord } from '../support/kinesisStream';

// The SDK warns about Node 20 support on the first client; it says nothing about these tests.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const MiB = 1024 * 1024;
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
/** Short backoff: the behaviour under test is the same, the suite is just faster. */
const FAST: RecordWriterOptions = { backoff: { baseMs: 5, maxMs: 100 } };

interface Payload {
  profileId: string;
  version: number;
}

/** `versions` records per profile, interleaved (all first versions, then all second...). */
function profileRecords(profiles: number, versions: number, padding = 0): OutgoingRecord[] {
  const records: OutgoingRecord[] = [];
  for (let version = 0; version < versions; version++) {
    for (let p = 0; p < profiles; p++) {
      const profileId = `profile-${p}`;
      const body = JSON.stringify({ profileId, version, pad: 'x'.repeat(padding) });
      records.push({ profileId, partitionKey: `pk-${p}`, data: Buffer.from(body) });
    }
  }
  return records;
}

/** Collects acknowledged groups as onAcked receives them. */
function ackLog(): { acked: OutgoingRecord[]; onAcked: (records: OutgoingRecord[]) => Promise<void> } {
  const acked: OutgoingRecord[] = [];
  return {
    acked,
    onAcked: (records) => {
      acked.push(...records);
      return Promise.resolve();
    },
  };
}

const keyOf = (p: Payload): string => `${p.profileId}@${p.version}`;
const payloadOf = (data: string | Uint8Array): Payload =>
  JSON.parse(typeof data === 'string' ? data : Buffer.from(data).toString()) as Payload;

/**
 * Every input record is in the stream with its exact content (more than once only when
 * `exact` is false), and each profile's versions appear in non-decreasing order.
 */
function assertDelivered(input: readonly OutgoingRecord[], stored: readonly StoredRecord[], exact: boolean): void {
  const expected = new Map(input.map((r) => [keyOf(payloadOf(r.data)), r]));
  const seen = new Map<string, number>();
  const lastVersion = new Map<string, number>();
  for (const record of stored) {
    const payload = payloadOf(record.data);
    const original = expected.get(keyOf(payload));
    assert.ok(original, `unexpected record ${record.data.slice(0, 80)}`);
    assert.equal(record.data, Buffer.from(original.data).toString(), `content of ${keyOf(payload)}`);
    assert.equal(record.partitionKey, original.partitionKey);
    seen.set(keyOf(payload), (seen.get(keyOf(payload)) ?? 0) + 1);
    const last = lastVersion.get(payload.profileId) ?? -1;
    assert.ok(payload.version >= last, `${payload.profileId}: version ${payload.version} stored after version ${last}`);
    lastVersion.set(payload.profileId, payload.version);
  }
  const missing = [...expected.keys()].filter((key) => !seen.has(key));
  assert.deepEqual(missing, [], 'records missing from the stream');
  if (exact) assert.equal(stored.length, input.length, 'no duplicates expected');
}

/** Each record acknowledged exactly once, each profile's versions acknowledged in order. */
function assertAckedInOrder(input: readonly OutgoingRecord[], acked: readonly OutgoingRecord[]): void {
  assert.equal(acked.length, input.length);
  assert.equal(new Set(acked.map((r) => keyOf(payloadOf(r.data)))).size, input.length);
  const lastVersion = new Map<string, number>();
  for (const record of acked) {
    const { profileId, version } = payloadOf(record.data);
    assert.equal(version, (lastVersion.get(profileId) ?? -1) + 1, `${profileId} acknowledged out of order`);
    lastVersion.set(profileId, version);
  }
}

describe('KinesisRecordWriter against kinesalite behind the fault proxy', function () {
  let emulator: KinesisEmulator;
  let proxy: KinesisFaultProxy;
  let direct: KinesisClient;
  let viaProxy: KinesisClient;
  let streams = 0;

  const newStream = async (shards: number): Promise<string> => {
    const name = `writer-${++streams}`;
    await createStream(direct, name, shards);
    return name;
  };

  before(async () => {
    emulator = await startKinesisEmulator();
    proxy = await startKinesisFaultProxy(emulator.endpoint);
    direct = createKinesisClient({ region: 'us-east-1', endpoint: emulator.endpoint, credentials });
    viaProxy = createKinesisClient({ region: 'us-east-1', endpoint: proxy.endpoint, credentials });
  });

  after(async () => {
    direct?.destroy();
    viaProxy?.destroy();
    await proxy?.stop();
    await emulator?.stop();
  });

  beforeEach(() => proxy.reset());

  it('resends only the failed entries of partially failed calls, keeping each profile in order', async () => {
    const stream = await newStream(2);
    const input = profileRecords(300, 3);
    proxy.setFaults({ recordFailureRate: 0.3, seed: 7 });
    const { acked, onAcked } = ackLog();

    const stats = await new KinesisRecordWriter(viaProxy, stream, FAST).write(input, onAcked);

    assert.equal(stats.recordsSent, input.length);
    assert.ok(proxy.injected.failedEntries > 0);
    // Every resend answers an injected failure: no acknowledged entry was sent twice.
    assert.equal(stats.retriedEntries, proxy.injected.failedEntries);
    assert.equal(stats.throttledEntries, proxy.injected.failedEntries);
    assert.deepEqual(stats.entryErrors, { ProvisionedThroughputExceededException: proxy.injected.failedEntries });
    assert.equal(stats.calls, proxy.counts.PutRecords);
    assert.deepEqual(stats.deadLettered, []);
    assertAckedInOrder(input, acked);
    assert.equal(proxy.observed.partitionKeyOverlaps, 0, 'a profile was in flight twice');
    assertDelivered(input, await readAllRecords(direct, stream), true);
  });

  it('stops with a KinesisTerminalError after a few calls when PutRecords is denied', async () => {
    const stream = await newStream(1);
    proxy.setFaults({ accessDenied: ['PutRecords'] });
    const { acked, onAcked } = ackLog();
    const concurrency = 4;

    await assert.rejects(
      new KinesisRecordWriter(viaProxy, stream, { ...FAST, concurrency }).write(profileRecords(5000, 1), onAcked),
      (err: unknown) => {
        assert.ok(err instanceof KinesisTerminalError);
        assert.equal(err.code, 'AccessDeniedException');
        assert.match(
          err.message,
          /^AccessDeniedException on PutRecords: User: arn:aws:iam::\d+:user\/\S+ is not authorized to perform: kinesis:PutRecords/,
        );
        assert.doesNotMatch(err.message, /\n/);
        return true;
      },
    );
    // The calls already in flight when the first answer came back, and no retry.
    assert.ok((proxy.counts.PutRecords ?? 0) <= concurrency, `PutRecords called ${proxy.counts.PutRecords} times`);
    assert.equal(acked.length, 0);
    assert.deepEqual(await readAllRecords(direct, stream), []);
  });

  it('dead-letters records that can never be sent and delivers the rest', async () => {
    const stream = await newStream(1);
    const normal = profileRecords(20, 1);
    const key = 'pk-big';
    const atLimit: OutgoingRecord = {
      profileId: 'at-limit',
      partitionKey: key,
      data: Buffer.alloc(MiB - key.length, 'a'),
    };
    const tooBig: OutgoingRecord = {
      profileId: 'too-big',
      partitionKey: key,
      data: Buffer.alloc(MiB - key.length + 1, 'b'),
    };
    const noKey: OutgoingRecord = { profileId: 'no-key', partitionKey: '', data: Buffer.from('{}') };
    const longKey: OutgoingRecord = { profileId: 'long-key', partitionKey: 'k'.repeat(257), data: Buffer.from('{}') };
    const input = [...normal.slice(0, 10), tooBig, noKey, atLimit, longKey, ...normal.slice(10)];
    const { acked, onAcked } = ackLog();

    const stats = await new KinesisRecordWriter(viaProxy, stream, FAST).write(input, onAcked);

    assert.deepEqual(
      stats.deadLettered.map((d) => d.record.profileId),
      ['too-big', 'no-key', 'long-key'],
    );
    assert.match(
      stats.deadLettered[0]?.reason ?? '',
      /1048577 bytes \(data plus partition key\), over the stream's maximum of 1048576/,
    );
    assert.match(stats.deadLettered[1]?.reason ?? '', /partition key is empty/);
    assert.match(stats.deadLettered[2]?.reason ?? '', /257 characters/);
    assert.equal(stats.recordsSent, normal.length + 1);
    assert.deepEqual(acked.map((r) => r.profileId).sort(), [...normal.map((r) => r.profileId), 'at-limit'].sort());

    const stored = await readAllRecords(direct, stream);
    assert.equal(stored.length, normal.length + 1);
    assert.equal(stored.find((r) => r.partitionKey === key)?.data.length, atLimit.data.byteLength);
    assertDelivered(
      normal,
      stored.filter((r) => r.partitionKey !== key),
      true,
    );
  });

  it('delivers everything through HTTP 500s and dropped connections', async () => {
    const stream = await newStream(2);
    const input = profileRecords(200, 3);
    proxy.setFaults({ serverErrorRate: 0.2, dropConnectionRate: 0.2, seed: 3 });
    const { acked, onAcked } = ackLog();

    // Small calls so that many calls meet the faults.
    const writer = new KinesisRecordWriter(viaProxy, stream, {
      ...FAST,
      limits: { ...DEFAULT_LIMITS, maxRecordsPerCall: 10 },
      maxCallAttempts: 20,
    });
    const stats = await writer.write(input, onAcked);

    assert.ok(proxy.injected.serverErrors > 0 && proxy.injected.droppedConnections > 0, JSON.stringify(proxy.injected));
    assert.equal(stats.recordsSent, input.length);
    assert.ok(stats.retriedEntries > 0);
    assertAckedInOrder(input, acked);
    assert.equal(proxy.observed.partitionKeyOverlaps, 0, 'a profile was in flight twice');
    // A dropped connection loses the answer of a call the emulator carried out: resending
    // duplicates those records, never reorders them.
    const stored = await readAllRecords(direct, stream);
    assertDelivered(input, stored, false);
    assert.ok(stored.length > input.length, 'the dropped answers left duplicates behind');
  });

  it('abandons calls that are never answered after the request timeout, and delivers everything', async () => {
    const stream = await newStream(2);
    const input = profileRecords(200, 3);
    proxy.setFaults({ hangRate: 0.05, seed: 5 });
    const requestTimeoutMs = 1000;
    const client = createKinesisClient({
      region: 'us-east-1',
      endpoint: proxy.endpoint,
      credentials,
      http: { requestTimeoutMs },
    });
    const { acked, onAcked } = ackLog();
    const started = performance.now();
    try {
      // Small calls, so that 5% of them is several hung calls.
      const stats = await new KinesisRecordWriter(client, stream, {
        ...FAST,
        limits: { ...DEFAULT_LIMITS, maxRecordsPerCall: 10 },
      }).write(input, onAcked);
      const elapsed = performance.now() - started;

      assert.ok(proxy.injected.hungCalls >= 2, `only ${proxy.injected.hungCalls} calls hung`);
      assert.equal(stats.calls, proxy.counts.PutRecords);
      assert.equal(stats.recordsSent, input.length);
      assertAckedInOrder(input, acked);
      // A hung call reached no emulator; a real call that outlived the timeout on a busy machine is
      // resent, a duplicate at worst, never a loss.
      assertDelivered(input, await readAllRecords(direct, stream), false);
      // Each hung call costs at most its timeout plus one backoff; the rest takes well under 5 s here.
      const bound = 5000 + proxy.injected.hungCalls * (requestTimeoutMs + 100);
      assert.ok(elapsed < bound, `${Math.round(elapsed)} ms, over the bound of ${bound} ms`);
    } finally {
      client.destroy();
    }
  });

  it('slows down under per-shard throttling and still delivers everything', async () => {
    const stream = await newStream(1);
    const input = profileRecords(1000, 3, 200);
    proxy.setFaults({ shardThrottling: true });
    const limiter = new AimdRateLimiter({ initialRate: 5000 });
    const { acked, onAcked } = ackLog();

    const stats = await new KinesisRecordWriter(viaProxy, stream, { ...FAST, limiter }).write(input, onAcked);

    assert.ok(stats.throttledEntries > 0);
    assert.equal(stats.throttledEntries, proxy.injected.throttledEntries);
    assert.ok(stats.rateLimit < 5000, `rate limit ${stats.rateLimit}`);
    assert.equal(stats.rateLimit, limiter.rate);
    assertAckedInOrder(input, acked);
    assert.equal(proxy.observed.partitionKeyOverlaps, 0, 'a profile was in flight twice');
    assertDelivered(input, await readAllRecords(direct, stream), true);
  });

  it('never drops failing entries, and stops when the caller aborts', async () => {
    const stream = await newStream(1);
    proxy.setFaults({ recordFailureRate: 1 });
    const controller = new AbortController();
    const { acked, onAcked } = ackLog();

    const writing = new KinesisRecordWriter(viaProxy, stream, FAST).write(profileRecords(50, 1), onAcked, {
      signal: controller.signal,
    });
    await waitFor(() => (proxy.counts.PutRecords ?? 0) >= 5, {
      timeoutMs: 10_000,
      intervalMs: 5,
      what: 'five failed PutRecords calls',
    });
    controller.abort(new Error('activity cancelled'));

    await assert.rejects(writing, /activity cancelled/);
    assert.equal(acked.length, 0);
  });
});
