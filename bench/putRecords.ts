/**
 * PutRecords benchmark (see bench/README.md): in one run, on each emulator (kinesalite, and
 * kinesis-local where it is installed),
 *   (a) a bare PutRecords loop with the same records (no durability), with 1 and with 4 calls in flight,
 *   (f) the durable floor: the least a durable exporter does per record (bench/durableFloor), and
 *   (b) the engine exporting the same profiles through Temporal, its worker a process of its own
 *       for the whole run (bench/engineWorker), as in production,
 * taking turns `--rounds` times; then, on kinesalite, (c) the engine under per-shard throttling.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { DeleteStreamCommand } from '@aws-sdk/client-kinesis';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { destinationSettingsSchema } from '../src/domain/destination';
import type { DestinationSettingsInput } from '../src/domain/destination';
import { startTemporalDevServer } from '../src/embedded/temporalDevServer';
import { createKinesisClient } from '../src/kinesis/client';
import { recordSize } from '../src/kinesis/outgoingRecord';
import { createStream, readAllRecords } from '../test/support/kinesisStream';
import { bareLoop } from './bareLoop';
import { measureCpu } from './cpu';
import { durableFloor } from './durableFloor';
import { kinesisLocalMain, startEmulatorProcess, startKinesisLocalProcess } from './emulator';
import type { Emulator } from './emulator';
import { startEngine } from './engine';
import type { Engine, EngineTemporal } from './engine';
import { benchRun, exportRecords } from './profiles';
import { median } from './median';

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
    emulators: { type: 'string', default: 'kinesalite,kinesis-local' },
  },
});
/** Calls in flight of the two bare loops. */
const BARE_CONCURRENCIES = [1, 4] as const;
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

/** Reads the stream back, then deletes it: a run counts only if every profile is there (and none twice: nothing here fails). */
async function assertDelivered(
  kinesis: KinesisClient,
  stream: string,
  expected: number,
): Promise<{ lost: number; duplicates: number }> {
  const stored = await readAllRecords(kinesis, stream, { timeoutMs: 300_000 });
  // Done with: the rounds' streams would pass the emulator's shard limit before six rounds.
  await kinesis.send(new DeleteStreamCommand({ StreamName: stream }));
  const distinct = new Set(stored.map((r) => r.partitionKey)).size;
  const delivered = { lost: expected - distinct, duplicates: stored.length - distinct };
  if (delivered.lost !== 0 || delivered.duplicates !== 0)
    throw new Error(`${stream}: ${JSON.stringify(delivered)} of ${expected} records`);
  return delivered;
}

const perSecond = (records: number, ms: number): number => Math.round((records * 1000) / ms);

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  process.env[SECRET_ENV] = 'bench';
  const temporal = await startTemporalDevServer({ headless: true });
  const clientConnection = await Connection.connect({ address: temporal.address });
  const summary: Record<string, EmulatorFigures | string> = {};
  try {
    const target: EngineTemporal = {
      address: temporal.address,
      client: new Client({ connection: clientConnection, namespace: temporal.namespace }),
      namespace: temporal.namespace,
    };
    for (const name of String(args.emulators).split(',')) {
      let emulator: Emulator;
      if (name === 'kinesalite') emulator = await startEmulatorProcess();
      else if (name === 'kinesis-local') {
        const main = kinesisLocalMain();
        if (main === undefined) {
          console.log('kinesis-local: not installed (a devDependency: `npm ci` installs it); skipped');
          summary[name] = 'not installed';
          continue;
        }
        emulator = await startKinesisLocalProcess(main);
      } else throw new Error(`--emulators: unknown emulator ${name} (kinesalite, kinesis-local)`);
      try {
        summary[name] = await benchEmulator(name, emulator, target, temporal.process.pid as number);
      } finally {
        emulator.stop();
      }
    }
    console.log(`side by side, medians of ${count('rounds')} rounds, records/s:\n${sideBySide(summary)}`);
    console.log(JSON.stringify(summary));
  } finally {
    await clientConnection.close();
    await temporal.stop();
  }
}

/** What one emulator's rounds gave, medians first. */
interface EmulatorFigures {
  medianBareRps: Record<string, number>;
  medianEngineRps: number;
  medianFixedEngineRps: number;
  medianRatio: number;
  medianFixedRatio: number;
  [more: string]: unknown;
}

