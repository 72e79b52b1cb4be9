import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import { ActivationClient } from '../../src/client/activationClient';
import { destinationWorkflowId } from '../../src/domain/destinationWorkflowId';
import { EXIT_STORED_NOT_ANNOUNCED } from '../../src/cli/commands/ingest';
import { waitFor } from '../../src/embedded/waitFor';
import { runCli } from '../support/cli';
import { emulatorDestination } from '../support/destinations';
import { useKinesisFixture } from '../support/kinesisFixture';
import { historyTimeline } from '../support/historyTimeline';
import { readAllRecords } from '../support/kinesisStream';
import { profile, recordsPerProfile } from '../support/profiles';
import { useRestartableTemporal } from '../support/restartableTemporal';
import { processEnv } from '../support/temporal';
import { startWorkerProcess } from '../support/workerProcess';
import type { WorkerProcess } from '../support/workerProcess';

const SECRET_ENV = 'UNANNOUNCED_TEST_KINESIS_SECRET';
/** The announcer retries every 2 s, each round with a 5 s deadline: told within a few rounds. */
const ANNOUNCED_WITHIN_MS = 15_000;
/**
 * From Temporal answering to the records in the stream. It includes what a restarted server and
 * the worker's pollers take to dispatch again, which is Temporal's: the pollers back off up to
 * 10 s while the server is down, and a sticky workflow task waits up to 10 s for its worker.
 */
const EXPORTED_WITHIN_MS = 60_000;

/**
 * Changes stored while Temporal is down are exported once it is back, with no further ingest:
 * the worker process's announcer finds them in the store's announcement outbox.
 */
describe('no change left unannounced: Temporal SIGKILLed, profiles ingested, Temporal restarted', function () {
  this.timeout(300_000);
  let worker: WorkerProcess | undefined;
  const taskQueue = `unannounced-${randomUUID()}`;
  // Registered first, so it runs first: the worker goes before what it uses.
  after(async () => {
    await worker?.kill();
  });
  const fx = useKinesisFixture('unannounced');
  const temporal = useRestartableTemporal(fx);

  it('announces them within 15 s and exports them within 60 s of Temporal answering again; ingest reports stored, not announced, with its own exit code', async () => {
    const { kinesis, store } = fx;
    const env = { ...processEnv(temporal.server, taskQueue, join(fx.dir, 'store.sqlite')), [SECRET_ENV]: 'any' };
    worker = await startWorkerProcess(env);
    const client = new ActivationClient(
      new Client({ connection: temporal.connection, namespace: temporal.server.namespace }),
      store,
      taskQueue,
    );
    const { id, stream } = await emulatorDestination(
      client,
      kinesis,
      fx.emulator.endpoint,
      { segments: [{ id: 'seg-u' }], attributes: ['person.email'] },
      SECRET_ENV,
    );
    await waitFor(async () => (await client.status(id)).state === 'idle', { timeoutMs: 30_000, what: 'idle' });

    temporal.server.process.kill('SIGKILL');
    await new Promise((done) => temporal.server.process.once('exit', done));
    const ids = ['u-1', 'u-2', 'u-3'];
    const lines = ids.map((p) =>
      JSON.stringify(profile(p, { 'seg-u': 'realized' }, { person: { email: `${p}@x` } }).snapshot),
    );
    const ingested = await runCli(['ingest', '-', '--json'], env, lines.join('\n'));
    assert.equal(ingested.code, EXIT_STORED_NOT_ANNOUNCED, ingested.stderr);
    assert.match(ingested.stderr, /^kinesis-activation: stored 3, destinations not told: .+\n$/);
    const report = JSON.parse(ingested.stdout) as { accepted: number; notified: string[]; unannounced: string | null };
    assert.equal(report.accepted, 3);
    assert.deepEqual(report.notified, []);
    assert.ok(report.unannounced);

    await temporal.start();
    const backAt = Date.now();
    // The project's part: the worker's announcer tells the destination, emptying the outbox.
    await waitFor(async () => (await store.unannouncedWrites(0)).length === 0, {
      timeoutMs: ANNOUNCED_WITHIN_MS,
      intervalMs: 100,
      what: 'the announcer to tell the destination of the changes stored while Temporal was down',
    });
    const announcedMs = Date.now() - backAt;
    const records = await waitFor(
      async () => {
        const read = await readAllRecords(kinesis, stream);
        const per = recordsPerProfile(read, ids);
        return ids.every((p) => (per.get(p)?.length ?? 0) > 0) ? read : undefined;
      },
      {
        timeoutMs: 2 * EXPORTED_WITHIN_MS,
        intervalMs: 250,
        what: 'the records of the profiles stored while Temporal was down',
      },
    );
    const tookMs = Date.now() - backAt;
    console.log(`      announced ${announcedMs} ms and read back ${tookMs} ms after Temporal answered again`);
    if (tookMs > EXPORTED_WITHIN_MS) {
      const timeline = await historyTimeline(
        new Client({ connection: temporal.connection }),
        destinationWorkflowId(id),
      );
      assert.fail(
        `took ${tookMs} ms (Temporal back at ${new Date(backAt).toISOString()}); the history:\n${timeline}\nthe worker:\n${worker.output()}`,
      );
    }
    assert.equal(records.length, 3);
  });
});
