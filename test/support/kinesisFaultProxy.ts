import { createHash } from 'node:crypto';
import { Agent, createServer, request } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fault-injecting HTTP proxy in front of a Kinesis emulator (which injects no faults itself).
 * The JS SDK v3 speaks AWS JSON 1.1 to Kinesis (`application/x-amz-json-1.1`, operation in the
 * `X-Amz-Target` header, blobs base64), which this proxy reads and rewrites. Rewriting a body
 * breaks its SigV4 signature; emulators do not verify signatures, so this is for them only.
 */
export interface KinesisFaults {
  /** Seeds the generator behind every random decision (reset by each setFaults carrying it). */
  seed: number;
  /** Share of PutRecords entries answered with a synthetic ProvisionedThroughputExceededException. */
  recordFailureRate: number;
  /** Per-shard token buckets at the service's write limits: 1,000 records/s and 1 MiB/s. */
  shardThrottling: boolean;
  /** Share of calls answered HTTP 500 InternalFailure without reaching the emulator. */
  serverErrorRate: number;
  /**
   * Share of calls whose connection is destroyed AFTER the emulator processed them: the worst
   * case, the records are written but never acknowledged (so resends duplicate them).
   */
  dropConnectionRate: number;
  /**
   * Share of PutRecords calls read and never answered (nor forwarded): the connection stays open
   * until the client gives up on it.
   */
  hangRate: number;
  /** Operations (X-Amz-Target names such as `PutRecords`) answered with AccessDeniedException. */
  accessDenied: readonly string[];
  /**
   * When above 0, calls signed with an access key first seen longer ago than this are answered
   * ExpiredTokenException, as AWS answers calls with an expired session (0: never).
   */
  credentialLifetimeMs: number;
  /**
   * When above 0, DescribeStreamSummary answers carry this MaxRecordSizeInKiB, as AWS's do (the
   * emulator leaves the field out; 0: its answer as it is).
   */
  maxRecordSizeInKiB: number;
}

export interface InjectedFaults {
  failedEntries: number;
  throttledEntries: number;
  serverErrors: number;
  droppedConnections: number;
  hungCalls: number;
  accessDenied: number;
  expiredTokens: number;
}

/** What the proxy saw of the client's behaviour. */
export interface ObservedBehaviour {
  /**
   * PutRecords entries whose partition key was already in a call in progress (in the same call
   * or another): nonzero means records of one key were in flight together.
   */
  partitionKeyOverlaps: number;
  /** Access key ids that signed calls, in the order they were first seen. */
  accessKeyIds: string[];
}

export interface KinesisFaultProxyOptions {
  /**
   * Upstream per signing region (the SigV4 credential scope), standing in for AWS's regional
   * endpoints; calls signed for other regions go to the default target.
   */
  regionEndpoints?: Readonly<Record<string, string>>;
}

/** A PutRecords call the emulator has written, whose answer the proxy holds back. */
export interface HeldCall {
  /** Its entries' partition keys. */
  partitionKeys: readonly string[];
  /** Sends the answer on. */
  release(): void;
}

/** Answers held back from `holdAnswers` on: acknowledgements slow to come, for records already in the stream. */
export interface AnswerHold {
  /** Calls whose answer is held, in the order they came; a released one stays listed. */
  readonly calls: readonly HeldCall[];
  /** Holds no further answers (those held stay held until released). */
  stop(): void;
}

export interface KinesisFaultProxy {
  endpoint: string;
  setFaults(faults: Partial<KinesisFaults>): void;
  /** Holds the successful answers of the PutRecords calls that come from now on, until each is released. */
  holdAnswers(): AnswerHold;
  /** Calls received per operation (X-Amz-Target operation name). */
  readonly counts: Readonly<Record<string, number>>;
  readonly injected: Readonly<InjectedFaults>;
  readonly observed: Readonly<ObservedBehaviour>;
  /** No faults, counters at zero, throttling buckets full. */
  reset(): void;
  stop(): Promise<void>;
}

const NO_FAULTS: KinesisFaults = {
  seed: 1,
  recordFailureRate: 0,
  shardThrottling: false,
  serverErrorRate: 0,
  dropConnectionRate: 0,
  hangRate: 0,
  accessDenied: [],
  credentialLifetimeMs: 0,
  maxRecordSizeInKiB: 0,
};
const SHARD_RECORDS_PER_SECOND = 1000;
const SHARD_BYTES_PER_SECOND = 1024 * 1024;
const AMZ_JSON = 'application/x-amz-json-1.1';
const ACCOUNT = '000000000000';