/** The emulators side by side: each one's median records/s per side, and the engine over its better bare loop. */
function sideBySide(figures: Record<string, EmulatorFigures | string>): string {
  const header = [
    'emulator',
    ...BARE_CONCURRENCIES.map((c) => `(a) bare, ${c} in flight`),
    '(b) engine',
    'b / better a',
    "(b') 4 fixed",
    "b' / better a",
  ];
  const rows = Object.entries(figures).map(([name, f]) =>
    typeof f === 'string'
      ? [name, f]
      : [
          name,
          ...BARE_CONCURRENCIES.map((c) => String(f.medianBareRps[c] ?? '')),
          String(f.medianEngineRps),
          f.medianRatio.toFixed(3),
          String(f.medianFixedEngineRps),
          f.medianFixedRatio.toFixed(3),
        ],
  );
  return [header, header.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

async function benchEmulator(
  name: string,
  emulator: Emulator,
  target: EngineTemporal,
  temporalPid: number,
): Promise<EmulatorFigures> {
  const profilesPerRun = count('profiles');
  const rounds = count('rounds');
  const shards = count('shards');
  const throttledProfiles = count('throttled-profiles');
  const throttledShards = count('throttled-shards');
  const kinesis = createKinesisClient({
    region: 'us-east-1',
    endpoint: emulator.endpoint,
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  const engines: Engine[] = [];
  try {
    // The engine as it is, and with the 4 calls in flight it kept before it adapted them (`fixed`):
    // each a worker of its own for the whole run, as production keeps one.
    const adaptive = await startEngine(target);
    engines.push(adaptive);
    const fixedEngine = await startEngine(target, { fixedCallsInFlight: 4 });
    engines.push(fixedEngine);
    let streams = 0;
    const freshStream = async (shardCount: number): Promise<string> => {
      const stream = `bench-${process.pid}-${++streams}`;
      await createStream(kinesis, stream, shardCount);
      return stream;
    };
    const pids = { bench: process.pid, emulator: emulator.pid, temporal: temporalPid };
    const bare = async (n: number, tag: string, concurrency: number) => {
      const stream = await freshStream(shards);
      const { profiles, activation } = benchRun(n, tag);
      const records = exportRecords(
        profiles,
        destinationSettingsSchema.parse(settingsFor(stream, emulator.endpoint)),
        activation,
      );
      const { result: ms, cpu } = await measureCpu(pids, () => bareLoop(kinesis, stream, records, concurrency));
      await assertDelivered(kinesis, stream, n);
      return { ms, cpu };
    };
    /** The durable floor on the same profiles, its SQLite file in a directory of its own. */
    const floor = async (n: number, tag: string) => {
      const stream = await freshStream(shards);
      const { profiles, activation } = benchRun(n, tag);
      const settings = destinationSettingsSchema.parse(settingsFor(stream, emulator.endpoint));
      const dir = mkdtempSync(join(tmpdir(), 'ka-floor-'));
      const loop = durableFloor(kinesis, stream, dir, profiles, activation, settings);
      try {
        const { cpu } = await measureCpu(pids, loop.run);
        await assertDelivered(kinesis, stream, n);
        return { cpu };
      } finally {
        loop.close();
        rmSync(dir, { recursive: true, force: true });
      }
    };
    /**
     * The engine, on profiles of a segment of their own: the worker's store keeps the profiles of
     * earlier runs, and the destination back-fills only this run's.
     */
    const engine = async (
      n: number,
      tag: string,
      { fixed = false, endpoint = emulator.endpoint, shardCount = shards } = {},
    ) => {
      const stream = await freshStream(shardCount);
      const { profiles, activation } = benchRun(n, tag);
      const run = await (fixed ? fixedEngine : adaptive).run(settingsFor(stream, endpoint), profiles, activation, pids);
      return { ...run, ...(await assertDelivered(kinesis, stream, n)) };
    };
    /** CPU milliseconds per 1,000 records, per process. */
    const cpuPerThousand = (cpu: Record<string, number>, n: number): Record<string, number> =>
      Object.fromEntries(Object.entries(cpu).map(([process, seconds]) => [process, Math.round((seconds * 1e6) / n)]));

    // Warm-up: JIT, connections, the first workflow tasks; a full run each, as a worker that
    // has been exporting for a while.
    for (const concurrency of BARE_CONCURRENCIES) await bare(profilesPerRun, `warm-a${concurrency}`, concurrency);
    await engine(profilesPerRun, 'warm-b');
    await engine(profilesPerRun, 'warm-f', { fixed: true });
    await floor(profilesPerRun, 'warm-floor');

    const results: {
      round: number;
      /** Records per second of the bare loop, by calls in flight. */
      bareRps: Record<string, number>;
      engineRps: number;
      /** The engine over the better bare loop of the round. */
      ratio: number;
      /** The engine with 4 calls in flight fixed, as before the adaptive limit, and its ratio. */
      fixedEngineRps: number;
      fixedRatio: number;
      /** The engine timed from `activate`: its permission checks and set-up count too. */
      engineFromActivateRps: number;
      ratioFromActivate: number;
      ingestRps: number;
      bareCpuMsPer1k: Record<string, Record<string, number>>;
      engineCpuMsPer1k: Record<string, number>;
      /**
       * The worker's CPU over the bare loop's (1 in flight) for the same records: the figure that
       * holds while the machine's speed changes (the bare loop is the SDK's own cost).
       */
      workerOverBare: number;
      /** The durable floor's CPU ms per 1,000 records, over the bare loop's, and the worker's over it. */
      floorCpuMsPer1k: number;
      floorOverBare: number;
      workerOverFloor: number;
      enginePutCalls: number;
    }[] = [];
    for (let round = 1; round <= rounds; round++) {
      // Taking turns at going first keeps a drift in the machine's load from favouring one side.
      const sides = ['engine', 'fixed', 'floor', ...BARE_CONCURRENCIES] as const;
      const order = [...sides.slice(round % sides.length), ...sides.slice(0, round % sides.length)];
      const bareRuns: Record<string, { ms: number; cpu: Record<string, number> }> = {};
      let b: Awaited<ReturnType<typeof engine>> | undefined;
      let fixed: Awaited<ReturnType<typeof engine>> | undefined;
      let floorRun: Awaited<ReturnType<typeof floor>> | undefined;
      for (const side of order) {
        if (side === 'engine') b = await engine(profilesPerRun, `b${round}`);
        else if (side === 'floor') floorRun = await floor(profilesPerRun, `floor${round}`);
        else if (side === 'fixed') fixed = await engine(profilesPerRun, `f${round}`, { fixed: true });
        else bareRuns[side] = await bare(profilesPerRun, `a${side}-${round}`, side);
      }
      if (b === undefined || fixed === undefined || floorRun === undefined) throw new Error('a side did not run');
      const bareCpu = bareRuns[1]?.cpu.bench ?? NaN;
      const floorCpu = floorRun.cpu.bench ?? NaN;
      const bareRps = Object.fromEntries(
        Object.entries(bareRuns).map(([concurrency, run]) => [concurrency, perSecond(profilesPerRun, run.ms)]),
      );
      const bestBare = Math.max(...Object.values(bareRps));
      const engineRps = perSecond(profilesPerRun, b.exportMs);
      const engineFromActivateRps = perSecond(profilesPerRun, b.activateMs);
      const result = {
        round,
        bareRps,
        engineRps,
        ratio: Number((engineRps / bestBare).toFixed(3)),
        fixedEngineRps: perSecond(profilesPerRun, fixed.exportMs),
        fixedRatio: Number((perSecond(profilesPerRun, fixed.exportMs) / bestBare).toFixed(3)),
        engineFromActivateRps,
        ratioFromActivate: Number((engineFromActivateRps / bestBare).toFixed(3)),
        ingestRps: perSecond(profilesPerRun, b.ingestMs),
        bareCpuMsPer1k: Object.fromEntries(
          Object.entries(bareRuns).map(([concurrency, run]) => [concurrency, cpuPerThousand(run.cpu, profilesPerRun)]),
        ),
        engineCpuMsPer1k: cpuPerThousand(b.cpu, profilesPerRun),
        workerOverBare: Number(((b.cpu.worker ?? NaN) / bareCpu).toFixed(2)),
        floorCpuMsPer1k: Math.round((floorCpu * 1e6) / profilesPerRun),
        floorOverBare: Number((floorCpu / bareCpu).toFixed(2)),
        workerOverFloor: Number(((b.cpu.worker ?? NaN) / floorCpu).toFixed(2)),
        enginePutCalls: b.putCalls,
      };
      results.push(result);
      console.log(
        `${name} round ${round}: (a) bare loop ${BARE_CONCURRENCIES.map((c) => `${bareRps[c]} records/s at ${c} in flight`).join(', ')}; ` +
          `(b) engine ${engineRps} records/s, b/best a = ${result.ratio} ` +
          `[4 fixed calls in flight, as before: ${result.fixedEngineRps} records/s, ${result.fixedRatio}] ` +
          `(from activate: ${engineFromActivateRps} records/s, ${result.ratioFromActivate}); ` +
          `CPU ms per 1,000 records (a) ${JSON.stringify(result.bareCpuMsPer1k)} (b) ${JSON.stringify(result.engineCpuMsPer1k)} ` +
          `(f) durable floor ${result.floorCpuMsPer1k}; ` +
          `(b) made ${b.putCalls} calls; ingest ${result.ingestRps} profiles/s`,
      );
    }
    const medianRatio = median(results.map((r) => r.ratio));
    const medianFixedRatio = median(results.map((r) => r.fixedRatio));
    const medianRatioFromActivate = median(results.map((r) => r.ratioFromActivate));
    const medianCpuMsPer1k = {
      worker: median(results.map((r) => r.engineCpuMsPer1k.worker ?? NaN)),
      floor: median(results.map((r) => r.floorCpuMsPer1k)),
      ...Object.fromEntries(
        BARE_CONCURRENCIES.map((c) => [`bare${c}`, median(results.map((r) => r.bareCpuMsPer1k[c]?.bench ?? NaN))]),
      ),
    };
    const medianWorkerOverBare = median(results.map((r) => r.workerOverBare));
    const medianFloorOverBare = median(results.map((r) => r.floorOverBare));
    const medianWorkerOverFloor = median(results.map((r) => r.workerOverFloor));
    console.log(`${name} CPU ms per 1,000 records, medians: ${JSON.stringify(medianCpuMsPer1k)}`);
    console.log(
      `${name} worker CPU over the bare loop's (1 in flight) per round: ${results.map((r) => r.workerOverBare).join(', ')}; median ${medianWorkerOverBare.toFixed(2)}`,
    );
    console.log(
      `${name} durable floor's CPU over the bare loop's per round: ${results.map((r) => r.floorOverBare).join(', ')}; median ${medianFloorOverBare.toFixed(2)}`,
    );
    console.log(
      `${name} worker CPU over the durable floor's per round: ${results.map((r) => r.workerOverFloor).join(', ')}; median ${medianWorkerOverFloor.toFixed(2)}`,
    );
    console.log(
      `${name} b/best a per round: ${results.map((r) => r.ratio).join(', ')}; median ${medianRatio.toFixed(3)}`,
    );
    console.log(
      `${name} b/best a from activate per round: ${results.map((r) => r.ratioFromActivate).join(', ')}; median ${medianRatioFromActivate.toFixed(3)}`,
    );

    let throttled: Record<string, number> | undefined;
    if (throttledProfiles > 0 && emulator.proxyEndpoint !== undefined) {
      // The records the engine sends, to know the shards' capacity in records.
      const { profiles, activation } = benchRun(throttledProfiles, 'c');
      const records = exportRecords(
        profiles,
        destinationSettingsSchema.parse(settingsFor('c', emulator.proxyEndpoint)),
        activation,
      );
      const meanBytes = records.reduce((sum, r) => sum + recordSize(r), 0) / records.length;
      const shardRecordsPerSecond = Math.min(SHARD_RECORDS_PER_SECOND, SHARD_BYTES_PER_SECOND / meanBytes);
      const run = await engine(throttledProfiles, 'c', {
        endpoint: emulator.proxyEndpoint,
        shardCount: throttledShards,
      });
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
        lost: run.lost,
        putCalls: run.putCalls,
        throttledEntries: run.throttled,
      };
      console.log(
        `${name} throttled: ${throttledProfiles} records to ${throttledShards} shards in ${seconds.toFixed(2)} s: ${throttled.deliveredRps} records/s, ` +
          `${(100 * (throttled.shareOfCapacity ?? 0)).toFixed(1)}% of capacity (from activate: ${(100 * (throttled.shareOfCapacityFromActivate ?? 0)).toFixed(1)}%), ` +
          `${run.lost} lost; ${run.putCalls} calls, ${run.throttled} entries throttled`,
      );
    }
    return {
      profilesPerRun,
      shards,
      bareConcurrencies: BARE_CONCURRENCIES,
      medianBareRps: Object.fromEntries(
        BARE_CONCURRENCIES.map((c) => [c, Math.round(median(results.map((r) => r.bareRps[c] ?? 0)))]),
      ),
      medianEngineRps: Math.round(median(results.map((r) => r.engineRps))),
      medianFixedEngineRps: Math.round(median(results.map((r) => r.fixedEngineRps))),
      results,
      medianRatio: Number(medianRatio.toFixed(3)),
      medianFixedRatio: Number(medianFixedRatio.toFixed(3)),
      medianRatioFromActivate: Number(medianRatioFromActivate.toFixed(3)),
      medianCpuMsPer1k,
      medianWorkerOverBare: Number(medianWorkerOverBare.toFixed(2)),
      medianFloorOverBare: Number(medianFloorOverBare.toFixed(2)),
      medianWorkerOverFloor: Number(medianWorkerOverFloor.toFixed(2)),
      throttled,
    };
  } finally {
    for (const started of engines) await started.stop();
    kinesis.destroy();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
