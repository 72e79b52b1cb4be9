/**
 * Re-export throughput and worker peak memory at two profile counts, side by side in one run.
 *
 *   npx tsc -p . && node lib/bench/reexport.js [--sizes 100000,1000000] [--shards 4]
 *
 * For each size: a fresh SQLite store seeded with that many members of one segment, a fresh
 * stream in kinesalite (its own process, LevelDB on disk), a Temporal dev server, and the worker
 * as its own process (`bin/kinesis-activation worker`, as deployed). Measured, one after another
 * on the same destination:
 *   back-fill  the first activation: every member decided and sent (empty ledger)
 *   unchanged  a re-export by the diff rules with nothing changed: every member read and skipped
 *   forced     `reexport --force`: every member sent again
 * Throughput is members per second of workflow time (startedAt..finishedAt of each re-export).
 * Beside it, the ceiling: the same records written straight to the same emulator with the same
 * PutRecords writer in pages of the same size, without Temporal or the store (`raw writer`).
 * Worker memory: the peak resident set (VmHWM) after the peak was reset once the worker was up,
 * so it covers the re-exports and not the start-up (workflow bundling).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { ActivationClient } from '../src/client/activationClient';
import { destinationWorkflowId } from '../src/domain/destinationWorkflowId';
import { startTemporalDevServer } from '../src/embedded/temporalDevServer';
import { waitFor } from '../src/embedded/waitFor';
import { destinationSettingsSchema } from '../src/domain/destination';
import type { DestinationSettingsInput } from '../src/domain/destination';
import type { createKinesisClient } from '../src/kinesis/client';
import { KinesisRecordWriter } from '../src/kinesis/recordWriter';
import { openStore } from '../src/store/openStore';
import type { ReexportProgress } from '../src/workflows/messages';
import { REEXPORT_PAGE_SIZE } from '../src/workflows/reexports';
import { startWorkerProcess } from '../test/support/workerProcess';
import { startBenchStream } from './emulator';
import { BENCH_ACTIVATION, benchProfiles, exportRecords } from './profiles';

interface Pass {
  kind: 'back-fill' | 'unchanged' | 'forced' | 'raw writer';
  members: number;
  exported: number;
  seconds: number;
  perSecond: number;
}

interface SizeResult {
  size: number;
  seedSeconds: number;
  passes: Pass[];
  /** Worker resident set when it was ready, and its peak during the re-exports, in MiB. */
  workerRssReadyMiB: number;
  workerPeakMiB: number;
  actorRuns: number;
}

const SECRET_ENV = 'BENCH_KINESIS_SECRET';
/** Records of the raw-writer ceiling per size (it characterises the emulator, not the count). */
const RAW_WRITER_RECORDS = 200_000;
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

function procStatusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? NaN);
}

/** Profiles written per upsertProfiles call while seeding, as `ingest` writes them. */
const SEED_BATCH = 5000;

function settingsFor(stream: string, endpoint: string): DestinationSettingsInput {
  return {
    name: stream,
    region: 'us-east-1',
    stream,
    endpoint,
    credentials: { type: 'accessKey', accessKeyId: 'AKIABENCHMARK00001', secretAccessKeyEnv: SECRET_ENV },
  };
}

/** The ceiling: the records a re-export builds, put in pages by the same writer, nothing else. */
async function rawWriterPass(
  kinesis: ReturnType<typeof createKinesisClient>,
  settings: DestinationSettingsInput,
  count: number,
): Promise<Pass> {
  const parsed = destinationSettingsSchema.parse(settings);
  const writer = new KinesisRecordWriter(kinesis, parsed.stream);
  const started = Date.now();
  let exported = 0;
  for (let page = 0; page < count; page += REEXPORT_PAGE_SIZE) {
    const records = exportRecords(benchProfiles(Math.min(REEXPORT_PAGE_SIZE, count - page), `raw${page}`), parsed);
    await writer.write(records, (acked) => {
      exported += acked.length;
      return Promise.resolve();
    });
  }
  const seconds = (Date.now() - started) / 1000;
  return { kind: 'raw writer', members: count, exported, seconds, perSecond: Math.round(count / seconds) };
}