interface PutRecordsInput {
  StreamName?: string;
  StreamARN?: string;
  Records: { Data: string; PartitionKey: string; ExplicitHashKey?: string }[];
}
interface PutRecordsResultEntry {
  SequenceNumber?: string;
  ShardId?: string;
  ErrorCode?: string;
  ErrorMessage?: string;
}
interface PutRecordsOutput {
  FailedRecordCount?: number;
  Records: PutRecordsResultEntry[];
  EncryptionType?: string;
}
interface Shard {
  shardId: string;
  start: bigint;
  end: bigint;
}
interface Upstream {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export async function startKinesisFaultProxy(
  targetEndpoint: string,
  initial: Partial<KinesisFaults> = {},
  options: KinesisFaultProxyOptions = {},
): Promise<KinesisFaultProxy> {
  const defaultTarget = new URL(targetEndpoint);
  const regionTargets = new Map(
    Object.entries(options.regionEndpoints ?? {}).map(([region, endpoint]) => [region, new URL(endpoint)]),
  );
  const targetOf = (headers: IncomingHttpHeaders): URL =>
    regionTargets.get(signatureScope(headers)?.region ?? '') ?? defaultTarget;
  const firstSeen = new Map<string, number>();
  const agent = new Agent({ keepAlive: true });
  let faults: KinesisFaults = { ...NO_FAULTS };
  let random = mulberry32(faults.seed);
  const counts: Record<string, number> = {};
  const injected: InjectedFaults = {
    failedEntries: 0,
    throttledEntries: 0,
    serverErrors: 0,
    droppedConnections: 0,
    hungCalls: 0,
    accessDenied: 0,
    expiredTokens: 0,
  };
  const observed: ObservedBehaviour = { partitionKeyOverlaps: 0, accessKeyIds: [] };
  const shardsByStream = new Map<string, Promise<Shard[]>>();
  const buckets = new Map<string, ShardBucket>();
  let hold: { calls: HeldCall[]; holding: boolean } | undefined;

  const setFaults = (partial: Partial<KinesisFaults>): void => {
    faults = { ...faults, ...partial };
    if (partial.seed !== undefined) random = mulberry32(partial.seed);
  };
  setFaults(initial);

  const chance = (rate: number): boolean => rate > 0 && (rate >= 1 || random() < rate);

  const forward = (req: Pick<IncomingMessage, 'method' | 'url' | 'headers'>, body: Buffer): Promise<Upstream> =>
    new Promise((resolve, reject) => {
      const target = targetOf(req.headers);
      const headers: IncomingHttpHeaders = { ...req.headers, host: target.host, 'content-length': String(body.length) };
      const upstream = request(
        {
          protocol: target.protocol,
          hostname: target.hostname,
          port: target.port,
          method: req.method ?? 'POST',
          path: req.url ?? '/',
          headers,
          agent,
        },
        (res) => {
          readBody(res).then(
            (data) => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: data }),
            reject,
          );
        },
      );
      upstream.once('error', reject);
      upstream.end(body);
    });

  /** The stream's open shards, asked of the emulator once per stream with the caller's auth headers. */
  const shardsOf = (req: IncomingMessage, stream: string): Promise<Shard[]> => {
    const key = `${targetOf(req.headers).host}/${stream}`;
    let shards = shardsByStream.get(key);
    if (!shards) {
      const describe = {
        method: 'POST',
        url: '/',
        headers: { ...req.headers, 'x-amz-target': 'Kinesis_20131202.DescribeStream' },
      };
      shards = forward(describe, Buffer.from(JSON.stringify({ StreamName: stream }))).then((res) => {
        if (res.status !== 200)
          throw new Error(`DescribeStream ${stream} answered ${res.status}: ${res.body.toString()}`);
        const description = JSON.parse(res.body.toString()) as {
          StreamDescription: {
            Shards: {
              ShardId: string;
              HashKeyRange: { StartingHashKey: string; EndingHashKey: string };
              SequenceNumberRange: { EndingSequenceNumber?: string };
            }[];
          };
        };
        return description.StreamDescription.Shards.filter(
          (s) => s.SequenceNumberRange.EndingSequenceNumber === undefined,
        ).map((s) => ({
          shardId: s.ShardId,
          start: BigInt(s.HashKeyRange.StartingHashKey),
          end: BigInt(s.HashKeyRange.EndingHashKey),
        }));
      });
      shards.catch(() => shardsByStream.delete(key));
      shardsByStream.set(key, shards);
    }
    return shards;
  };

  /** Fails entries at random or over their shard's limits, forwards the rest, merges the answers. */
  const putRecords = async (req: IncomingMessage, body: Buffer): Promise<Upstream> => {
    const input = JSON.parse(body.toString()) as PutRecordsInput;
    const stream = input.StreamName ?? input.StreamARN?.split('/').pop() ?? '';
    const shards = await shardsOf(req, stream);
    const synthetic = new Map<number, PutRecordsResultEntry>();
    input.Records.forEach((entry, i) => {
      const shard = shardFor(shards, entry);
      // No shard holds it (e.g. a permission probe's out-of-range key): the emulator answers.
      if (!shard) return;
      const rateExceeded = {
        ErrorCode: 'ProvisionedThroughputExceededException',
        ErrorMessage: `Rate exceeded for shard ${shard.shardId} in stream ${stream} under account ${ACCOUNT}.`,
      };
      if (chance(faults.recordFailureRate)) {
        injected.failedEntries += 1;
        synthetic.set(i, rateExceeded);
        return;
      }
      if (!faults.shardThrottling) return;
      const key = `${stream}/${shard.shardId}`;
      let bucket = buckets.get(key);
      if (!bucket) buckets.set(key, (bucket = new ShardBucket()));
      const bytes = Buffer.byteLength(entry.Data, 'base64') + Buffer.byteLength(entry.PartitionKey, 'utf8');
      if (!bucket.take(bytes)) {
        injected.throttledEntries += 1;
        synthetic.set(i, rateExceeded);
      }
    });
    if (synthetic.size === 0) return forward(req, body);

    const passed = input.Records.filter((_, i) => !synthetic.has(i));
    let upstream: PutRecordsOutput = { FailedRecordCount: 0, Records: [] };
    let headers: IncomingHttpHeaders = { 'content-type': AMZ_JSON };
    if (passed.length > 0) {
      const res = await forward(req, Buffer.from(JSON.stringify({ ...input, Records: passed })));
      if (res.status !== 200) return res;
      upstream = JSON.parse(res.body.toString()) as PutRecordsOutput;
      headers = res.headers;
    }
    let next = 0;
    const merged: PutRecordsOutput = {
      ...upstream,
      FailedRecordCount: (upstream.FailedRecordCount ?? 0) + synthetic.size,
      Records: input.Records.map((_, i) => synthetic.get(i) ?? (upstream.Records[next++] as PutRecordsResultEntry)),
    };
    return { status: 200, headers, body: Buffer.from(JSON.stringify(merged)) };
  };

  /**
   * Notes the partition keys of a PutRecords call in progress; a key already in progress, in
   * this call or another, is an overlap (tests use one key per profile). Entries with an explicit
   * hash key are left out: only permission probes set one (out of range, never written), and a
   * destination's checks may run side by side.
   */
  const inFlightKeys = new Map<string, number>();
  const enterKeys = (body: Buffer): string[] => {
    const keys = (JSON.parse(body.toString()) as PutRecordsInput).Records.filter(
      (r) => r.ExplicitHashKey === undefined,
    ).map((r) => r.PartitionKey);
    for (const key of keys) {
      const calls = inFlightKeys.get(key) ?? 0;
      if (calls > 0) observed.partitionKeyOverlaps += 1;
      inFlightKeys.set(key, calls + 1);
    }
    return keys;
  };
  const leaveKeys = (keys: readonly string[]): void => {
    for (const key of keys) {
      const calls = (inFlightKeys.get(key) ?? 1) - 1;
      if (calls === 0) inFlightKeys.delete(key);
      else inFlightKeys.set(key, calls);
    }
  };

  const respond = async (
    req: IncomingMessage,
    res: ServerResponse,
    operation: string,
    body: Buffer,
    keys: readonly string[],
  ): Promise<void> => {
    const accessKeyId = signatureScope(req.headers)?.accessKeyId;
    if (accessKeyId !== undefined) {
      const now = performance.now();
      if (!firstSeen.has(accessKeyId)) {
        firstSeen.set(accessKeyId, now);
        observed.accessKeyIds.push(accessKeyId);
      }
      if (faults.credentialLifetimeMs > 0 && now - (firstSeen.get(accessKeyId) ?? now) > faults.credentialLifetimeMs) {
        injected.expiredTokens += 1;
        return sendJson(res, 400, {
          __type: 'ExpiredTokenException',
          message: 'The security token included in the request is expired',
        });
      }
    }
    if (faults.accessDenied.includes(operation)) {
      injected.accessDenied += 1;
      const message = `User: arn:aws:iam::${ACCOUNT}:user/kinesis-activation-test is not authorized to perform: kinesis:${operation} because no identity-based policy allows the kinesis:${operation} action`;
      return sendJson(res, 400, { __type: 'AccessDeniedException', message });
    }
    if (chance(faults.serverErrorRate)) {
      injected.serverErrors += 1;
      return sendJson(res, 500, { __type: 'InternalFailure', message: 'injected by the fault proxy' });
    }
    const recordFaults = faults.recordFailureRate > 0 || faults.shardThrottling;
    const upstream =
      operation === 'PutRecords' && recordFaults && isJson(req)
        ? await putRecords(req, body)
        : await forward(req, body);
    if (chance(faults.dropConnectionRate)) {
      injected.droppedConnections += 1;
      req.socket.destroy();
      return;
    }
    const answer =
      operation === 'DescribeStreamSummary' && faults.maxRecordSizeInKiB > 0 && upstream.status === 200
        ? withMaxRecordSize(upstream.body, faults.maxRecordSizeInKiB)
        : upstream.body;
    // Only acknowledgements wait: a refused call (a permission check's probe) is answered at once.
    if (operation === 'PutRecords' && hold?.holding && upstream.status === 200) {
      const calls = hold.calls;
      await new Promise<void>((release) => calls.push({ partitionKeys: keys, release }));
    }
    const headers = { ...upstream.headers, 'content-length': String(answer.length) };
    delete headers['transfer-encoding'];
    res.writeHead(upstream.status, headers);
    res.end(answer);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readBody(req);
    const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? 'Unknown';
    counts[operation] = (counts[operation] ?? 0) + 1;
    // A hung call reaches no emulator, so its keys are not in flight: the client's retry is no overlap.
    if (operation === 'PutRecords' && chance(faults.hangRate)) {
      injected.hungCalls += 1;
      return;
    }
    const keys = operation === 'PutRecords' && isJson(req) ? enterKeys(body) : [];
    try {
      await respond(req, res, operation, body, keys);
    } finally {
      leaveKeys(keys);
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) return void res.destroy();
      sendJson(res, 502, { __type: 'ProxyError', message: err instanceof Error ? err.message : String(err) });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    setFaults,
    holdAnswers() {
      const current = { calls: [] as HeldCall[], holding: true };
      hold = current;
      return {
        calls: current.calls,
        stop: () => {
          current.holding = false;
        },
      };
    },
    counts,
    injected,
    observed,
    reset() {
      faults = { ...NO_FAULTS };
      random = mulberry32(faults.seed);
      for (const key of Object.keys(counts)) delete counts[key];
      for (const key of Object.keys(injected) as (keyof InjectedFaults)[]) injected[key] = 0;
      observed.partitionKeyOverlaps = 0;
      observed.accessKeyIds.length = 0;
      firstSeen.clear();
      buckets.clear();
      for (const call of hold?.calls ?? []) call.release();
      hold = undefined;
      shardsByStream.clear();
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        agent.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * A shard's write capacity: both buckets hold one second of capacity and refill continuously,
 * and an entry is accepted only when both have room, as the service meters records and bytes.
 */
class ShardBucket {
  private records = SHARD_RECORDS_PER_SECOND;
  private bytes = SHARD_BYTES_PER_SECOND;
  private at = performance.now();

  take(bytes: number): boolean {
    const now = performance.now();
    const seconds = (now - this.at) / 1000;
    this.at = now;
    this.records = Math.min(SHARD_RECORDS_PER_SECOND, this.records + seconds * SHARD_RECORDS_PER_SECOND);
    this.bytes = Math.min(SHARD_BYTES_PER_SECOND, this.bytes + seconds * SHARD_BYTES_PER_SECOND);
    if (this.records < 1 || this.bytes < bytes) return false;
    this.records -= 1;
    this.bytes -= bytes;
    return true;
  }
}

/** The shard whose hash key range holds the MD5 of the partition key, as Kinesis routes records. */
function shardFor(
  shards: readonly Shard[],
  entry: { PartitionKey: string; ExplicitHashKey?: string },
): Shard | undefined {
  const hash =
    entry.ExplicitHashKey !== undefined
      ? BigInt(entry.ExplicitHashKey)
      : BigInt(`0x${createHash('md5').update(entry.PartitionKey, 'utf8').digest('hex')}`);
  return shards.find((s) => hash >= s.start && hash <= s.end);
}

/** The access key and region a SigV4 `Authorization` header was signed with. */
function signatureScope(headers: IncomingHttpHeaders): { accessKeyId: string; region: string } | undefined {
  const match = /Credential=([^/,\s]+)\/\d{8}\/([^/]+)\//.exec(headers.authorization ?? '');
  return match ? { accessKeyId: match[1] as string, region: match[2] as string } : undefined;
}

function isJson(req: IncomingMessage): boolean {
  return req.headers['content-type'] === AMZ_JSON;
}

function readBody(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: object): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    'content-type': AMZ_JSON,
    'content-length': String(data.length),
    'x-amzn-requestid': createHash('md5').update(data).digest('hex'),
  });
  res.end(data);
}

/** A small seeded PRNG (mulberry32): the same seed gives the same faults for the same calls. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A DescribeStreamSummary answer with the stream's MaxRecordSizeInKiB set. */
function withMaxRecordSize(body: Buffer, kib: number): Buffer {
  const answer = JSON.parse(body.toString('utf8')) as { StreamDescriptionSummary: Record<string, unknown> };
  answer.StreamDescriptionSummary.MaxRecordSizeInKiB = kib;
  return Buffer.from(JSON.stringify(answer));
}
