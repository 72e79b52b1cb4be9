/**
 * Ingest through the HTTP service beside the client API's direct ingest, in one run on one stack.
 *
 *   npx tsc -p . && node lib/bench/ingestHttp.js [--profiles 50000] [--rates 100,1000] [--seconds 30]
 *                                            [--concurrency 1,4] [--json]
 *
 * One stack for the whole run: a Temporal dev server, kinesalite in its own process (LevelDB on
 * disk), a SQLite store, the worker as its own process and `kinesis-activation serve` as its own
 * process (as deployed), both over that store; one destination mapping the bench segment. The
 * bench process drives both sides: its own ActivationClient for the direct ingest, and HTTP
 * requests (node:http, keep-alive, at most as many at once as the service admits, 1,024) for
 * the service. Scenarios:
 *   latency     open loop: at RATE changes/s for SECONDS, each a new member of the mapped
 *               segment, one HTTP request per change, or each a line written to one direct
 *               `ingest` call kept open (a feed, as `producer | ingest -`); from just before the
 *               request or write until its record arrived in the stream (its arrival time, as
 *               read back; p50, p99, max), and until it was answered (HTTP: 200, stored and
 *               announced; direct: stored)
 *   throughput  PROFILES snapshots in batches of 500 lines: HTTP POSTs over CONCURRENCY
 *               keep-alive connections, and direct `ingest` calls, one per batch and one stream
 *               of everything; the destination is paused meanwhile (announced, not exported),
 *               so the figures are the ingest path's own
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Agent, request as httpRequest } from 'node:http';
import { createInterface } from 'node:readline';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand } from '@aws-sdk/client-kinesis';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { Client, Connection } from '@temporalio/client';
import { ActivationClient } from '../src/client/activationClient';
import { profileIdHash } from '../src/domain/partitionKey';
import { startTemporalDevServer } from '../src/embedded/temporalDevServer';
import { waitFor } from '../src/embedded/waitFor';
import { DEFAULT_MAX_IN_FLIGHT } from '../src/http/ingestService';
import { openStore } from '../src/store/openStore';
import { startWorkerProcess } from '../test/support/workerProcess';
import { startBenchStream } from './emulator';
import { BENCH_ACTIVATION, benchProfiles } from './profiles';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const SECRET_ENV = 'BENCH_KINESIS_SECRET';
const BATCH = 500;
/** bin/kinesis-activation above this file (bench/ or its build under lib/bench/). */
const BIN = [resolve(__dirname, '..'), resolve(__dirname, '..', '..')]
  .map((root) => join(root, 'bin', 'kinesis-activation'))
  .find((bin) => existsSync(bin)) as string;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

/** One way into the store: `send` takes NDJSON text and resolves once it is stored and announced. */
interface IngestPath {
  name: string;
  send(ndjson: string): Promise<void>;
}

function directPath(client: ActivationClient): IngestPath {
  return {
    name: 'direct',
    async send(ndjson) {
      const result = await client.ingest(Readable.from([ndjson]));
      if (result.rejected.length > 0 || result.unannounced !== null)
        throw new Error(`direct ingest: ${JSON.stringify(result.rejected[0] ?? result.unannounced)}`);
    },
  };
}

