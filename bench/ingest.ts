import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { ActivationClient } from '../src/client/activationClient';
import { profileIdHash } from '../src/domain/partitionKey';
import { startTemporalDevServer } from '../src/embedded/temporalDevServer';
import { waitFor } from '../src/embedded/waitFor';
import { createKinesisClient } from '../src/kinesis/client';
import { SqliteStore } from '../src/store/sqliteStore';
import { createActivationWorker } from '../src/worker';
import { emulatorDestination } from '../test/support/destinations';
import { tailStream } from '../test/support/streamTail';
import { startEmulatorProcess } from './emulator';
import { bundleWorkflows } from './engine';
import { BENCH_ACTIVATION, benchProfiles } from './profiles';

/** The embedded stack a scenario runs on: dev server, emulator process, SQLite store, one worker, one destination. */
export interface IngestStack {
  client: ActivationClient;
  kinesis: KinesisClient;
  destinationId: string;
  stream: string;
}

/** Runs `fn` on a fresh embedded stack; every scenario of this bench takes one. */
export async function withIngestStack<T>(fn: (stack: IngestStack) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'ka-bench-ingest-'));
  const server = await startTemporalDevServer({ headless: true });
  const env = await TestWorkflowEnvironment.createFromExistingServer({ address: server.address });
  const emulator = await startEmulatorProcess();
  const kinesis = createKinesisClient({
    region: 'us-east-1',
    endpoint: emulator.endpoint,
    credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
  });
  const store = new SqliteStore(join(dir, 'store.sqlite'));
  const taskQueue = `bench-ingest-${randomUUID()}`;
  const workflowBundle = await bundleWorkflows();
  const { worker, close } = await createActivationWorker({
    connection: env.nativeConnection,
    namespace: server.namespace,
    taskQueue,
    store,
    workflowBundle,
  });
  const client = new ActivationClient(env.client, store, taskQueue);
  try {
    return await worker.runUntil(async () => {
      const { id, stream } = await emulatorDestination(client, kinesis, emulator.endpoint, BENCH_ACTIVATION);
      await waitFor(async () => (await client.status(id)).state === 'idle', { timeoutMs: 60_000, what: 'idle' });
      return fn({ client, kinesis, destinationId: id, stream });
    });
  } finally {
    close();
    await store.close();
    kinesis.destroy();
    emulator.stop();
    await env.teardown();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Waits until the destination decided every stored change: scenarios do not measure each other's backlog. */
export async function settled(stack: IngestStack): Promise<void> {
  const head = await stack.client.store.head();
  await waitFor(
    async () => {
      const status = await stack.client.status(stack.destinationId);
      return status.state === 'idle' && status.checkpoint >= head;
    },
    { timeoutMs: 600_000, intervalMs: 250, what: 'the destination to catch up' },
  );
}

/** Client API ingest of `count` new profiles of the mapped segment: profiles/s until durable and announced. */
export async function directIngest(stack: IngestStack, count: number): Promise<{ perSecond: number }> {
  const lines = benchProfiles(count, `direct-${randomUUID().slice(0, 8)}`).map(
    (p) => `${JSON.stringify(p.snapshot)}\n`,
  );
  const started = performance.now();
  const result = await stack.client.ingest(Readable.from(lines));
  const seconds = (performance.now() - started) / 1000;
  if (result.accepted !== count) throw new Error(`accepted ${result.accepted} of ${count}`);
  return { perSecond: count / seconds };
}

export interface LatencyFigures {
  rate: number;
  sent: number;
  p50: number;
  p99: number;
  max: number;
}

/** The `q` quantile of sorted values. */
function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

/**
 * End-to-end latency at a sustained rate: one ingest kept open is fed `rate` new profiles a
 * second for `seconds`; each profile's latency runs from writing its line to reading its
 * record back from the stream.
 */
export async function endToEndLatency(stack: IngestStack, rate: number, seconds: number): Promise<LatencyFigures> {
  const tail = tailStream(stack.kinesis, stack.stream);
  const feed = new PassThrough();
  const ingesting = stack.client.ingest(feed);
  const tag = `e2e${rate}-${randomUUID().slice(0, 8)}`;
  const profiles = benchProfiles(rate * seconds, tag);
  const sentAt = new Map<string, number>();
  const started = performance.now();
  const tickMs = 10;
  let next = 0;
  try {
    while (next < profiles.length) {
      // Catch up to where the rate says we should be: ticks may come late on a busy machine.
      const due = Math.min(profiles.length, Math.floor(((performance.now() - started) / 1000) * rate));
      for (; next < due; next++) {
        const p = profiles[next];
        if (p === undefined) break;
        sentAt.set(profileIdHash(p.profileId), Date.now());
        feed.write(`${JSON.stringify(p.snapshot)}\n`);
      }
      await new Promise((r) => setTimeout(r, tickMs));
    }
    await waitFor(() => [...sentAt.keys()].every((key) => tail.arrivals.has(key)), {
      timeoutMs: 120_000,
      what: `the ${profiles.length} records at ${rate}/s`,
    });
  } finally {
    feed.end();
    tail.stop();
  }
  await ingesting;
  const latencies = [...sentAt].map(([key, at]) => (tail.arrivals.get(key) ?? Infinity) - at).sort((a, b) => a - b);
  return {
    rate,
    sent: profiles.length,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    max: latencies.at(-1) ?? NaN,
  };
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const seconds = Number(process.env.BENCH_SECONDS ?? 30);
  const directCount = Number(process.env.BENCH_DIRECT_PROFILES ?? 20_000);
  await withIngestStack(async (stack) => {
    const direct = await directIngest(stack, directCount);
    const latency = [];
    for (const rate of [100, 1000]) {
      await settled(stack);
      latency.push(await endToEndLatency(stack, rate, seconds));
    }
    console.log(`client API direct ingest: ${Math.round(direct.perSecond)} profiles/s (${directCount} profiles)`);
    console.log('end-to-end latency, line written -> record read back (ms):');
    console.log('rate/s   sent    p50    p99    max');
    for (const l of latency)
      console.log(
        `${String(l.rate).padStart(6)} ${String(l.sent).padStart(6)} ${String(l.p50).padStart(6)} ${String(l.p99).padStart(6)} ${String(l.max).padStart(6)}`,
      );
  });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
