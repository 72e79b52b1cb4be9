/**
 * Soak run (see bench/README.md): the embedded stack (Temporal dev server with its history in a
 * file, kinesalite behind the fault proxy, the SQLite store, `kinesis-activation worker` in its
 * own process) fed a steady stream of mapped changes for `--duration`, while the worker is
 * SIGKILLed every 1-3 minutes, 2% of the records of every call fail, 1% of the calls hang, and
 * Temporal restarts once half-way. At the end every acknowledged change is looked for in the
 * stream. Not part of `npm test`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-kinesis';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { Client, Connection } from '@temporalio/client';
import { EXPORT_CHUNK_SIZE, MAX_UNACKNOWLEDGED } from '../../src/activities/pagePipeline';
import { ActivationClient } from '../../src/client/activationClient';
import type { IngestResult } from '../../src/client/activationClient';
import { ensureStream } from '../../src/embedded/ensureStream';
import { freePorts } from '../../src/embedded/freePort';
import { startTemporalDevServer } from '../../src/embedded/temporalDevServer';
import type { TemporalDevServer } from '../../src/embedded/temporalDevServer';
import { waitFor } from '../../src/embedded/waitFor';
import { createKinesisClient } from '../../src/kinesis/client';
import { listShards } from '../../src/kinesis/streamReader';
import { SqliteStore } from '../../src/store/sqliteStore';
import { startWorkerProcess } from '../../test/support/workerProcess';
import type { WorkerProcess } from '../../test/support/workerProcess';
import { startEmulatorProcess } from '../emulator';
import { slope, SoakTally } from './tally';
import type { ChangeId } from './tally';

const SECRET_ENV = 'SOAK_KINESIS_SECRET';
const STREAM = 'soak';
const SEGMENT = 'seg-soak';
const TASK_QUEUE = 'soak';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '30m' },
    rate: { type: 'string', default: '500' },
    profiles: { type: 'string', default: '50000' },
    shards: { type: 'string', default: '4' },
    'request-timeout-ms': { type: 'string', default: '3000' },
    seed: { type: 'string', default: '16' },
  },
});

function positive(name: keyof typeof args): number {
  const value = Number(args[name]);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be a positive whole number`);
  return value;
}

/** `30m`, `90s`, `1h`, or minutes as a number. */
function durationMs(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new Error(`--duration: expected e.g. 30m, 90s or 1h, got ${text}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 'm'] ?? 60_000;
  return Number(match[1]) * unit;
}

/** A small seeded generator (mulberry32): the same seed gives the same kill schedule. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function snapshotLine({ profile, version }: ChangeId): string {
  return `${JSON.stringify({
    profileId: `soak-${profile}`,
    identityMap: { ecid: [{ id: `ecid-soak-${profile}` }] },
    person: { email: `soak-${profile}@soak.example`, name: { firstName: `v${version}` } },
    segmentMembership: { ups: { [SEGMENT]: { status: 'realized', lastQualificationTime: '2024-01-01T00:00:00Z' } } },
  })}\n`;
}

/** The change a record carries (its profile by email, its version by first name). */
function changeOf(data: Uint8Array): ChangeId | undefined {
  const body = JSON.parse(new TextDecoder().decode(data)) as {
    person?: { email?: string; name?: { firstName?: string } };
  };
  const profile = /^soak-(\d+)@/.exec(body.person?.email ?? '')?.[1];
  const version = /^v(\d+)$/.exec(body.person?.name?.firstName ?? '')?.[1];
  return profile === undefined || version === undefined
    ? undefined
    : { profile: Number(profile), version: Number(version) };
}

/** Reads every shard as it fills, handing each record with its arrival time to `onRecord`. */
function tailStream(
  kinesis: KinesisClient,
  stream: string,
  onRecord: (data: Uint8Array, arrivalMs: number) => void,
): { caughtUpSince(ms: number): boolean; stop(): void } {
  let stopped = false;
  /** Per shard: when it last answered with nothing new and nothing behind. */
  const idleAt = new Map<string, number>();
  void (async () => {
    const shards = await listShards(kinesis, stream);
    await Promise.all(
      shards.map(async (shard) => {
        const shardId = shard.ShardId ?? '';
        let { ShardIterator: iterator } = await kinesis.send(
          new GetShardIteratorCommand({ StreamName: stream, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }),
        );
        while (!stopped && iterator) {
          let page;
          try {
            page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
          } catch {
            await delay(500);
            continue;
          }
          for (const r of page.Records ?? [])
            onRecord(r.Data ?? new Uint8Array(), r.ApproximateArrivalTimestamp?.getTime() ?? Date.now());
          iterator = page.NextShardIterator;
          if ((page.Records ?? []).length === 0) {
            if ((page.MillisBehindLatest ?? 0) === 0) idleAt.set(shardId, Date.now());
            await delay(200);
          }
        }
      }),
    );
  })().catch((err: unknown) => console.error(`soak: tailing ${stream} failed: ${String(err)}`));
  return {
    caughtUpSince: (ms) => idleAt.size > 0 && [...idleAt.values()].every((t) => t >= ms),
    stop: () => {
      stopped = true;
    },
  };
}

function rssMiB(pid: number | undefined): number | undefined {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Math.round(Number(kb) / 1024);
  } catch {
    return undefined;
  }
}

function log(message: string): void {
  console.log(`soak ${new Date().toISOString().slice(11, 19)} ${message}`);
}

async function main(): Promise<void> {
  const runMs = durationMs(String(args.duration));
  const rate = positive('rate');
  const profiles = positive('profiles');
  const shards = positive('shards');
  const seed = positive('seed');
  const next = random(seed);
  process.env[SECRET_ENV] = 'soak';
  const dir = mkdtempSync(join(tmpdir(), 'ka-soak-'));
  const stops: (() => Promise<void>)[] = [];
  /** Set once the run is over: worker exits are ours from then on. */
  let stopping = false;
  try {
    // Faults: 2% of the records of every call fail, 1% of the calls are never answered.
    const emulator = await startEmulatorProcess({
      path: join(dir, 'kinesis'),
      faults: { recordFailureRate: 0.02, hangRate: 0.01, seed },
    });
    stops.push(() => Promise.resolve(emulator.stop()));
    const kinesis = createKinesisClient({
      region: 'us-east-1',
      endpoint: emulator.endpoint,
      credentials: { accessKeyId: 'soak', secretAccessKey: 'soak' },
    });
    stops.push(() => Promise.resolve(kinesis.destroy()));
    await ensureStream(kinesis, STREAM, shards);

    const [temporalPort] = await freePorts(1);
    const temporalOptions = { headless: true, port: temporalPort, dbFilename: join(dir, 'temporal.sqlite') };
    let temporal: TemporalDevServer = await startTemporalDevServer(temporalOptions);
    stops.push(() => temporal.stop());
    const connection = await Connection.connect({ address: temporal.address });
    stops.push(() => connection.close());
    const databaseUrl = join(dir, 'store.sqlite');
    const store = new SqliteStore(databaseUrl);
    stops.push(() => store.close());
    const client = new ActivationClient(new Client({ connection, namespace: temporal.namespace }), store, TASK_QUEUE);

    const workerEnv: NodeJS.ProcessEnv = {
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: temporal.namespace,
      KINESIS_ACTIVATION_TASK_QUEUE: TASK_QUEUE,
      DATABASE_URL: databaseUrl,
      // A hung call is abandoned and retried after this long.
      KINESIS_ACTIVATION_KINESIS_REQUEST_TIMEOUT_MS: String(args['request-timeout-ms']),
    };
    let worker: WorkerProcess = await startWorkerProcess(workerEnv);
    stops.push(() => worker.kill());
    let workersStarted = 1;
    let unexpectedExits = 0;
    /** Workers this run killed (the others' exits are their own). */
    const killed = new WeakSet<WorkerProcess>();
    /** Restarts a worker that died by itself (any exit we did not cause). */
    const supervise = (w: WorkerProcess): void => {
      w.child.once('exit', () => {
        if (killed.has(w) || stopping) return;
        unexpectedExits++;
        log(`worker ${w.identity} exited by itself: ${w.output().slice(-500)}`);
        void replaceWorker();
      });
    };
    /** The replacement of the worker under way, if any (an object: set in callbacks). */
    const replacement: { running: Promise<void> | null } = { running: null };
    const replaceWorker = (): Promise<void> =>
      (replacement.running ??= (async () => {
        killed.add(worker);
        await worker.kill();
        worker = await startWorkerProcess(workerEnv);
        workersStarted++;
        supervise(worker);
      })().finally(() => (replacement.running = null)));
    supervise(worker);

    const { id } = await client.createDestination({
      name: 'soak',
      region: 'us-east-1',
      stream: STREAM,
      endpoint: emulator.proxyEndpoint,
      credentials: { type: 'accessKey', accessKeyId: 'AKIASOAKEXAMPLE001', secretAccessKeyEnv: SECRET_ENV },
    });
    await client.activate(id, { segments: [{ id: SEGMENT }], attributes: ['person.email', 'person.name.firstName'] });
    log(`destination ${id}; ${rate} changes/s over ${profiles} profiles for ${runMs / 60_000} min; data in ${dir}`);

    const tally = new SoakTally(profiles, Math.ceil((rate * runMs) / 1000) + rate * 10);
    const tail = tailStream(kinesis, STREAM, (data, arrivalMs) => {
      const change = changeOf(data);
      if (change) tally.recordRead(change, arrivalMs);
    });
    stops.push(() => Promise.resolve(tail.stop()));

    // The feed: one streaming ingest kept open, written at `rate` lines a second.
    const feed = new PassThrough();
    let acknowledged = 0;
    const ingest: Promise<IngestResult> = client.ingest(feed, { onProgress: (p) => (acknowledged = p.accepted) });
    const started = Date.now();
    const end = started + runMs;
    const pacer = setInterval(() => {
      const due = Math.min(Math.floor(((Date.now() - started) * rate) / 1000), tally.capacity);
      let chunk = '';
      while (tally.writtenCount < due) chunk += snapshotLine(tally.nextChange(Date.now()));
      if (chunk !== '') feed.write(chunk);
    }, 20);

    // Worker RSS once a minute.
    const rss: { minute: number; pid: number | undefined; mib: number | undefined }[] = [];
    const sampler = setInterval(() => {
      const pid = worker.child.pid;
      rss.push({ minute: Math.round((Date.now() - started) / 60_000), pid, mib: rssMiB(pid) });
      log(`minute ${rss.length}: worker ${pid} RSS ${rss[rss.length - 1]?.mib} MiB; ${acknowledged} changes stored`);
    }, 60_000);

    // The faults' schedule: a kill every 1-3 minutes, one Temporal restart half-way.
    const events: { at: number; kind: 'kill' | 'temporal restart' }[] = [
      { at: started + runMs / 2, kind: 'temporal restart' },
    ];
    for (let at = started + 60_000 + next() * 120_000; at < end; at += 60_000 + next() * 120_000)
      events.push({ at, kind: 'kill' });
    events.sort((a, b) => a.at - b.at);
    let kills = 0;
    let temporalRestarts = 0;
    for (const event of events) {
      await delay(Math.max(0, event.at - Date.now()));
      if (event.kind === 'kill') {
        const pid = worker.child.pid;
        // A replacement of a worker that died by itself finishes first; this kill is another.
        if (replacement.running !== null) await replacement.running;
        await replaceWorker();
        kills++;
        log(`SIGKILLed worker ${pid}; worker ${worker.child.pid} polls`);
      } else {
        const down = Date.now();
        await temporal.stop();
        temporal = await startTemporalDevServer(temporalOptions);
        temporalRestarts++;
        log(`Temporal restarted (down ${Date.now() - down} ms)`);
      }
    }
    await delay(Math.max(0, end - Date.now()));

    clearInterval(pacer);
    feed.end();
    const ingested = await ingest;
    acknowledged = ingested.accepted;
    log(`feed ended: ${tally.writtenCount} changes written, ${acknowledged} stored, last seq ${ingested.lastSeq}`);
    const caughtUpAt = await waitFor(
      async () => {
        const status = await client.status(id).catch(() => undefined);
        return status && status.state === 'idle' && status.pending === 0 && status.checkpoint >= ingested.lastSeq
          ? Date.now()
          : undefined;
      },
      { timeoutMs: 600_000, intervalMs: 500, what: 'the destination to catch up' },
    );
    await waitFor(() => tail.caughtUpSince(caughtUpAt) || undefined, {
      timeoutMs: 120_000,
      intervalMs: 200,
      what: 'the stream to be read to its end',
    });
    clearInterval(sampler);
    stopping = true;
    const status = await client.status(id);
    const figures = tally.figures(acknowledged);
    const samples = rss.filter((s) => s.mib !== undefined);
    const summary = {
      minutes: runMs / 60_000,
      rate,
      profiles,
      changesWritten: tally.writtenCount,
      ...figures,
      /** Records in flight at a kill may be resent: at most this many per kill or restart. */
      duplicateBound: (kills + unexpectedExits + temporalRestarts) * (MAX_UNACKNOWLEDGED + EXPORT_CHUNK_SIZE),
      drainMs: caughtUpAt - end,
      kills,
      unexpectedExits,
      workersStarted,
      temporalRestarts,
      counters: status.counters,
      lastError: status.lastError,
      workerRssMiB: samples.map((s) => s.mib),
      rssSlopeMiBPerHour: Number(
        (
          slope(
            samples.map((s) => s.minute),
            samples.map((s) => s.mib ?? 0),
          ) * 60
        ).toFixed(1),
      ),
    };
    log(
      `lost ${figures.lost}, duplicated ${figures.duplicated} (bound ${summary.duplicateBound}), ` +
        `coalesced ${figures.coalesced}, read back ${figures.readBack} of ${figures.acknowledged}; latency p50 ` +
        `${figures.latencyMs.p50} ms, p99 ${figures.latencyMs.p99} ms, max ${figures.latencyMs.max} ms; ` +
        `${kills} kills, ${temporalRestarts} Temporal restart(s), ${unexpectedExits} unexpected worker exits; ` +
        `worker RSS ${summary.workerRssMiB.join(', ')} MiB (${summary.rssSlopeMiBPerHour} MiB/h)`,
    );
    console.log(JSON.stringify(summary));
    if (figures.lost > 0 || figures.unexpected > 0) process.exitCode = 1;
  } finally {
    stopping = true;
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
