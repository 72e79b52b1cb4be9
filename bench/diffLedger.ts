/**
 * Store + diff benchmark: how fast the export path decides profiles against the ledger, and how
 * much memory it needs, on SQLite and PostgreSQL, without Kinesis (the part that must never be
 * the bottleneck). See bench/README.md for how to run it and what each figure means.
 *
 * Each (store, size) runs in a fresh child process, so its peak RSS is its own.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { Client } from 'pg';
import { exportPage } from '../src/activities/exportPage';
import type { RecordWriters } from '../src/activities/pagePipeline';
import type { ExportPageInput, ExportPageResult } from '../src/activities/types';
import type { Activation } from '../src/domain/activation';
import { destinationSettingsSchema } from '../src/domain/destination';
import type { ProfileSnapshot } from '../src/domain/profile';
import type { WriteSession, WriteStats } from '../src/kinesis/recordWriter';
import type { OutgoingRecord } from '../src/kinesis/outgoingRecord';
import { openStore } from '../src/store/openStore';
import type { Store } from '../src/store/store';
import { EXPORT_PAGE_SIZE } from '../src/workflows/steps';
import { startPostgres } from '../test/support/postgres';

type StoreKind = 'sqlite' | 'postgres';

/** Snapshots per upsertProfiles call, as `ingest` writes them. */
const INGEST_BATCH = 5000;
/** Records per acknowledgement: one PutRecords call's worth. */
const ACK_GROUP = 500;
const MiB = 1024 * 1024;
const DESTINATION_ID = 'bench';

const activation: Activation = {
  segments: [{ id: 'seg-cart', name: 'Cart abandoners' }, { id: 'seg-propensity' }],
  attributes: ['person.email', 'person.name.firstName'],
};
const settings = destinationSettingsSchema.parse({
  name: 'bench',
  region: 'us-east-1',
  stream: 'bench',
  credentials: { type: 'accessKey', accessKeyId: 'AKIABENCHEXAMPLE01', secretAccessKeyEnv: 'UNUSED' },
  exportOptions: { includeSegmentNames: true },
});

/**
 * Profile i in round 1 or 2: about 600 bytes of JSON, two identity namespaces, mapped and
 * unmapped attributes and segments. Round 2 is the steady state: every profile is rewritten,
 * one in ten with a mapped change, one in fifty exits a mapped segment, the rest change
 * unmapped data only (so the ledger has to be read for all of them and written for few).
 */
function snapshotOf(i: number, round: 1 | 2): ProfileSnapshot {
  const mappedChange = round === 2 && i % 10 === 0;
  const exit = round === 2 && i % 50 === 1;
  return {
    profileId: `bench-${i}`,
    identityMap: {
      ecid: [{ id: String(10n ** 37n + BigInt(i) * 7919n), primary: true }],
      email_lc_sha256: [{ id: (i * 2654435761).toString(16).padStart(16, '0').repeat(4) }],
    },
    person: {
      email: mappedChange ? `new-${i}@example.com` : `person-${i}@example.com`,
      name: { firstName: `First${i % 1000}`, lastName: `Last${i % 997}-${round}` },
      birthDayAndMonth: '01-01',
    },
    loyalty: { tier: ['bronze', 'silver', 'gold'][i % 3], points: i * round },
    segmentMembership: {
      ups: {
        'seg-cart': { status: exit ? 'exited' : 'realized', lastQualificationTime: '2024-05-25T21:24:39Z' },
        ...(i % 3 === 0
          ? { 'seg-propensity': { status: 'existing', lastQualificationTime: '2024-05-25T23:37:33Z' } }
          : {}),
        'seg-unmapped': { status: 'realized', lastQualificationTime: `2024-0${round}-01T00:00:00Z` },
      },
    },
  };
}

/** Acknowledges every record as it is added, one PutRecords-sized group after another: the export path minus Kinesis. */
const acknowledgingWriters: RecordWriters = {
  forDestination: () => ({
    open(onAcked: (records: OutgoingRecord[]) => Promise<void>): WriteSession {
      let acking: Promise<void> = Promise.resolve();
      let calls = 0;
      let sent = 0;
      return {
        add(records) {
          for (let start = 0; start < records.length; start += ACK_GROUP) {
            const group = records.slice(start, start + ACK_GROUP);
            calls++;
            sent += group.length;
            acking = acking.then(() => onAcked(group));
          }
          return [];
        },
        whenAtMost: () => acking,
        cancel: () => undefined,
        end: async (): Promise<WriteStats> => {
          await acking;
          return {
            calls,
            recordsSent: sent,
            retriedEntries: 0,
            throttledEntries: 0,
            deadLettered: [],
            rateLimit: 0,
            entryErrors: {},
          };
        },
      };
    },
  }),
};

