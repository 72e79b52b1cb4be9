/**
 * Fan-out benchmark (see bench/README.md): many destinations on one store and one worker, the
 * embedded stack (SQLite, the Kinesis emulator in its own process, a Temporal dev server), every
 * figure side by side in one run:
 *   (a) D destinations mapping distinct segments, one concerned by the ingested profiles: ingest
 *       rate and that destination's time to idle;
 *   (b) D destinations mapping the same segment: aggregate records/s;
 *   (c) worker RSS (a worker in its own process) with 1 and with many idle destinations, in the
 *       worker that created them and in one started afterwards;
 *   (d) history events per destination at one change a second, extrapolated to an hour.
 */
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { DeleteStreamCommand } from '@aws-sdk/client-kinesis';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { ActivationClient } from '../src/client/activationClient';
import type { Activation } from '../src/domain/activation';
import { destinationWorkflowId } from '../src/domain/destinationWorkflowId';
import type { DestinationSettingsInput } from '../src/domain/destination';
import { waitFor } from '../src/embedded/waitFor';
import { ActivationMetrics } from '../src/observability/metrics';
import { SqliteStore } from '../src/store/sqliteStore';
import { createActivationWorker } from '../src/worker';
import { createStream } from '../test/support/kinesisStream';
import { measureCpu } from './cpu';
import { withBenchServers } from './engine';
import type { EngineTarget } from './engine';
import { summarize, timelineOf } from './fanoutTimeline';
import type { FanoutWorkerReply } from './fanoutWorker';
import { BENCH_ACTIVATION, benchProfiles } from './profiles';
import type { BenchProfile } from './profiles';
import { median } from './median';

const SECRET_ENV = 'BENCH_KINESIS_SECRET';