/** POSTs over keep-alive connections (node:http: a lighter client than fetch, so the sender is not the bottleneck). */
function httpPath(url: string, token: string, agent: Agent): IngestPath {
  return {
    name: 'http',
    send: (ndjson) =>
      new Promise<void>((resolvePost, reject) => {
        const req = httpRequest(`${url}/v1/profiles`, {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${token}` },
        });
        req.once('error', reject);
        req.once('response', (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.once('end', () =>
            res.statusCode === 200 ? resolvePost() : reject(new Error(`POST answered ${res.statusCode}: ${text}`)),
          );
        });
        req.end(ndjson);
      }),
  };
}

/** One change at a time, for the latency runs: `send` calls `answered` or `failed` later. */
interface ChangeFeed {
  name: string;
  send(line: string, answered: () => void, failed: (err: unknown) => void): void;
  /** Resolves once everything sent was answered. */
  close(): Promise<void>;
}

function requestFeed(path: IngestPath): ChangeFeed {
  const inFlight = new Set<Promise<void>>();
  return {
    name: path.name,
    send(line, answered, failed) {
      const call: Promise<void> = path
        .send(line)
        .then(answered, failed)
        .finally(() => inFlight.delete(call));
      inFlight.add(call);
    },
    async close() {
      while (inFlight.size > 0) await Promise.all(inFlight);
    },
  };
}

/** One direct `ingest` call reading a stream kept open: a line is answered once the client reports it stored. */
function streamFeed(client: ActivationClient): ChangeFeed {
  const input = new PassThrough();
  const waiting: (() => void)[] = [];
  let answeredCount = 0;
  const ingest = client.ingest(input, {
    onProgress: ({ accepted }) => {
      for (; answeredCount < accepted; answeredCount++) waiting[answeredCount]?.();
    },
  });
  return {
    name: 'direct',
    send(line, answered) {
      waiting.push(answered);
      input.write(line);
    },
    async close() {
      input.end();
      const result = await ingest;
      if (result.rejected.length > 0 || result.unannounced !== null)
        throw new Error(`direct feed: ${JSON.stringify(result.rejected[0] ?? result.unannounced)}`);
    },
  };
}

function ndjsonOf(profiles: ReturnType<typeof benchProfiles>): string {
  return profiles.map((p) => `${JSON.stringify(p.snapshot)}\n`).join('');
}

// ---------------------------------------------------------------------------------------------
// Throughput

export interface ThroughputRun {
  path: string;
  /** Batches sent at once (HTTP: keep-alive connections). */
  concurrency: number | 'one stream';
  profiles: number;
  seconds: number;
  perSecond: number;
}

/** `count` new profiles in batches of 500, `concurrency` batches at a time. */
export async function throughput(
  path: IngestPath,
  count: number,
  concurrency: number,
  tag: string,
): Promise<ThroughputRun> {
  const batches = Array.from({ length: Math.ceil(count / BATCH) }, (_, b) =>
    ndjsonOf(benchProfiles(Math.min(BATCH, count - b * BATCH), `${tag}b${b}`)),
  );
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let b = next++; b < batches.length; b = next++) await path.send(batches[b] as string);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { path: path.name, concurrency, profiles: count, seconds, perSecond: Math.round(count / seconds) };
}

/** The client's own way with a large input: one `ingest` call reading the whole stream. */
export async function throughputOneStream(
  client: ActivationClient,
  count: number,
  tag: string,
): Promise<ThroughputRun> {
  const profiles = benchProfiles(count, tag);
  const started = performance.now();
  const result = await client.ingest(Readable.from(profiles.map((p) => `${JSON.stringify(p.snapshot)}\n`)));
  if (result.accepted !== count) throw new Error(`one stream: accepted ${result.accepted} of ${count}`);
  const seconds = (performance.now() - started) / 1000;
  return {
    path: 'direct',
    concurrency: 'one stream',
    profiles: count,
    seconds,
    perSecond: Math.round(count / seconds),
  };
}

// ---------------------------------------------------------------------------------------------
// Latency

/**
 * A shard read that found nothing waits this long before the next. The latency is taken from each
 * record's arrival time in the stream, not from when the reader saw it, so this costs the figures
 * nothing; polling every 5 ms cost the bench process and kinesalite ~400 GetRecords a second
 * (signing and serving them), CPU the services under test lacked on two cores.
 */
const TAIL_IDLE_MS = 50;

/** Reads every shard from LATEST on, calling `seen` with each record's partition key and arrival (epoch ms). */
async function tailStream(
  kinesis: KinesisClient,
  stream: string,
  seen: (partitionKey: string, arrivedAtMs: number) => void,
  signal: AbortSignal,
): Promise<() => Promise<void>> {
  const shards = (await kinesis.send(new ListShardsCommand({ StreamName: stream }))).Shards ?? [];
  const iterators = await Promise.all(
    shards.map(
      async (s) =>
        (
          await kinesis.send(
            new GetShardIteratorCommand({ StreamName: stream, ShardId: s.ShardId, ShardIteratorType: 'LATEST' }),
          )
        ).ShardIterator,
    ),
  );
  const loops = iterators.map(async (start) => {
    let iterator = start;
    while (iterator && !signal.aborted) {
      const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      for (const r of page.Records ?? [])
        seen(r.PartitionKey ?? '', r.ApproximateArrivalTimestamp?.getTime() ?? Date.now());
      iterator = page.NextShardIterator;
      if ((page.Records ?? []).length === 0) await delay(TAIL_IDLE_MS);
    }
  });
  return async () => {
    await Promise.all(loops);
  };
}

export interface LatencyRun {
  path: string;
  rate: number;
  seconds: number;
  changes: number;
  /** Call or request until the record arrived in the stream (read back, its arrival time), in ms. */
  endToEnd: { p50: number; p99: number; max: number };
  /** Call or request until it answered (stored and announced), in ms. */
  answered: { p50: number; p99: number; max: number };
  /** Changes sent later than their slot by more than 50 ms (the sender fell behind). */
  late: number;
}

function percentiles(values: number[]): { p50: number; p99: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN);
  return { p50: at(0.5), p99: at(0.99), max: Math.round(sorted[sorted.length - 1] ?? NaN) };
}

/** Open loop: change i is sent at start + i / rate, whether or not earlier ones answered. */
export async function latency(
  feed: ChangeFeed,
  kinesis: KinesisClient,
  stream: string,
  rate: number,
  seconds: number,
  tag: string,
): Promise<LatencyRun> {
  const total = rate * seconds;
  const profiles = benchProfiles(total, tag);
  const byKey = new Map(profiles.map((p, i) => [profileIdHash(p.profileId), i]));
  const sentAt = new Float64Array(total);
  const seenAt = new Float64Array(total);
  const answeredAt = new Float64Array(total);
  let seenCount = 0;
  const abort = new AbortController();
  const stopTail = await tailStream(
    kinesis,
    stream,
    (key, arrivedAtMs) => {
      const i = byKey.get(key);
      if (i !== undefined && seenAt[i] === 0) {
        // On the performance.now() timeline of sentAt (the emulator stamps arrival with this machine's clock).
        seenAt[i] = arrivedAtMs - performance.timeOrigin;
        seenCount++;
      }
    },
    abort.signal,
  );
  const failures: unknown[] = [];
  let late = 0;
  const start = performance.now() + 50;
  for (let i = 0; i < total;) {
    const now = performance.now();
    for (; i < total && start + (i * 1000) / rate <= now; i++) {
      if (now - (start + (i * 1000) / rate) > 50) late++;
      const index = i;
      sentAt[index] = performance.now();
      feed.send(
        `${JSON.stringify(profiles[index]?.snapshot)}\n`,
        () => void (answeredAt[index] = performance.now()),
        (err) => void failures.push(err),
      );
    }
    await delay(Math.max(0, start + (i * 1000) / rate - performance.now()));
  }
  await feed.close();
  if (failures.length > 0)
    process.stderr.write(`  ${feed.name} ${rate}/s: ${failures.length} calls failed: ${String(failures[0])}\n`);
  await waitFor(() => seenCount >= total - failures.length, {
    timeoutMs: 120_000,
    intervalMs: 50,
    what: `${total} records of ${feed.name} at ${rate}/s`,
  });
  abort.abort();
  await stopTail();
  const endToEnd: number[] = [];
  const answered: number[] = [];
  for (let i = 0; i < total; i++) {
    if (seenAt[i]! > 0) endToEnd.push(seenAt[i]! - sentAt[i]!);
    if (answeredAt[i]! > 0) answered.push(answeredAt[i]! - sentAt[i]!);
  }
  return {
    path: feed.name,
    rate,
    seconds,
    changes: total,
    endToEnd: percentiles(endToEnd),
    answered: percentiles(answered),
    late,
  };
}

// ---------------------------------------------------------------------------------------------
// The stack

/** `kinesis-activation serve` as its own process; resolves with its URL once it is ready. */
async function startServe(env: NodeJS.ProcessEnv): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--json', '--port', '0', '--metrics-port', '0'], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const line = await Promise.race([
    new Promise<string>((done) => createInterface({ input: child.stdout }).once('line', done)),
    exited.then(() => {
      throw new Error('serve exited before it listened');
    }),
  ]);
  const { url } = JSON.parse(line) as { url: string };
  await waitFor(async () => (await fetch(`${url}/readyz`)).ok, { timeoutMs: 30_000, what: 'serve to be ready' });
  return {
    url,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function main(): Promise<void> {
  const profiles = Number(arg('profiles', '50000'));
  const rates = arg('rates', '100,1000').split(',').map(Number);
  const seconds = Number(arg('seconds', '30'));
  const concurrencies = arg('concurrency', '1,4').split(',').map(Number);
  const dir = mkdtempSync(join(tmpdir(), 'ka-bench-ingest-'));
  const stops: (() => Promise<void>)[] = [];
  try {
    const server = await startTemporalDevServer({ headless: true });
    stops.push(() => server.stop());
    const stream = 'bench-ingest';
    const { emulator, kinesis, stop } = await startBenchStream(dir, stream, 2);
    stops.push(stop);

    const databaseUrl = join(dir, 'store.sqlite');
    const store = await openStore(databaseUrl);
    stops.push(() => store.close());
    const taskQueue = 'bench-ingest';
    const env = {
      TEMPORAL_ADDRESS: server.address,
      KINESIS_ACTIVATION_TASK_QUEUE: taskQueue,
      DATABASE_URL: databaseUrl,
    };
    const worker = await startWorkerProcess({ ...env, [SECRET_ENV]: 'any' });
    stops.push(() => worker.kill());
    const token = randomBytes(24).toString('base64url');
    const serve = await startServe({ ...env, KINESIS_ACTIVATION_INGEST_TOKENS: token });
    stops.push(() => serve.stop());

    const connection = await Connection.connect({ address: server.address });
    stops.push(() => connection.close());
    const client = new ActivationClient(new Client({ connection, namespace: server.namespace }), store, taskQueue);
    const { id } = await client.createDestination({
      name: 'bench',
      region: 'us-east-1',
      stream,
      endpoint: emulator.endpoint,
      credentials: { type: 'accessKey', accessKeyId: 'AKIABENCHMARK00001', secretAccessKeyEnv: SECRET_ENV },
    });
    await client.activate(id, BENCH_ACTIVATION);
    await waitFor(async () => (await client.status(id)).state === 'idle', {
      timeoutMs: 60_000,
      what: 'the activation',
    });

    // As many connections as the service admits requests at once: a sender at 1,000 one-change
    // requests a second has 100-200 waiting for their group's write (64 held it to ~640 a second).
    const agent = new Agent({ keepAlive: true, maxSockets: DEFAULT_MAX_IN_FLIGHT });
    stops.push(() => Promise.resolve(agent.destroy()));
    const http = httpPath(serve.url, token, agent);
    const paths = [directPath(client), http];

    const latencies: LatencyRun[] = [];
    for (const rate of rates)
      for (const feed of [streamFeed(client), requestFeed(http)]) {
        process.stderr.write(`latency: ${feed.name} at ${rate}/s for ${seconds} s\n`);
        latencies.push(await latency(feed, kinesis, stream, rate, seconds, `lat-${feed.name}-${rate}`));
      }

    // Announced, not exported: the ingest path alone.
    await client.pause(id);
    const throughputs: ThroughputRun[] = [];
    for (const concurrency of concurrencies)
      for (const path of paths) {
        process.stderr.write(`throughput: ${path.name}, ${concurrency} at a time\n`);
        throughputs.push(await throughput(path, profiles, concurrency, `tp-${path.name}-${concurrency}`));
      }
    throughputs.push(await throughputOneStream(client, profiles, 'tp-stream'));

    if (process.argv.includes('--json')) {
      console.log(JSON.stringify({ latencies, throughputs }));
      return;
    }
    console.log('\nthroughput (batches of 500 lines; destination paused: stored and announced, not exported)');
    console.log('path     at a time     profiles   seconds   profiles/s   vs direct');
    for (const t of throughputs) {
      const direct = throughputs.find((d) => d.path === 'direct' && d.concurrency === t.concurrency);
      console.log(
        `${t.path.padEnd(8)} ${String(t.concurrency).padEnd(12)} ${String(t.profiles).padStart(9)} ${t.seconds.toFixed(1).padStart(9)} ${String(t.perSecond).padStart(12)} ${direct ? (t.perSecond / direct.perSecond).toFixed(2).padStart(11) : ''}`,
      );
    }
    console.log(
      "\nend-to-end latency, ms (request or line -> the record's arrival in the stream; answered: HTTP 200, or direct line stored)",
    );
    console.log('path     rate/s   changes   e2e p50   e2e p99   e2e max   answered p50   answered p99   late');
    for (const l of latencies) {
      console.log(
        `${l.path.padEnd(8)} ${String(l.rate).padStart(6)} ${String(l.changes).padStart(9)} ${String(l.endToEnd.p50).padStart(9)} ${String(l.endToEnd.p99).padStart(9)} ${String(l.endToEnd.max).padStart(9)} ${String(l.answered.p50).padStart(14)} ${String(l.answered.p99).padStart(14)} ${String(l.late).padStart(6)}`,
      );
    }
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module)
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