/** Highest heap use seen: sampled every few milliseconds and after each page. */
class HeapWatch {
  peak = 0;
  private readonly timer = setInterval(() => this.sample(), 5);

  sample(): void {
    this.peak = Math.max(this.peak, process.memoryUsage().heapUsed);
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }
}

interface Phase {
  profiles: number;
  /** Wall-clock time. */
  seconds: number;
  /** CPU time of this process (user + system): steadier than wall time on a shared machine. */
  cpuSeconds: number;
  exported?: number;
}

/** Runs `work` and returns its wall and CPU seconds. */
async function timed<T>(work: () => Promise<T>): Promise<{ result: T; seconds: number; cpuSeconds: number }> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  const result = await work();
  const used = process.cpuUsage(cpu);
  return { result, seconds: (performance.now() - started) / 1000, cpuSeconds: (used.user + used.system) / 1e6 };
}

interface ChildResult {
  store: StoreKind;
  size: number;
  ingest1: Phase;
  export1: Phase;
  ingest2: Phase;
  export2: Phase;
  maxRssMiB: number;
  peakHeapMiB: number;
}

/**
 * Writes every profile's round-`round` snapshot in ingest-sized batches, generated batch by batch
 * (never all at once); only the store's time counts, not the generator's.
 */
async function ingest(store: Store, size: number, round: 1 | 2, heap: HeapWatch): Promise<Phase> {
  const phase: Phase = { profiles: size, seconds: 0, cpuSeconds: 0 };
  for (let start = 0; start < size; start += INGEST_BATCH) {
    const batch: { profileId: string; snapshot: ProfileSnapshot }[] = [];
    for (let i = start; i < Math.min(size, start + INGEST_BATCH); i++)
      batch.push({ profileId: `bench-${i}`, snapshot: snapshotOf(i, round) });
    const { seconds, cpuSeconds } = await timed(() => store.upsertProfiles(batch));
    phase.seconds += seconds;
    phase.cpuSeconds += cpuSeconds;
    heap.sample();
  }
  return phase;
}

/** Pages through every change after `cursor` with the real export activity, as the destination actor does. */
async function exportAll(store: Store, cursor: number, heap: HeapWatch): Promise<Phase & { cursor: number }> {
  const logger = new DefaultLogger('ERROR');
  let decided = 0;
  let exported = 0;
  const { seconds, cpuSeconds } = await timed(async () => {
    for (let more = true; more;) {
      const input: ExportPageInput = {
        destinationId: DESTINATION_ID,
        settings,
        activation,
        cursor,
        pageSize: EXPORT_PAGE_SIZE,
      };
      const page = await new MockActivityEnvironment(undefined, { logger }).run<
        [ExportPageInput],
        ExportPageResult,
        (i: ExportPageInput) => Promise<ExportPageResult>
      >((i) => exportPage(store, acknowledgingWriters, i), input);
      decided += page.decided;
      exported += page.exported;
      cursor = page.cursor;
      more = page.more;
      heap.sample();
    }
  });
  return { profiles: decided, exported, seconds, cpuSeconds, cursor };
}

async function runChild(kind: StoreKind, size: number, location: string): Promise<void> {
  const store = await openStore(location);
  const heap = new HeapWatch();
  try {
    // Activated as the workflow does it: profile writes then keep the destination's change keys.
    await store.saveDestination({ id: DESTINATION_ID, settings, activation });
    const ingest1 = await ingest(store, size, 1, heap);
    const export1 = await exportAll(store, 0, heap);
    const ingest2 = await ingest(store, size, 2, heap);
    const export2 = await exportAll(store, export1.cursor, heap);
    heap.stop();
    const result: ChildResult = {
      store: kind,
      size,
      ingest1,
      export1,
      ingest2,
      export2,
      maxRssMiB: (process.resourceUsage().maxRSS * 1024) / MiB,
      peakHeapMiB: heap.peak / MiB,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    heap.stop();
    await store.close();
  }
}

/** Runs one measurement in a fresh process (compiled or through ts-node, as this file runs). */
function spawnChild(kind: StoreKind, size: number, location: string): Promise<ChildResult> {
  const loader = __filename.endsWith('.ts') ? ['-r', 'ts-node/register'] : [];
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [...loader, __filename, '--child', kind, '--size', String(size), '--location', location],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`${kind} ${size}: child exited with ${code}`));
      resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as ChildResult);
    });
  });
}

/** A fresh database on the server at `serverUrl`, dropped by the returned function. */
async function createDatabase(serverUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `bench_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string) => {
    const client = new Client({ connectionString: serverUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE ${name}`) };
}