const { values: args } = parseArgs({
  options: {
    destinations: { type: 'string', default: '1,10,100' },
    profiles: { type: 'string', default: '20000' },
    'same-segment-records': { type: 'string', default: '20000' },
    'idle-destinations': { type: 'string', default: '100' },
    'history-seconds': { type: 'string', default: '120' },
    rounds: { type: 'string', default: '3' },
    parts: { type: 'string', default: 'a,b,c,d' },
    'max-cached-workflows': { type: 'string' },
  },
});
const whole = (name: string, text: string | undefined): number => {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a whole number, got ${text}`);
  return value;
};
const counts = (args.destinations ?? '').split(',').map((d) => whole('destinations', d));
const parts = new Set((args.parts ?? '').split(','));
/** The workers' workflow cache (KINESIS_ACTIVATION_MAX_CACHED_WORKFLOWS); by default the SDK's. */
const maxCachedWorkflows =
  args['max-cached-workflows'] === undefined ? undefined : whole('max-cached-workflows', args['max-cached-workflows']);

/** A mapping of its own for each unconcerned destination: same attributes, another segment. */
const otherActivation = (i: number): Activation => ({ ...BENCH_ACTIVATION, segments: [{ id: `seg-other-${i}` }] });

/** One fresh store and worker (its own task queue, its own metrics) on the shared servers, and a client for them. */
async function withStack<T>(
  servers: EngineTarget,
  run: (client: ActivationClient, store: SqliteStore, metrics: ActivationMetrics) => Promise<T>,
): Promise<T> {
  const metrics = new ActivationMetrics();
  const dir = mkdtempSync(join(tmpdir(), 'ka-fanout-'));
  const store = new SqliteStore(join(dir, 'store.sqlite'));
  const taskQueue = `fanout-${randomUUID()}`;
  const { worker, close } = await createActivationWorker({
    connection: servers.connection,
    namespace: servers.namespace,
    taskQueue,
    store,
    metrics,
    workflowBundle: servers.bundle,
    ...(maxCachedWorkflows !== undefined ? { maxCachedWorkflows } : {}),
  });
  try {
    return await worker.runUntil(() => run(new ActivationClient(servers.client, store, taskQueue), store, metrics));
  } finally {
    close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Runs each D of `counts` in turn, `rounds` times (the machine's load drifts), after a warm-up
 * run of the first (JIT, connections, first workflow tasks), whose figures are dropped.
 */
async function inTurns<R>(counts: number[], rounds: number, run: (d: number) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  const order =
    counts.length === 0 ? [] : [counts[0] as number, ...Array.from({ length: rounds }, () => counts).flat()];
  for (const d of order) results.push(await run(d));
  return results.slice(1);
}

/** The runs of each D, in the order the Ds first ran. */
function byD<R extends { d: number }>(runs: R[]): { d: number; runs: R[] }[] {
  return [...new Set(runs.map((r) => r.d))].map((d) => ({ d, runs: runs.filter((r) => r.d === d) }));
}

interface WorkerProcess {
  /** The worker's memory once settled (see bench/fanoutWorker). */
  measure(): Promise<FanoutWorkerReply>;
  stop(): void;
}

/** (c)'s worker in a process of its own (bench/fanoutWorker), once it polls. */
async function startWorkerProcess(args: string[]): Promise<WorkerProcess> {
  const child = fork(require.resolve('./fanoutWorker'), args, { execArgv: [...process.execArgv, '--expose-gc'] });
  const replies: FanoutWorkerReply[] = [];
  child.on('message', (m) => replies.push(m as FanoutWorkerReply));
  // A measurement settles for two minutes (bench/fanoutWorker).
  const reply = (): Promise<FanoutWorkerReply> =>
    waitFor(() => Promise.resolve(replies.shift()), { timeoutMs: 180_000, intervalMs: 50, what: 'the worker process' });
  const stop = (): void => {
    // Not SIGTERM: the SDK's runtime takes it for a graceful shutdown that may never end, and a
    // worker left running kept this process (and its IPC channel) alive after the last figure.
    child.kill('SIGKILL');
  };
  try {
    await reply(); // started
  } catch (err) {
    stop();
    throw err;
  }
  return {
    measure: () => {
      child.send('measure');
      return reply();
    },
    stop,
  };
}

/** Creates and activates destinations (a few at a time), and waits until each is idle. */
async function createActivated(
  client: ActivationClient,
  settings: (i: number) => DestinationSettingsInput,
  activation: (i: number) => Activation,
  count: number,
): Promise<string[]> {
  const ids: string[] = [];
  for (let from = 0; from < count; from += 10) {
    const batch = Array.from({ length: Math.min(10, count - from) }, (_, k) => from + k);
    ids.push(
      ...(await Promise.all(
        batch.map(async (i) => {
          const { id } = await client.createDestination(settings(i));
          await client.activate(id, activation(i));
          return id;
        }),
      )),
    );
  }
  for (const id of ids) await untilIdle(client, id, 0);
  return ids;
}

/** Waits until the destination is idle and has decided `received` profiles. */
function untilIdle(client: ActivationClient, id: string, received: number) {
  return waitFor(
    async () => {
      const s = await client.status(id);
      if (s.lastError !== null) throw new Error(`${id} failed: ${s.lastError}`);
      return s.state === 'idle' && s.counters.received >= received ? s : undefined;
    },
    { timeoutMs: 600_000, intervalMs: 100, what: `${id} to decide ${received} profiles` },
  );
}

/** Records Kinesis acknowledged, over every destination of the worker. */
async function recordsSent(metrics: ActivationMetrics): Promise<number> {
  return (await metrics.recordsSent.get()).values.reduce((sum, { value }) => sum + value, 0);
}

/** Runs `fn` and says how long of it the store spent writing profiles (the rest of an ingest is telling destinations). */
async function timingWrites<T>(store: SqliteStore, fn: () => Promise<T>): Promise<{ result: T; writeMs: number }> {
  const write = store.upsertProfiles.bind(store);
  let writeMs = 0;
  store.upsertProfiles = async (profiles) => {
    const started = performance.now();
    try {
      return await write(profiles);
    } finally {
      writeMs += performance.now() - started;
    }
  };
  try {
    return { result: await fn(), writeMs };
  } finally {
    store.upsertProfiles = write;
  }
}

const ndjson = (profiles: readonly BenchProfile[]) =>
  Readable.from(profiles.map((p) => `${JSON.stringify(p.snapshot)}\n`));

const ratio = (x: number, base: number | undefined): number =>
  base === undefined ? NaN : Number((x / base).toFixed(3));

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const profileCount = whole('profiles', args.profiles);
  const sameSegmentRecords = whole('same-segment-records', args['same-segment-records']);
  const idleDestinations = whole('idle-destinations', args['idle-destinations']);
  const historySeconds = whole('history-seconds', args['history-seconds']);
  const rounds = whole('rounds', args.rounds);
  process.env[SECRET_ENV] = 'bench';

  await withBenchServers(async ({ target: servers, emulator, kinesis, temporalAddress, pids }) => {
    let streams = 0;
    const live: string[] = [];
    const freshStream = async (): Promise<string> => {
      const name = `fanout-${process.pid}-${++streams}`;
      await createStream(kinesis, name, 4);
      live.push(name);
      return name;
    };
    // After each run: the emulator holds 100 shards in all.
    const dropStreams = async (): Promise<void> => {
      for (const name of live.splice(0)) await kinesis.send(new DeleteStreamCommand({ StreamName: name }));
    };
    const settingsOn = (stream: string, name: string): DestinationSettingsInput => ({
      name,
      region: 'us-east-1',
      stream,
      endpoint: emulator.endpoint,
      credentials: { type: 'accessKey', accessKeyId: 'AKIABENCHEXAMPLE01', secretAccessKeyEnv: SECRET_ENV },
    });

    // (a) distinct segments: one destination concerned.
    const distinct = await inTurns(parts.has('a') ? counts : [], rounds, async (d) => {
      const run = await withStack(servers, async (client, store) => {
        const concernedStream = await freshStream();
        const othersStream = await freshStream();
        const ids = await createActivated(
          client,
          (i) => settingsOn(i === 0 ? concernedStream : othersStream, `distinct-${i}`),
          (i) => (i === 0 ? BENCH_ACTIVATION : otherActivation(i)),
          d,
        );
        const profiles = benchProfiles(profileCount, `a${d}`);
        const { result, cpu } = await measureCpu(pids, async () => {
          const started = performance.now();
          const { writeMs } = await timingWrites(store, () => client.ingest(ndjson(profiles)));
          const ingestMs = performance.now() - started;
          await untilIdle(client, ids[0] as string, profileCount);
          return { ingestMs, writeMs, idleMs: performance.now() - started };
        });
        return {
          d,
          ingestRps: Math.round((profileCount * 1000) / result.ingestMs),
          storeWriteRps: Math.round((profileCount * 1000) / result.writeMs),
          idleMs: Math.round(result.idleMs),
          cpuS: cpu,
        };
      });
      await dropStreams();
      console.log(`(a) D=${d} distinct segments: ${JSON.stringify(run)}`);
      return run;
    });
    const distinctMedians = byD(distinct).map(({ d, runs }) => {
      return {
        d,
        ingestRps: median(runs.map((r) => r.ingestRps)),
        storeWriteRps: median(runs.map((r) => r.storeWriteRps)),
        idleMs: median(runs.map((r) => r.idleMs)),
        runs: runs.map(({ ingestRps, idleMs }) => ({ ingestRps, idleMs })),
      };
    });

    // (b) the same segment: records in all stay the same, split among the destinations.
    const sameRuns = await inTurns(parts.has('b') ? counts : [], rounds, async (d) => {
      const perDestination = Math.max(1, Math.round(sameSegmentRecords / d));
      const run = await withStack(servers, async (client, _store, metrics) => {
        const stream = await freshStream();
        const ids = await createActivated(
          client,
          (i) => settingsOn(stream, `same-${i}`),
          () => BENCH_ACTIVATION,
          d,
        );
        const records = perDestination * d;
        const startedAt = Date.now();
        const { result: ms, cpu } = await measureCpu(pids, async () => {
          const started = performance.now();
          await client.ingest(ndjson(benchProfiles(perDestination, `b${d}`)));
          // Until Kinesis acknowledged every record, by the worker's own counter: asking D
          // destinations their status one after the other would time the asking.
          await waitFor(async () => (await recordsSent(metrics)) >= records, {
            timeoutMs: 600_000,
            intervalMs: 10,
            what: `${records} records acknowledged`,
          });
          return performance.now() - started;
        });
        for (const id of ids) await untilIdle(client, id, perDestination);
        const timelines = await Promise.all(
          ids.map((id) => timelineOf(servers.client, destinationWorkflowId(id), startedAt)),
        );
        return {
          d,
          records,
          aggregateRps: Math.round((records * 1000) / ms),
          cpuS: cpu,
          timeline: summarize(timelines),
        };
      });
      await dropStreams();
      console.log(`(b) D=${d} same segment: ${JSON.stringify(run)}`);
      return run;
    });
    const same = byD(sameRuns).map(({ d, runs }) => {
      return {
        d,
        aggregateRps: median(runs.map((r) => r.aggregateRps)),
        // By the histories: from the ingest's start until the last destination's last page ended.
        doneMs: median(runs.map((r) => r.timeline.done.max)),
        runs,
      };
    });

    // (c) a worker in its own process, with 1 and with many idle destinations: as the worker that
    // created them holds them, and as a worker started afterwards finds them.
    const rss: {
      d: number;
      restarted: boolean;
      rssMiB: number;
      heapMiB: number;
      heapTotalMiB: number;
      settling: number[];
    }[] = [];
    const settings = parts.has('c')
      ? [false, true].flatMap((restarted) => [1, idleDestinations].map((d) => ({ d, restarted })))
      : [];
    for (const { d, restarted } of settings) {
      const dir = mkdtempSync(join(tmpdir(), 'ka-fanout-rss-'));
      const storePath = join(dir, 'store.sqlite');
      const codePath = join(dir, 'workflows.js');
      writeFileSync(codePath, servers.bundle.code);
      const taskQueue = `fanout-rss-${randomUUID()}`;
      const workerArgs = [
        temporalAddress,
        servers.namespace,
        taskQueue,
        storePath,
        codePath,
        ...(maxCachedWorkflows !== undefined ? [String(maxCachedWorkflows)] : []),
      ];
      let worker = await startWorkerProcess(workerArgs);
      try {
        const store = new SqliteStore(storePath);
        const client = new ActivationClient(servers.client, store, taskQueue);
        const stream = await freshStream();
        const ids = await createActivated(
          client,
          (i) => settingsOn(stream, `idle-${i}`),
          (i) => otherActivation(i),
          d,
        );
        if (restarted) {
          worker.stop();
          worker = await startWorkerProcess(workerArgs);
        }
        // An ingest every destination hears of, then idle again.
        await client.ingest(ndjson(benchProfiles(100, `c${d}`)));
        for (const id of ids) await untilIdle(client, id, 0);
        const measured = await worker.measure();
        rss.push({
          d,
          restarted,
          rssMiB: measured.rssMiB,
          heapMiB: measured.heapMiB,
          heapTotalMiB: measured.heapTotalMiB,
          settling: measured.series ?? [],
        });
        console.log(
          `(c) ${restarted ? 'restarted ' : ''}worker with ${d} idle destinations: ${JSON.stringify(measured)}`,
        );
        for (const id of ids)
          await servers.client.workflow.getHandle(destinationWorkflowId(id)).terminate('bench done');
        await store.close();
      } finally {
        worker.stop();
        rmSync(dir, { recursive: true, force: true });
        await dropStreams();
      }
    }

    // (d) history per destination at one change a second: one concerned, one not.
    const history = !parts.has('d')
      ? null
      : await withStack(servers, async (client) => {
          const stream = await freshStream();
          const [concerned, other] = await createActivated(
            client,
            (i) => settingsOn(stream, `history-${i}`),
            (i) => (i === 0 ? BENCH_ACTIVATION : otherActivation(i)),
            2,
          );
          const lengthOf = async (id: string) => {
            const description = await servers.client.workflow.getHandle(destinationWorkflowId(id)).describe();
            return { events: description.historyLength, runId: description.runId };
          };
          const before = { concerned: await lengthOf(concerned as string), other: await lengthOf(other as string) };
          const profiles = benchProfiles(historySeconds, 'd');
          const started = performance.now();
          for (const [i, profile] of profiles.entries()) {
            await client.ingest(ndjson([profile]));
            const next = started + (i + 1) * 1000;
            await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - performance.now())));
          }
          await untilIdle(client, concerned as string, historySeconds);
          const after = { concerned: await lengthOf(concerned as string), other: await lengthOf(other as string) };
          const perHour = (b: { events: number; runId: string }, a: { events: number; runId: string }) =>
            a.runId === b.runId ? Math.round(((a.events - b.events) * 3600) / historySeconds) : NaN;
          return {
            changes: historySeconds,
            concernedEventsPerChange: Number(
              ((after.concerned.events - before.concerned.events) / historySeconds).toFixed(2),
            ),
            concernedEventsPerHour: perHour(before.concerned, after.concerned),
            otherEventsPerHour: perHour(before.other, after.other),
            continuedAsNew: after.concerned.runId !== before.concerned.runId,
          };
        });
    console.log(
      `(d) history at one change a second (extrapolated from ${historySeconds} s): ${JSON.stringify(history)}`,
    );

    const [first, firstSame] = [distinctMedians[0], same[0]];
    const summary = {
      distinct: distinctMedians.map((r) => ({
        ...r,
        ingestVsFirst: ratio(r.ingestRps, first?.ingestRps),
        storeWriteVsFirst: ratio(r.storeWriteRps, first?.storeWriteRps),
        idleVsFirst: ratio(r.idleMs, first?.idleMs),
      })),
      same: same.map((r) => ({
        ...r,
        vsFirst: ratio(r.aggregateRps, firstSame?.aggregateRps),
        doneVsFirst: ratio(r.doneMs, firstSame?.doneMs),
      })),
      rss: rss.map((r) => ({
        ...r,
        vsOne: ratio(r.rssMiB, rss.find((one) => one.d === 1 && one.restarted === r.restarted)?.rssMiB),
      })),
      history,
    };
    console.log(JSON.stringify(summary));
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
