/**
 * PutRecords benchmark (see bench/README.md): in one run against one emulator,
 *   (a) a bare PutRecords loop with the same records and concurrency (no durability), and
 *   (b) the engine exporting the same profiles through Temporal,
 * alternated `--rounds` times, then (c) the engine under per-shard throttling.
 */
import { parseArgs } from 'node:util';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { destinationSettingsSchema } from '../src/domain/destination';
import type { DestinationSettingsInput } from '../src/domain/destination';
import { recordSize } from '../src/kinesis/outgoingRecord';
import { DEFAULT_CONCURRENCY } from '../src/kinesis/recordWriter';
import { createStream, readAllRecords } from '../test/support/kinesisStream';
import { bareLoop } from './bareLoop';
import { measureCpu } from './cpu';
import { runEngine, withBenchServers } from './engine';
import { benchProfiles, exportRecords } from './profiles';

const SHARD_RECORDS_PER_SECOND = 1000;
const SHARD_BYTES_PER_SECOND = 1024 * 1024;
const SECRET_ENV = 'BENCH_KINESIS_SECRET';

const { values: args } = parseArgs({
  options: {
    profiles: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '6' },
    shards: { type: 'string', default: '4' },
    'throttled-profiles': { type: 'string', default: '20000' },
    'throttled-shards': { type: 'string', default: '2' },
  },
});
const count = (name: keyof typeof args): number => {
  const value = Number(args[name]);
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a whole number, got ${args[name]}`);
  return value;
};

function settingsFor(name: string, endpoint: string): DestinationSettingsInput {
  return {
    name,
    region: 'us-east-1',
    stream: name,
    endpoint,
    credentials: { type: 'accessKey', accessKeyId: 'AKIABENCHEXAMPLE01', secretAccessKeyEnv: SECRET_ENV },
  };
}

/** Reads the stream back: a run counts only if every profile is there (and none twice: nothing here fails). */
async function assertDelivered(
  kinesis: KinesisClient,
  stream: string,
  expected: number,
): Promise<{ lost: number; duplicates: number }> {
  const stored = await readAllRecords(kinesis, stream, { timeoutMs: 300_000 });
  const distinct = new Set(stored.map((r) => r.partitionKey)).size;
  const delivered = { lost: expected - distinct, duplicates: stored.length - distinct };
  if (delivered.lost !== 0 || delivered.duplicates !== 0)
    throw new Error(`${stream}: ${JSON.stringify(delivered)} of ${expected} records`);
  return delivered;
}

const perSecond = (records: number, ms: number): number => Math.round((records * 1000) / ms);

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const profilesPerRun = count('profiles');
  const rounds = count('rounds');
  const shards = count('shards');
  const throttledProfiles = count('throttled-profiles');
  const throttledShards = count('throttled-shards');
  process.env[SECRET_ENV] = 'bench';

  await withBenchServers(async ({ target, emulator, kinesis, pids }) => {
    let streams = 0;
    const freshStream = async (shardCount: number): Promise<string> => {
      const name = `bench-${process.pid}-${++streams}`;
      await createStream(kinesis, name, shardCount);
      return name;
    };
    const bare = async (n: number, tag: string) => {
      const stream = await freshStream(shards);
      const records = exportRecords(
        benchProfiles(n, tag),
        destinationSettingsSchema.parse(settingsFor(stream, emulator.endpoint)),
      );
      const { result: ms, cpu } = await measureCpu(pids, () => bareLoop(kinesis, stream, records, DEFAULT_CONCURRENCY));
      await assertDelivered(kinesis, stream, n);
      return { ms, cpu };
    };
    const engine = async (n: number, tag: string) => {
      const stream = await freshStream(shards);
      const run = await runEngine(target, settingsFor(stream, emulator.endpoint), benchProfiles(n, tag), pids);
      await assertDelivered(kinesis, stream, n);
      return run;
    };
    /** CPU milliseconds per 1,000 records, per process. */
    const cpuPerThousand = (cpu: Record<string, number>, n: number): Record<string, number> =>
      Object.fromEntries(Object.entries(cpu).map(([name, seconds]) => [name, Math.round((seconds * 1e6) / n)]));

    // Warm-up: JIT, connections, the first workflow tasks.
    await bare(2000, 'warm-a');
    await engine(2000, 'warm-b');

    const results: {
      round: number;
      bareRps: number;
      engineRps: number;
      ratio: number;
      /** The engine timed from `activate`: its permission checks and set-up count too. */
      engineFromActivateRps: number;
      ratioFromActivate: number;
      ingestRps: number;
      bareCpuMsPer1k: Record<string, number>;
      engineCpuMsPer1k: Record<string, number>;
      enginePutCalls: number;
    }[] = [];
    for (let round = 1; round <= rounds; round++) {
      // Alternating which goes first keeps a drift in the machine's load from favouring one side.
      const engineFirst = round % 2 === 0;
      const early = engineFirst ? await engine(profilesPerRun, `b${round}`) : undefined;
      const a = await bare(profilesPerRun, `a${round}`);
      const b = early ?? (await engine(profilesPerRun, `b${round}`));
      const bareRps = perSecond(profilesPerRun, a.ms);
      const engineRps = perSecond(profilesPerRun, b.exportMs);
      const engineFromActivateRps = perSecond(profilesPerRun, b.activateMs);
      const result = {
        round,
        bareRps,
        engineRps,
        ratio: Number((engineRps / bareRps).toFixed(3)),
        engineFromActivateRps,
        ratioFromActivate: Number((engineFromActivateRps / bareRps).toFixed(3)),
        ingestRps: perSecond(profilesPerRun, b.ingestMs),
        bareCpuMsPer1k: cpuPerThousand(a.cpu, profilesPerRun),
        engineCpuMsPer1k: cpuPerThousand(b.cpu, profilesPerRun),
        enginePutCalls: b.putCalls,
      };
      results.push(result);
      console.log(
        `round ${round}: (a) bare loop ${bareRps} records/s, (b) engine ${engineRps} records/s, b/a = ${result.ratio} ` +
          `(from activate: ${engineFromActivateRps} records/s, b/a = ${result.ratioFromActivate}); ` +
          `CPU ms per 1,000 records (a) ${JSON.stringify(result.bareCpuMsPer1k)} (b) ${JSON.stringify(result.engineCpuMsPer1k)}; ` +
          `(b) made ${b.putCalls} calls; ingest ${result.ingestRps} profiles/s`,
      );
    }
    const median = (values: number[]): number => {
      const sorted = [...values].sort((x, y) => x - y);
      return sorted.length > 0
        ? ((sorted[(sorted.length - 1) >> 1] ?? 0) + (sorted[sorted.length >> 1] ?? 0)) / 2
        : NaN;
    };
    const medianRatio = median(results.map((r) => r.ratio));
    const medianRatioFromActivate = median(results.map((r) => r.ratioFromActivate));
    console.log(`b/a per round: ${results.map((r) => r.ratio).join(', ')}; median ${medianRatio.toFixed(3)}`);
    console.log(
      `b/a from activate per round: ${results.map((r) => r.ratioFromActivate).join(', ')}; median ${medianRatioFromActivate.toFixed(3)}`,
    );

    let throttled: Record<string, number> | undefined;
    if (throttledProfiles > 0) {
      const stream = await freshStream(throttledShards);
      const profiles = benchProfiles(throttledProfiles, 'c');
      const records = exportRecords(
        profiles,
        destinationSettingsSchema.parse(settingsFor(stream, emulator.throttledEndpoint)),
      );
      const meanBytes = records.reduce((sum, r) => sum + recordSize(r), 0) / records.length;
      const shardRecordsPerSecond = Math.min(SHARD_RECORDS_PER_SECOND, SHARD_BYTES_PER_SECOND / meanBytes);
      const run = await runEngine(target, settingsFor(stream, emulator.throttledEndpoint), profiles, pids);
      const { lost } = await assertDelivered(kinesis, stream, throttledProfiles);
      const seconds = run.exportMs / 1000;
      // The proxy's buckets start full (one second of capacity), so that second counts too.
      const share = (s: number): number =>
        Number((throttledProfiles / (throttledShards * shardRecordsPerSecond * (s + 1))).toFixed(3));
      throttled = {
        records: throttledProfiles,
        shards: throttledShards,
        seconds: Number(seconds.toFixed(2)),
        deliveredRps: perSecond(throttledProfiles, run.exportMs),
        capacityRps: Math.round(throttledShards * shardRecordsPerSecond),
        shareOfCapacity: share(seconds),
        shareOfCapacityFromActivate: share(run.activateMs / 1000),
        lost,
        putCalls: run.putCalls,
        throttledEntries: run.throttled,
      };
      console.log(
        `throttled: ${throttledProfiles} records to ${throttledShards} shards in ${seconds.toFixed(2)} s: ${throttled.deliveredRps} records/s, ` +
          `${(100 * (throttled.shareOfCapacity ?? 0)).toFixed(1)}% of capacity (from activate: ${(100 * (throttled.shareOfCapacityFromActivate ?? 0)).toFixed(1)}%), ` +
          `${lost} lost; ${run.putCalls} calls, ${run.throttled} entries throttled`,
      );
    }
    console.log(
      JSON.stringify({
        profilesPerRun,
        shards,
        concurrency: DEFAULT_CONCURRENCY,
        results,
        medianRatio: Number(medianRatio.toFixed(3)),
        medianRatioFromActivate: Number(medianRatioFromActivate.toFixed(3)),
        throttled,
      }),
    );
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