/**
 * A yardstick for comparing machines: JSON.parse of one benchmark snapshot in a tight loop (the
 * single biggest step of the export path), in microseconds per parse of this process's CPU time.
 */
function jsonParseMicros(): number {
  const text = JSON.stringify(snapshotOf(1, 1));
  const rounds = 200_000;
  let best = Infinity;
  for (let attempt = 0; attempt < 3; attempt++) {
    const cpu = process.cpuUsage();
    for (let i = 0; i < rounds; i++) JSON.parse(text);
    const used = process.cpuUsage(cpu);
    best = Math.min(best, (used.user + used.system) / rounds);
  }
  return best;
}

const perSecond = (profiles: number, seconds: number): string => Math.round(profiles / seconds).toLocaleString('en-US');

function printTables(results: ChildResult[]): void {
  console.log('Throughput, profiles per second (wall clock; per CPU-second of the benchmark process)');
  console.table(
    results.flatMap((r) =>
      (['ingest1', 'export1', 'ingest2', 'export2'] as const).map((phase) => ({
        store: r.store,
        profiles: r.size.toLocaleString('en-US'),
        phase: PHASES[phase],
        'per second': perSecond(r[phase].profiles, r[phase].seconds),
        'per CPU-second': perSecond(r[phase].profiles, r[phase].cpuSeconds),
        exported: r[phase].exported?.toLocaleString('en-US') ?? '',
      })),
    ),
  );
  console.log('Peak memory of each run (its own process)');
  console.table(
    results.map((r) => ({
      store: r.store,
      profiles: r.size.toLocaleString('en-US'),
      'max RSS MiB': Math.round(r.maxRssMiB),
      'peak heap MiB': Math.round(r.peakHeapMiB),
    })),
  );
}

const PHASES = {
  ingest1: 'ingest, round 1 (all new)',
  export1: 'diff + ledger, round 1 (all exported)',
  ingest2: 'ingest, round 2 (all rewritten)',
  export2: 'diff + ledger, round 2 (12% exported)',
} as const;

/** Runs the benchmark with command-line style arguments (see bench/README.md) and prints its tables. */
export async function runDiffLedgerBench(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      child: { type: 'string' },
      size: { type: 'string' },
      location: { type: 'string' },
      sizes: { type: 'string', default: '100000,1000000' },
      stores: { type: 'string', default: 'sqlite,postgres' },
      json: { type: 'boolean', default: false },
    },
  });
  if (values.child) return runChild(values.child as StoreKind, Number(values.size), String(values.location));

  const sizes = values.sizes.split(',').map(Number);
  const stores = values.stores.split(',');
  const unknown = stores.filter((s) => s !== 'sqlite' && s !== 'postgres');
  if (unknown.length > 0) throw new Error(`--stores: unknown store ${unknown.join(', ')} (sqlite, postgres)`);
  for (const n of sizes)
    if (!(Number.isInteger(n) && n > 0)) throw new Error(`--sizes: ${n} is not a positive integer`);

  // PostgreSQL: DATABASE_URL's server when given (each run makes and drops its own database), else a throwaway server.
  const givenUrl =
    process.env.DATABASE_URL && /^postgres(ql)?:\/\//.test(process.env.DATABASE_URL)
      ? process.env.DATABASE_URL
      : undefined;
  const server = stores.includes('postgres') && !givenUrl ? await startPostgres() : undefined;
  const results: ChildResult[] = [];
  try {
    for (const kind of stores as StoreKind[]) {
      for (const size of sizes) {
        if (kind === 'sqlite') {
          const dir = await mkdtemp(join(tmpdir(), 'ka-bench-'));
          try {
            results.push(await spawnChild(kind, size, join(dir, 'store.sqlite')));
          } finally {
            await rm(dir, { recursive: true, force: true });
          }
        } else {
          const db = await createDatabase(givenUrl ?? (server as { url: string }).url);
          try {
            results.push(await spawnChild(kind, size, db.url));
          } finally {
            await db.drop();
          }
        }
        process.stderr.write(`measured ${kind} with ${size} profiles\n`);
      }
    }
  } finally {
    await server?.stop();
  }
  const yardstick = jsonParseMicros();
  if (values.json) console.log(JSON.stringify({ jsonParseMicros: yardstick, results }, null, 2));
  else {
    printTables(results);
    console.log(
      `Yardstick: JSON.parse of one ${JSON.stringify(snapshotOf(1, 1)).length}-byte snapshot takes ${yardstick.toFixed(2)} µs of CPU here (tight loop).`,
    );
  }
}

if (require.main === module) {
  runDiffLedgerBench(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  });
}