async function benchSize(size: number, shards: number): Promise<SizeResult> {
  const dir = mkdtempSync(join(tmpdir(), `ka-bench-${size}-`));
  const stops: (() => Promise<void>)[] = [];
  try {
    const server = await startTemporalDevServer({ headless: true });
    stops.push(() => server.stop());
    const stream = `bench-${size}`;
    const { emulator, kinesis, stop } = await startBenchStream(dir, stream, shards);
    stops.push(stop);

    const databaseUrl = join(dir, 'store.sqlite');
    const store = await openStore(databaseUrl);
    stops.push(() => store.close());
    const seedStart = Date.now();
    for (let batch = 0; batch * SEED_BATCH < size; batch++) {
      await store.upsertProfiles(benchProfiles(Math.min(SEED_BATCH, size - batch * SEED_BATCH), `b${batch}`));
    }
    const seedSeconds = (Date.now() - seedStart) / 1000;

    const taskQueue = `bench-${randomUUID()}`;
    process.env[SECRET_ENV] = 'any';
    const worker = await startWorkerProcess({
      TEMPORAL_ADDRESS: server.address,
      KINESIS_ACTIVATION_TASK_QUEUE: taskQueue,
      DATABASE_URL: databaseUrl,
      [SECRET_ENV]: 'any',
    });
    stops.push(() => worker.kill());
    const pid = worker.child.pid as number;
    const workerRssReadyMiB = procStatusKiB(pid, 'VmRSS') / 1024;
    writeFileSync(`/proc/${pid}/clear_refs`, '5'); // resets VmHWM to the current resident set

    const connection = await Connection.connect({ address: server.address });
    stops.push(() => connection.close());
    const client = new ActivationClient(new Client({ connection, namespace: server.namespace }), store, taskQueue);
    const settings = settingsFor(stream, emulator.endpoint);
    const { id } = await client.createDestination(settings);

    const finished = async (reexportId: string): Promise<ReexportProgress> => {
      let lastLine = 0;
      return waitFor(
        async () => {
          const status = await client.status(id);
          const running = status.reexport;
          if (running && Date.now() - lastLine > 10_000) {
            lastLine = Date.now();
            process.stderr.write(
              `  ${size}: ${running.trigger}${running.force ? ' (forced)' : ''} ${running.profilesRead}/${running.estimatedTotal ?? '?'}\n`,
            );
          }
          if (status.lastError) throw new Error(`destination stopped: ${status.lastError}`);
          return status.recentReexports.find((r) => r.id === reexportId);
        },
        { timeoutMs: 3 * 3600_000, intervalMs: 500, what: `re-export ${reexportId}` },
      );
    };
    const pass = (kind: Pass['kind'], r: ReexportProgress): Pass => {
      const seconds = (Date.parse(r.finishedAt ?? '') - Date.parse(r.startedAt)) / 1000;
      return {
        kind,
        members: r.profilesRead,
        exported: r.profilesExported,
        seconds,
        perSecond: Math.round(r.profilesRead / seconds),
      };
    };

    const passes: Pass[] = [];
    await client.activate(id, BENCH_ACTIVATION);
    const backfill = await waitFor(
      async () => (await client.status(id)).reexport ?? (await client.status(id)).recentReexports[0],
      {
        timeoutMs: 60_000,
        what: 'the back-fill to start',
      },
    );
    passes.push(pass('back-fill', await finished(backfill.id)));
    passes.push(pass('unchanged', await finished((await client.reexport(id)).id)));
    passes.push(pass('forced', await finished((await client.reexport(id, { force: true })).id)));
    const workerPeakMiB = procStatusKiB(pid, 'VmHWM') / 1024;
    passes.push(await rawWriterPass(kinesis, settings, Math.min(size, RAW_WRITER_RECORDS)));
    const actorRuns = (await client.client.workflow.count(`WorkflowId = '${destinationWorkflowId(id)}'`)).count;
    return { size, seedSeconds, passes, workerRssReadyMiB, workerPeakMiB, actorRuns };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const sizes = arg('sizes', '100000,1000000').split(',').map(Number);
  const shards = Number(arg('shards', '4'));
  const results: SizeResult[] = [];
  for (const size of sizes) {
    process.stderr.write(`re-export bench: ${size} profiles\n`);
    const started = Date.now();
    results.push(await benchSize(size, shards));
    process.stderr.write(`  ${size}: done in ${Math.round((Date.now() - started) / 1000)} s\n`);
  }

  const mib = (n: number) => n.toFixed(0);
  // Each pass against the raw writer measured in the same block: the machine is shared, and this
  // ratio holds better than absolute figures when its load changes between blocks.
  const vsRaw = (r: SizeResult, p: Pass): string => {
    const raw = r.passes.find((x) => x.kind === 'raw writer');
    return raw ? (p.perSecond / raw.perSecond).toFixed(2) : '-';
  };
  console.log('\nsize       pass        members   exported   seconds   members/s   vs raw writer');
  for (const r of results) {
    for (const p of r.passes) {
      console.log(
        `${String(r.size).padEnd(10)} ${p.kind.padEnd(10)} ${String(p.members).padStart(8)} ${String(p.exported).padStart(10)} ${p.seconds.toFixed(1).padStart(9)} ${String(p.perSecond).padStart(11)} ${vsRaw(r, p).padStart(15)}`,
      );
    }
  }
  console.log('\nsize       seed s   worker RSS ready MiB   worker peak MiB   actor runs');
  for (const r of results) {
    console.log(
      `${String(r.size).padEnd(10)} ${r.seedSeconds.toFixed(0).padStart(6)} ${mib(r.workerRssReadyMiB).padStart(22)} ${mib(r.workerPeakMiB).padStart(17)} ${String(r.actorRuns).padStart(12)}`,
    );
  }
  const [small, large] = [results[0], results[results.length - 1]];
  if (small && large && small !== large) {
    console.log(`\n${large.size} vs ${small.size} (same run):`);
    for (const p of large.passes) {
      const q = small.passes.find((x) => x.kind === p.kind);
      if (q)
        console.log(
          `  ${p.kind} throughput ratio ${(p.perSecond / q.perSecond).toFixed(2)} (against the raw writer: ${vsRaw(large, p)} vs ${vsRaw(small, q)})`,
        );
    }
    console.log(`  worker peak memory ratio ${(large.workerPeakMiB / small.workerPeakMiB).toFixed(2)}`);
  }
  console.log(`\n${JSON.stringify(results)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
